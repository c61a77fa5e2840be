//! The conformance probe, the sweeper and the tap (`xtask conformance`, `sweep`, `tap`) against a
//! freshly started emulator: the probe agrees with the emulator on every line, notices when an
//! answer differs, and never leaves a user behind; the sweeper touches only prefixed users; bad
//! settings are one line, exit 2, no panic. The admin API is used here only to check results.

mod common;

use std::process::Command;

use common::{Admin, DEV_KEY, Development, Emulator, PROD_KEY, Production, User};
use serde_json::json;
use xtask::account::Account;
use xtask::conformance::{self, Setup, Verdict};
use xtask::{sweep, tap};

fn account(emu: &Emulator, both_keys: bool) -> Account {
    let url = emu.url.clone();
    Account::from_lookup(&|k| match k {
        "ALLOY_BASE_URL" => Some(url.clone()),
        "ALLOY_DEVELOPMENT_API_KEY" => Some(DEV_KEY.into()),
        "ALLOY_PRODUCTION_API_KEY" if both_keys => Some(PROD_KEY.into()),
        _ => None,
    })
    .expect("account")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Shopify's "Sync new orders" in the emulator's catalogue.
const WORKFLOW: &str = "a1f7fad397c0ac5b8339697b";

/// Installs `WORKFLOW` for `user` and deactivates it, as a tenant might have it; the API call
/// is taken out of the request log again.
fn inactive_install(emu: &Emulator, user: &str) -> serde_json::Value {
    let http = reqwest::blocking::Client::new();
    let r = http
        .post(format!("{}/_emulator/installs", emu.url))
        .json(&json!({"environment": "development", "userId": user, "workflowId": WORKFLOW}))
        .send()
        .expect("install");
    assert_eq!(r.status(), 200);
    let r = http
        .put(format!("{}/workflows/deactivate", emu.url))
        .bearer_auth(DEV_KEY)
        .json(&json!({"userId": user, "workflowId": WORKFLOW}))
        .send()
        .expect("deactivate");
    assert_eq!(r.status(), 200);
    emu.clear_requests();
    installs(emu)
}

fn installs(emu: &Emulator) -> serde_json::Value {
    emu.admin_get(&format!(
        "workflows/{WORKFLOW}/installs?environment=development"
    ))
}

#[test]
fn the_probe_agrees_with_the_emulator_on_every_line_and_cleans_up() {
    let emu = Emulator::start();
    let other = emu.create_user(DEV_KEY, "someone@example.com", Some("Not a test user"));
    let before = inactive_install(&emu, &other);
    assert_eq!(before["data"][0]["active"], false);
    let acc = account(&emu, true);
    let setup = Setup {
        workflow: Some(("someone@example.com".into(), WORKFLOW.into())),
    };
    let report = runtime()
        .block_on(conformance::probe_with(
            &acc,
            &conformance::run_prefix(),
            setup,
        ))
        .expect("probe");
    let table = report.table();
    println!("{table}");
    assert!(report.passed(), "{table}");
    assert!(report.rows.len() >= 35, "{table}");
    let not_observed: Vec<_> = report
        .rows
        .iter()
        .filter(|r| r.verdict != Verdict::Agrees)
        .map(|r| r.assumption)
        .collect();
    // The probe never provokes a 429 (and the emulator has no rate limit on), and the API cannot
    // publish the incompatible version that row needs; every other row, each workflow CHOICE
    // included, agrees.
    assert_eq!(not_observed.len(), 2, "{table}");
    assert!(
        not_observed[0].starts_with("upgrade across a version marked incompatible"),
        "{table}"
    );
    assert_eq!(
        not_observed[1], "429 carries Retry-After in seconds",
        "{table}"
    );
    assert!(
        report
            .rows
            .iter()
            .filter(|r| r.assumption.contains("(CHOICE)"))
            .count()
            >= 7,
        "{table}"
    );
    // The tenant's workflow was activated twice and upgraded at the latest version, then put
    // back as it was: inactive, same version, same install time.
    assert_eq!(installs(&emu), before, "{table}");
    assert!(report.cleanup_error.is_none());
    assert_eq!(
        emu.users(Development),
        vec![User {
            user_id: other,
            username: "someone@example.com".into(),
            full_name: Some("Not a test user".into())
        }],
        "the probe deleted its users and only them"
    );
    assert!(emu.users(Production).is_empty());
    // Every API call was an API call: the log holds the probe's requests and nothing else.
    assert_eq!(emu.total_requests(), u64::from(report.requests));
    assert_eq!(emu.count("PUT /workflows/activate"), 2 + 3 + 1);
    assert_eq!(emu.count("PUT /workflows/deactivate"), 1, "the restore");
    assert_eq!(emu.count("PUT /workflows/{id}/upgrade"), 1);
}

#[test]
fn without_setup_the_install_rows_say_how_to_set_one_up_and_touch_no_tenant() {
    let emu = Emulator::start();
    let other = emu.create_user(DEV_KEY, "someone@example.com", None);
    let before = inactive_install(&emu, &other);
    let report = runtime()
        .block_on(conformance::probe(
            &account(&emu, false),
            &conformance::run_prefix(),
        ))
        .expect("probe");
    let table = report.table();
    assert!(report.passed(), "{table}");
    let skipped: Vec<_> = report
        .rows
        .iter()
        .filter(|r| r.verdict == Verdict::NotObserved && r.observed.starts_with("needs setup"))
        .map(|r| (r.assumption, r.observed.as_str()))
        .collect();
    assert_eq!(skipped.len(), 3, "{table}");
    assert!(
        skipped[0].1.contains("ALLOY_CONFORMANCE_WORKFLOW"),
        "{table}"
    );
    assert_eq!(installs(&emu), before);
    assert_eq!(emu.count("PUT /workflows/deactivate"), 0);
    assert_eq!(emu.count("PUT /workflows/{id}/upgrade"), 0);

    // A malformed setting is one line naming the variable, before anything is created.
    let (code, _, err) = xtask(
        &["conformance"],
        &[
            ("ALLOY_BASE_URL", emu.url.as_str()),
            ("ALLOY_API_KEY", DEV_KEY),
            ("ALLOY_CONFORMANCE_WORKFLOW", "someone@example.com"),
        ],
    );
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("ALLOY_CONFORMANCE_WORKFLOW"), "{err}");
    assert_eq!(emu.users(alloy_emulator::Environment::Development).len(), 1);
}

