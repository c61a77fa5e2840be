//! Adopting existing users in bulk (issue 13), end to end: `data "alloy_users"` + `import {
//! for_each }` + `resource "alloy_user"` with the same `for_each` — the example under
//! `examples/adopt-existing-users` — applied by the real `terraform` against the emulator.
//! API calls are exact counts from the emulator's request log.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use common::{Admin, DEV_KEY, Development, Emulator, Workspace, audit};
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
    let r = emu.request_counts();
    (r.writes().iter().map(|(_, n)| n).sum(), r.total)
}

/// The (id, username, full name) of the emulator's users whose username starts with `prefix`.
fn api_users(emu: &Emulator, prefix: &str) -> Vec<(String, String, Option<String>)> {
    let mut v: Vec<_> = emu
        .users(Development)
        .into_iter()
        .filter(|u| u.username.starts_with(prefix))
        .map(|u| (u.user_id, u.username, u.full_name))
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
    // The changes are `deletion_protection` switched on: state only, no API call.
    assert!(
        r.stdout
            .contains("Resources: 500 imported, 0 added, 500 changed, 0 destroyed."),
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
    emu.patch_faults(json!({"error_rate": 1.0, "routes": ["GET /users"]}));
    emu.clear_requests();
    let r = ws.apply_fails("apply while the list fails");
    let out = r.flat();
    assert!(out.contains("Cannot list Alloy users"), "{out}");
    assert!(
        out.contains("list users: the Alloy API failed with a server error"),
        "says what failed: {out}"
    );
    assert_eq!(calls(&emu).0, 0, "no write");
    assert!(state_users(&ws).is_empty(), "nothing half-imported");
    emu.patch_faults(json!({"error_rate": 0.0, "routes": []}));
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
        emu.install(Development, id, &integration, Some(&workflow));
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
        "Resources: {n} imported, 0 added, {n} changed, 0 destroyed.",
        n = members.len()
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

/// Every request the log holds that is not a read.
fn writes_by_route(emu: &Emulator) -> Vec<String> {
    let writes = emu.request_counts().writes();
    writes.into_iter().map(|(route, _)| route).collect()
}

/// The example's guards, issue 22: with 300 users adopted, a `username_regex` that matches
/// nobody fails the plan on the data source's postcondition (one error, exit non-zero), an
/// apply fails the same way, and nothing is deleted. Without the postcondition,
/// `deletion_protection` still makes the plan fail. Either way the request log holds no DELETE
/// (no write at all) and every user is still in Alloy and in state.
#[test]
fn a_filter_that_matches_nobody_fails_the_plan_and_deletes_nothing() {
    let _one = serial();
    let emu = Emulator::start();
    existing_users(&emu, "tenant-", 300);
    let ws = Workspace::new(&emu);
    ws.write("main.tf", &example());
    let r = ws.apply();
    assert!(r.stdout.contains("300 imported"), "{}", r.stdout);
    let adopted = state_users(&ws);
    assert_eq!(adopted.len(), 300);

    let typo = "-var=username_regex=^tennant-";
    emu.clear_requests();
    let r = ws
        .tf(&["plan", "-input=false", typo])
        .expect_fail("plan with a filter that matches nobody");
    let out = r.flat();
    assert!(
        out.contains("The filter matched 0 users, expected at least one."),
        "the postcondition's message: {out}"
    );
    assert_eq!(
        out.matches("Error:").count(),
        1,
        "one error, not one per user: {out}"
    );
    assert!(
        !out.contains("Plan:") && !out.contains("will be destroyed"),
        "nothing is planned: {out}"
    );
    let r = ws
        .tf(&["apply", "-auto-approve", "-input=false", typo])
        .expect_fail("apply with a filter that matches nobody");
    assert!(
        r.flat().contains("The filter matched 0 users"),
        "{}",
        r.all()
    );
    assert_eq!(
        writes_by_route(&emu),
        Vec::<String>::new(),
        "no DELETE, no write"
    );

    // An exact expected_count catches a filter that matches too few, not only none.
    let r = ws
        .tf(&[
            "plan",
            "-input=false",
            "-var=username_regex=^tenant-1",
            "-var=expected_count=300",
        ])
        .expect_fail("plan with a filter that matches too few");
    assert!(r.flat().contains("users, expected 300."), "{}", r.all());

    // The second guard alone: without the postcondition, the protection refuses the plan.
    let unguarded = example();
    let start = unguarded
        .find("\n  lifecycle {")
        .expect("the postcondition");
    let end = start + unguarded[start..].find("\n  }\n").expect("its end") + "\n  }\n".len();
    ws.write(
        "main.tf",
        &format!("{}{}", &unguarded[..start], &unguarded[end..]),
    );
    assert!(
        !std::fs::read_to_string(ws.path().join("main.tf"))
            .expect("main.tf")
            .contains("postcondition {")
    );
    let r = ws
        .tf(&["plan", "-input=false", typo])
        .expect_fail("plan without the postcondition");
    assert!(r.flat().contains("deletion_protection"), "{}", r.all());
    assert_eq!(
        writes_by_route(&emu),
        Vec::<String>::new(),
        "no DELETE, no write"
    );

    assert_eq!(state_users(&ws), adopted, "nothing left the state");
    assert_eq!(api_users(&emu, "tenant-"), adopted, "nothing left Alloy");
    ws.write("main.tf", &example());
    assert!(ws.plan_is_empty(), "the right filter plans no change");
}

/// The command the guide gives, run as written.
fn guide_jq_command() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/guides/adopting-existing-users.md");
    let text = std::fs::read_to_string(p).expect("the adoption guide");
    let section = &text[text.find("## After the adoption").expect("the section")..];
    let block = &section[section.find("```shell\n").expect("a shell block") + 9..];
    block[..block.find("```").expect("its end")]
        .trim()
        .to_string()
}

/// The guide's literal configuration (the first `terraform` block after the jq command).
fn guide_literal_config() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/guides/adopting-existing-users.md");
    let text = std::fs::read_to_string(p).expect("the adoption guide");
    let section = &text[text.find("## After the adoption").expect("the section")..];
    let block = &section[section.find("```terraform\n").expect("an HCL block") + 13..];
    block[..block.find("```").expect("its end")].to_string()
}

