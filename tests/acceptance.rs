//! Acceptance tests: the whole life of every provider type against whatever Alloy API the
//! `ALLOY_*` variables name: your account, or the emulator in CI, reached the same way.
//!
//! Run only with `TF_ACC=1` (otherwise each test prints why it is skipped and passes). They use
//! only the public Alloy API, through the provider and through the harness for out-of-band
//! changes; every username starts with a per-run `tfacc-<random>-<test>-` prefix, and every test
//! destroys what it created and then deletes, through the API, anything still carrying its prefix.
//! See docs/guides/testing-against-your-account.md.
//!
//! One test function per capability: a new type or attribute gets its own function below.

mod acc;
mod common;

use acc::Acc;
use common::leaks::{Artefacts, Secret};
use common::{Emulator, Run, Workspace, config, user_hcl};
use serde_json::{Value as Json, json};

fn id_of(ws: &Workspace, address: &str) -> String {
    ws.resource(address)["id"]
        .as_str()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| panic!("{address} has no id in state"))
        .to_string()
}

fn plan(ws: &Workspace, extra: &[&str]) -> Run {
    let mut args = vec!["plan", "-input=false"];
    args.extend_from_slice(extra);
    ws.tf(&args).expect_ok("terraform plan")
}

fn destroy(ws: &Workspace) {
    ws.destroy();
    assert!(ws.resources().is_empty(), "destroy left resources in state");
}

// ---------------------------------------------------------------------------------------------
// alloy_user

#[test]
fn user_create_update_replace_destroy() {
    let Some(t) = acc::begin("lifecycle") else {
        return;
    };
    let (acc, ws) = (t.acc, &t.ws);
    let name = t.username("a");

    ws.write_main(&config(&[user_hcl("u", &name, Some("Acceptance A"))]));
    let out = ws.apply();
    assert!(out.stdout.contains("1 added"), "{}", out.stdout);
    let v = ws.resource("alloy_user.u");
    let id = id_of(ws, "alloy_user.u");
    assert_eq!(v["username"], name.as_str());
    assert_eq!(v["full_name"], "Acceptance A");
    assert_eq!(v["environment"], acc.account.environment.as_str());
    let api = acc.user(&id).expect("the created user exists in the API");
    assert_eq!(
        (&api["username"], &api["fullName"]),
        (&json!(name), &json!("Acceptance A"))
    );
    assert!(ws.plan_is_empty(), "the plan right after create is empty");

    // full_name: updated in place, same id.
    ws.write_main(&config(&[user_hcl("u", &name, Some("Acceptance A2"))]));
    let p = plan(ws, &[]).flat();
    assert!(p.contains("0 to add, 1 to change, 0 to destroy"), "{p}");
    ws.apply();
    assert_eq!(id_of(ws, "alloy_user.u"), id);
    assert_eq!(acc.user(&id).expect("user")["fullName"], "Acceptance A2");

    // Removing full_name clears it in Alloy.
    ws.write_main(&config(&[user_hcl("u", &name, None)]));
    ws.apply();
    let full = acc.user(&id).expect("user")["fullName"].clone();
    assert!(full.is_null(), "fullName after clearing: {full}");
    assert!(ws.plan_is_empty(), "the plan after clearing full_name");

    // username: replaced (a new user, the old one deleted).
    let renamed = t.username("b");
    ws.write_main(&config(&[user_hcl("u", &renamed, None)]));
    let p = plan(ws, &[]).flat();
    assert!(p.contains("forces replacement"), "{p}");
    assert!(p.contains("1 to add, 0 to change, 1 to destroy"), "{p}");
    ws.apply();
    let new_id = id_of(ws, "alloy_user.u");
    assert_ne!(new_id, id, "a replacement is a new user");
    assert!(acc.user(&id).is_none(), "the replaced user was deleted");
    assert_eq!(
        acc.user(&new_id).expect("new user")["username"],
        renamed.as_str()
    );
    assert!(ws.plan_is_empty(), "the plan after the replacement");

    destroy(ws);
    assert!(acc.user(&new_id).is_none(), "destroy deleted the user");
}

