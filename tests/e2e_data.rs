//! The data sources and the ephemeral `alloy_user_token`, driven by the real `terraform` CLI
//! against the emulator as a process on loopback.
//!
//! Secrets are checked from the emulator's side: `/_emulator/tokens` lists every token it ever
//! issued, and each one is searched for in everything Terraform wrote or printed (state, saved
//! plans including their inflated zip entries, `show -json`, stdout and stderr with provider
//! logs on). API traffic is checked with the emulator's request counters, so "no API call" is
//! observed, not assumed.

mod common;

use std::path::Path;

use common::{DEV_KEY, Emulator, Run, Workspace};
use serde_json::{Value as Json, json};
use terraform_provider_alloy::emulator::catalogue::{catalogue, icon_url};

// ------------------------------------------------------------------------------------------
// helpers

/// An issued token and its `exp` claim as the emulator recorded them.
struct Issued {
    user_id: String,
    token: String,
    exp: i64,
}

fn issued(emu: &Emulator) -> Vec<Issued> {
    emu.admin_get("tokens")["tokens"]
        .as_array()
        .expect("tokens array")
        .iter()
        .map(|t| Issued {
            user_id: t["userId"].as_str().expect("userId").to_string(),
            token: t["token"].as_str().expect("token").to_string(),
            exp: t["exp"].as_i64().expect("exp"),
        })
        .collect()
}

fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .expect("timestamp")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format")
}

fn install(emu: &Emulator, user_id: &str, integration: &str, workflow: Option<&str>) {
    let mut body =
        json!({"environment": "development", "userId": user_id, "integrationId": integration});
    if let Some(w) = workflow {
        body["workflowId"] = w.into();
    }
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/_emulator/installs", emu.url))
        .json(&body)
        .send()
        .expect("POST installs");
    assert!(r.status().is_success(), "install: {}", r.status());
}

/// The entries of a zip archive (a saved Terraform plan), inflated. Written for the archives Go's
/// `archive/zip` produces: stored or deflated entries, sizes in the central directory.
fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    use std::io::Read as _;
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap()) as usize;
    let eocd = (0..=bytes.len() - 22)
        .rev()
        .find(|&o| bytes[o..o + 4] == [0x50, 0x4b, 0x05, 0x06])
        .expect("end of central directory");
    let count = u16_at(eocd + 10);
    let mut at = u32_at(eocd + 16);
    let mut out = Vec::new();
    for _ in 0..count {
        assert_eq!(bytes[at..at + 4], [0x50, 0x4b, 0x01, 0x02], "central entry");
        let method = u16_at(at + 10);
        let size = u32_at(at + 20);
        let (name_len, extra_len, comment_len) =
            (u16_at(at + 28), u16_at(at + 30), u16_at(at + 32));
        let local = u32_at(at + 42);
        let name = String::from_utf8_lossy(&bytes[at + 46..at + 46 + name_len]).into_owned();
        at += 46 + name_len + extra_len + comment_len;
        assert_eq!(
            bytes[local..local + 4],
            [0x50, 0x4b, 0x03, 0x04],
            "local header"
        );
        let start = local + 30 + u16_at(local + 26) + u16_at(local + 28);
        let raw = &bytes[start..start + size];
        let data = match method {
            0 => raw.to_vec(),
            8 => {
                let mut v = Vec::new();
                flate2::read::DeflateDecoder::new(raw)
                    .read_to_end(&mut v)
                    .expect("inflate");
                v
            }
            m => panic!("{name}: unexpected zip method {m}"),
        };
        out.push((name, data));
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
}

/// Panics if any token, or its signature on its own, occurs in `haystack`.
fn assert_no_token(haystack: &[u8], tokens: &[Issued], what: &str) {
    for t in tokens {
        let signature = t.token.rsplit('.').next().unwrap_or_default();
        assert!(
            !contains(haystack, &t.token) && !contains(haystack, signature),
            "a user token was found in {what}"
        );
    }
}

