//! Refresh from one list of the environment's users (issue 12), end to end: the real
//! `terraform`, the provider binary and the emulator on loopback. Every figure is an exact count
//! from the emulator's request log; nothing here depends on timing.
//!
//! The rule being checked: at most N calls and no list for N <= 3, at most 4 calls for many
//! users on a calm API (3 when the 250 ms window sees the next read: the figures print which),
//! and plans that stay exact (drift found, faults in the list survived).

mod common;

use std::sync::Mutex;

use common::{
    Admin, DEV_KEY, Development, Emulator, REFRESH_CALLS_BEST, REFRESH_CALLS_MAX, Workspace, audit,
};
use serde_json::json;

/// The scenarios share two cores and a few hundred users each: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn users_hcl(provider_settings: &str, n: usize) -> String {
    format!(
        "provider \"alloy\" {{\n{provider_settings}}}\n\nresource \"alloy_user\" \"u\" {{\n  count     = {n}\n  username  = \"tenant-${{count.index}}@example.com\"\n  full_name = \"Tenant ${{count.index}}\"\n}}\n"
    )
}

/// `terraform plan -detailed-exitcode`, returning (exit code, output).
fn plan(ws: &Workspace) -> (Option<i32>, String) {
    let r = ws.tf(&["plan", "-input=false", "-detailed-exitcode"]);
    (r.status.code(), r.all())
}

fn counts(emu: &Emulator) -> (u64, u64, u64) {
    let r = emu.request_counts();
    (r.count("GET /users/{id}"), r.count("GET /users"), r.total)
}

/// Changes a user's full name through the API, as another tool would.
fn rename_out_of_band(emu: &Emulator, id: &str, full_name: &str) {
    let r = reqwest::blocking::Client::new()
        .put(format!("{}/users/{id}", emu.url))
        .bearer_auth(DEV_KEY)
        .json(&json!({ "fullName": full_name }))
        .send()
        .expect("PUT /users/{id}");
    assert!(r.status().is_success(), "rename: {}", r.status());
}

fn ids_in_state(ws: &Workspace) -> Vec<String> {
    ws.resources()
        .into_iter()
        .filter(|(a, _)| a.starts_with("alloy_user."))
        .map(|(_, v)| v["id"].as_str().expect("id").to_string())
        .collect()
}

#[test]
fn three_users_are_read_one_by_one_without_a_list() {
    let _one = serial();
    let emu = Emulator::start();
    let ws = Workspace::new(&emu);
    ws.write_main(&users_hcl("", 3));
    ws.apply();
    emu.clear_requests();
    let (code, out) = plan(&ws);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        counts(&emu),
        (3, 0, 3),
        "three users cost three GETs, no list"
    );
}

#[test]
fn five_hundred_users_plan_in_three_calls_and_drift_stays_exact() {
    let _one = serial();
    let n = 500;
    let emu = Emulator::start();
    let mut ws = Workspace::new(&emu);
    ws.set_env("TF_LOG_PROVIDER", "debug");
    ws.write_main(&users_hcl("", n));
    ws.apply();
    assert_eq!(emu.users(Development).len(), n);

    emu.clear_requests();
    let r = ws.tf(&["plan", "-input=false", "-detailed-exitcode"]);
    assert_eq!(r.status.code(), Some(0), "{}", r.all());
    let (gets, lists, total) = counts(&emu);
    println!(
        "FIGURES refresh_500: GET /users/{{id}}={gets} GET /users={lists} total={total} \
         (best case {REFRESH_CALLS_BEST}, documented bound {REFRESH_CALLS_MAX})"
    );
    assert!(
        total <= REFRESH_CALLS_MAX,
        "a no-change plan of {n} users cost {total} calls"
    );
    assert_eq!(lists, 1, "one list");
    // The strategy line, once, with the size of the snapshot, and never the key.
    let lines: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("alloy_user reads:"))
        .collect();
    assert_eq!(lines.len(), 1, "one strategy line: {lines:#?}");
    assert!(
        lines[0].contains("snapshot") && lines[0].contains(&format!("users={n}")),
        "{}",
        lines[0]
    );
    assert!(!r.stderr.contains(DEV_KEY), "the key was logged");
    ws.unset_env("TF_LOG_PROVIDER");

    // Drift: 3 deleted and 1 renamed outside Terraform.
    let ids = ids_in_state(&ws);
    for id in &ids[10..13] {
        emu.delete_out_of_band(Development, id);
    }
    rename_out_of_band(&emu, &ids[20], "Renamed elsewhere");
    emu.clear_requests();
    let (code, out) = plan(&ws);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("Plan: 3 to add, 1 to change, 0 to destroy."),
        "{out}"
    );
    let (gets, lists, total) = counts(&emu);
    println!(
        "FIGURES drift_500: GET /users/{{id}}={gets} GET /users={lists} total={total} \
         (best case {}, documented bound {})",
        REFRESH_CALLS_BEST + 3,
        REFRESH_CALLS_MAX + 3
    );
    assert_eq!(lists, 1);
    // The refresh as above, and the three missing users confirmed one by one.
    assert!(total <= REFRESH_CALLS_MAX + 3, "{total} calls");
    assert!(
        gets >= 3,
        "users missing from the list are confirmed with a GET"
    );

    ws.apply();
    assert_eq!(audit(&emu, &ws), n);
}

