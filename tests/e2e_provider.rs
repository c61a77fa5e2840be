//! The provider block and the plugin process, driven by the real `terraform` CLI.

mod common;

use common::{Admin, DEV_KEY, Development, Emulator, PROD_KEY, Workspace};

const ONE_USER: &str = r#"
provider "alloy" {}

resource "alloy_user" "one" {
  username  = "e2e-provider@example.com"
  full_name = "Provider Test"
}
"#;

#[test]
fn validate_plan_and_schema_work_with_a_provider_block() {
    let emu = Emulator::start();
    let ws = Workspace::new(&emu);
    ws.write_main(&format!(
        "provider \"alloy\" {{\n  environment = \"development\"\n  base_url = \"{}\"\n  request_timeout = 10\n  max_retries = 3\n}}\n\nresource \"alloy_user\" \"one\" {{\n  username = \"schema@example.com\"\n}}\n",
        emu.url
    ));
    ws.tf(&["validate"]).expect_ok("validate");
    let plan = ws.tf(&["plan", "-input=false"]).expect_ok("plan");
    assert!(plan.stdout.contains("1 to add"), "{}", plan.stdout);

    let schema = ws
        .tf(&["providers", "schema", "-json"])
        .expect_ok("providers schema");
    let v: serde_json::Value = serde_json::from_str(&schema.stdout).expect("schema JSON");
    let (addr, p) = v["provider_schemas"]
        .as_object()
        .expect("provider_schemas")
        .iter()
        .next()
        .expect("one provider");
    assert!(addr.ends_with("alloy-automation/alloy"), "{addr}");
    let attrs = &p["provider"]["block"]["attributes"];
    for a in [
        "api_key",
        "environment",
        "base_url",
        "region",
        "api_version",
        "request_timeout",
        "max_retries",
    ] {
        assert!(attrs.get(a).is_some(), "provider attribute {a} missing");
    }
    assert_eq!(attrs["api_key"]["sensitive"], true);
    assert_eq!(attrs["environment"]["sensitive"], serde_json::Value::Null);
    assert!(p["resource_schemas"]["alloy_user"].is_object());
    // Plan reads nothing from the API for a new resource.
    assert_eq!(emu.count("POST /users"), 0);
}

/// Each bad provider setting fails with an error that names the attribute, before any API call.
#[test]
fn bad_provider_configuration_names_the_attribute() {
    let emu = Emulator::start();
    type Case = (
        &'static str,
        Vec<(&'static str, &'static str)>,
        &'static [&'static str],
    );
    let cases: [Case; 5] = [
        (
            "provider \"alloy\" {\n  environment = \"development\"\n}",
            vec![],
            &["Missing Alloy API key", "ALLOY_API_KEY", "api_key"],
        ),
        (
            "provider \"alloy\" {\n  environment = \"staging\"\n  api_key = \"k-0123456789\"\n}",
            vec![],
            &["Invalid environment", "environment = \"staging\""],
        ),
        (
            "provider \"alloy\" {\n  base_url = \"http://example.com\"\n}",
            vec![
                ("ALLOY_ENVIRONMENT", "development"),
                ("ALLOY_API_KEY", DEV_KEY),
            ],
            &["Insecure base URL", "base_url = \"http://example.com\""],
        ),
        (
            "provider \"alloy\" {\n  region = \"eu\"\n  base_url = \"https://api.example.com\"\n}",
            vec![
                ("ALLOY_ENVIRONMENT", "development"),
                ("ALLOY_API_KEY", DEV_KEY),
            ],
            &["Conflicting provider settings", "region = \"eu\""],
        ),
        (
            "provider \"alloy\" {}",
            vec![("ALLOY_API_KEY", DEV_KEY)],
            &["Missing Alloy environment", "ALLOY_ENVIRONMENT"],
        ),
    ];
    for (provider_block, env, expected) in cases {
        let mut ws = Workspace::bare();
        ws.set_env("ALLOY_BASE_URL", &emu.url);
        for (k, v) in env {
            ws.set_env(k, v);
        }
        ws.write_main(&format!("{provider_block}\n\nresource \"alloy_user\" \"u\" {{\n  username = \"bad-config\"\n}}\n"));
        let run = ws
            .tf(&["plan", "-input=false"])
            .expect_fail("plan with a bad provider block");
        let out = run.flat();
        for e in expected {
            assert!(out.contains(e), "expected {e:?} in:\n{out}");
        }
        assert!(
            !out.contains(DEV_KEY),
            "the key leaked into the output:\n{out}"
        );
    }
    assert_eq!(
        emu.total_requests(),
        0,
        "no API call may be made with a bad provider block"
    );
}

#[test]
fn provider_logs_reach_tf_log_without_the_key() {
    let emu = Emulator::start();
    let mut ws = Workspace::new(&emu);
    ws.set_env("TF_LOG_PROVIDER", "trace");
    ws.write_main(ONE_USER);
    let run = ws.apply();
    let logs = run.stderr;
    assert!(
        logs.contains("provider.terraform-provider-alloy"),
        "no provider log lines in TF_LOG output"
    );
    assert!(
        logs.contains("provider configured"),
        "the provider's own events are missing"
    );
    assert!(!logs.contains(DEV_KEY), "the API key appeared in the logs");
    assert!(
        !logs.contains(PROD_KEY),
        "the production key appeared in the logs"
    );
}

fn full_flow(ws: &Workspace, emu: &Emulator) {
    ws.write_main(ONE_USER);
    ws.apply();
    assert_eq!(emu.users(Development).len(), 1);
    assert!(ws.plan_is_empty(), "plan after apply must be empty");
    ws.destroy();
    assert!(emu.users(Development).is_empty());
}

#[test]
fn full_flow_with_plugin_tls_on() {
    let emu = Emulator::start();
    let ws = Workspace::new(&emu);
    full_flow(&ws, &emu);
}

#[test]
fn full_flow_with_plugin_tls_disabled() {
    let emu = Emulator::start();
    let mut ws = Workspace::new(&emu);
    ws.set_env("TF_DISABLE_PLUGIN_TLS", "1");
    full_flow(&ws, &emu);
}
