//! `alloy_user.deletion_protection` end to end: real `terraform`, the provider binary and the
//! emulator on loopback. A protected user must survive every way a plan can delete it, with no
//! API write at all (the emulator's request log), and stay both in Alloy and in state.

mod common;

use common::{Admin, DEV_KEY, Development, Emulator, User, Workspace, audit_users};
use serde_json::Value as Json;

/// Requests other than GETs since the last clear, by route (an empty list: nothing written).
fn writes(emu: &Emulator) -> Vec<(String, u64)> {
    emu.request_counts().writes()
}

/// A team of users keyed by name, protected when `environment` is production (the pattern the
/// environments guide recommends).
fn team(environment: &str, users: &[(&str, &str)]) -> String {
    let entries: String = users
        .iter()
        .map(|(k, u)| format!("    {k} = \"{u}\"\n"))
        .collect();
    format!(
        r#"provider "alloy" {{}}

variable "environment" {{
  default = "{environment}"
}}

variable "users" {{
  default = {{
{entries}  }}
}}

resource "alloy_user" "team" {{
  for_each            = var.users
  username            = each.value
  deletion_protection = var.environment == "production"
}}
"#
    )
}

/// Runs a terraform command that must fail on deletion protection, then checks that nothing
/// was written, that the error says why and names the user, and that API and state still agree.
fn refused(emu: &Emulator, ws: &Workspace, what: &str, args: &[&str], names: &[&str]) {
    refused_at(emu, ws, When::Plan, what, args, names);
}

/// When a refusal happens: at plan time (the normal case), or when the delete call itself
/// refuses a deletion that no plan of the provider saw.
#[derive(PartialEq)]
enum When {
    Plan,
    Apply,
}

fn refused_at(
    emu: &Emulator,
    ws: &Workspace,
    when: When,
    what: &str,
    args: &[&str],
    names: &[&str],
) {
    emu.clear_requests();
    let run = ws.tf(args).expect_fail(what);
    let out = run.flat();
    assert!(
        out.contains("Alloy user is protected by deletion_protection"),
        "{what}: {out}"
    );
    assert!(out.contains("deletion_protection = false"), "{what}: {out}");
    assert!(out.contains("destroy = false"), "{what}: {out}");
    let applying = out.contains("Destroying...");
    let backstop = out.contains("This apply was about to delete it");
    match when {
        When::Plan => assert!(
            !applying && !backstop,
            "{what}: refused at plan time: {out}"
        ),
        When::Apply => assert!(applying && backstop, "{what}: refused by the delete: {out}"),
    }
    for name in names {
        assert!(out.contains(name), "{what}: the error names {name}: {out}");
    }
    assert_eq!(writes(emu), vec![], "{what}: no API write");
    assert_eq!(
        audit_users(emu, ws),
        2,
        "{what}: both users are still in Alloy and state"
    );
}

fn state_of(ws: &Workspace, address: &str) -> Json {
    ws.resource(address)
}

