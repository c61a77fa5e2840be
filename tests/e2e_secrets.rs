//! Secrets end to end: with Terraform's most verbose logging, neither API key appears anywhere
//! in what terraform prints, for a whole apply / plan / destroy of `alloy_user`s with the key
//! given in HCL through a variable (and both keys present in the environment).

mod common;

use common::leaks::{self, Artefacts};
use common::{Admin, DEV_KEY, Development, Emulator, Run, Workspace};

const CONFIG: &str = r#"
variable "alloy_api_key" {
  type = string
}

provider "alloy" {
  api_key = var.alloy_api_key
}

resource "alloy_user" "u" {
  count     = 3
  username  = "secret-${count.index}@example.com"
  full_name = "Secret ${count.index}"
}
"#;

fn assert_no_key(what: &str, run: &Run) {
    Artefacts::printed(what, [run]).assert_free_of(&leaks::api_keys());
}

#[test]
fn trace_logs_of_a_whole_lifecycle_never_show_a_key() {
    let emu = Emulator::start();
    let mut ws = Workspace::new(&emu);
    // Through the environment, not `-var`: Terraform logs its own command line at trace level.
    ws.set_env("TF_VAR_alloy_api_key", DEV_KEY);
    ws.set_env("TF_LOG", "trace");
    ws.write_main(CONFIG);

    let apply = ws.tf(&["apply", "-auto-approve", "-input=false"]);
    assert!(apply.ok(), "apply:\n{}", apply.all());
    // The logs are really there: Terraform's gRPC traffic and the provider's own API requests.
    assert!(apply.stderr.contains("[TRACE]"), "no trace output");
    assert!(
        apply.stderr.contains("alloy api request"),
        "the provider's request logs are missing"
    );
    assert_no_key("apply", &apply);
    assert_eq!(emu.users(Development).len(), 3);

    ws.write_main(&CONFIG.replace("Secret ${count.index}", "Changed ${count.index}"));
    let plan = ws.tf(&["plan", "-input=false"]);
    assert!(plan.ok(), "plan:\n{}", plan.all());
    assert!(plan.stdout.contains("3 to change"), "{}", plan.stdout);
    assert_no_key("plan", &plan);

    let destroy = ws.tf(&["destroy", "-auto-approve", "-input=false"]);
    assert!(destroy.ok(), "destroy:\n{}", destroy.all());
    assert_no_key("destroy", &destroy);
    assert!(emu.users(Development).is_empty());
}

/// Tokens too: a whole lifecycle that reads the token data source and opens the ephemeral token,
/// with `TF_LOG=trace`, never shows an issued token in terraform's output (checked against the
/// emulator's list of every token it issued), and the plan shows the data source's token only as
/// `(sensitive value)`.
#[test]
fn trace_logs_never_show_an_issued_token() {
    let emu = Emulator::start();
    let mut ws = Workspace::new(&emu);
    ws.set_env("TF_LOG", "trace");
    ws.write_main(
        r#"
provider "alloy" {}

resource "alloy_user" "u" {
  username = "token-secrets@example.com"
}

data "alloy_user_token" "stored" {
  user_id = alloy_user.u.id
}

ephemeral "alloy_user_token" "fresh" {
  user_id = alloy_user.u.id
}

resource "terraform_data" "consumer" {
  input = data.alloy_user_token.stored.expires_at

  provisioner "local-exec" {
    command     = "test -n \"$T\""
    environment = { T = ephemeral.alloy_user_token.fresh.token }
  }
}

output "token" {
  value     = data.alloy_user_token.stored.token
  sensitive = true
}
"#,
    );

    let apply = ws.tf(&["apply", "-auto-approve", "-input=false"]);
    assert!(apply.ok(), "apply:\n{}", apply.all());
    let plan = ws.tf(&["plan", "-input=false", "-refresh=true"]);
    assert!(plan.ok(), "plan:\n{}", plan.all());
    let destroy = ws.tf(&["destroy", "-auto-approve", "-input=false"]);
    assert!(destroy.ok(), "destroy:\n{}", destroy.all());

    let tokens = emu.tokens();
    assert!(
        tokens.len() >= 2,
        "both the data source and the ephemeral resource fetched tokens: {tokens:?}"
    );
    // Nor a token's payload, which would also leak the claims.
    let mut secrets = leaks::issued(&tokens);
    secrets.extend(leaks::api_keys());
    for (what, run) in [("apply", &apply), ("plan", &plan), ("destroy", &destroy)] {
        assert!(run.stderr.contains("[TRACE]"), "{what}: no trace output");
        Artefacts::printed(what, [run]).assert_free_of(&secrets);
    }
    assert!(
        apply.stdout.contains("token = (sensitive value)"),
        "{}",
        apply.stdout
    );
}
