//! `alloy_user_workflow` and `alloy_workflow_users` driven by the real `terraform` CLI against the
//! emulator as a process on loopback. What a tenant runs is checked in the emulator's truth (its
//! admin API), and API traffic in its request log, so "one call per workflow" and "no second
//! upgrade" are observed, not assumed.

mod common;

use alloy_emulator::catalogue::catalogue;
use common::{Admin, DEV_KEY, Emulator, Traffic, Workspace, figures};
use serde_json::{Value as Json, json};

const ACTIVATE: &str = "PUT /workflows/activate";
const DEACTIVATE: &str = "PUT /workflows/deactivate";
const UPGRADE: &str = "PUT /workflows/{id}/upgrade";
const UNINSTALL: &str = "DELETE /workflows/{id}";
const LIST: &str = "GET /workflows/{id}/users";

/// The integration and workflow every test uses.
fn workflow() -> (&'static str, &'static str) {
    let def = &catalogue()[0];
    (def.id, def.workflows[0].id)
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::new()
}

/// What the end user does in the modal: installs the workflow (at its latest version, active).
fn install(emu: &Emulator, user_id: &str) {
    let (integration, wf) = workflow();
    let r = http()
        .post(format!("{}/_emulator/installs", emu.url))
        .json(&json!({"environment": "development", "userId": user_id,
                      "integrationId": integration, "workflowId": wf}))
        .send()
        .expect("POST installs");
    assert!(r.status().is_success(), "install: {}", r.status());
}

/// Publishes the workflow's next version; returns its number.
fn publish(emu: &Emulator, incompatible: bool) -> i64 {
    let (_, wf) = workflow();
    let r: Json = http()
        .post(format!("{}/_emulator/workflows/{wf}/versions", emu.url))
        .json(&json!({"incompatible": incompatible}))
        .send()
        .expect("publish")
        .json()
        .expect("JSON");
    r["version"].as_i64().expect("version")
}

/// The emulator's truth for the workflow: userId → (active, installedVersion).
fn truth(emu: &Emulator) -> std::collections::BTreeMap<String, (bool, i64)> {
    let (_, wf) = workflow();
    emu.admin_get(&format!("workflows/{wf}/installs?environment=development"))["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|i| {
            (
                i["userId"].as_str().unwrap_or_default().to_owned(),
                (
                    i["active"].as_bool().unwrap_or(false),
                    i["installedVersion"].as_i64().unwrap_or(-1),
                ),
            )
        })
        .collect()
}

/// A tenant switching the workflow on or off itself, through the public API.
fn set_active_out_of_band(emu: &Emulator, user_id: &str, active: bool) {
    let (_, wf) = workflow();
    let verb = if active { "activate" } else { "deactivate" };
    let r = http()
        .put(format!("{}/workflows/{verb}", emu.url))
        .bearer_auth(DEV_KEY)
        .json(&json!({"userId": user_id, "workflowId": wf}))
        .send()
        .expect("PUT");
    assert!(r.status().is_success(), "{verb}: {}", r.status());
}

fn tenants(emu: &Emulator, names: &[&str]) -> Vec<String> {
    names
        .iter()
        .map(|n| emu.create_user(DEV_KEY, n, None))
        .collect()
}

/// One `alloy_user_workflow` per (name, user id, extra attributes).
fn resources(rows: &[(&str, &str, &str)]) -> String {
    let (_, wf) = workflow();
    let mut hcl = String::from("provider \"alloy\" {}\n");
    for (name, user, extra) in rows {
        hcl.push_str(&format!(
            "resource \"alloy_user_workflow\" \"{name}\" {{\n  user_id = \"{user}\"\n  workflow_id = \"{wf}\"\n  {extra}\n}}\n"
        ));
    }
    hcl
}

fn state_of(ws: &Workspace, name: &str) -> Json {
    ws.resource(&format!("alloy_user_workflow.{name}"))
}

