//! Adopting existing users in bulk (issue 13), end to end: `data "alloy_users"` + `import {
//! for_each }` + `resource "alloy_user"` with the same `for_each` — the example under
//! `examples/adopt-existing-users` — applied by the real `terraform` against the emulator.
//! API calls are exact counts from the emulator's request log.

mod common;

use std::path::Path;
use std::sync::Mutex;

use common::{DEV_KEY, Emulator, Workspace, audit};
use serde_json::{Value as Json, json};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn example() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/adopt-existing-users/main.tf");
    std::fs::read_to_string(p).expect("the adoption example")
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::new()
}

/// Creates users with one `POST /users/batch` per 1,000, as an application's sign-up flow
/// would have made them. Every third one has no full name.
fn existing_users(emu: &Emulator, prefix: &str, n: usize) {
    let users: Vec<Json> = (0..n)
        .map(|i| {
            let mut u = json!({ "username": format!("{prefix}{i}@example.com") });
            if i % 3 != 0 {
                u["fullName"] = json!(format!("User {i}"));
            }
            u
        })
        .collect();
    for chunk in users.chunks(1000) {
        let r = http()
            .post(format!("{}/users/batch", emu.url))
            .bearer_auth(DEV_KEY)
            .json(&json!({ "users": chunk }))
            .send()
            .expect("POST /users/batch");
        assert!(r.status().is_success(), "batch create: {}", r.status());
    }
}

/// (writes, total) from the request log.
fn calls(emu: &Emulator) -> (u64, u64) {
    let v = emu.admin_get("requests?tail=0");
    let writes = v["by_route"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| !k.starts_with("GET "))
                .map(|(_, n)| n.as_u64().unwrap_or(0))
                .sum()
        })
        .unwrap_or(0);
    (writes, v["total"].as_u64().unwrap_or(0))
}

/// The (id, username, full name) of the emulator's users whose username starts with `prefix`.
fn api_users(emu: &Emulator, prefix: &str) -> Vec<(String, String, Option<String>)> {
    let mut v: Vec<_> = emu
        .users("development")
        .into_iter()
        .filter(|u| u.1.starts_with(prefix))
        .collect();
    v.sort();
    v
}