#[test]
fn user_import_by_id_and_by_username() {
    for how in ["id", "username"] {
        let Some(t) = acc::begin("import") else {
            return;
        };
        let (acc, ws) = (t.acc, &t.ws);
        let name = t.username(how);
        let id = acc.create_user(&name, "Imported");
        let import_id = if how == "id" {
            id.clone()
        } else {
            name.clone()
        };
        let resource = user_hcl("u", &name, Some("Imported"));
        if how == "id" {
            // The CLI command.
            ws.write_main(&config(&[resource]));
            ws.tf(&["import", "-input=false", "alloy_user.u", &import_id])
                .expect_ok("terraform import");
        } else {
            // An import block: the plan imports and changes nothing else.
            let block = format!("import {{\n  to = alloy_user.u\n  id = \"{import_id}\"\n}}\n");
            ws.write_main(&config(&[resource, block]));
            let p = plan(ws, &[]).flat();
            assert!(
                p.contains("1 to import, 0 to add, 0 to change, 0 to destroy"),
                "{p}"
            );
            ws.apply();
        }
        let v = ws.resource("alloy_user.u");
        assert_eq!(v["id"], id.as_str(), "import by {how} stores the userId");
        assert_eq!(v["username"], name.as_str());
        assert_eq!(v["full_name"], "Imported");
        assert_eq!(v["environment"], acc.account.environment.as_str());
        assert!(ws.plan_is_empty(), "the plan after import by {how}");
        destroy(ws);
        assert!(acc.user(&id).is_none(), "destroy deleted the imported user");
    }
}

#[test]
fn user_deleted_out_of_band_is_recreated() {
    let Some(t) = acc::begin("drift") else { return };
    let (acc, ws) = (t.acc, &t.ws);
    let name = t.username("a");
    ws.write_main(&config(&[user_hcl("u", &name, None)]));
    ws.apply();
    let id = id_of(ws, "alloy_user.u");

    acc.delete_out_of_band(&id);
    let r = ws.tf(&["plan", "-input=false", "-detailed-exitcode"]);
    assert_eq!(
        r.status.code(),
        Some(2),
        "a plan with changes:\n{}",
        r.all()
    );
    let p = r.flat();
    assert!(
        p.contains("deleted outside Terraform") && p.contains(&id),
        "{p}"
    );
    assert!(p.contains("1 to add, 0 to change, 0 to destroy"), "{p}");

    ws.apply();
    let new_id = id_of(ws, "alloy_user.u");
    assert_ne!(new_id, id);
    assert_eq!(
        acc.user(&new_id).expect("re-created")["username"],
        name.as_str()
    );
    assert!(ws.plan_is_empty());
    destroy(ws);
}

#[test]
fn deletion_protection_stops_the_plan() {
    let Some(t) = acc::begin("protect") else {
        return;
    };
    let (acc, ws) = (t.acc, &t.ws);
    let (a, b) = (t.username("a"), t.username("b"));
    let protected = |username: &str, on: bool| {
        format!(
            "resource \"alloy_user\" \"u\" {{\n  username            = \"{username}\"\n  \
             deletion_protection = {on}\n}}\n"
        )
    };
    ws.write_main(&config(&[protected(&a, true)]));
    ws.apply();
    let id = id_of(ws, "alloy_user.u");
    assert_eq!(ws.resource("alloy_user.u")["deletion_protection"], true);

    // Every plan that would delete it fails before anything is sent.
    let refused = |r: Run, what: &str| {
        let out = r.expect_fail(what).flat();
        assert!(
            out.contains("deletion_protection") && out.contains(&id),
            "{what}: {out}"
        );
    };
    refused(
        ws.tf(&["plan", "-destroy", "-input=false"]),
        "plan -destroy",
    );
    refused(
        ws.tf(&["destroy", "-auto-approve", "-input=false"]),
        "destroy",
    );
    ws.write_main(&config(&[protected(&b, true)]));
    refused(ws.tf(&["plan", "-input=false"]), "username change");
    ws.write_main(&config(&[]));
    refused(ws.tf(&["plan", "-input=false"]), "removed block");
    assert!(acc.user(&id).is_some(), "the user is still in Alloy");

    // Switching it off is an in-place change; then destroy works.
    ws.write_main(&config(&[protected(&a, false)]));
    ws.apply();
    assert_eq!(id_of(ws, "alloy_user.u"), id);
    assert!(ws.plan_is_empty());
    destroy(ws);
    assert!(acc.user(&id).is_none(), "destroyed");
}