#[test]
fn a_protected_user_survives_every_deleting_plan_until_protection_is_applied_off() {
    let emu = Emulator::start();
    let ws = Workspace::new(&emu);
    let users = [("ann", "ann@example.com"), ("bob", "bob@example.com")];
    ws.write_main(&team("production", &users));
    ws.apply();
    let ann = state_of(&ws, "alloy_user.team[\"ann\"]");
    assert_eq!(ann["deletion_protection"], true);
    let ann_id = ann["id"].as_str().expect("id").to_string();
    let bob_id = state_of(&ws, "alloy_user.team[\"bob\"]")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let both = ["ann@example.com", &ann_id, "bob@example.com", &bob_id];

    let destroy = ["destroy", "-auto-approve", "-input=false"];
    refused(&emu, &ws, "terraform destroy", &destroy, &both);
    let plan_destroy = ["plan", "-destroy", "-input=false"];
    refused(&emu, &ws, "terraform plan -destroy", &plan_destroy, &both);

    // A for_each key that went away.
    ws.write_main(&team("production", &users[..1]));
    let apply = ["apply", "-auto-approve", "-input=false"];
    refused(
        &emu,
        &ws,
        "dropping a for_each key",
        &apply,
        &["bob@example.com", &bob_id],
    );

    // The whole block deleted (nothing left but the provider).
    ws.write_main("provider \"alloy\" {}\n");
    refused(&emu, &ws, "deleting the resource block", &apply, &both);

    // A username change forces a replacement, which would delete the user.
    ws.write_main(&team(
        "production",
        &[users[0], ("bob", "robert@example.com")],
    ));
    refused(
        &emu,
        &ws,
        "a username change",
        &apply,
        &["bob@example.com", &bob_id, "username"],
    );

    // Turning protection off and deleting in the same plan: protection in the prior state counts.
    ws.write_main(&team("development", &users[..1]));
    refused(
        &emu,
        &ws,
        "protection off and delete at once",
        &apply,
        &["bob@example.com"],
    );

    // A replacement the plan cannot see (-replace): the delete call itself refuses, before any
    // write, and the create that would follow never runs.
    ws.write_main(&team("production", &users));
    let replace = [
        "apply",
        "-auto-approve",
        "-input=false",
        "-replace=alloy_user.team[\"ann\"]",
    ];
    refused_at(
        &emu,
        &ws,
        When::Apply,
        "apply -replace",
        &replace,
        &["ann@example.com", &ann_id],
    );

    // Protection off: an in-place update of state alone, then nothing left to do.
    ws.write_main(&team("development", &users));
    emu.clear_requests();
    let out = ws.apply();
    assert!(out.stdout.contains("2 changed"), "{}", out.stdout);
    assert_eq!(
        writes(&emu),
        vec![],
        "turning protection off makes no API write"
    );
    assert_eq!(
        state_of(&ws, "alloy_user.team[\"ann\"]")["deletion_protection"],
        false
    );
    assert_eq!(
        state_of(&ws, "alloy_user.team[\"ann\"]")["id"],
        ann_id.as_str()
    );
    assert!(ws.plan_is_empty());

    // Now destroy works, one DELETE per user.
    emu.clear_requests();
    ws.tf(&destroy).expect_ok("terraform destroy");
    assert_eq!(writes(&emu), vec![("DELETE /users/{id}".to_string(), 2)]);
    assert!(emu.users(Development).is_empty());
    assert!(ws.resources().is_empty());
}

#[test]
fn a_removed_block_forgets_a_protected_user_and_keeps_it_in_alloy() {
    let emu = Emulator::start();
    let ws = Workspace::new(&emu);
    ws.write_main(
        "provider \"alloy\" {}\n\nresource \"alloy_user\" \"keep\" {\n  username = \"keep@example.com\"\n  deletion_protection = true\n}\n",
    );
    ws.apply();
    let id = state_of(&ws, "alloy_user.keep")["id"]
        .as_str()
        .expect("id")
        .to_string();

    ws.write_main(
        "provider \"alloy\" {}\n\nremoved {\n  from = alloy_user.keep\n  lifecycle {\n    destroy = false\n  }\n}\n",
    );
    emu.clear_requests();
    let out = ws.apply();
    assert!(out.stdout.contains("0 destroyed"), "{}", out.stdout);
    assert_eq!(writes(&emu), vec![], "forgetting makes no API write");
    assert!(ws.resources().is_empty(), "the user left state");
    assert_eq!(
        emu.users(Development),
        vec![User {
            user_id: id,
            username: "keep@example.com".to_string(),
            full_name: None
        }],
        "the user is still in Alloy"
    );
}

#[test]
fn an_imported_user_is_unprotected_and_plans_no_change() {
    let emu = Emulator::start();
    let id = emu.create_user(DEV_KEY, "imported@example.com", Some("Imp"));
    let ws = Workspace::new(&emu);
    ws.write_main(&format!(
        "provider \"alloy\" {{}}\n\nimport {{\n  to = alloy_user.imp\n  id = \"{id}\"\n}}\n\nresource \"alloy_user\" \"imp\" {{\n  username  = \"imported@example.com\"\n  full_name = \"Imp\"\n}}\n"
    ));
    emu.clear_requests();
    let out = ws.apply();
    assert!(
        out.stdout.contains("1 imported, 0 added, 0 changed"),
        "{}",
        out.stdout
    );
    assert_eq!(writes(&emu), vec![]);
    let v = state_of(&ws, "alloy_user.imp");
    assert_eq!(v["deletion_protection"], false);
    assert_eq!(v["id"], id.as_str());
    assert!(ws.plan_is_empty());
}

