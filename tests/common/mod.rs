//! What every end-to-end test needs: the emulator as a real process on loopback, and a
//! Terraform working directory whose CLI configuration points `dev_overrides` at the provider
//! binary cargo just built. Nothing here fakes a result: tests run the real `terraform`.

#![allow(dead_code)] // each test binary uses a different part of this harness

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value as Json;

pub const SOURCE: &str = "alloy-automation/alloy";
pub const DEV_KEY: &str = "e2e-development-key-0123456789";
pub const PROD_KEY: &str = "e2e-production-key-0123456789";

/// A running `alloy-emulator` process, killed on drop.
pub struct Emulator {
    child: Child,
    pub url: String,
    http: reqwest::blocking::Client,
}

impl Emulator {
    pub fn start() -> Emulator {
        Emulator::start_with(&[])
    }

    /// Starts the emulator binary with extra flags and waits for its "listening on" line.
    pub fn start_with(args: &[&str]) -> Emulator {
        let mut child = Command::new(env!("CARGO_BIN_EXE_alloy-emulator"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--development-key",
                DEV_KEY,
                "--production-key",
                PROD_KEY,
            ])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start alloy-emulator");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read listening line");
        let url = line
            .trim()
            .strip_prefix("alloy-emulator listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from the emulator: {line:?}"))
            .to_string();
        Emulator {
            child,
            url,
            http: reqwest::blocking::Client::new(),
        }
    }

    pub fn admin_get(&self, path: &str) -> Json {
        self.http
            .get(format!("{}/_emulator/{path}", self.url))
            .send()
            .expect("admin GET")
            .json()
            .expect("admin JSON")
    }

    pub fn set_faults(&self, faults: Json) {
        let r = self
            .http
            .put(format!("{}/_emulator/faults", self.url))
            .json(&faults)
            .send()
            .expect("admin PUT");
        assert!(r.status().is_success(), "set faults: {}", r.status());
    }

    pub fn clear_requests(&self) {
        self.http
            .delete(format!("{}/_emulator/requests", self.url))
            .send()
            .expect("clear requests");
    }

    /// The users the emulator holds in one environment, as (userId, username, fullName).
    pub fn users(&self, environment: &str) -> Vec<(String, String, Option<String>)> {
        let v = self.admin_get(&format!("users?environment={environment}"));
        v["data"]
            .as_array()
            .expect("data array")
            .iter()
            .map(|u| {
                (
                    u["userId"].as_str().unwrap_or_default().to_string(),
                    u["username"].as_str().unwrap_or_default().to_string(),
                    u["fullName"].as_str().map(str::to_string),
                )
            })
            .collect()
    }

    /// Requests the provider made since the last clear, by route template ("GET /users/{id}").
    pub fn count(&self, route: &str) -> u64 {
        self.admin_get("requests")["by_route"][route]
            .as_u64()
            .unwrap_or(0)
    }

    pub fn total_requests(&self) -> u64 {
        self.admin_get("requests")["total"].as_u64().unwrap_or(0)
    }

    pub fn delete_out_of_band(&self, environment: &str, id: &str) {
        let r = self
            .http
            .delete(format!("{}/_emulator/users/{environment}/{id}", self.url))
            .send()
            .expect("admin DELETE");
        assert!(r.status().is_success());
    }

    /// Creates a user directly through the API (as another tool would).
    pub fn create_user(&self, key: &str, username: &str, full_name: Option<&str>) -> String {
        let mut body = serde_json::json!({"username": username});
        if let Some(n) = full_name {
            body["fullName"] = n.into();
        }
        let r: Json = self
            .http
            .post(format!("{}/users", self.url))
            .bearer_auth(key)
            .json(&body)
            .send()
            .expect("POST /users")
            .json()
            .expect("JSON");
        r["userId"].as_str().expect("userId").to_string()
    }

    /// Every token the emulator has issued.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.admin_get("tokens")["tokens"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t["token"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Terraform working directory with its own CLI configuration and environment.
pub struct Workspace {
    pub dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

/// The result of one terraform command, with its output in one string for assertions.
pub struct Run {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(&self) -> bool {
        self.status.success()
    }

    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// stdout and stderr with whitespace folded, so assertions on sentences survive Terraform
    /// wrapping diagnostic text at its terminal width.
    pub fn flat(&self) -> String {
        self.all().split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// Panics with the whole output unless the command succeeded.
    pub fn expect_ok(self, what: &str) -> Run {
        assert!(self.ok(), "{what} failed:\n{}", self.all());
        self
    }

    pub fn expect_fail(self, what: &str) -> Run {
        assert!(!self.ok(), "{what} should have failed:\n{}", self.all());
        self
    }
}

/// The directory holding the provider binary cargo built for this test run.
pub fn provider_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_terraform-provider-alloy"))
        .parent()
        .expect("bin dir")
        .to_path_buf()
}

pub fn terraform_bin() -> String {
    std::env::var("TERRAFORM").unwrap_or_else(|_| "terraform".to_string())
}

impl Workspace {
    /// A workspace whose provider reaches `emu` in the development environment (through ALLOY_*
    /// variables, so the HCL can stay `provider "alloy" {}`).
    pub fn new(emu: &Emulator) -> Workspace {
        let mut ws = Workspace::bare();
        ws.set_env("ALLOY_BASE_URL", &emu.url);
        ws.set_env("ALLOY_ENVIRONMENT", "development");
        ws.set_env("ALLOY_DEVELOPMENT_API_KEY", DEV_KEY);
        ws.set_env("ALLOY_PRODUCTION_API_KEY", PROD_KEY);
        ws
    }