fn state_users(ws: &Workspace) -> Vec<(String, String, Option<String>)> {
    let mut v: Vec<_> = ws
        .resources()
        .into_iter()
        .filter(|(a, _)| a.starts_with("alloy_user."))
        .map(|(_, r)| {
            (
                r["id"].as_str().expect("id").to_string(),
                r["username"].as_str().expect("username").to_string(),
                r["full_name"].as_str().map(str::to_string),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn five_hundred_existing_users_are_adopted_by_one_apply() {
    let _one = serial();
    let emu = Emulator::start();
    existing_users(&emu, "tenant-", 500);
    existing_users(&emu, "other-", 40); // not matched by the example's filter
    let ws = Workspace::new(&emu);
    ws.write("main.tf", &example());
    emu.clear_requests();
    let r = ws.apply();
    assert!(
        r.stdout
            .contains("Resources: 500 imported, 0 added, 0 changed, 0 destroyed."),
        "{}",
        r.stdout
    );
    let (writes, total) = calls(&emu);
    println!("FIGURES adopt_500: api_calls={total} writes={writes}");
    assert_eq!(writes, 0, "adopting writes nothing");
    assert!(total <= 5, "adopting 500 users cost {total} calls");
    assert_eq!(state_users(&ws), api_users(&emu, "tenant-"));
    assert!(ws.plan_is_empty(), "the plan after adopting is empty");
}

#[test]
fn bad_filters_fail_at_plan_with_no_api_call() {
    let _one = serial();
    let emu = Emulator::start();
    let ws = Workspace::new(&emu);
    let cases = [
        (
            "username_regex = \"(unclosed\"",
            "Invalid username_regex",
            "username_regex",
        ),
        ("workflow_id = \"\"", "Invalid workflow_id", "workflow_id"),
    ];
    for (setting, summary, attr) in cases {
        ws.write_main(&format!(
            "provider \"alloy\" {{}}\n\ndata \"alloy_users\" \"x\" {{\n  {setting}\n}}\n"
        ));
        emu.clear_requests();
        let r = ws
            .tf(&["plan", "-input=false"])
            .expect_fail(&format!("plan with {setting}"));
        let out = r.flat();
        assert!(out.contains(summary), "{out}");
        assert!(
            out.contains(&format!("`{attr}`")),
            "names the attribute: {out}"
        );
        assert_eq!(emu.total_requests(), 0, "{setting}: no API call");
    }
}

#[test]
fn a_failing_list_imports_nothing() {
    let _one = serial();
    let emu = Emulator::start();
    existing_users(&emu, "tenant-", 30);
    let ws = Workspace::new(&emu);
    let hcl = example().replace(
        "provider \"alloy\" {}",
        "provider \"alloy\" {\n  max_retries = 1\n}",
    );
    ws.write("main.tf", &hcl);
    emu.set_faults(json!({"error_rate": 1.0, "routes": ["GET /users"]}));
    emu.clear_requests();
    let r = ws
        .tf(&["apply", "-auto-approve", "-input=false"])
        .expect_fail("apply while the list fails");
    let out = r.flat();
    assert!(out.contains("Cannot list Alloy users"), "{out}");
    assert!(
        out.contains("list users: the Alloy API failed with a server error"),
        "says what failed: {out}"
    );
    assert_eq!(calls(&emu).0, 0, "no write");
    assert!(state_users(&ws).is_empty(), "nothing half-imported");
    emu.set_faults(json!({"error_rate": 0.0, "routes": []}));
    let r = ws.apply();
    assert!(r.stdout.contains("30 imported, 0 added"), "{}", r.stdout);
    assert_eq!(audit(&emu, &ws), 30);
}

/// The users of one workflow, through the emulator's `GET /users?parentWorkflowId=` filter.
#[test]
fn the_users_of_one_workflow_are_adopted_by_one_apply() {
    let _one = serial();
    let emu = Emulator::start();
    existing_users(&emu, "tenant-", 500);
    let users = api_users(&emu, "tenant-");
    // A workflow from the emulator's catalogue, installed for every other user.
    let integrations: Json = http()
        .get(format!("{}/integrations?userId={}", emu.url, users[0].0))
        .bearer_auth(DEV_KEY)
        .send()
        .expect("GET /integrations")
        .json()
        .expect("JSON");
    let (integration, workflow) = integrations["data"]
        .as_array()
        .expect("data")
        .iter()
        .find_map(|i| {
            let w = i["workflows"].as_array()?.first()?["workflowId"].as_str()?;
            Some((i["integrationId"].as_str()?.to_string(), w.to_string()))
        })
        .expect("a catalogue integration with a workflow");
    let members: Vec<_> = users.iter().step_by(2).cloned().collect();
    for (id, _, _) in &members {
        let r = http()
            .post(format!("{}/_emulator/installs", emu.url))
            .json(&json!({
                "environment": "development", "userId": id,
                "integrationId": integration, "workflowId": workflow
            }))
            .send()
            .expect("install");
        assert!(r.status().is_success(), "install: {}", r.status());
    }
    let ws = Workspace::new(&emu);
    let hcl = example().replace(
        "username_regex = var.username_regex",
        &format!("workflow_id = \"{workflow}\""),
    );
    ws.write("main.tf", &hcl);
    emu.clear_requests();
    let r = ws.apply();
    let expect = format!(
        "Resources: {} imported, 0 added, 0 changed, 0 destroyed.",
        members.len()
    );
    assert!(r.stdout.contains(&expect), "{}", r.stdout);
    let (writes, total) = calls(&emu);
    println!(
        "FIGURES adopt_workflow_{}: api_calls={total}",
        members.len()
    );
    assert_eq!(writes, 0);
    assert!(total <= 5, "{total} calls");
    assert_eq!(state_users(&ws), members);
    assert!(ws.plan_is_empty());
}