#[test]
fn state_written_by_schema_version_0_upgrades_to_unprotected_with_no_change() {
    let emu = Emulator::start();
    // The fixture is the state the provider wrote before `deletion_protection` existed; its
    // user id is a placeholder for the user this emulator holds.
    let id = emu.create_user(DEV_KEY, "legacy@example.com", Some("Legacy User"));
    let fixture = include_str!("fixtures/alloy_user_v0.tfstate");
    assert!(fixture.contains("\"schema_version\": 0"));
    let ws = Workspace::new(&emu);
    ws.write("terraform.tfstate", &fixture.replace("__USER_ID__", &id));
    ws.write_main(
        "provider \"alloy\" {}\n\nresource \"alloy_user\" \"legacy\" {\n  username  = \"legacy@example.com\"\n  full_name = \"Legacy User\"\n}\n",
    );
    let raw = upgraded_without_a_write(&emu, &ws);
    let instance = &raw["resources"][0]["instances"][0];
    assert_eq!(instance["schema_version"], 2);
    assert_eq!(instance["attributes"]["deletion_protection"], false);
    assert_eq!(instance["attributes"]["purge_logs_on_destroy"], false);
    assert_eq!(
        instance["attributes"]["delete_credentials_on_destroy"],
        false
    );
    assert_eq!(instance["attributes"]["id"], id.as_str());
    assert_eq!(instance["attributes"]["full_name"], "Legacy User");
    assert!(ws.plan_is_empty());
}

#[test]
fn state_written_by_schema_version_1_upgrades_to_no_offboarding_with_no_change() {
    let emu = Emulator::start();
    // Version 1 is version 0 plus `deletion_protection`; here a protected user, which must stay
    // protected, with both offboarding flags off (what a configuration without them plans).
    let id = emu.create_user(DEV_KEY, "legacy@example.com", Some("Legacy User"));
    let v1 = include_str!("fixtures/alloy_user_v0.tfstate")
        .replace("\"schema_version\": 0", "\"schema_version\": 1")
        .replace(
            "\"environment\": \"development\",",
            "\"deletion_protection\": true,\n            \"environment\": \"development\",",
        )
        .replace("__USER_ID__", &id);
    assert!(v1.contains("\"schema_version\": 1") && v1.contains("\"deletion_protection\": true"));
    let ws = Workspace::new(&emu);
    ws.write("terraform.tfstate", &v1);
    ws.write_main(
        "provider \"alloy\" {}\n\nresource \"alloy_user\" \"legacy\" {\n  username  = \"legacy@example.com\"\n  full_name = \"Legacy User\"\n  deletion_protection = true\n}\n",
    );
    let raw = upgraded_without_a_write(&emu, &ws);
    let instance = &raw["resources"][0]["instances"][0];
    assert_eq!(instance["schema_version"], 2);
    assert_eq!(instance["attributes"]["deletion_protection"], true);
    assert_eq!(instance["attributes"]["purge_logs_on_destroy"], false);
    assert_eq!(
        instance["attributes"]["delete_credentials_on_destroy"],
        false
    );
}

/// Plans and refreshes an older state: no change planned, nothing written to Alloy. Returns the
/// state file Terraform then wrote (the upgraded instance, as stored).
fn upgraded_without_a_write(emu: &Emulator, ws: &Workspace) -> Json {
    emu.clear_requests();
    assert!(ws.plan_is_empty(), "an upgraded state plans no change");
    ws.tf(&["apply", "-refresh-only", "-auto-approve", "-input=false"])
        .expect_ok("apply -refresh-only");
    assert_eq!(writes(emu), vec![]);
    serde_json::from_str(
        &std::fs::read_to_string(ws.path().join("terraform.tfstate")).expect("state file"),
    )
    .expect("state JSON")
}