    /// A workspace with only the CLI configuration set (no ALLOY_* variables).
    pub fn bare() -> Workspace {
        let dir = tempfile::tempdir().expect("tempdir");
        let cli = dir.path().join("cli.tfrc");
        let dir_str = provider_dir().display().to_string().replace('\\', "/");
        std::fs::write(
            &cli,
            format!("provider_installation {{\n  dev_overrides {{\n    \"{SOURCE}\" = \"{dir_str}\"\n  }}\n  direct {{}}\n}}\n"),
        )
        .expect("write CLI config");
        let mut ws = Workspace {
            dir,
            env: Vec::new(),
        };
        ws.set_env("TF_CLI_CONFIG_FILE", &cli.display().to_string());
        ws.set_env("CHECKPOINT_DISABLE", "1");
        ws.set_env("TF_IN_AUTOMATION", "1");
        ws
    }

    pub fn set_env(&mut self, k: &str, v: &str) {
        self.env.retain(|(key, _)| key != k);
        self.env.push((k.to_string(), v.to_string()));
    }

    pub fn unset_env(&mut self, k: &str) {
        self.env.retain(|(key, _)| key != k);
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `main.tf` with the required_providers block prepended.
    pub fn write_main(&self, body: &str) {
        let hcl = format!(
            "terraform {{\n  required_providers {{\n    alloy = {{ source = \"{SOURCE}\" }}\n  }}\n}}\n\n{body}\n"
        );
        std::fs::write(self.dir.path().join("main.tf"), hcl).expect("write main.tf");
    }

    pub fn write(&self, name: &str, content: &str) {
        std::fs::write(self.dir.path().join(name), content).expect("write file");
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(terraform_bin());
        cmd.current_dir(self.dir.path()).args(args);
        // Nothing from the developer's shell leaks in: ALLOY_* and TF_* come only from the test.
        for (k, _) in std::env::vars() {
            if k.starts_with("ALLOY_") || (k.starts_with("TF_") && k != "TF_ACC") {
                cmd.env_remove(k);
            }
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs terraform with `-no-color` (inserted after the subcommand).
    pub fn tf(&self, args: &[&str]) -> Run {
        let mut full: Vec<&str> = args.to_vec();
        // Two-word subcommands (providers schema, state list) and JSON output need no colour flag.
        if !full.is_empty() && !matches!(full[0], "version" | "fmt" | "providers" | "state") {
            full.insert(1, "-no-color");
        }
        let out: Output = self.command(&full).output().unwrap_or_else(|e| {
            panic!(
                "cannot run `{}`: {e}. The end-to-end tests need Terraform on PATH.",
                terraform_bin()
            )
        });
        Run {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn apply(&self) -> Run {
        self.tf(&["apply", "-auto-approve", "-input=false"])
            .expect_ok("terraform apply")
    }

    /// `terraform plan -detailed-exitcode`: true when the plan is empty.
    pub fn plan_is_empty(&self) -> bool {
        let r = self.tf(&["plan", "-input=false", "-detailed-exitcode"]);
        match r.status.code() {
            Some(0) => true,
            Some(2) => false,
            _ => panic!("terraform plan failed:\n{}", r.all()),
        }
    }

    /// `terraform show -json` of the current state.
    pub fn state(&self) -> Json {
        let r = self
            .tf(&["show", "-json"])
            .expect_ok("terraform show -json");
        serde_json::from_str(&r.stdout).expect("show -json output")
    }

    /// The `values` of every resource in state, keyed by address.
    pub fn resources(&self) -> Vec<(String, Json)> {
        let s = self.state();
        let mut out = Vec::new();
        collect(&s["values"]["root_module"], &mut out);
        out
    }

    pub fn resource(&self, address: &str) -> Json {
        self.resources()
            .into_iter()
            .find(|(a, _)| a == address)
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("{address} not in state"))
    }
}

fn collect(module: &Json, out: &mut Vec<(String, Json)>) {
    if let Some(rs) = module["resources"].as_array() {
        for r in rs {
            out.push((
                r["address"].as_str().unwrap_or_default().to_string(),
                r["values"].clone(),
            ));
        }
    }
    if let Some(children) = module["child_modules"].as_array() {
        for c in children {
            collect(c, out);
        }
    }
}