/// After the adoption, the guide's `terraform show -json | jq` command writes the adopted users
/// into a variables file and its literal configuration replaces the data source: because both
/// key instances by username, the plan is empty, and one more line in the file creates one more
/// tenant.
#[test]
fn the_adopted_set_becomes_a_literal_map_that_plans_no_change() {
    let _one = serial();
    let emu = Emulator::start();
    existing_users(&emu, "tenant-", 12);
    let ws = Workspace::new(&emu);
    ws.write("main.tf", &example());
    ws.apply();

    let jq = guide_jq_command();
    assert!(jq.starts_with("terraform show -json | jq "), "{jq}");
    let have_jq = Command::new("jq").arg("--version").output().is_ok();
    let vars: Json = if have_jq {
        let out = shell(&ws, &jq);
        assert!(
            out.status.success(),
            "{jq}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(ws.path().join("tenants.auto.tfvars.json"))
            .expect("the command writes tenants.auto.tfvars.json");
        serde_json::from_str(&text).expect("JSON")
    } else {
        // Without jq, the same map straight from `terraform show -json`, so the rest of the
        // guide's claim is still checked.
        println!("jq is not on PATH: building the guide's variables file without it");
        let tenants: serde_json::Map<String, Json> = ws
            .resources()
            .into_iter()
            .filter(|(a, _)| a.starts_with("alloy_user."))
            .map(|(_, r)| {
                (
                    r["username"].as_str().expect("username").to_string(),
                    r["full_name"].clone(),
                )
            })
            .collect();
        let v = json!({ "tenants": tenants });
        ws.write("tenants.auto.tfvars.json", &v.to_string());
        v
    };
    let tenants = vars["tenants"].as_object().expect("a tenants map");
    assert_eq!(tenants.len(), 12, "{vars}");
    assert_eq!(
        tenants["tenant-0@example.com"],
        Json::Null,
        "no full name: null"
    );
    assert_eq!(tenants["tenant-1@example.com"], "User 1");

    let hcl = guide_literal_config();
    assert!(!hcl.contains("alloy_users"), "{hcl}");
    // What stays of the example: the terraform and provider blocks, and the output.
    let example = example();
    let kept = |from: &str, to: &str| {
        let start = example.find(from).expect(from);
        let end = start + example[start..].find(to).expect(to) + to.len();
        example[start..end].to_string()
    };
    ws.write(
        "main.tf",
        &format!(
            "{}\n\n{}\n\n{hcl}\n{}",
            kept("terraform {", "\n}\n"),
            kept("provider \"alloy\"", "}"),
            kept("output \"adopted\"", "\n}\n"),
        ),
    );
    emu.clear_requests();
    assert!(ws.plan_is_empty(), "same addresses, so no change");
    assert_eq!(calls(&emu).0, 0);

    let mut more = vars.clone();
    more["tenants"]["tenant-new@example.com"] = json!("New Tenant");
    ws.write("tenants.auto.tfvars.json", &more.to_string());
    let r = ws.apply();
    assert!(
        r.stdout
            .contains("Resources: 1 added, 0 changed, 0 destroyed."),
        "{}",
        r.stdout
    );
    let users = api_users(&emu, "tenant-");
    assert_eq!(users.len(), 13);
    assert!(
        users
            .iter()
            .any(|u| u.1 == "tenant-new@example.com" && u.2.as_deref() == Some("New Tenant"))
    );
    assert_eq!(audit(&emu, &ws), 13);
}

/// Runs `script` with `sh -c` in the workspace, with the environment terraform gets there.
fn shell(ws: &Workspace, script: &str) -> std::process::Output {
    let tf = ws.command(&[]);
    let mut cmd = Command::new("sh");
    for (k, v) in tf.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.current_dir(ws.path())
        .env("PATH", path_with_terraform())
        .args(["-c", script])
        .output()
        .expect("run sh")
}

/// PATH with the directory of the terraform binary the tests use first, so the guide's
/// `terraform show` runs the same Terraform.
fn path_with_terraform() -> String {
    let bin = common::terraform_bin();
    let path = std::env::var("PATH").unwrap_or_default();
    match Path::new(&bin)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        Some(dir) => format!("{}:{path}", dir.display()),
        None => path,
    }
}
