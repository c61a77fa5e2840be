//! The data sources other than the token (`e2e_tokens.rs`), driven by the real `terraform` CLI
//! against the emulator on loopback.
//!
//! API traffic is checked with the emulator's request counters, so "no API call" is observed,
//! not assumed; tokens the emulator issued are searched for in what Terraform printed.

mod common;

use std::path::Path;

use alloy_emulator::catalogue::{catalogue, icon_url};
use common::leaks::{self, Artefacts};
use common::{Admin, DEV_KEY, Development, Emulator, Workspace};
use serde_json::{Value as Json, json};

// ------------------------------------------------------------------------------------------
// helpers

fn data_value(ws: &Workspace, address: &str) -> Json {
    ws.resource(address)
}

// ------------------------------------------------------------------------------------------
// alloy_integrations

fn expected_integration(def_index: usize, installed_workflows: Option<&[&str]>) -> Json {
    let def = &catalogue()[def_index];
    let mut workflows: Vec<_> = def.workflows.iter().collect();
    workflows.sort_by(|a, b| {
        (a.name.to_lowercase(), a.name, a.id).cmp(&(b.name.to_lowercase(), b.name, b.id))
    });
    let installed = installed_workflows.is_some();
    json!({
        "id": def.id,
        "name": def.app,
        "description": def.description,
        "icon": icon_url(def.slug),
        "installed": installed,
        "installed_version": if installed { json!(def.version) } else { Json::Null },
        "credentials": def.credentials,
        "workflows": workflows.iter().map(|w| {
            let on = installed_workflows.is_some_and(|ws| ws.contains(&w.id));
            json!({"id": w.id, "name": w.name, "installed": on, "active": on, "version": w.version})
        }).collect::<Vec<_>>(),
    })
}

fn index_of(app: &str) -> usize {
    catalogue()
        .iter()
        .position(|d| d.app == app)
        .expect("in catalogue")
}

#[test]
fn integrations_are_sorted_filtered_and_complete() {
    let emu = Emulator::start();
    let user_id = emu.create_user(DEV_KEY, "integrations@example.com", None);
    let shopify = &catalogue()[index_of("Shopify")];
    let slack = &catalogue()[index_of("Slack")];
    emu.install(
        Development,
        &user_id,
        shopify.id,
        Some(shopify.workflows[1].id),
    );
    emu.install(Development, &user_id, slack.id, None);
    emu.clear_requests();

    let ws = Workspace::new(&emu);
    ws.write_main(&format!(
        r#"
provider "alloy" {{}}

data "alloy_integrations" "all" {{
  user_id = "integrations@example.com"
}}

data "alloy_integrations" "installed" {{
  user_id   = "{user_id}"
  installed = true
}}

data "alloy_integrations" "not_installed_s" {{
  user_id    = "{user_id}"
  installed  = false
  name_regex = "(?i)^s"
}}

data "alloy_integrations" "none" {{
  user_id    = "{user_id}"
  name_regex = "^No such integration$"
}}

output "names" {{
  value = [for i in data.alloy_integrations.all.integrations : i.name]
}}
"#
    ));
    ws.apply();

    // All of them, in name order, with every field as the API gave it.
    let all = data_value(&ws, "data.alloy_integrations.all");
    assert_eq!(
        all["id"], "integrations@example.com",
        "id is the user_id as given"
    );
    let mut order: Vec<usize> = (0..catalogue().len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&catalogue()[a], &catalogue()[b]);
        (x.app.to_lowercase(), x.app, x.id).cmp(&(y.app.to_lowercase(), y.app, y.id))
    });
    let expected: Vec<Json> = order
        .iter()
        .map(|&i| {
            let d = &catalogue()[i];
            if d.id == shopify.id {
                expected_integration(i, Some(&[shopify.workflows[1].id]))
            } else if d.id == slack.id {
                let every: Vec<&str> = slack.workflows.iter().map(|w| w.id).collect();
                expected_integration(i, Some(&every))
            } else {
                expected_integration(i, None)
            }
        })
        .collect();
    assert_eq!(all["integrations"], Json::Array(expected));
    let names = ws.state()["values"]["outputs"]["names"]["value"].clone();
    let mut sorted: Vec<String> = catalogue().iter().map(|d| d.app.to_string()).collect();
    sorted.sort_by_key(|n| n.to_lowercase());
    assert_eq!(names, json!(sorted));

    // Filters.
    let ids = |addr: &str| -> Vec<String> {
        data_value(&ws, addr)["integrations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ids("data.alloy_integrations.installed"),
        ["Shopify", "Slack"]
    );
    let mut s_names: Vec<String> = catalogue()
        .iter()
        .filter(|d| d.app.to_lowercase().starts_with('s') && d.id != shopify.id && d.id != slack.id)
        .map(|d| d.app.to_string())
        .collect();
    s_names.sort_by_key(|n| n.to_lowercase());
    assert!(!s_names.is_empty());
    assert_eq!(ids("data.alloy_integrations.not_installed_s"), s_names);
    assert!(ids("data.alloy_integrations.none").is_empty());
    assert_eq!(
        data_value(&ws, "data.alloy_integrations.installed")["id"],
        user_id.as_str()
    );

    // One API call per data source read.
    assert_eq!(emu.count("GET /integrations"), 4);
    assert!(ws.plan_is_empty(), "a second plan sees no change");
}

