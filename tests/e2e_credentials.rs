//! `alloy_credential`, its data sources and `alloy_user`'s offboarding flags, through the real
//! `terraform` against the emulator: the write-only secret stored nowhere, replacement by
//! `data_version`, drift, import, plan-time refusals with no write, destroy order, a failing
//! purge, and a lost create answer.

mod common;

use std::collections::BTreeMap;

use alloy_emulator::tenant::data_sha256;
use common::leaks::{self, Artefacts, Secret};
use common::{Admin, DEV_KEY, Development, Emulator, Run, Workspace};
use reqwest::Method;
use serde_json::{Value as Json, json};

/// The secret of these tests: found nowhere but in the emulator's store.
const SECRET: &str = "s3cr3t-header-value-9f27c1d0";

/// One tenant and its header-auth credential; the secret comes from an ephemeral variable (so
/// no plan file records it), `data_version` from a plain one.
const MAIN: &str = r#"
variable "api_key" {
  type      = string
  sensitive = true
  ephemeral = true
}

variable "key_version" {
  type    = number
  default = 1
}

resource "alloy_user" "acme" {
  username = "acme@customers.example.com"
}

resource "alloy_credential" "api" {
  user_id = alloy_user.acme.id
  type    = "httpHeaderAuth"
  data = {
    fieldName = "X-Api-Key"
    value     = var.api_key
  }
  data_version = var.key_version
}

data "alloy_user_credentials" "acme" {
  user_id    = alloy_user.acme.id
  type       = "httpHeaderAuth"
  depends_on = [alloy_credential.api]
}

output "listed" {
  value = data.alloy_user_credentials.acme.credentials[*].id
}
"#;

/// The emulator's stored credentials of the development environment (never their data).
fn stored(emu: &Emulator) -> Vec<Json> {
    emu.admin_get("credentials?environment=development")["data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn workspace(emu: &Emulator) -> Workspace {
    let mut ws = Workspace::new(emu);
    ws.set_env("TF_VAR_api_key", SECRET);
    ws.write_main(MAIN);
    ws
}

fn str_of<'a>(v: &'a Json, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

/// The routes of the request log's entries, in order, without the reads.
fn write_order(emu: &Emulator) -> Vec<String> {
    emu.requests()
        .log
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| r.route_key())
        .collect()
}

/// A request to the API as another tool would make it (outside Terraform).
fn api(emu: &Emulator, method: Method, path: &str, body: Option<Json>) -> u16 {
    let c = reqwest::blocking::Client::new();
    let mut req = c
        .request(method, format!("{}{path}", emu.url))
        .bearer_auth(DEV_KEY);
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().expect("API request").status().as_u16()
}