// ---------------------------------------------------------------------------------------------
// Data sources

#[test]
fn user_data_source_by_id_and_by_username() {
    let Some(t) = acc::begin("user-ds") else {
        return;
    };
    let ws = &t.ws;
    let name = t.username("a");
    ws.write_main(&config(&[
        user_hcl("u", &name, Some("Looked Up")),
        r#"
data "alloy_user" "by_name" {
  username = alloy_user.u.username
}

data "alloy_user" "by_id" {
  id = alloy_user.u.id
}
"#
        .to_string(),
    ]));
    ws.apply();
    let id = id_of(ws, "alloy_user.u");
    let by_name = ws.resource("data.alloy_user.by_name");
    let by_id = ws.resource("data.alloy_user.by_id");
    assert_eq!(by_name["id"], id.as_str());
    assert_eq!(by_id["username"], name.as_str());
    for v in [&by_name, &by_id] {
        assert_eq!(v["full_name"], "Looked Up");
    }
    assert!(ws.plan_is_empty());
    destroy(ws);
}

#[test]
fn users_list_data_source() {
    let Some(t) = acc::begin("users-ds") else {
        return;
    };
    let ws = &t.ws;
    let (a, b) = (t.username("a"), t.username("b"));
    let pattern = format!("^{}", regex_escape(&t.username("")));
    ws.write_main(&config(&[
        user_hcl("a", &a, Some("User A")),
        user_hcl("b", &b, None),
        format!(
            "data \"alloy_users\" \"mine\" {{\n  username_regex = \"{pattern}\"\n  \
             depends_on     = [alloy_user.a, alloy_user.b]\n}}\n"
        ),
    ]));
    ws.apply();
    let listed = ws.resource("data.alloy_users.mine")["users"].clone();
    let expected = json!([
        {"id": id_of(ws, "alloy_user.a"), "username": a, "full_name": "User A"},
        {"id": id_of(ws, "alloy_user.b"), "username": b, "full_name": null},
    ]);
    assert_eq!(listed, expected, "this test's users, sorted by username");
    destroy(ws);
}