#[test]
fn activation_in_place_and_drift_back_to_active() {
    let emu = Emulator::start();
    let ids = tenants(&emu, &["ann@example.com"]);
    install(&emu, &ids[0]);
    let ws = Workspace::new(&emu);

    ws.write_main(&resources(&[("t", &ids[0], "")]));
    emu.clear_requests();
    ws.apply();
    // Already active: adopting it writes nothing.
    assert_eq!(emu.count(ACTIVATE) + emu.count(DEACTIVATE), 0);
    let s = state_of(&ws, "t");
    assert_eq!(s["active"], true);
    assert_eq!(s["username"], "ann@example.com");
    assert!(s["installed_at"].is_string(), "{s}");
    assert_eq!(s["installed_version"], s["latest_version"]);

    ws.write_main(&resources(&[("t", &ids[0], "active = false")]));
    emu.clear_requests();
    let run = ws.apply();
    assert!(run.stdout.contains("1 changed"), "{}", run.all());
    assert_eq!(emu.count(DEACTIVATE), 1);
    assert!(!truth(&emu)[&ids[0]].0);
    assert!(ws.plan_is_empty());

    // The tenant switches it back on itself: the plan puts it back off.
    set_active_out_of_band(&emu, &ids[0], true);
    let plan = ws.tf(&["plan", "-input=false"]).expect_ok("plan");
    assert!(plan.stdout.contains("1 to change"), "{}", plan.all());
    ws.apply();
    assert!(!truth(&emu)[&ids[0]].0);

    // And with `active` back to its default, a tenant who deactivated is reactivated.
    ws.write_main(&resources(&[("t", &ids[0], "")]));
    emu.clear_requests();
    ws.apply();
    assert_eq!(emu.count(ACTIVATE), 1);
    assert!(truth(&emu)[&ids[0]].0);
    assert!(ws.plan_is_empty());
}

#[test]
fn a_workflow_not_installed_fails_naming_both_and_records_nothing() {
    let emu = Emulator::start();
    let ids = tenants(&emu, &["bob@example.com"]);
    let ws = Workspace::new(&emu);
    ws.write_main(&resources(&[("t", &ids[0], "")]));
    emu.clear_requests();
    let run = ws
        .tf(&["apply", "-auto-approve", "-input=false"])
        .expect_fail("apply of a workflow nobody installed");
    let (_, wf) = workflow();
    let out = run.flat();
    assert!(
        out.contains("Workflow not installed for this user"),
        "{out}"
    );
    assert!(out.contains(wf) && out.contains(&ids[0]), "{out}");
    assert_eq!(
        emu.count(ACTIVATE) + emu.count(DEACTIVATE) + emu.count(UPGRADE),
        0
    );
    assert!(ws.resources().is_empty(), "nothing may be recorded");
}

#[test]
fn malformed_ids_fail_at_validate() {
    let emu = Emulator::start();
    let ws = Workspace::new(&emu);
    ws.write_main(
        "provider \"alloy\" {}\nresource \"alloy_user_workflow\" \"t\" {\n  user_id = \"\"\n  workflow_id = \"not-an-id\"\n}\n",
    );
    emu.clear_requests();
    let run = ws.tf(&["validate"]).expect_fail("validate");
    let out = run.flat();
    assert!(
        out.contains("Invalid workflow_id") && out.contains("24 hexadecimal"),
        "{out}"
    );
    assert!(out.contains("Invalid user_id"), "{out}");
    assert_eq!(emu.total_requests(), 0);
}

#[test]
fn uninstalled_outside_terraform_warns_and_leaves_state() {
    let emu = Emulator::start();
    let ids = tenants(&emu, &["cid@example.com"]);
    install(&emu, &ids[0]);
    let ws = Workspace::new(&emu);
    ws.write_main(&resources(&[("t", &ids[0], "")]));
    ws.apply();

    let (integration, wf) = workflow();
    let r = http()
        .delete(format!("{}/_emulator/installs", emu.url))
        .json(&json!({"environment": "development", "userId": ids[0],
                      "integrationId": integration, "workflowId": wf}))
        .send()
        .expect("uninstall");
    assert!(r.status().is_success());

    let run = ws
        .tf(&["apply", "-refresh-only", "-auto-approve", "-input=false"])
        .expect_ok("refresh");
    let out = run.flat();
    assert!(
        out.contains("Workflow uninstalled outside Terraform"),
        "{out}"
    );
    assert!(out.contains(wf) && out.contains(&ids[0]), "{out}");
    assert!(ws.resources().is_empty(), "the instance must leave state");
    // The next apply's create then fails clearly.
    let run = ws
        .tf(&["apply", "-auto-approve", "-input=false"])
        .expect_fail("apply after uninstall");
    assert!(run.flat().contains("Workflow not installed for this user"));
}