#[test]
fn a_disagreement_fails_the_probe_and_still_leaves_nothing_behind() {
    // Creates answer without `userId`: the probe cannot know the id, so the cleanup must find
    // the user by its prefix.
    let emu = Emulator::with(
        json!({"bad_answer_rate": 1.0, "bad_answer": "missing_field", "routes": ["POST /users"]}),
        None,
    );
    let report = runtime()
        .block_on(conformance::probe(
            &account(&emu, false),
            &conformance::run_prefix(),
        ))
        .expect("probe");
    assert!(!report.passed(), "{}", report.table());
    let create = &report
        .rows
        .iter()
        .find(|r| r.assumption.starts_with("POST /users"))
        .expect("row");
    assert_eq!(create.verdict, Verdict::Disagrees, "{}", report.table());
    assert!(report.cleanup_error.is_none(), "{:?}", report.cleanup_error);
    assert_eq!(
        report.cleaned, 1,
        "the user created without a known id was swept"
    );
    assert!(emu.users(Development).is_empty());
}

#[test]
fn the_sweeper_lists_then_deletes_only_prefixed_users() {
    let emu = Emulator::start();
    for name in [
        "tfacc-aaaa-1",
        "tfacc-aaaa-2",
        "tfacc-bbbb-1",
        "jane@example.com",
        "xtfacc-aaaa",
    ] {
        emu.create_user(DEV_KEY, name, None);
    }
    emu.create_user(PROD_KEY, "tfacc-aaaa-prod", None);
    let acc = account(&emu, false);
    let rt = runtime();

    let dry = rt
        .block_on(sweep::sweep(&acc, "tfacc-aaaa-", false))
        .expect("dry run");
    let names: Vec<&str> = dry.matched.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, ["tfacc-aaaa-1", "tfacc-aaaa-2"]);
    assert_eq!(dry.deleted, 0);
    assert_eq!(emu.users(Development).len(), 5, "a dry run deletes nothing");

    let mut out = Vec::new();
    let ok = sweep::sweep_command(Ok(acc.clone()), "tfacc-", true, &mut out).expect("sweep");
    let text = String::from_utf8_lossy(&out);
    assert!(ok, "{text}");
    assert!(
        text.contains("3 users whose username starts with \"tfacc-\""),
        "{text}"
    );
    assert!(text.contains("deleted 3 of 3"), "{text}");
    let mut left: Vec<String> = emu
        .users(Development)
        .into_iter()
        .map(|u| u.username)
        .collect();
    left.sort();
    assert_eq!(left, ["jane@example.com", "xtfacc-aaaa"]);
    assert_eq!(
        emu.users(Production).len(),
        1,
        "the other environment is untouched"
    );

    let mut out = Vec::new();
    sweep::sweep_command(Ok(acc), "tfacc-", false, &mut out).expect("sweep");
    assert!(String::from_utf8_lossy(&out).starts_with("sweep: no users"));
}