// ------------------------------------------------------------------------------------------
// alloy_user, data source

#[test]
fn user_data_source_looks_up_by_id_or_username_exactly() {
    let emu = Emulator::start();
    let a = emu.create_user(DEV_KEY, "lookup@example.com", Some("Look Up"));
    // A user whose username is the other user's id: a lookup by that username must find this
    // one, not the user whose id it is.
    let b = emu.create_user(DEV_KEY, &a, None);
    let ws = Workspace::new(&emu);
    ws.write_main(&format!(
        r#"
provider "alloy" {{}}

data "alloy_user" "by_id" {{
  id = "{a}"
}}

data "alloy_user" "by_username" {{
  username = "lookup@example.com"
}}

data "alloy_user" "tricky" {{
  username = "{a}"
}}
"#
    ));
    ws.apply();
    let by_id = data_value(&ws, "data.alloy_user.by_id");
    assert_eq!(by_id["id"], a.as_str());
    assert_eq!(by_id["username"], "lookup@example.com");
    assert_eq!(by_id["full_name"], "Look Up");
    assert_eq!(data_value(&ws, "data.alloy_user.by_username"), by_id);
    let tricky = data_value(&ws, "data.alloy_user.tricky");
    assert_eq!(tricky["id"], b.as_str());
    assert_eq!(tricky["username"], a.as_str());
    assert_eq!(tricky["full_name"], Json::Null);
}

#[test]
fn missing_users_are_errors_naming_what_was_looked_up() {
    let emu = Emulator::start();
    let known = emu.create_user(DEV_KEY, "known@example.com", None);
    let cases: [(&str, &[&str]); 5] = [
        (
            "data \"alloy_user\" \"x\" {\n  username = \"ghost@example.com\"\n}",
            &[
                "Alloy user not found",
                "No user with username \"ghost@example.com\"",
                "development",
            ],
        ),
        (
            // The id of nobody, and a username given as an id is not an id.
            "data \"alloy_user\" \"x\" {\n  id = \"known@example.com\"\n}",
            &[
                "Alloy user not found",
                "No user with id \"known@example.com\"",
            ],
        ),
        (
            "data \"alloy_user_token\" \"x\" {\n  user_id = \"ghost@example.com\"\n}",
            &[
                "Alloy user not found",
                "userId or username \"ghost@example.com\"",
                "user_id = \"ghost@example.com\"",
            ],
        ),
        (
            "ephemeral \"alloy_user_token\" \"x\" {\n  user_id = \"ghost@example.com\"\n}",
            &[
                "Alloy user not found",
                "userId or username \"ghost@example.com\"",
            ],
        ),
        (
            "data \"alloy_integrations\" \"x\" {\n  user_id = \"ghost@example.com\"\n}",
            &[
                "Alloy user not found",
                "userId or username \"ghost@example.com\"",
                "integrations",
            ],
        ),
    ];
    for (block, expected) in cases {
        let ws = Workspace::new(&emu);
        ws.write_main(&format!("provider \"alloy\" {{}}\n\n{block}\n"));
        let out = ws.tf(&["plan", "-input=false"]).expect_fail(block).all();
        for e in expected {
            assert!(out.contains(e), "expected {e:?} for\n{block}\nin:\n{out}");
        }
    }
    assert!(
        emu.tokens().is_empty(),
        "no token for a user that does not exist"
    );
    assert!(emu.users(Development).iter().any(|u| u.user_id == known));
}