/// `s` with the regex metacharacters it may hold escaped (HCL needs the backslash doubled).
fn regex_escape(s: &str) -> String {
    s.chars()
        .map(|c| {
            if "\\.+*?()|[]{}^$".contains(c) {
                format!("\\\\{c}")
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[test]
fn user_token_data_source() {
    let Some(t) = acc::begin("token-ds") else {
        return;
    };
    let ws = &t.ws;
    let name = t.username("a");
    ws.write_main(&config(&[
        user_hcl("u", &name, None),
        r#"
data "alloy_user_token" "t" {
  user_id = alloy_user.u.id
}

output "token" {
  value     = data.alloy_user_token.t.token
  sensitive = true
}
"#
        .to_string(),
    ]));
    let out = ws.apply();
    let v = ws.resource("data.alloy_user_token.t");
    let token = v["token"].as_str().expect("a token in state (documented)");
    assert!(!token.is_empty());
    assert!(
        out.stdout.contains("token = (sensitive value)") && !out.all().contains(token),
        "the token is shown only as sensitive:\n{}",
        out.stdout
    );
    let expires = v["expires_at"].as_str().expect("expires_at");
    let at = time::OffsetDateTime::parse(expires, &time::format_description::well_known::Rfc3339)
        .expect("expires_at is RFC 3339");
    assert!(
        at > time::OffsetDateTime::now_utc(),
        "{expires} is in the future"
    );
    destroy(ws);
}

#[test]
fn ephemeral_user_token_is_never_stored() {
    let Some(t) = acc::begin("token-eph") else {
        return;
    };
    let ws = &t.ws;
    let name = t.username("a");
    // The provisioner hands the ephemeral token to a file outside Terraform, so the test knows
    // the value to look for; the plan and state must not contain it.
    ws.write_main(&config(&[
        user_hcl("u", &name, None),
        r#"
variable "round" {
  type    = number
  default = 1
}

ephemeral "alloy_user_token" "t" {
  user_id = alloy_user.u.id
}

resource "terraform_data" "consumer" {
  triggers_replace = var.round
  provisioner "local-exec" {
    command     = "printf '%s' \"$T\" > seen-token-${var.round}.txt"
    environment = { T = ephemeral.alloy_user_token.t.token }
  }
}
"#
        .to_string(),
    ]));
    let runs = vec![
        plan(ws, &["-out=r1.tfplan"]),
        ws.tf(&["apply", "-input=false", "r1.tfplan"])
            .expect_ok("apply 1"),
        // Round 2: the user exists, so the token is also opened while planning.
        plan(ws, &["-var=round=2", "-out=r2.tfplan"]),
        ws.tf(&["apply", "-input=false", "r2.tfplan"])
            .expect_ok("apply 2"),
    ];
    let id = id_of(ws, "alloy_user.u");
    let seen: Vec<String> = (1..=2)
        .map(|n| {
            std::fs::read_to_string(ws.path().join(format!("seen-token-{n}.txt")))
                .expect("the provisioner received the token")
        })
        .collect();
    assert!(seen.iter().all(|t| t.len() > 10), "tokens were handed over");

    // Everything Terraform wrote or printed, but the files the provisioner wrote the tokens
    // into on purpose.
    let found = Artefacts::of(ws, &runs, &["seen-token-"]);
    assert!(
        found.text("terraform.tfstate").contains(&id),
        "the state searched holds the user"
    );
    assert!(found.names().contains(&"terraform.tfstate.backup"));
    let secrets: Vec<Secret> = seen
        .iter()
        .map(|t| Secret::new("the ephemeral token", t))
        .collect();
    found.assert_free_of(&secrets);
    found.assert_no_jwt();
    destroy(ws);
}

#[test]
fn integrations_data_source() {
    let Some(t) = acc::begin("integrations") else {
        return;
    };
    let ws = &t.ws;
    let name = t.username("a");
    ws.write_main(&config(&[
        user_hcl("u", &name, None),
        r#"
data "alloy_integrations" "all" {
  user_id = alloy_user.u.id
}

data "alloy_integrations" "by_username" {
  user_id = alloy_user.u.username
}

data "alloy_integrations" "installed" {
  user_id   = alloy_user.u.id
  installed = true
}
"#
        .to_string(),
    ]));
    ws.apply();
    let all = ws.resource("data.alloy_integrations.all")["integrations"].clone();
    let all = all.as_array().expect("integrations list").clone();
    let by_username = ws.resource("data.alloy_integrations.by_username")["integrations"].clone();
    assert_eq!(
        Json::Array(all.clone()),
        by_username,
        "a userId and a username see the same"
    );
    for i in &all {
        assert!(i["id"].as_str().is_some_and(|s| !s.is_empty()), "{i}");
        assert_eq!(
            i["installed"], false,
            "a new user has installed nothing: {i}"
        );
        assert!(i["workflows"].is_array(), "{i}");
    }
    let names: Vec<String> = all
        .iter()
        .map(|i| i["name"].as_str().unwrap_or_default().to_lowercase())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "sorted by name");
    let installed = ws.resource("data.alloy_integrations.installed")["integrations"].clone();
    assert_eq!(
        installed,
        json!([]),
        "a new user has no installed integrations"
    );
    println!("{}: the account lists {} integrations", t.test, all.len());
    assert!(ws.plan_is_empty());
    destroy(ws);
}

#[test]
fn ip_addresses_data_source() {
    let Some(t) = acc::begin("ips") else { return };
    let ws = &t.ws;
    ws.write_main(&config(&[
        "data \"alloy_ip_addresses\" \"a\" {}\n".to_string()
    ]));
    ws.apply();
    let v = ws.resource("data.alloy_ip_addresses.a");
    let ips = v["ipv4"].as_array().expect("ipv4").clone();
    assert!(!ips.is_empty());
    let cidrs: Vec<Json> = ips
        .iter()
        .map(|ip| json!(format!("{}/32", ip.as_str().unwrap_or_default())))
        .collect();
    assert_eq!(v["cidr_blocks"], Json::Array(cidrs));
}

// ---------------------------------------------------------------------------------------------
// The harness itself (runs without TF_ACC, against its own emulator)

#[test]
fn harness_fails_in_one_line_on_bad_settings() {
    let emu = Emulator::start();
    let free = format!("http://127.0.0.1:{}", common::free_port());
    type Vars<'a> = &'a [(&'a str, &'a str)];
    let cases: &[(Vars, Option<&str>)] = &[
        (&[("ALLOY_BASE_URL", emu.url.as_str())], None),
        (
            &[("TF_ACC", "1"), ("ALLOY_BASE_URL", emu.url.as_str())],
            Some("no Alloy API key"),
        ),
        (
            &[
                ("TF_ACC", "1"),
                ("ALLOY_BASE_URL", free.as_str()),
                ("ALLOY_API_KEY", "k"),
            ],
            Some("cannot reach the Alloy API"),
        ),
        (
            &[
                ("TF_ACC", "1"),
                ("ALLOY_BASE_URL", emu.url.as_str()),
                ("ALLOY_API_KEY", "wrong"),
            ],
            Some("rejected the key in ALLOY_API_KEY (HTTP 401)"),
        ),
        (
            &[
                ("TF_ACC", "1"),
                ("ALLOY_API_KEY", "k"),
                ("ALLOY_REGION", "moon"),
            ],
            Some("ALLOY_REGION"),
        ),
    ];
    for (vars, want) in cases {
        let lookup = |k: &str| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        };
        match (Acc::from_lookup(&lookup), want) {
            (Ok(None), None) => {}
            (Err(e), Some(w)) => {
                assert!(e.contains(w), "{vars:?}: {e}");
                assert!(!e.contains('\n'), "one line: {e}");
                assert!(!e.contains(common::DEV_KEY), "no key in: {e}");
            }
            (Ok(Some(_)), _) => panic!("{vars:?}: accepted"),
            (Ok(None), Some(w)) => panic!("{vars:?}: skipped instead of failing with {w}"),
            (Err(e), None) => panic!("{vars:?}: {e}"),
        }
    }
    // And a good configuration passes the preflight, with a fresh run prefix.
    let good = |k: &str| match k {
        "TF_ACC" => Some("1".to_string()),
        "ALLOY_BASE_URL" => Some(emu.url.clone()),
        "ALLOY_DEVELOPMENT_API_KEY" => Some(common::DEV_KEY.to_string()),
        _ => None,
    };
    let a = Acc::from_lookup(&good)
        .expect("good settings")
        .expect("enabled");
    assert!(a.prefix.starts_with("tfacc-") && a.username("t", "x").ends_with("-t-x"));
}

// ---------------------------------------------------------------------------------------------
// alloy_user_workflow and alloy_workflow_users

/// The first workflow the account offers, as a tenant's integrations list it.
fn first_workflow(acc: &Acc, user_id: &str) -> Option<String> {
    let a = acc.api(
        reqwest::Method::GET,
        &format!("/integrations?userId={user_id}"),
        None,
    );
    a.json["data"]
        .as_array()?
        .iter()
        .flat_map(|i| i["workflows"].as_array().into_iter().flatten())
        .find_map(|w| w["workflowId"].as_str().map(str::to_owned))
}

/// Whether `workflow` runs for `user`, as the tenant's integrations say (None: not installed).
fn workflow_active(acc: &Acc, user: &str, workflow: &str) -> Option<bool> {
    let a = acc.api(
        reqwest::Method::GET,
        &format!("/integrations?userId={user}"),
        None,
    );
    a.json["data"]
        .as_array()?
        .iter()
        .flat_map(|i| i["workflows"].as_array().into_iter().flatten())
        .find(|w| w["workflowId"] == workflow && w["installed"] == true)
        .and_then(|w| w["active"].as_bool())
}

#[test]
fn user_workflow_refuses_a_workflow_the_tenant_has_not_installed() {
    const T: &str = "workflow-refused";
    let Some(t) = acc::begin(T) else { return };
    let (acc, ws) = (t.acc, &t.ws);
    let name = acc.username(T, "a");
    ws.write_main(&config(&[user_hcl("u", &name, None)]));
    ws.apply();
    let uid = id_of(ws, "alloy_user.u");
    let Some(wf) = first_workflow(acc, &uid) else {
        println!("{T}: the account offers no workflow; nothing to check");
        destroy(ws);
        return;
    };
    // The fleet view does not list a tenant that installed nothing.
    let listing = format!("data \"alloy_workflow_users\" \"w\" {{\n  workflow_id = \"{wf}\"\n}}\n");
    ws.write_main(&config(&[user_hcl("u", &name, None), listing.clone()]));
    ws.apply();
    let users = ws.resource("data.alloy_workflow_users.w")["users"].clone();
    assert!(
        users
            .as_array()
            .is_some_and(|a| a.iter().all(|u| u["user_id"] != uid.as_str())),
        "{users}"
    );
    // Managing it fails, names both, and records nothing.
    ws.write_main(&config(&[
        user_hcl("u", &name, None),
        listing,
        format!(
            "resource \"alloy_user_workflow\" \"w\" {{\n  user_id     = alloy_user.u.id\n  workflow_id = \"{wf}\"\n}}\n"
        ),
    ]));
    let run = ws
        .tf(&["apply", "-auto-approve", "-input=false"])
        .expect_fail("managing a workflow the tenant has not installed");
    let out = run.flat();
    assert!(
        out.contains("Workflow not installed for this user"),
        "{out}"
    );
    assert!(out.contains(&uid) && out.contains(&wf), "{out}");
    assert!(
        ws.resources()
            .iter()
            .all(|(address, _)| !address.starts_with("alloy_user_workflow.")),
        "nothing may be recorded"
    );
    assert_eq!(
        workflow_active(acc, &uid, &wf),
        None,
        "nothing was installed"
    );
    ws.write_main(&config(&[user_hcl("u", &name, None)]));
    destroy(ws);
}

/// `ALLOY_ACC_WORKFLOW`: `<userId>/<workflowId>` of a test tenant with the workflow installed
/// (the acceptance run against the emulator sets one up; against an account, install one by hand).
const ACC_WORKFLOW_VAR: &str = "ALLOY_ACC_WORKFLOW";

#[test]
fn user_workflow_imported_switched_and_forgotten() {
    const T: &str = "workflow-installed";
    let Some(t) = acc::begin(T) else { return };
    let acc = t.acc;
    let Some((user, wf)) = std::env::var(ACC_WORKFLOW_VAR)
        .ok()
        .and_then(|v| v.split_once('/').map(|(u, w)| (u.to_owned(), w.to_owned())))
    else {
        println!("skipping {T}: {ACC_WORKFLOW_VAR} names no installed workflow of a test tenant");
        return;
    };
    let Some(was) = workflow_active(acc, &user, &wf) else {
        panic!("{ACC_WORKFLOW_VAR}: {wf} is not installed for {user}");
    };
    let ws = &t.ws;
    let resource = |active: bool| {
        format!(
            "resource \"alloy_user_workflow\" \"t\" {{\n  user_id     = \"{user}\"\n  workflow_id = \"{wf}\"\n  active      = {active}\n}}\n"
        )
    };
    ws.write_main(&config(&[
        format!("import {{\n  to = alloy_user_workflow.t\n  id = \"{user}/{wf}\"\n}}\n"),
        resource(was),
    ]));
    let run = ws.apply();
    assert!(run.stdout.contains("1 imported"), "{}", run.all());
    assert!(ws.plan_is_empty());

    ws.write_main(&config(&[resource(!was)]));
    ws.apply();
    assert_eq!(workflow_active(acc, &user, &wf), Some(!was));
    assert!(ws.plan_is_empty());
    ws.write_main(&config(&[resource(was)]));
    ws.apply();
    assert_eq!(workflow_active(acc, &user, &wf), Some(was));

    // Forgetting it changes nothing in Alloy.
    ws.write_main(&config(&[
        "removed {\n  from = alloy_user_workflow.t\n  lifecycle {\n    destroy = false\n  }\n}\n"
            .to_string(),
    ]));
    ws.apply();
    assert!(ws.resources().is_empty());
    assert_eq!(workflow_active(acc, &user, &wf), Some(was));
}

// ---------------------------------------------------------------------------------------------
// alloy_credential, alloy_user_credentials, alloy_credential_types, offboarding

/// The ids of `user`'s credentials, as the public API lists them.
fn credential_ids(acc: &Acc, user: &str) -> Vec<String> {
    let a = acc.api(
        reqwest::Method::GET,
        &format!("/credentials/users/{user}"),
        None,
    );
    assert_eq!(a.status, 200, "list credentials of {user}: {}", a.json);
    a.json["data"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(|c| c["credentialId"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn credential_write_only_replaced_by_version_and_offboarded_with_its_user() {
    const T: &str = "credential";
    let Some(mut t) = acc::begin(T) else { return };
    let acc = t.acc;
    // The type must be the account's and not OAuth (the emulator's catalogue has it).
    let types = acc.api(reqwest::Method::GET, "/metadata/credentials", None);
    let headless = types.json["data"].as_array().is_some_and(|l| {
        l.iter()
            .any(|t| t["connector"] == "httpHeaderAuth" && t["isOauth"] != true)
    });
    if !headless {
        println!("skipping {T}: the account has no non-OAuth httpHeaderAuth credential type");
        return;
    }
    let secret = format!("{}secret-value", acc.username(T, "x"));
    t.ws.set_env("TF_VAR_secret", &secret);
    let username = t.username("tenant");
    let ws = &t.ws;
    let main = |version: u32| {
        config(&[format!(
            "variable \"secret\" {{\n  type      = string\n  sensitive = true\n  ephemeral = true\n}}\n\n\
             resource \"alloy_user\" \"t\" {{\n  username                      = \"{username}\"\n  \
             purge_logs_on_destroy         = true\n  delete_credentials_on_destroy = true\n}}\n\n\
             resource \"alloy_credential\" \"c\" {{\n  user_id      = alloy_user.t.id\n  type         = \"httpHeaderAuth\"\n  \
             data = {{\n    fieldName = \"X-Api-Key\"\n    value     = var.secret\n  }}\n  data_version = {version}\n}}\n\n\
             data \"alloy_user_credentials\" \"t\" {{\n  user_id    = alloy_user.t.id\n  depends_on = [alloy_credential.c]\n}}\n\n\
             data \"alloy_credential_types\" \"all\" {{}}\n"
        )])
    };
    ws.write_main(&main(1));
    let mut runs = vec![ws.apply()];
    let user = id_of(ws, "alloy_user.t");
    let first = id_of(ws, "alloy_credential.c");
    assert_eq!(credential_ids(acc, &user), std::slice::from_ref(&first));
    assert!(ws.plan_is_empty());

    ws.write_main(&main(2));
    runs.push(ws.apply());
    let second = id_of(ws, "alloy_credential.c");
    assert_ne!(second, first);
    assert_eq!(credential_ids(acc, &user), [second]);

    Artefacts::of(ws, &runs, &[])
        .assert_free_of(&[Secret::new("the credential's secret", &secret)]);
    destroy(ws);
    assert!(acc.user(&user).is_none(), "the tenant is gone");
}
