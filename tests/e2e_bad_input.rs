//! Bad input end to end, table-driven: what a user can get wrong in HCL or on the command line,
//! and API answers that are not what the provider expects.
//!
//! Input errors must be refused with an exact diagnostic summary that points at the attribute,
//! before any API call. Unexpected API answers (the emulator's bad-answer faults: an HTML gateway
//! page, truncated JSON, a missing `userId`, an empty 200, a 502 page) must give a diagnostic
//! naming the operation, never a panic, and never a user that exists in the API but not in state.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::{
    Admin, DEV_KEY, Emulator, EmulatorProcess, Run, Workspace, audit, audit_users, state_users,
};
use serde_json::{Value as Json, json};

/// An error diagnostic from terraform's `-json` output.
#[derive(Debug)]
struct Diag {
    summary: String,
    detail: String,
    /// The source line the diagnostic points at.
    line: Option<u64>,
    /// The source code Terraform quotes there.
    code: String,
}

fn errors(run: &Run) -> Vec<Diag> {
    run.stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Json>(l).ok())
        .filter(|v| v["type"] == "diagnostic" && v["diagnostic"]["severity"] == "error")
        .map(|v| {
            let d = &v["diagnostic"];
            Diag {
                summary: d["summary"].as_str().unwrap_or_default().to_string(),
                detail: d["detail"].as_str().unwrap_or_default().to_string(),
                line: d["range"]["start"]["line"].as_u64(),
                code: d["snippet"]["code"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            }
        })
        .collect()
}