#[test]
fn write_only_data_is_stored_nowhere_and_a_version_bump_replaces_the_credential() {
    let emu = Emulator::start();
    let mut ws = workspace(&emu);
    ws.set_env("TF_LOG", "trace");
    let mut runs: Vec<Run> = vec![
        ws.tf(&["plan", "-input=false", "-out=create.tfplan"])
            .expect_ok("plan"),
    ];
    emu.clear_requests();
    runs.push(
        ws.tf(&["apply", "-input=false", "create.tfplan"])
            .expect_ok("apply"),
    );
    // The tenant and its credential cost their two writes: a tenant made by this apply has no
    // credential to list first (the data source's read is the one list).
    let counts = emu.request_counts();
    assert_eq!(counts.count("POST /users"), 1);
    assert_eq!(counts.count("POST /headless/credentials"), 1);
    assert_eq!(
        counts.count("GET /credentials/users/{id}"),
        1,
        "{:?}",
        counts.by_route
    );

    // Alloy holds exactly what the configuration said.
    let creds = stored(&emu);
    assert_eq!(creds.len(), 1, "{creds:?}");
    let user_id = str_of(&ws.resource("alloy_user.acme"), "id").to_owned();
    let sent = BTreeMap::from([
        ("fieldName".to_owned(), "X-Api-Key".to_owned()),
        ("value".to_owned(), SECRET.to_owned()),
    ]);
    assert_eq!(str_of(&creds[0], "userId"), user_id);
    assert_eq!(str_of(&creds[0], "type"), "httpHeaderAuth");
    assert_eq!(str_of(&creds[0], "dataSha256"), data_sha256(&sent));
    let first = str_of(&creds[0], "credentialId").to_owned();

    // State: the id, no data, the version as a string.
    let state = ws.resource("alloy_credential.api");
    assert_eq!(str_of(&state, "id"), first);
    assert!(state["data"].is_null(), "{state}");
    assert_eq!(state["data_version"], "1");

    // The refresh fills in Alloy's name and date; nothing to change.
    runs.push(
        ws.tf(&[
            "plan",
            "-input=false",
            "-detailed-exitcode",
            "-out=again.tfplan",
        ])
        .expect_ok("no-change plan"),
    );
    runs.push(
        ws.tf(&["apply", "-input=false", "again.tfplan"])
            .expect_ok("apply of the no-change plan"),
    );
    let state = ws.resource("alloy_credential.api");
    assert_eq!(str_of(&state, "name"), "HTTP Header Auth credential");
    assert!(!str_of(&state, "created_at").is_empty());
    assert_eq!(
        ws.state()["values"]["outputs"]["listed"]["value"],
        json!([first])
    );

    // A new version: a new credential, the old one deleted.
    emu.clear_requests();
    runs.push(
        ws.tf(&[
            "apply",
            "-auto-approve",
            "-input=false",
            "-var=key_version=2",
        ])
        .expect_ok("apply of a version bump"),
    );
    let creds = stored(&emu);
    assert_eq!(creds.len(), 1, "the old credential is gone: {creds:?}");
    let second = str_of(&creds[0], "credentialId").to_owned();
    assert_ne!(second, first);
    assert_eq!(str_of(&ws.resource("alloy_credential.api"), "id"), second);
    assert_eq!(
        write_order(&emu),
        [
            "DELETE /users/{id}/credentials/{credential}",
            "POST /headless/credentials"
        ]
    );
    ws.set_env("TF_VAR_key_version", "2");
    assert!(ws.plan_is_empty());

    // The audit: state and its backup, the saved plans (raw, inflated, `show -json`), every
    // other file, everything terraform printed at TF_LOG=trace, and the emulator's admin output.
    let found = Artefacts::of(&ws, &runs, &[]);
    assert!(found.text("terraform.tfstate").contains(&second));
    let logs: String = runs.iter().map(Run::all).collect();
    assert!(
        logs.contains("provider.terraform-provider-alloy"),
        "provider logs were captured"
    );
    assert!(
        found
            .names()
            .iter()
            .any(|n| n.starts_with("show -json create.tfplan")),
        "the saved plan was shown"
    );
    let mut secrets = vec![Secret::new("the credential's secret", SECRET)];
    secrets.extend(leaks::api_keys());
    found.assert_free_of(&secrets);
    let admin = format!(
        "{}{}{}",
        emu.admin_get("requests"),
        emu.admin_get("credentials?environment=development"),
        emu.admin_get("logs?environment=development"),
    );
    assert!(
        !admin.contains(SECRET),
        "the emulator's admin output shows the secret"
    );

    ws.destroy();
    assert!(stored(&emu).is_empty());
}

#[test]
fn a_credential_deleted_outside_is_dropped_with_a_warning_and_one_can_be_imported() {
    let emu = Emulator::start();
    let ws = workspace(&emu);
    ws.apply();
    let user_id = str_of(&ws.resource("alloy_user.acme"), "id").to_owned();
    let id = str_of(&ws.resource("alloy_credential.api"), "id").to_owned();

    // Deleted outside Terraform: a warning, and it leaves state.
    let path = format!("/users/{user_id}/credentials/{id}");
    assert_eq!(api(&emu, Method::DELETE, &path, None), 200);
    let r = ws
        .tf(&["apply", "-refresh-only", "-auto-approve", "-input=false"])
        .expect_ok("refresh");
    assert!(
        r.flat().contains("Credential deleted outside Terraform"),
        "{}",
        r.all()
    );
    assert!(
        ws.resources()
            .iter()
            .all(|(a, _)| a != "alloy_credential.api"),
        "removed from state"
    );
    // The next apply creates it again.
    ws.apply();
    let id = str_of(&ws.resource("alloy_credential.api"), "id").to_owned();
    assert_eq!(stored(&emu).len(), 1);

    // Import: by `<userId>/<credentialId>`; the first `data_version` is recorded in place,
    // without a write.
    ws.tf(&["state", "rm", "alloy_credential.api"])
        .expect_ok("state rm");
    let address = "alloy_credential.api";
    let import_id = format!("{user_id}/{id}");
    ws.tf(&["import", "-input=false", address, &import_id])
        .expect_ok("import");
    let state = ws.resource(address);
    assert_eq!(str_of(&state, "id"), id);
    assert_eq!(str_of(&state, "type"), "httpHeaderAuth");
    assert!(state["data_version"].is_null());
    emu.clear_requests();
    let r = ws.apply();
    assert!(
        r.stdout.contains("0 added, 1 changed, 0 destroyed"),
        "{}",
        r.stdout
    );
    assert!(
        emu.request_counts().writes().is_empty(),
        "recording the version writes nothing"
    );
    assert_eq!(ws.resource(address)["data_version"], "1");
    assert!(ws.plan_is_empty());

    // By username too: the state names the tenant by its userId, as the configuration does.
    ws.tf(&["state", "rm", address]).expect_ok("state rm");
    let by_name = format!("acme@customers.example.com/{id}");
    ws.tf(&["import", "-input=false", address, &by_name])
        .expect_ok("import by username");
    assert_eq!(str_of(&ws.resource(address), "user_id"), user_id);
    let r = ws.apply();
    assert!(
        r.stdout.contains("0 added, 1 changed, 0 destroyed"),
        "{}",
        r.stdout
    );

    // A bad import id says which form to use.
    ws.tf(&["state", "rm", address]).expect_ok("state rm");
    let r = ws
        .tf(&["import", "-input=false", address, "just-one-part"])
        .expect_fail("import with a bad id");
    assert!(r.flat().contains("<userId>/<credentialId>"), "{}", r.all());
}