/// The list request failing in each way a read can fail: every time the plan is the same as on
/// a calm API (found by reading each user), never "every user is gone".
#[test]
fn a_failing_list_still_gives_the_right_plan() {
    let _one = serial();
    let n = 120;
    let emu = Emulator::start();
    let mut ws = Workspace::new(&emu);
    // Short timeouts so the "lost answer" case (an answer slower than the timeout) stays quick.
    ws.write_main(&users_hcl(
        "  request_timeout = 1\n  max_retries     = 1\n",
        n,
    ));
    ws.apply();
    let ids = ids_in_state(&ws);
    // The provider's debug log says that the list failed (a request the client gave up on is
    // not in the emulator's log).
    ws.set_env("TF_LOG_PROVIDER", "debug");
    emu.delete_out_of_band(Development, &ids[5]);
    rename_out_of_band(&emu, &ids[6], "Renamed elsewhere");

    let faults = [
        ("server_errors", json!({"error_rate": 1.0})),
        (
            "html_page",
            json!({"bad_answer_rate": 1.0, "bad_answer": "html"}),
        ),
        (
            "truncated",
            json!({"bad_answer_rate": 1.0, "bad_answer": "truncated"}),
        ),
        (
            "missing_user_id",
            json!({"bad_answer_rate": 1.0, "bad_answer": "missing_field"}),
        ),
        // The emulator drops answers of writes only; an answer slower than the request timeout
        // is what a lost answer to a GET looks like to the client.
        ("lost_answer", json!({"latency_ms": 2500})),
    ];
    for (name, mut fault) in faults {
        fault["routes"] = json!(["GET /users"]);
        emu.patch_faults(fault);
        emu.clear_requests();
        let r = ws.tf(&["plan", "-input=false", "-detailed-exitcode"]);
        let out = r.stdout.as_str();
        assert_eq!(r.status.code(), Some(2), "{name}: {}", r.all());
        assert!(
            out.contains("Plan: 1 to add, 1 to change, 0 to destroy."),
            "{name}: {out}"
        );
        assert!(!out.contains("Error"), "{name}: {out}");
        assert!(
            r.stderr
                .contains("the list of users failed; reading users one by one"),
            "{name}: the fallback is logged"
        );
        let (gets, lists, total) = counts(&emu);
        println!(
            "FIGURES list_fault_{name}: GET /users/{{id}}={gets} GET /users={lists} total={total}"
        );
        assert_eq!(gets, n as u64, "{name}: every user was read by itself");
        emu.patch_faults(json!({
            "error_rate": 0.0, "bad_answer_rate": 0.0, "latency_ms": 0, "routes": []
        }));
    }
    ws.apply();
    assert_eq!(audit(&emu, &ws), n);
}

/// A user that appears after a plan listed the environment, imported by id and by username:
/// read correctly, and the next plan is empty.
#[test]
fn a_user_created_after_a_listing_plan_is_imported_correctly() {
    let _one = serial();
    let n = 20;
    let emu = Emulator::start();
    let ws = Workspace::new(&emu);
    let base = users_hcl("", n);
    ws.write_main(&base);
    ws.apply();
    emu.clear_requests();
    assert_eq!(plan(&ws).0, Some(0));
    assert_eq!(counts(&emu).1, 1, "that plan listed the users");

    let late_a = emu.create_user(DEV_KEY, "late-a@example.com", Some("Late A"));
    let late_b = emu.create_user(DEV_KEY, "late-b@example.com", None);
    ws.write_main(&format!(
        "{base}\nimport {{\n  to = alloy_user.late_a\n  id = \"{late_a}\"\n}}\n\nimport {{\n  to = alloy_user.late_b\n  id = \"late-b@example.com\"\n}}\n\nresource \"alloy_user\" \"late_a\" {{\n  username  = \"late-a@example.com\"\n  full_name = \"Late A\"\n}}\n\nresource \"alloy_user\" \"late_b\" {{\n  username = \"late-b@example.com\"\n}}\n"
    ));
    emu.clear_requests();
    let r = ws.apply();
    assert!(
        r.stdout
            .contains("Resources: 2 imported, 0 added, 0 changed, 0 destroyed."),
        "{}",
        r.stdout
    );
    assert_eq!(emu.count("POST /users"), 0);
    assert_eq!(ws.resource("alloy_user.late_a")["id"], late_a.as_str());
    assert_eq!(ws.resource("alloy_user.late_a")["full_name"], "Late A");
    assert_eq!(ws.resource("alloy_user.late_b")["id"], late_b.as_str());
    assert!(ws.resource("alloy_user.late_b")["full_name"].is_null());
    assert_eq!(audit(&emu, &ws), n + 2);
}