/// Every file under `dir`, recursively.
fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn data_value(ws: &Workspace, address: &str) -> Json {
    ws.resource(address)
}

// ------------------------------------------------------------------------------------------
// alloy_user_token, ephemeral

const PROBE_MODULE: &str = r#"
# Receives the ephemeral values and passes on only what the test may look at.
variable "token" {
  type      = string
  ephemeral = true
  sensitive = true
}

variable "expires_at" {
  type      = string
  ephemeral = true
}

output "summary" {
  value     = "${var.expires_at} ${length(var.token)}"
  ephemeral = true
}
"#;

const EPHEMERAL_MAIN: &str = r#"
provider "alloy" {}

variable "round" {
  type    = number
  default = 1
}

resource "alloy_user" "u" {
  username = "ephemeral@example.com"
}

ephemeral "alloy_user_token" "t" {
  user_id = alloy_user.u.id
}

module "probe" {
  source     = "./probe"
  token      = ephemeral.alloy_user_token.t.token
  expires_at = ephemeral.alloy_user_token.t.expires_at
}

# A provisioner may use ephemeral values; it records what it received in a file.
resource "terraform_data" "probe" {
  triggers_replace = var.round
  provisioner "local-exec" {
    command = "printf '%s\n' '${module.probe.summary}' > opened-${var.round}.txt"
  }
}
"#;

/// What the provisioner recorded in round `n`: (expires_at, token length).
fn opened(ws: &Workspace, n: u32) -> (String, usize) {
    let text = std::fs::read_to_string(ws.path().join(format!("opened-{n}.txt")))
        .expect("the provisioner wrote its file");
    let (at, len) = text.trim().split_once(' ').expect("two fields");
    (at.to_string(), len.parse().expect("a length"))
}

#[test]
fn ephemeral_token_reaches_ephemeral_consumers_and_is_stored_nowhere() {
    let emu = Emulator::start();
    let mut ws = Workspace::new(&emu);
    // Provider logs at trace level join terraform's stderr, which is searched too.
    ws.set_env("TF_LOG_PROVIDER", "trace");
    ws.write_main(EPHEMERAL_MAIN);
    std::fs::create_dir(ws.path().join("probe")).unwrap();
    ws.write("probe/main.tf", PROBE_MODULE);
    let mut runs: Vec<Run> = vec![ws.tf(&["get"]).expect_ok("terraform get")];

    // Round 1: the user does not exist at plan time, so the token is opened only during apply.
    runs.push(
        ws.tf(&["plan", "-input=false", "-out=round1.tfplan"])
            .expect_ok("plan 1"),
    );
    assert!(
        issued(&emu).is_empty(),
        "nothing to open before the user exists"
    );
    runs.push(
        ws.tf(&["apply", "-input=false", "round1.tfplan"])
            .expect_ok("apply 1"),
    );
    let user_id = ws.resource("alloy_user.u")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let round1 = issued(&emu);
    assert!(
        !round1.is_empty(),
        "the ephemeral resource was opened during apply"
    );
    assert!(round1.iter().all(|t| t.user_id == user_id));
    let (at, len) = opened(&ws, 1);
    assert!(
        round1
            .iter()
            .any(|t| rfc3339(t.exp) == at && t.token.len() == len),
        "the provisioner got expires_at {at} and a token of {len} characters, matching no issued token"
    );

    // Round 2: the user exists, so the token is opened during plan as well, then again in apply.
    runs.push(
        ws.tf(&["plan", "-input=false", "-var=round=2", "-out=round2.tfplan"])
            .expect_ok("plan 2"),
    );
    let after_plan2 = issued(&emu).len();
    assert!(after_plan2 > round1.len(), "plan opened the token");
    runs.push(
        ws.tf(&["apply", "-input=false", "round2.tfplan"])
            .expect_ok("apply 2"),
    );
    let all = issued(&emu);
    assert!(all.len() > after_plan2, "apply opened the token again");
    assert!(all.iter().all(|t| t.user_id == user_id));
    let (at2, len2) = opened(&ws, 2);
    assert!(
        all[after_plan2..]
            .iter()
            .any(|t| rfc3339(t.exp) == at2 && t.token.len() == len2)
    );

    // Nowhere: state, plans (raw and inflated), show -json of each plan, any other file in the
    // working directory, and everything terraform printed.
    for plan in ["round1.tfplan", "round2.tfplan"] {
        let shown = ws.tf(&["show", "-json", plan]).expect_ok("show plan");
        assert!(
            shown.stdout.contains("\"terraform_data.probe\""),
            "show -json printed the plan"
        );
        runs.push(shown);
        let bytes = std::fs::read(ws.path().join(plan)).unwrap();
        let entries = unzip(&bytes);
        assert!(
            entries.iter().any(|(n, _)| n == "tfplan"),
            "a real plan file"
        );
        for (name, data) in entries {
            assert_no_token(&data, &all, &format!("{plan}:{name}"));
        }
    }
    let state = std::fs::read(ws.path().join("terraform.tfstate")).unwrap();
    assert!(
        contains(&state, &user_id),
        "the state is the one that was searched"
    );
    let mut paths = Vec::new();
    files(ws.path(), &mut paths);
    assert!(
        paths
            .iter()
            .any(|p| p.ends_with("terraform.tfstate.backup"))
    );
    for p in &paths {
        assert_no_token(&std::fs::read(p).unwrap(), &all, &p.display().to_string());
    }
    let logs: String = runs.iter().map(Run::all).collect();
    assert!(
        logs.contains("provider.terraform-provider-alloy"),
        "provider logs were captured"
    );
    assert_no_token(logs.as_bytes(), &all, "terraform's output");
    assert!(!logs.contains(DEV_KEY));
}