// ------------------------------------------------------------------------------------------
// alloy_ip_addresses

#[test]
fn ip_addresses_are_published_values_read_without_an_api_call() {
    let emu = Emulator::start();
    let ws = Workspace::new(&emu);
    ws.write_main(
        r#"
provider "alloy" {}

data "alloy_ip_addresses" "alloy" {}

output "cidrs" {
  value = data.alloy_ip_addresses.alloy.cidr_blocks
}
"#,
    );
    let run = ws.apply();
    let v = data_value(&ws, "data.alloy_ip_addresses.alloy");
    assert_eq!(v["ipv4"], json!(["3.211.13.53", "54.160.36.113"]));
    assert_eq!(
        v["cidr_blocks"],
        json!(["3.211.13.53/32", "54.160.36.113/32"])
    );
    assert!(
        run.stdout.contains("\"54.160.36.113/32\""),
        "{}",
        run.stdout
    );
    assert_eq!(emu.total_requests(), 0, "the list is built in: no API call");
}

// ------------------------------------------------------------------------------------------
// validation

/// Each bad input fails the plan with an error that names the attribute, before any API call.
#[test]
fn bad_inputs_fail_at_plan_time_without_api_calls() {
    let emu = Emulator::start();
    let cases: [(&str, &[&str]); 8] = [
        (
            "data \"alloy_user_token\" \"x\" {\n  user_id = \"\"\n}",
            &["Invalid user_id", "must not be empty", "user_id = \"\""],
        ),
        (
            "ephemeral \"alloy_user_token\" \"x\" {\n  user_id = \" padded\"\n}",
            &["Invalid user_id", "whitespace", "user_id = \" padded\""],
        ),
        (
            "data \"alloy_integrations\" \"x\" {\n  user_id    = \"u@example.com\"\n  name_regex = \"(unclosed\"\n}",
            &[
                "Invalid name_regex",
                "not a valid regular expression",
                "name_regex = \"(unclosed\"",
            ],
        ),
        (
            "data \"alloy_integrations\" \"x\" {\n  user_id = \"\"\n}",
            &["Invalid user_id", "must not be empty"],
        ),
        (
            "data \"alloy_user\" \"x\" {\n  id       = \"0123456789abcdef01234567\"\n  username = \"both@example.com\"\n}",
            &[
                "Conflicting user lookup",
                "`id` and `username`",
                "username = \"both@example.com\"",
            ],
        ),
        (
            "data \"alloy_user\" \"x\" {\n}",
            &["Missing user to look up", "`id` or `username`"],
        ),
        (
            "data \"alloy_user\" \"x\" {\n  username = \"tab\\tinside\"\n}",
            &["Invalid username", "U+0009"],
        ),
        (
            "data \"alloy_user\" \"x\" {\n  id = \"\"\n}",
            &["Invalid id", "must not be empty"],
        ),
    ];
    for (block, expected) in cases {
        let ws = Workspace::new(&emu);
        ws.write_main(&format!("provider \"alloy\" {{}}\n\n{block}\n"));
        let out = ws.tf(&["plan", "-input=false"]).expect_fail(block).all();
        for e in expected {
            assert!(out.contains(e), "expected {e:?} for\n{block}\nin:\n{out}");
        }
    }
    assert_eq!(emu.total_requests(), 0, "validation makes no API call");
}