#[test]
fn auto_upgrade_plans_and_applies_and_an_incompatible_version_fails_alone() {
    let emu = Emulator::start();
    let ids = tenants(&emu, &["old@example.com", "new@example.com"]);
    install(&emu, &ids[0]);
    let v1 = truth(&emu)[&ids[0]].1;
    let v2 = publish(&emu, true); // changes configurable fields
    install(&emu, &ids[1]); // installs v2 directly
    let v3 = publish(&emu, false);
    assert_eq!((v2, v3), (v1 + 1, v1 + 2));

    let ws = Workspace::new(&emu);
    ws.write_main(&resources(&[
        ("old", &ids[0], "auto_upgrade = true"),
        ("new", &ids[1], "auto_upgrade = true"),
    ]));
    emu.clear_requests();
    let run = ws
        .tf(&["apply", "-auto-approve", "-input=false"])
        .expect_fail("apply across an incompatible version");
    let out = run.flat();
    assert!(out.contains("Workflow upgrade needs a reinstall"), "{out}");
    assert!(out.contains("must reinstall"), "{out}");
    let t = truth(&emu);
    assert_eq!(t[&ids[0]].1, v1, "the incompatible tenant is unchanged");
    assert_eq!(t[&ids[1]].1, v3, "the other tenant was upgraded");
    assert_eq!(state_of(&ws, "old")["installed_version"], v1);
    assert_eq!(state_of(&ws, "new")["installed_version"], v3);
    assert_eq!(emu.count(UPGRADE), 2);

    // Without auto_upgrade for the stuck tenant, the plan is empty; with it, 1 to change.
    ws.write_main(&resources(&[
        ("old", &ids[0], ""),
        ("new", &ids[1], "auto_upgrade = true"),
    ]));
    ws.apply();
    assert!(ws.plan_is_empty());
    let v4 = publish(&emu, false);
    let plan = ws.tf(&["plan", "-input=false"]).expect_ok("plan");
    assert!(plan.stdout.contains("1 to change"), "{}", plan.all());
    emu.clear_requests();
    ws.apply();
    assert_eq!(emu.count(UPGRADE), 1);
    assert_eq!(truth(&emu)[&ids[1]].1, v4);
    assert!(ws.plan_is_empty());
}

#[test]
fn import_by_user_id_and_by_username() {
    let emu = Emulator::start();
    let ids = tenants(&emu, &["dee@example.com", "eve@example.com"]);
    install(&emu, &ids[0]);
    install(&emu, &ids[1]);
    let (_, wf) = workflow();
    let ws = Workspace::new(&emu);
    let mut hcl = resources(&[("a", &ids[0], ""), ("b", &ids[1], "")]);
    hcl.push_str(&format!(
        "import {{\n  to = alloy_user_workflow.a\n  id = \"{}/{wf}\"\n}}\nimport {{\n  to = alloy_user_workflow.b\n  id = \"eve@example.com/{wf}\"\n}}\n",
        ids[0]
    ));
    ws.write_main(&hcl);
    let run = ws.apply();
    assert!(run.stdout.contains("2 imported"), "{}", run.all());
    assert_eq!(state_of(&ws, "b")["user_id"], ids[1].as_str());
    assert!(ws.plan_is_empty());

    // A malformed id says what the form is.
    ws.write_main(&format!(
        "{}import {{\n  to = alloy_user_workflow.c\n  id = \"{wf}\"\n}}\nresource \"alloy_user_workflow\" \"c\" {{\n  user_id = \"x\"\n  workflow_id = \"{wf}\"\n}}\n",
        resources(&[("a", &ids[0], ""), ("b", &ids[1], "")])
    ));
    let run = ws
        .tf(&["plan", "-input=false"])
        .expect_fail("bad import id");
    assert!(
        run.flat().contains("<userId>/<workflowId>"),
        "{}",
        run.all()
    );
}

