//! `alloy_user_token`, as an ephemeral resource and as a data source, driven by the real
//! `terraform` CLI against the emulator on loopback.
//!
//! Secrets are checked from the emulator's side: `/_emulator/tokens` lists every token it ever
//! issued, and each one is searched for in everything Terraform wrote or printed (state, saved
//! plans including their inflated zip entries, `show -json`, stdout and stderr with provider
//! logs on): the audit of `common::leaks`.

mod common;

use common::leaks::{self, Artefacts};
use common::{Admin, Emulator, Run, Workspace};

/// An instant in seconds since the Unix epoch, as the provider writes `expires_at`.
fn rfc3339(secs: u64) -> String {
    let secs = i64::try_from(secs).expect("a timestamp");
    time::OffsetDateTime::from_unix_timestamp(secs)
        .expect("timestamp")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format")
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
        emu.tokens().is_empty(),
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
    let round1 = emu.tokens();
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
    let after_plan2 = emu.tokens().len();
    assert!(after_plan2 > round1.len(), "plan opened the token");
    runs.push(
        ws.tf(&["apply", "-input=false", "round2.tfplan"])
            .expect_ok("apply 2"),
    );
    let all = emu.tokens();
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
    let found = Artefacts::of(&ws, &runs, &[]);
    for plan in ["round1.tfplan", "round2.tfplan"] {
        assert!(
            found
                .text(&format!("show -json {plan}"))
                .contains("\"terraform_data.probe\""),
            "show -json printed the plan"
        );
    }
    assert!(
        found.text("terraform.tfstate").contains(&user_id),
        "the state is the one that was searched"
    );
    assert!(found.names().contains(&"terraform.tfstate.backup"));
    let logs: String = runs.iter().map(Run::all).collect();
    assert!(
        logs.contains("provider.terraform-provider-alloy"),
        "provider logs were captured"
    );
    let mut secrets = leaks::issued(&all);
    secrets.extend(leaks::api_keys());
    found.assert_free_of(&secrets);
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
    let tokens = emu.tokens();
    assert_eq!(tokens.len(), 1, "one read, one token");
    assert_eq!(tokens[0].user_id, user_id);
    // As documented: the data source's token does land in state.
    let state = ws.resource("data.alloy_user_token.t");
    assert_eq!(state["token"], tokens[0].token.as_str());
    assert_eq!(state["expires_at"], rfc3339(tokens[0].exp).as_str());
    assert_eq!(state["user_id"], user_id.as_str());
    let expires = format!("expires_at = \"{}\"", rfc3339(tokens[0].exp));
    assert!(apply.stdout.contains(&expires), "{}", apply.stdout);

    // Now the user is known at plan time: the data source is read during plan.
    let plan2 = ws.tf(&["plan", "-input=false"]).expect_ok("second plan");
    let tokens = emu.tokens();
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

    Artefacts::printed(
        "terraform's output",
        [&plan, &apply, &shown, &plan2, &refused],
    )
    .assert_free_of(&leaks::issued(&emu.tokens()));
}