/// Runs the xtask binary with only the given ALLOY_* variables.
fn xtask(args: &[&str], vars: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(common::workspace_bin("xtask"));
    cmd.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("ALLOY_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(vars.iter().copied());
    let out = cmd.output().expect("run xtask");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_settings_are_one_line_exit_2_for_the_probe_and_the_sweeper() {
    let emu = Emulator::start();
    let free = format!("http://127.0.0.1:{}", common::free_port());
    type Vars<'a> = &'a [(&'a str, &'a str)];
    let url = emu.url.as_str();
    let cases: [(Vars, &str); 4] = [
        (&[("ALLOY_BASE_URL", url)], "no Alloy API key"),
        (
            &[
                ("ALLOY_BASE_URL", free.as_str()),
                ("ALLOY_API_KEY", DEV_KEY),
            ],
            "cannot reach the Alloy API",
        ),
        (
            &[
                ("ALLOY_BASE_URL", url),
                ("ALLOY_API_KEY", "wrong-key-0123456789"),
            ],
            "rejected the key in ALLOY_API_KEY (HTTP 401)",
        ),
        (&[("ALLOY_API_KEY", DEV_KEY)], "set ALLOY_BASE_URL"),
    ];
    for args in [
        &["conformance"][..],
        &["sweep", "--prefix", "tfacc-", "--yes"][..],
    ] {
        for (vars, want) in &cases {
            let (code, _, err) = xtask(args, vars);
            assert_eq!(code, Some(2), "{args:?} {vars:?}: {err}");
            assert_eq!(err.lines().count(), 1, "one line: {err}");
            assert!(
                err.starts_with("xtask: ") && err.contains(want),
                "{args:?}: {err}"
            );
            assert!(!err.contains("panicked") && !err.contains(DEV_KEY), "{err}");
        }
    }
    for prefix in ["", "tf", "    "] {
        let (code, _, err) = xtask(&["sweep", "--prefix", prefix], &[("ALLOY_BASE_URL", url)]);
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains("refusing to sweep"), "{err}");
    }
    assert_eq!(
        emu.total_requests(),
        2,
        "only the two 401 preflights reached the API"
    );
}

#[test]
fn the_tap_forwards_the_api_and_refuses_admin_calls() {
    let emu = Emulator::start();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (addr, counts) = rt
        .block_on(tap::start(url::Url::parse(&emu.url).expect("url")))
        .expect("tap");
    let http = reqwest::blocking::Client::new();
    let users = http
        .post(format!("http://{addr}/users/"))
        .bearer_auth(DEV_KEY)
        .json(&json!({"username": "through-the-tap"}))
        .send()
        .expect("POST through the tap");
    assert_eq!(users.status(), 200);
    for path in [
        "/_emulator/health",
        "/_emulator/reset",
        "/2025-09/_emulator/faults",
    ] {
        let r = http
            .post(format!("http://{addr}{path}"))
            .send()
            .expect("admin");
        assert_eq!(r.status(), 403, "{path}");
    }
    use std::sync::atomic::Ordering;
    assert_eq!(counts.forwarded.load(Ordering::SeqCst), 1);
    assert_eq!(counts.admin_refused.load(Ordering::SeqCst), 3);
    assert_eq!(
        emu.users(Development).len(),
        1,
        "the reset never reached the emulator"
    );
    assert_eq!(emu.total_requests(), 1);

    // The command's verdict is the tap's: a failing command fails, a passing one passes.
    let mut out = Vec::new();
    assert!(!tap::tap_command(&emu.url, &["false".into()], &mut out).expect("tap"));
    assert!(tap::tap_command(&emu.url, &["true".into()], &mut out).expect("tap"));
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.contains("0 API requests forwarded, 0 admin calls refused"),
        "{text}"
    );
}