// ------------------------------------------------------------------------------------------
// alloy_user_token, data source

#[test]
fn token_data_source_hides_the_token_in_output_and_records_it_in_state() {
    let emu = Emulator::start();
    let ws = Workspace::new(&emu);
    ws.write_main(
        r#"
provider "alloy" {}

resource "alloy_user" "u" {
  username = "token-data@example.com"
}

data "alloy_user_token" "t" {
  user_id = alloy_user.u.id
}

output "token" {
  value     = data.alloy_user_token.t.token
  sensitive = true
}

output "expires_at" {
  value = data.alloy_user_token.t.expires_at
}
"#,
    );
    let header = "<= data \"alloy_user_token\" \"t\" {";
    let plan = ws.tf(&["plan", "-input=false"]).expect_ok("plan");
    assert!(data_block(&plan.stdout, header).contains("token      = (sensitive value)"));
    let apply = ws.apply();
    assert!(data_block(&apply.stdout, header).contains("token      = (sensitive value)"));
    assert!(
        apply.stdout.contains("token = <sensitive>"),
        "{}",
        apply.stdout
    );
    let shown = ws
        .tf(&["state", "show", "data.alloy_user_token.t"])
        .expect_ok("state show");
    assert!(
        shown.stdout.contains("token      = (sensitive value)"),
        "{}",
        shown.stdout
    );

    let user_id = ws.resource("alloy_user.u")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let tokens = issued(&emu);
    assert_eq!(tokens.len(), 1, "one read, one token");
    assert_eq!(tokens[0].user_id, user_id);
    // As documented: the data source's token does land in state.
    let state = data_value(&ws, "data.alloy_user_token.t");
    assert_eq!(state["token"], tokens[0].token.as_str());
    assert_eq!(state["expires_at"], rfc3339(tokens[0].exp).as_str());
    assert_eq!(state["user_id"], user_id.as_str());
    let expires = format!("expires_at = \"{}\"", rfc3339(tokens[0].exp));
    assert!(apply.stdout.contains(&expires), "{}", apply.stdout);

    // Now the user is known at plan time: the data source is read during plan.
    let plan2 = ws.tf(&["plan", "-input=false"]).expect_ok("second plan");
    let tokens = issued(&emu);
    assert_eq!(tokens.len(), 2, "the second plan read a fresh token");

    // The schema marks the token sensitive by itself: an output that does not say so is refused.
    ws.write(
        "leak.tf",
        "output \"leak\" {\n  value = data.alloy_user_token.t.token\n}\n",
    );
    let refused = ws
        .tf(&["plan", "-input=false"])
        .expect_fail("plan exposing the token");
    assert!(
        refused.all().contains("Output refers to sensitive values"),
        "{}",
        refused.all()
    );

    let output: String = [plan, apply, shown, plan2, refused]
        .iter()
        .map(Run::all)
        .collect();
    assert_no_token(output.as_bytes(), &issued(&emu), "terraform's output");
}