/// A configuration of one credential for an existing tenant, whose `data` keys are `keys`.
fn one_credential(user_id: &str, credential_type: &str, keys: &[&str]) -> String {
    let data: Vec<String> = keys
        .iter()
        .map(|k| format!("    {k} = var.api_key"))
        .collect();
    format!(
        "variable \"api_key\" {{\n  type = string\n  sensitive = true\n  ephemeral = true\n}}\n\n\
         resource \"alloy_credential\" \"c\" {{\n  user_id = \"{user_id}\"\n  type = \"{credential_type}\"\n  \
         data = {{\n{}\n  }}\n}}\n",
        data.join("\n")
    )
}

#[test]
fn oauth_unknown_types_and_missing_properties_are_refused_at_plan_with_no_write() {
    let emu = Emulator::start();
    let user_id = emu.create_user(DEV_KEY, "acme@customers.example.com", None);
    let mut ws = Workspace::new(&emu);
    ws.set_env("TF_VAR_api_key", SECRET);
    emu.clear_requests();
    let cases: [(&str, &[&str], &[&str]); 3] = [
        (
            "shopify",
            &["shopSubdomain"],
            &["OAuth credential type", "consent", "modal"],
        ),
        (
            "httpHeaderAuht",
            &["fieldName", "value"],
            &[
                "Unknown credential type",
                "closest known types: `httpHeaderAuth`",
            ],
        ),
        (
            "netsuite",
            &["realm", "consumerKey", "consumerSecret", "tokenId"],
            &["Missing credential property", "property `tokenSecret`"],
        ),
    ];
    for (credential_type, keys, says) in cases {
        ws.write_main(&one_credential(&user_id, credential_type, keys));
        let r = ws
            .tf(&["plan", "-input=false"])
            .expect_fail(credential_type);
        for s in says {
            assert!(
                r.flat().contains(s),
                "{credential_type}: {s:?} missing in\n{}",
                r.all()
            );
        }
        assert!(
            !r.all().contains(SECRET),
            "{credential_type}: the secret was echoed"
        );
    }
    let counts = emu.request_counts();
    assert!(
        counts.writes().is_empty(),
        "refused plans wrote: {:?}",
        counts.writes()
    );
    assert!(stored(&emu).is_empty());

    // Validate-time: an empty type, empty data.
    ws.write_main(&format!(
        "resource \"alloy_credential\" \"c\" {{\n  user_id = \"{user_id}\"\n  type = \"\"\n  data = {{}}\n}}\n"
    ));
    let r = ws.tf(&["validate"]).expect_fail("validate");
    assert!(r.flat().contains("`type` is empty"), "{}", r.all());
    assert!(r.flat().contains("`data` is empty"), "{}", r.all());
}