/// The 1-based line of `main.tf` that sets `attr` (`attr = ...`, however aligned).
fn line_of(ws: &Workspace, attr: &str) -> u64 {
    let text = std::fs::read_to_string(ws.path().join("main.tf")).expect("main.tf");
    text.lines()
        .position(|l| {
            l.trim_start()
                .strip_prefix(attr)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map(|i| i as u64 + 1)
        .unwrap_or_else(|| panic!("{attr} is not set in main.tf:\n{text}"))
}

fn assert_no_internal_error(run: &Run) {
    let out = run.flat();
    assert!(
        !out.contains("internal error") && !out.contains("panicked"),
        "the provider failed internally:\n{out}"
    );
}

/// Exactly one error, with `summary`, pointing at `attr` when given.
fn expect_one_error(ws: &Workspace, run: &Run, summary: &str, attr: Option<&str>) -> Diag {
    assert!(
        !run.ok(),
        "{summary}: the command should fail:\n{}",
        run.all()
    );
    assert_no_internal_error(run);
    let mut errs = errors(run);
    assert_eq!(
        errs.iter().map(|d| d.summary.as_str()).collect::<Vec<_>>(),
        vec![summary],
        "{}",
        run.all()
    );
    let d = errs.remove(0);
    if let Some(attr) = attr {
        assert_eq!(
            d.line,
            Some(line_of(ws, attr)),
            "{summary} must point at `{attr}`: {d:?}"
        );
        assert!(d.code.trim_start().starts_with(attr), "{d:?}");
    }
    d
}

const USER: &str = "resource \"alloy_user\" \"u\" {\n  username = \"bad-input@example.com\"\n}\n";

#[test]
fn bad_provider_blocks_are_refused_before_any_api_call() {
    let emu = Emulator::start();
    let url = emu.url.as_str();
    // (case, provider block body, summary, attribute the diagnostic points at)
    let cases: Vec<(&str, String, &str, Option<&str>)> = vec![
        (
            "missing key",
            format!("  environment = \"development\"\n  base_url    = \"{url}\"\n"),
            "Missing Alloy API key",
            None,
        ),
        (
            "bad environment",
            format!(
                "  environment = \"staging\"\n  api_key     = \"{DEV_KEY}\"\n  base_url    = \"{url}\"\n"
            ),
            "Invalid environment",
            Some("environment"),
        ),
        (
            "bad URL scheme",
            format!(
                "  environment = \"development\"\n  api_key     = \"{DEV_KEY}\"\n  base_url    = \"ftp://127.0.0.1:21\"\n"
            ),
            "Invalid base URL",
            Some("base_url"),
        ),
        (
            "non-loopback http",
            format!(
                "  environment = \"development\"\n  api_key     = \"{DEV_KEY}\"\n  base_url    = \"http://api.example.com\"\n"
            ),
            "Insecure base URL",
            Some("base_url"),
        ),
        (
            "negative timeout",
            format!(
                "  environment     = \"development\"\n  api_key         = \"{DEV_KEY}\"\n  base_url        = \"{url}\"\n  request_timeout = -5\n"
            ),
            "Invalid request timeout",
            Some("request_timeout"),
        ),
        (
            "negative retries",
            format!(
                "  environment = \"development\"\n  api_key     = \"{DEV_KEY}\"\n  base_url    = \"{url}\"\n  max_retries = -1\n"
            ),
            "Invalid retry count",
            Some("max_retries"),
        ),
        (
            "region and base_url",
            format!(
                "  environment = \"development\"\n  api_key     = \"{DEV_KEY}\"\n  region      = \"eu\"\n  base_url    = \"{url}\"\n"
            ),
            "Conflicting provider settings",
            Some("region"),
        ),
        (
            "bad API version",
            format!(
                "  environment = \"development\"\n  api_key     = \"{DEV_KEY}\"\n  base_url    = \"{url}\"\n  api_version = \"2025-13\"\n"
            ),
            "Invalid API version",
            Some("api_version"),
        ),
    ];
    for (case, body, summary, attr) in cases {
        let ws = Workspace::bare();
        ws.write_main(&format!("provider \"alloy\" {{\n{body}}}\n\n{USER}"));
        let run = ws.tf(&["plan", "-json", "-input=false"]);
        let d = expect_one_error(&ws, &run, summary, attr);
        if attr.is_none() {
            // The attribute is not in the block: Terraform points at the block itself.
            assert_eq!(d.code, "provider \"alloy\" {", "{case}: {d:?}");
        }
        assert!(!d.detail.is_empty(), "{case}: the detail says what to do");
        assert!(
            !run.all().contains(DEV_KEY),
            "{case}: the key leaked:\n{}",
            run.all()
        );
        assert_eq!(emu.total_requests(), 0, "{case}: no API call");
    }
}

#[test]
fn bad_usernames_and_unknown_imports() {
    let emu = Emulator::start();
    let ws = Workspace::new(&emu);
    let long = "x".repeat(256);
    // (case, HCL value, detail fragment)
    let cases = [
        ("empty", "\"\"".to_string(), "must not be empty"),
        (
            "whitespace",
            "\"  \"".to_string(),
            "must not start or end with whitespace",
        ),
        (
            "control character",
            "\"bell\\u0007\"".to_string(),
            "must not contain control characters (found U+0007)",
        ),
        (
            "overlong",
            format!("\"{long}\""),
            "must be at most 255 characters (it has 256)",
        ),
    ];
    for (case, value, fragment) in cases {
        ws.write_main(&format!(
            "provider \"alloy\" {{}}\n\nresource \"alloy_user\" \"bad\" {{\n  username = {value}\n}}\n"
        ));
        let run = ws.tf(&["plan", "-json", "-input=false"]);
        let d = expect_one_error(&ws, &run, "Invalid username", Some("username"));
        assert!(d.detail.contains(fragment), "{case}: {d:?}");
    }
    assert_eq!(emu.total_requests(), 0, "no API call for a bad username");

    // An unknown id can only be found out by asking: one GET, then a clear error.
    ws.write_main(&format!("provider \"alloy\" {{}}\n\n{USER}"));
    for id in ["6323d7c9122ae69742a5d0a2", "nobody@example.com"] {
        emu.clear_requests();
        let run = ws.tf(&["import", "-input=false", "alloy_user.u", id]);
        assert!(!run.ok(), "{}", run.all());
        assert_no_internal_error(&run);
        let out = run.flat();
        assert!(out.contains("Error: Alloy user not found"), "{out}");
        assert!(out.contains(&format!("{id:?}")), "names the id: {out}");
        assert_eq!(emu.count("GET /users/{id}"), 1);
        assert_eq!(emu.total_requests(), 1, "and nothing else");
    }
    assert!(state_users(&ws).is_empty());
}

/// Every bad-answer kind, through a user's whole life: create (whose unreadable answer is
/// resolved by a lookup), refresh, update and delete.
#[test]
fn unexpected_api_answers_are_diagnostics_naming_the_operation() {
    // The flags and the admin API speak the same knobs.
    let emu = EmulatorProcess::start_with(&[
        "--bad-answer-rate",
        "0.25",
        "--bad-answer",
        "missing_field",
        "--routes",
        "POST /users,GET /users/{id}",
    ]);
    let f = emu.admin_get("faults");
    assert_eq!(f["bad_answer_rate"], 0.25);
    assert_eq!(f["bad_answer"], "missing_field");
    assert_eq!(f["routes"], json!(["POST /users", "GET /users/{id}"]));
    for kind in ["html", "html_502", "truncated", "missing_field", "empty"] {
        emu.patch_faults(json!({"bad_answer_rate": 0.0, "routes": []}));
        let ws = Workspace::new(&emu);
        // One retry: a 502 page is retried once, then reported.
        let provider = "provider \"alloy\" {\n  max_retries = 1\n}\n";
        let user = |name: &str, full: &str| {
            format!(
                "resource \"alloy_user\" \"{name}\" {{\n  username  = \"{kind}-{name}@example.com\"\n  full_name = \"{full}\"\n}}\n"
            )
        };
        let spoil = |route: &str| {
            emu.patch_faults(
                json!({"bad_answer_rate": 1.0, "bad_answer": kind, "routes": [route]}),
            );
        };
        let calm = || emu.patch_faults(json!({"bad_answer_rate": 0.0, "routes": []}));

        // Create: the answer to POST is unreadable, so the user is found by its username.
        spoil("POST /users");
        emu.clear_requests();
        ws.write_main(&format!("{provider}\n{}", user("a", "A")));
        let run = ws.tf(&["apply", "-json", "-auto-approve", "-input=false"]);
        assert!(run.ok(), "{kind}: create is resolved:\n{}", run.all());
        assert_no_internal_error(&run);
        assert_eq!(emu.count("POST /users"), 1, "{kind}: never posted twice");
        calm();
        assert_eq!(audit(&emu, &ws), 1, "{kind}");

        // Refresh: the read is unreadable. An error, and the user stays in state.
        spoil("GET /users/{id}");
        let run = ws.tf(&["plan", "-json", "-input=false"]);
        let d = expect_one_error(&ws, &run, "Cannot read Alloy user", None);
        assert!(d.detail.starts_with("get user: "), "{kind}: {d:?}");
        calm();
        assert_eq!(audit_users(&emu, &ws), 1, "{kind}");

        // Update: the change is made, but its answer is unreadable.
        spoil("PUT /users/{id}");
        ws.write_main(&format!("{provider}\n{}", user("a", "A2")));
        let run = ws.tf(&["apply", "-json", "-auto-approve", "-input=false"]);
        let d = expect_one_error(&ws, &run, "Cannot update Alloy user", None);
        assert!(d.detail.starts_with("update user: "), "{kind}: {d:?}");
        calm();
        assert_eq!(audit_users(&emu, &ws), 1, "{kind}");

        // Delete: whatever the answer looks like, a user that is gone is deleted.
        spoil("DELETE /users/{id}");
        let run = ws.tf(&["destroy", "-json", "-auto-approve", "-input=false"]);
        assert!(run.ok(), "{kind}: destroy:\n{}", run.all());
        assert_no_internal_error(&run);
        calm();
        assert_eq!(audit_users(&emu, &ws), 0, "{kind}");
    }
}

/// A web server that is not the API (a wrong `base_url`, a proxy) answers every request with
/// `404` and an HTML page.
fn html_404_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for mut sock in listener.incoming().flatten() {
            let _ = sock.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = [0u8; 8192];
            let _ = sock.read(&mut buf);
            let body = "<html><body><h1>404 Not Found</h1></body></html>";
            let _ = write!(
                sock,
                "HTTP/1.1 404 Not Found\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{addr}")
}

#[test]
fn a_wrong_base_url_answering_html_404_never_drops_users_from_state() {
    let emu = Emulator::start();
    let mut ws = Workspace::new(&emu);
    ws.write_main(&format!("provider \"alloy\" {{}}\n\n{USER}"));
    ws.apply();
    assert_eq!(audit_users(&emu, &ws), 1);

    ws.set_env("ALLOY_BASE_URL", &html_404_server());
    let run = ws.tf(&["plan", "-json", "-input=false"]);
    let d = expect_one_error(&ws, &run, "Cannot read Alloy user", None);
    assert!(d.detail.starts_with("get user: "), "{d:?}");
    assert!(d.detail.contains("base URL may be wrong"), "{d:?}");
    assert!(
        !run.stdout.contains("deleted outside Terraform"),
        "an HTML 404 is not the API saying the user is gone:\n{}",
        run.stdout
    );
    // Even a refresh-only apply keeps the user.
    let run = ws.tf(&["apply", "-refresh-only", "-auto-approve", "-input=false"]);
    assert!(!run.ok());
    assert_no_internal_error(&run);
    assert_eq!(state_users(&ws).len(), 1, "the user is still in state");

    ws.set_env("ALLOY_BASE_URL", &emu.url);
    assert_eq!(audit(&emu, &ws), 1);
}