/// The lines of the block that starts with `header` in terraform's plan output.
fn data_block<'a>(out: &'a str, header: &str) -> &'a str {
    let start = out
        .find(header)
        .unwrap_or_else(|| panic!("no {header} in:\n{out}"));
    let rest = &out[start..];
    &rest[..rest.find("\n    }").unwrap_or(rest.len())]
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
    install(&emu, &user_id, shopify.id, Some(shopify.workflows[1].id));
    install(&emu, &user_id, slack.id, None);
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
        issued(&emu).is_empty(),
        "no token for a user that does not exist"
    );
    assert!(emu.users("development").iter().any(|u| u.0 == known));
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
        issued(&emu).len(),
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

/// Each example of this suite's types is valid on its own and applies against the emulator.
#[test]
fn examples_apply_against_the_emulator() {
    let emu = Emulator::start();
    let jane = emu.create_user(DEV_KEY, "jane@example.com", Some("Jane Doe"));
    let salesforce = &catalogue()[index_of("Salesforce")];
    install(&emu, &jane, salesforce.id, None);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let examples = [
        "data-sources/alloy_user/data-source.tf",
        "data-sources/alloy_user_token/data-source.tf",
        "data-sources/alloy_integrations/data-source.tf",
        "data-sources/alloy_ip_addresses/data-source.tf",
        "ephemeral-resources/alloy_user_token/ephemeral-resource.tf",
    ];
    let mut outputs = Vec::new();
    for example in examples {
        let hcl = std::fs::read_to_string(root.join(example)).expect("example exists");
        assert!(hcl.contains("provider \"alloy\" {}") && hcl.contains("alloy-automation/alloy"));
        let ws = Workspace::new(&emu);
        ws.write("main.tf", &hcl);
        ws.tf(&["validate"]).expect_ok(example);
        let run = ws.apply();
        assert!(run.stdout.contains("Apply complete!"), "{example}");
        outputs.push((example, ws.state()["values"]["outputs"].clone(), run));
    }
    assert_eq!(outputs[0].1["jane_user_id"]["value"], jane.as_str());
    assert_eq!(
        outputs[2].1["installed_integrations"]["value"],
        json!(["Salesforce"])
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
    let ada = emu
        .users("development")
        .into_iter()
        .find(|u| u.1 == "ada@example.com")
        .expect("the example created Ada")
        .0;
    let tokens = issued(&emu);
    assert!(tokens.iter().any(|t| t.user_id == ada));
    let run = &outputs[4].2;
    assert!(run.stdout.contains("output suppressed"), "{}", run.stdout);
    let all: String = outputs.iter().map(|o| o.2.all()).collect();
    assert_no_token(all.as_bytes(), &tokens, "terraform's output");
}

// ------------------------------------------------------------------------------------------
// API failures

/// A failing API is reported with what was being done and the API's answer, per data source.
#[test]
fn api_failures_say_what_failed() {
    let emu = Emulator::start();
    emu.create_user(DEV_KEY, "failing@example.com", None);
    emu.set_faults(json!({"error_rate": 1.0}));
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
    assert!(issued(&emu).is_empty());
}