/// A tenant with both offboarding flags, a credential stored outside Terraform and some logs.
#[test]
fn offboarding_purges_logs_then_deletes_credentials_then_the_user() {
    let emu = Emulator::start();
    let ws = Workspace::new(&emu);
    ws.write_main(
        "resource \"alloy_user\" \"acme\" {\n  username = \"acme@customers.example.com\"\n}\n",
    );
    ws.apply();
    let user_id = str_of(&ws.resource("alloy_user.acme"), "id").to_owned();

    // Turning the flags on is a change of state alone.
    ws.write_main(
        "resource \"alloy_user\" \"acme\" {\n  username = \"acme@customers.example.com\"\n  \
         purge_logs_on_destroy = true\n  delete_credentials_on_destroy = true\n}\n",
    );
    emu.clear_requests();
    ws.apply();
    assert!(
        emu.request_counts().writes().is_empty(),
        "the flags make no API call"
    );
    assert_eq!(
        ws.resource("alloy_user.acme")["purge_logs_on_destroy"],
        true
    );

    let body = json!({"userId": user_id, "credential": {"type": "httpHeaderAuth",
        "data": {"fieldName": "X-Key", "value": SECRET}}});
    assert_eq!(
        api(&emu, Method::POST, "/headless/credentials", Some(body)),
        200
    );
    emu.admin_ok(
        Method::POST,
        "logs",
        Some(json!({"environment": "development", "userId": user_id,
            "workflowId": "a1f7fad397c0ac5b8339697b", "count": 3})),
    );
    assert_eq!(
        emu.admin_get(&format!("logs?environment=development&userId={user_id}"))["count"],
        3
    );

    emu.clear_requests();
    ws.destroy();
    assert_eq!(
        write_order(&emu),
        [
            "DELETE /users/{id}/logs",
            "DELETE /users/{id}/credentials/{credential}",
            "DELETE /users/{id}"
        ]
    );
    assert!(emu.users(Development).is_empty());
    assert!(stored(&emu).is_empty(), "no credential is left behind");
    assert_eq!(
        emu.admin_get(&format!("logs?environment=development&userId={user_id}"))["count"],
        0
    );
}

#[test]
fn a_failing_purge_keeps_the_user_and_deletion_protection_still_wins() {
    let emu = Emulator::start();
    let mut ws = Workspace::new(&emu);
    ws.set_env("ALLOY_MAX_RETRIES", "1");
    ws.write_main(
        "resource \"alloy_user\" \"acme\" {\n  username = \"acme@customers.example.com\"\n  \
         purge_logs_on_destroy = true\n  delete_credentials_on_destroy = true\n  \
         deletion_protection = true\n}\n",
    );
    ws.apply();
    let user_id = str_of(&ws.resource("alloy_user.acme"), "id").to_owned();

    // Protection wins: refused at plan, nothing written.
    emu.clear_requests();
    let r = ws
        .tf(&["destroy", "-auto-approve", "-input=false"])
        .expect_fail("destroy of a protected user");
    assert!(r.flat().contains("deletion_protection"), "{}", r.all());
    assert!(emu.request_counts().writes().is_empty());

    // Unprotected, with the purge failing: the user stays, in Alloy and in state.
    ws.write_main(
        "resource \"alloy_user\" \"acme\" {\n  username = \"acme@customers.example.com\"\n  \
         purge_logs_on_destroy = true\n  delete_credentials_on_destroy = true\n}\n",
    );
    ws.apply();
    emu.patch_faults(json!({"routes": ["DELETE /users/{id}/logs"], "error_rate": 1.0}));
    emu.clear_requests();
    let r = ws
        .tf(&["destroy", "-auto-approve", "-input=false"])
        .expect_fail("destroy with a failing purge");
    assert!(
        r.flat()
            .contains("Cannot purge the tenant's logs: the user acme@customers.example.com"),
        "{}",
        r.all()
    );
    assert!(
        r.flat().contains("was not deleted and stays in state"),
        "{}",
        r.all()
    );
    let counts = emu.request_counts();
    assert_eq!(
        counts.count("DELETE /users/{id}"),
        0,
        "the user was not deleted"
    );
    assert_eq!(
        counts.count("DELETE /users/{id}/credentials/{credential}"),
        0
    );
    assert_eq!(emu.users(Development).len(), 1);
    assert_eq!(str_of(&ws.resource("alloy_user.acme"), "id"), user_id);

    // Once the API answers again, destroy finishes.
    emu.patch_faults(json!({"routes": [], "error_rate": 0.0}));
    ws.destroy();
    assert!(emu.users(Development).is_empty());
}

#[test]
fn a_create_whose_answer_is_lost_is_adopted_once() {
    let emu = Emulator::start();
    let ws = workspace(&emu);
    emu.patch_faults(json!({"routes": ["POST /headless/credentials"], "lost_response_rate": 1.0}));
    ws.apply();
    let creds = stored(&emu);
    assert_eq!(
        creds.len(),
        1,
        "never two credentials from one create: {creds:?}"
    );
    assert_eq!(emu.count("POST /headless/credentials"), 1);
    let id = str_of(&ws.resource("alloy_credential.api"), "id").to_owned();
    assert_eq!(id, str_of(&creds[0], "credentialId"));
    // Adopted from the list, so Alloy's name is known at once.
    assert_eq!(
        str_of(&ws.resource("alloy_credential.api"), "name"),
        "HTTP Header Auth credential"
    );
    emu.patch_faults(json!({"routes": [], "lost_response_rate": 0.0}));
    assert!(ws.plan_is_empty());
}