#[test]
fn destroy_deactivates_unless_asked_to_uninstall() {
    let emu = Emulator::start();
    let ids = tenants(&emu, &["fay@example.com", "gus@example.com"]);
    install(&emu, &ids[0]);
    install(&emu, &ids[1]);
    let ws = Workspace::new(&emu);
    ws.write_main(&resources(&[
        ("keep", &ids[0], ""),
        ("gone", &ids[1], "uninstall_on_destroy = true"),
    ]));
    ws.apply();
    emu.clear_requests();
    ws.tf(&["destroy", "-auto-approve", "-input=false"])
        .expect_ok("destroy");
    assert_eq!(emu.count(DEACTIVATE), 1);
    assert_eq!(emu.count(UNINSTALL), 1);
    let t = truth(&emu);
    assert_eq!(
        t.get(&ids[0]).map(|x| x.0),
        Some(false),
        "deactivated, still installed"
    );
    assert!(!t.contains_key(&ids[1]), "uninstalled");
}

#[test]
fn the_data_source_feeds_for_each_in_one_list_call() {
    let emu = Emulator::start();
    let names: Vec<String> = (0..12).map(|i| format!("t{i:02}@example.com")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let ids = tenants(&emu, &refs);
    for id in &ids {
        install(&emu, id);
    }
    set_active_out_of_band(&emu, &ids[3], false);
    let (_, wf) = workflow();
    let ws = Workspace::new(&emu);
    ws.write_main(&format!(
        r#"provider "alloy" {{}}
data "alloy_workflow_users" "fleet" {{
  workflow_id = "{wf}"
}}
data "alloy_workflow_users" "off" {{
  workflow_id    = "{wf}"
  active         = false
  username_regex = "^t0"
}}
resource "alloy_user_workflow" "t" {{
  for_each    = {{ for u in data.alloy_workflow_users.fleet.users : u.username => u }}
  user_id     = each.value.user_id
  workflow_id = "{wf}"
  active      = each.value.username != "t03@example.com"
}}
output "off" {{ value = [for u in data.alloy_workflow_users.off.users : u.username] }}
"#
    ));
    emu.clear_requests();
    ws.apply();
    assert_eq!(ws.resources().len(), 14, "2 data sources + 12 instances");
    assert_eq!(
        emu.count(LIST),
        2,
        "one list per provider process: the plan's (both data sources) and the apply's (the creates)"
    );
    assert_eq!(emu.count(ACTIVATE) + emu.count(DEACTIVATE), 0);
    let out = ws.tf(&["output", "-json", "off"]).expect_ok("output");
    assert_eq!(out.stdout.trim(), r#"["t03@example.com"]"#);

    // A no-change plan of the whole fleet: one list and a handful of other calls.
    emu.clear_requests();
    assert!(ws.plan_is_empty());
    let t = Traffic::of(&emu);
    figures("workflow plan", ids.len(), t, std::time::Duration::ZERO);
    assert_eq!(emu.count(LIST), 1);
    assert!(
        t.api_calls <= 1 + 1 + 3,
        "a no-change plan of 12 tenants must cost about one call per workflow: {t:?}"
    );
}

#[test]
fn faults_on_the_write_routes_never_upgrade_twice_and_converge() {
    let emu = Emulator::with(Json::Null, Some(42));
    let names: Vec<String> = (0..10).map(|i| format!("f{i}@example.com")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let ids = tenants(&emu, &refs);
    for id in &ids {
        install(&emu, id);
    }
    let ws = Workspace::new(&emu);
    let rows: Vec<(String, String)> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (format!("t{i}"), id.clone()))
        .collect();
    let hcl = |extra: &str| {
        let r: Vec<(&str, &str, &str)> = rows
            .iter()
            .map(|(n, id)| (n.as_str(), id.as_str(), extra))
            .collect();
        resources(&r)
    };
    ws.write_main(&hcl("auto_upgrade = true"));
    ws.apply();

    // Each round changes every tenant once under one kind of fault on the write routes: a new
    // version to upgrade to, or activation switched. Every write the API handled is counted: the
    // sends minus those a fault answered before any work (5xx, 429); a lost answer was handled.
    let routes = json!([UPGRADE, ACTIVATE, DEACTIVATE]);
    let rounds = [
        (
            "upgrade, 5xx",
            json!({"error_rate": 0.4, "routes": routes}),
            None,
        ),
        (
            "upgrade, 429",
            json!({"rate_limit": 3, "routes": routes}),
            None,
        ),
        (
            "upgrade, lost answers",
            json!({"lost_response_rate": 0.5, "routes": routes}),
            None,
        ),
        (
            "deactivate, lost answers",
            json!({"lost_response_rate": 0.5, "routes": routes}),
            Some(false),
        ),
        (
            "activate, 5xx",
            json!({"error_rate": 0.4, "routes": routes}),
            Some(true),
        ),
    ];
    for (label, faults, active) in rounds {
        let route = match active {
            None => {
                publish(&emu, false);
                UPGRADE
            }
            Some(a) => {
                ws.write_main(&hcl(&format!("auto_upgrade = true\n  active = {a}")));
                if a { ACTIVATE } else { DEACTIVATE }
            }
        };
        emu.patch_faults(faults);
        emu.clear_requests();
        let started = std::time::Instant::now();
        let run = ws.tf(&["apply", "-auto-approve", "-input=false"]);
        let t = Traffic::of(&emu);
        let sent = emu.count(route);
        emu.patch_faults(json!({"error_rate": 0.0, "rate_limit": 0, "lost_response_rate": 0.0}));
        figures(
            &format!("workflows, {label}"),
            ids.len(),
            t,
            started.elapsed(),
        );
        assert!(run.ok(), "{label}: {}", run.all());
        assert!(
            t.retryable + t.lost > 0,
            "{label}: the faults were not in force"
        );
        assert_eq!(
            sent - t.retryable,
            ids.len() as u64,
            "{label}: each tenant's write must be handled exactly once (no blind resend)"
        );
        let now = truth(&emu);
        let latest = now.values().map(|x| x.1).max().unwrap_or(-1);
        for (n, id) in &rows {
            let s = state_of(&ws, n);
            assert_eq!(now[id].1, latest, "{label}: {id} not upgraded");
            assert_eq!(s["installed_version"], latest, "{label}: state of {id}");
            assert_eq!(
                s["active"], now[id].0,
                "{label}: state and API disagree on {id}"
            );
            if let Some(a) = active {
                assert_eq!(now[id].0, a, "{label}: {id}");
            }
        }
        assert!(ws.plan_is_empty(), "{label}: plan not empty");
    }
}

#[test]
fn a_key_of_the_other_environment_keeps_every_workflow_and_fails_once() {
    let emu = Emulator::start();
    let names: Vec<String> = (0..6).map(|i| format!("w{i}@example.com")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let ids = tenants(&emu, &refs);
    for id in &ids {
        install(&emu, id);
    }
    let mut ws = Workspace::new(&emu);
    let rows: Vec<(String, String)> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (format!("t{i}"), id.clone()))
        .collect();
    let r: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|(n, id)| (n.as_str(), id.as_str(), ""))
        .collect();
    ws.write_main(&resources(&r));
    ws.apply();

    // The production key sees none of these tenants: a wrong key, not six uninstalls.
    ws.set_env("ALLOY_ENVIRONMENT", "production");
    emu.clear_requests();
    let run = ws
        .tf(&["plan", "-input=false"])
        .expect_fail("plan with the other environment's key");
    let out = run.flat();
    assert!(out.contains("Alloy workflows missing en masse"), "{out}");
    assert_eq!(
        out.matches("the key in use came from").count(),
        1,
        "explained once: {out}"
    );
    assert!(!out.contains("uninstalled outside Terraform"), "{out}");
    assert_eq!(ws.resources().len(), ids.len(), "nothing left state");
    println!(
        "FIGURES workflows, other environment's key: {} API calls for {} instances",
        emu.total_requests(),
        ids.len()
    );
}

/// The workflows guide's layout for thousands of tenants: a module instance per last hex digit
/// of the userId. An unsharded fleet moves into it with the guide's `removed` and `import`
/// blocks in one apply that writes nothing, and the sharded plan is still one list call.
#[test]
fn the_guides_sharded_layout_takes_over_an_unsharded_fleet_without_a_write() {
    let emu = Emulator::start();
    let names: Vec<String> = (0..24).map(|i| format!("s{i:02}@example.com")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let ids = tenants(&emu, &refs);
    for id in &ids {
        install(&emu, id);
    }
    let (_, wf) = workflow();
    let data = format!(
        "provider \"alloy\" {{}}\nvariable \"workflow_id\" {{\n  default = \"{wf}\"\n}}\n\
         data \"alloy_workflow_users\" \"installed\" {{\n  workflow_id = var.workflow_id\n}}\n"
    );
    let ws = Workspace::new(&emu);
    ws.write_main(&format!(
        r#"{data}
resource "alloy_user_workflow" "this" {{
  for_each     = {{ for u in data.alloy_workflow_users.installed.users : u.user_id => u }}
  user_id      = each.key
  workflow_id  = var.workflow_id
  active       = true
  auto_upgrade = true
}}
"#
    ));
    ws.apply();

    std::fs::create_dir_all(ws.path().join("tenant-workflow")).expect("module dir");
    ws.write(
        "tenant-workflow/main.tf",
        r#"terraform {
  required_providers {
    alloy = {
      source = "alloy-automation/alloy"
    }
  }
}

variable "workflow_id" {
  type = string
}

variable "users" {
  type = map(object({ user_id = string, username = string }))
}

resource "alloy_user_workflow" "this" {
  for_each     = var.users
  user_id      = each.key
  workflow_id  = var.workflow_id
  active       = true
  auto_upgrade = true
}
"#,
    );
    ws.write_main(&format!(
        r#"{data}
module "tenant_workflow" {{
  source      = "./tenant-workflow"
  for_each    = toset(split("", "0123456789abcdef"))
  workflow_id = var.workflow_id
  users = {{
    for u in data.alloy_workflow_users.installed.users : u.user_id => u
    if endswith(u.user_id, each.key)
  }}
}}

removed {{
  from = alloy_user_workflow.this
  lifecycle {{
    destroy = false
  }}
}}

import {{
  for_each = {{ for u in data.alloy_workflow_users.installed.users : u.user_id => substr(u.user_id, 23, 1) }}
  to       = module.tenant_workflow[each.value].alloy_user_workflow.this[each.key]
  id       = "${{each.key}}/${{var.workflow_id}}"
}}
"#
    ));
    ws.tf(&["get"]).expect_ok("terraform get");
    emu.clear_requests();
    let run = ws.apply();
    assert!(
        run.stdout.contains(&format!("{} imported", ids.len())),
        "every tenant is imported into its shard:\n{}",
        run.stdout
    );
    let t = Traffic::of(&emu);
    assert_eq!(
        emu.count(ACTIVATE) + emu.count(DEACTIVATE) + emu.count(UPGRADE) + emu.count(UNINSTALL),
        0,
        "moving into shards writes nothing: {t:?}"
    );
    let sharded: Vec<String> = ws
        .resources()
        .into_iter()
        .map(|(address, _)| address)
        .filter(|a| a.starts_with("module.tenant_workflow["))
        .collect();
    assert_eq!(sharded.len(), ids.len(), "{sharded:?}");
    for id in &ids {
        let shard = &id[id.len() - 1..];
        let address =
            format!("module.tenant_workflow[\"{shard}\"].alloy_user_workflow.this[\"{id}\"]");
        assert!(sharded.contains(&address), "{address} missing: {sharded:?}");
    }

    emu.clear_requests();
    assert!(ws.plan_is_empty());
    assert_eq!(
        emu.count(LIST),
        1,
        "the shards share one list of the workflow's tenants"
    );
}