/// Inputs known only after apply pass validation; nothing is read until they are known.
#[test]
fn unknown_inputs_pass_validation_and_are_read_at_apply() {
    let emu = Emulator::start();
    let ws = Workspace::new(&emu);
    ws.write_main(
        r#"
provider "alloy" {}

resource "alloy_user" "u" {
  username  = "later@example.com"
  full_name = "Later"
}

data "alloy_user" "u" {
  id = alloy_user.u.id
}

data "alloy_user_token" "u" {
  user_id = alloy_user.u.id
}

data "alloy_integrations" "u" {
  user_id    = alloy_user.u.id
  name_regex = "^Slack$"
}

ephemeral "alloy_user_token" "u" {
  user_id = alloy_user.u.id
}
"#,
    );
    let plan = ws
        .tf(&["plan", "-input=false"])
        .expect_ok("plan with unknown inputs");
    assert!(
        plan.stdout.contains("will be read during apply"),
        "{}",
        plan.stdout
    );
    assert_eq!(
        emu.total_requests(),
        0,
        "nothing is read before its inputs are known"
    );
    ws.apply();
    let id = ws.resource("alloy_user.u")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let user = data_value(&ws, "data.alloy_user.u");
    assert_eq!(user["username"], "later@example.com");
    assert_eq!(user["full_name"], "Later");
    assert_eq!(
        data_value(&ws, "data.alloy_user_token.u")["user_id"],
        id.as_str()
    );
    assert_eq!(
        emu.tokens().len(),
        2,
        "apply read the token and opened the ephemeral one"
    );
    let integrations = data_value(&ws, "data.alloy_integrations.u");
    assert_eq!(integrations["integrations"][0]["name"], "Slack");
    assert_eq!(integrations["integrations"].as_array().unwrap().len(), 1);
}

// ------------------------------------------------------------------------------------------
// schema