#[test]
fn the_credential_types_data_source_is_one_call() {
    let emu = Emulator::start();
    let ws = Workspace::new(&emu);
    ws.write_main(
        "data \"alloy_credential_types\" \"all\" {}\n\noutput \"types\" {\n  value = data.alloy_credential_types.all.types\n}\n",
    );
    emu.clear_requests();
    ws.apply();
    assert_eq!(emu.count("GET /metadata/credentials"), 1);
    let types = ws.state()["values"]["outputs"]["types"]["value"].clone();
    let by_name = |n: &str| {
        types
            .as_array()
            .and_then(|a| a.iter().find(|t| t["name"] == n).cloned())
            .unwrap_or_else(|| panic!("{n} not listed in {types}"))
    };
    assert_eq!(by_name("shopify")["oauth"], true);
    let netsuite = by_name("netsuite");
    assert_eq!(netsuite["oauth"], false);
    assert_eq!(netsuite["properties"][0]["name"], "realm");
    assert_eq!(netsuite["properties"][0]["required"], true);
}

/// Server errors and lost answers on every credential, metadata and log route: nothing is
/// duplicated, state equals the emulator's truth, the next plan is empty, and offboarding still
/// leaves nothing behind.
#[test]
fn faults_on_the_new_routes_duplicate_nothing_and_offboard_completely() {
    const TENANTS: usize = 8;
    let emu = Emulator::with(
        json!({
            "routes": [
                "POST /headless/credentials",
                "GET /credentials/users/{id}",
                "DELETE /users/{id}/credentials/{credential}",
                "DELETE /users/{id}/logs",
                "GET /metadata/credentials"
            ],
            "error_rate": 0.3,
            "lost_response_rate": 0.3
        }),
        Some(24),
    );
    let mut ws = Workspace::new(&emu);
    ws.set_env("TF_VAR_api_key", SECRET);
    ws.write_main(&format!(
        "variable \"api_key\" {{\n  type      = string\n  sensitive = true\n  ephemeral = true\n}}\n\n\
         resource \"alloy_user\" \"t\" {{\n  count                         = {TENANTS}\n  \
         username                      = \"t${{count.index}}@customers.example.com\"\n  \
         purge_logs_on_destroy         = true\n  delete_credentials_on_destroy = true\n}}\n\n\
         resource \"alloy_credential\" \"c\" {{\n  count   = {TENANTS}\n  user_id = alloy_user.t[count.index].id\n  \
         type    = \"httpHeaderAuth\"\n  data = {{\n    fieldName = \"X-Api-Key\"\n    value     = var.api_key\n  }}\n}}\n"
    ));
    ws.apply();

    // Exactly one credential per tenant, and state names each.
    let creds = stored(&emu);
    assert_eq!(creds.len(), TENANTS, "{creds:?}");
    let mut in_state: Vec<String> = (0..TENANTS)
        .map(|i| str_of(&ws.resource(&format!("alloy_credential.c[{i}]")), "id").to_owned())
        .collect();
    let mut truth: Vec<String> = creds
        .iter()
        .map(|c| str_of(c, "credentialId").to_owned())
        .collect();
    in_state.sort();
    truth.sort();
    assert_eq!(in_state, truth);
    assert!(ws.plan_is_empty());

    for u in emu.users(Development) {
        emu.admin_ok(
            Method::POST,
            "logs",
            Some(json!({"environment": "development", "userId": u.user_id,
                "workflowId": "a1f7fad397c0ac5b8339697b", "count": 2})),
        );
    }
    ws.set_env("ALLOY_MAX_RETRIES", "10");
    ws.destroy();
    assert!(emu.users(Development).is_empty());
    assert!(stored(&emu).is_empty());
    let logs = emu.admin_get("logs?environment=development");
    assert!(
        logs["data"]
            .as_array()
            .is_none_or(|l| l.iter().all(|c| c["count"] == 0)),
        "{logs}"
    );
    // The faults did strike (over the whole run: 24 writes at 0.3 all spared is 2 in 10,000).
    let counts = emu.request_counts();
    assert!(
        counts.retryable() > 0,
        "faults were injected: {:?}",
        counts.by_status
    );
    assert!(
        counts.lost_responses > 0,
        "answers were lost: {}",
        counts.lost_responses
    );
}