/// Every attribute, nested ones included, is documented; the token is sensitive in both shapes.
#[test]
fn schemas_are_documented_and_the_token_is_sensitive() {
    let emu = Emulator::start();
    let ws = Workspace::new(&emu);
    ws.write_main("provider \"alloy\" {}\n");
    let out = ws
        .tf(&["providers", "schema", "-json"])
        .expect_ok("providers schema");
    let v: Json = serde_json::from_str(&out.stdout).expect("schema JSON");
    let p = v["provider_schemas"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .clone();

    fn documented(what: &str, attrs: &Json) {
        for (name, a) in attrs.as_object().expect("attributes") {
            let d = a["description"].as_str().unwrap_or_default();
            assert!(
                d.len() > 10 && d.ends_with('.'),
                "{what}.{name} lacks a description sentence"
            );
            if let Some(nested) = a.get("nested_type") {
                documented(&format!("{what}.{name}"), &nested["attributes"]);
            }
        }
    }
    for name in [
        "alloy_user",
        "alloy_user_token",
        "alloy_integrations",
        "alloy_ip_addresses",
    ] {
        let s = &p["data_source_schemas"][name]["block"];
        assert!(s.is_object(), "data source {name} is registered");
        assert!(
            s["description"].as_str().unwrap_or_default().len() > 40,
            "{name} description"
        );
        documented(name, &s["attributes"]);
    }
    let eph = &p["ephemeral_resource_schemas"]["alloy_user_token"]["block"];
    documented("ephemeral alloy_user_token", &eph["attributes"]);
    assert_eq!(eph["attributes"]["token"]["sensitive"], true);
    let ds = &p["data_source_schemas"]["alloy_user_token"]["block"];
    assert_eq!(ds["attributes"]["token"]["sensitive"], true);
    let d = ds["description"].as_str().unwrap();
    assert!(d.contains("state") && d.contains("30 minutes") && d.contains("ephemeral resource"));
    let integ =
        &p["data_source_schemas"]["alloy_integrations"]["block"]["attributes"]["integrations"];
    assert_eq!(integ["nested_type"]["nesting_mode"], "list");
    assert_eq!(
        integ["nested_type"]["attributes"]["workflows"]["nested_type"]["nesting_mode"],
        "list"
    );
    assert_eq!(emu.total_requests(), 0);
}

// ------------------------------------------------------------------------------------------
// examples

/// Each example of this suite's types is valid on its own and applies against an empty
/// emulator (the examples create the users they read), with the outputs they promise.
#[test]
fn examples_apply_against_the_emulator() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let examples = [
        "data-sources/alloy_user/data-source.tf",
        "data-sources/alloy_user_token/data-source.tf",
        "data-sources/alloy_integrations/data-source.tf",
        "data-sources/alloy_ip_addresses/data-source.tf",
        "ephemeral-resources/alloy_user_token/ephemeral-resource.tf",
    ];
    let mut outputs = Vec::new();
    let mut emulators = Vec::new();
    for example in examples {
        let hcl = std::fs::read_to_string(root.join(example)).expect("example exists");
        assert!(hcl.contains("provider \"alloy\" {}") && hcl.contains("alloy-automation/alloy"));
        let emu = Emulator::start();
        let ws = Workspace::new(&emu);
        ws.write("main.tf", &hcl);
        ws.tf(&["validate"]).expect_ok(example);
        let run = ws.apply();
        assert!(run.stdout.contains("Apply complete!"), "{example}");
        outputs.push((example, ws.state()["values"]["outputs"].clone(), run));
        emulators.push(emu);
    }
    let jane = &emulators[0]
        .users(Development)
        .into_iter()
        .find(|u| u.username == "jane@example.com")
        .expect("the example created Jane")
        .user_id;
    assert_eq!(outputs[0].1["jane_user_id"]["value"], jane.as_str());
    assert_eq!(
        outputs[2].1["installed_integrations"]["value"],
        json!([]),
        "a user just created has installed nothing"
    );
    let crm = &outputs[2].1["crm_workflows"]["value"];
    assert_eq!(
        crm.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["HubSpot", "Salesforce"]
    );
    assert_eq!(
        outputs[3].1["alloy_cidr_blocks"]["value"],
        json!(["3.211.13.53/32", "54.160.36.113/32"])
    );
    // The ephemeral example opened a token for Ada and handed it over without printing it.
    let emu = &emulators[4];
    let ada = emu
        .users(Development)
        .into_iter()
        .find(|u| u.username == "ada@example.com")
        .expect("the example created Ada")
        .user_id;
    assert!(emu.tokens().iter().any(|t| t.user_id == ada));
    let run = &outputs[4].2;
    assert!(run.stdout.contains("output suppressed"), "{}", run.stdout);
    // No token any example obtained is printed by any of them.
    let mut tokens = Vec::new();
    for emu in &emulators {
        tokens.extend(emu.tokens());
    }
    assert!(tokens.len() >= 2, "both token examples issued one");
    Artefacts::printed("terraform's output", outputs.iter().map(|o| &o.2))
        .assert_free_of(&leaks::issued(&tokens));
}

// ------------------------------------------------------------------------------------------
// API failures

/// A failing API is reported with what was being done and the API's answer, per data source.
#[test]
fn api_failures_say_what_failed() {
    let emu = Emulator::start();
    emu.create_user(DEV_KEY, "failing@example.com", None);
    emu.patch_faults(json!({"error_rate": 1.0}));
    let cases: [(&str, &str); 4] = [
        (
            "data \"alloy_user\" \"x\" {\n  username = \"failing@example.com\"\n}",
            "Cannot read Alloy user",
        ),
        (
            "data \"alloy_user_token\" \"x\" {\n  user_id = \"failing@example.com\"\n}",
            "Cannot get Alloy user token",
        ),
        (
            "ephemeral \"alloy_user_token\" \"x\" {\n  user_id = \"failing@example.com\"\n}",
            "Cannot get Alloy user token",
        ),
        (
            "data \"alloy_integrations\" \"x\" {\n  user_id = \"failing@example.com\"\n}",
            "Cannot list Alloy integrations",
        ),
    ];
    for (block, summary) in cases {
        let ws = Workspace::new(&emu);
        ws.write_main(&format!(
            "provider \"alloy\" {{\n  max_retries = 0\n}}\n\n{block}\n"
        ));
        let out = ws.tf(&["plan", "-input=false"]).expect_fail(block).all();
        assert!(out.contains(summary), "expected {summary:?} in:\n{out}");
        assert!(out.contains("server error (HTTP 5"), "{out}");
    }
    assert!(emu.tokens().is_empty());
}
