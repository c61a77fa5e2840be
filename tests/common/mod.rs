//! What every end-to-end test needs: the emulator on loopback (in this process, see
//! [`Emulator`]), and a Terraform working directory whose CLI configuration points `dev_overrides`
//! at the provider binary cargo just built. Nothing here fakes a result: tests run the real
//! `terraform`.
//!
//! A new test starts with two lines, then reads the emulator's side through [`Admin`]:
//!
//! ```ignore
//! let emu = Emulator::start();
//! let ws = Workspace::new(&emu);
//! ```

#![allow(dead_code, unused_imports)] // each test binary uses a different part of this harness

pub mod harness;
pub mod leaks;
pub mod plugin;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use alloy_emulator::EmulatorConfig;
pub use alloy_emulator::Environment::{Development, Production};
pub use alloy_emulator::testing::{Admin, TestEmulator, User};
use reqwest::Method;
use serde_json::Value as Json;

pub const SOURCE: &str = "alloy-automation/alloy";
pub const DEV_KEY: &str = "e2e-development-key-0123456789";
pub const PROD_KEY: &str = "e2e-production-key-0123456789";

/// The emulator of an end-to-end test: in this process, on a free loopback port, with the keys
/// the workspaces use ([`DEV_KEY`], [`PROD_KEY`]). Its admin API is [`Admin`]; stopped on drop.
pub struct Emulator {
    emu: TestEmulator,
    pub url: String,
}

impl Emulator {
    pub fn start() -> Emulator {
        Emulator::with(Json::Null, None)
    }

    /// With fault knobs in force before the first request (a patch as `PUT /_emulator/faults`
    /// takes it, `json!({"error_rate": 0.3})`), and a seed for ids and fault draws.
    pub fn with(faults: Json, seed: Option<u64>) -> Emulator {
        let emu = TestEmulator::with(EmulatorConfig {
            development_key: DEV_KEY.to_string(),
            production_key: PROD_KEY.to_string(),
            seed,
            ..EmulatorConfig::default()
        });
        if !faults.is_null() {
            emu.patch_faults(faults);
        }
        let url = emu.url();
        Emulator { emu, url }
    }

    /// Creates a user through the API with `key` (as another tool would): its id.
    pub fn create_user(&self, key: &str, username: &str, full_name: Option<&str>) -> String {
        let mut body = serde_json::json!({"username": username});
        if let Some(n) = full_name {
            body["fullName"] = n.into();
        }
        let r: Json = reqwest::blocking::Client::new()
            .post(format!("{}/users", self.url))
            .bearer_auth(key)
            .json(&body)
            .send()
            .expect("POST /users")
            .json()
            .expect("JSON");
        r["userId"].as_str().expect("userId").to_string()
    }
}

impl Admin for Emulator {
    fn url(&self) -> String {
        self.url.clone()
    }

    fn admin(&self, method: Method, path: &str, body: Option<Json>) -> (u16, Json) {
        self.emu.admin(method, path, body)
    }
}

/// The `alloy-emulator` binary as a process, for the tests whose subject needs one: its flags,
/// or a crash (SIGKILL) and a restart from its state file. Killed on drop.
pub struct EmulatorProcess {
    child: Child,
    pub url: String,
    http: reqwest::blocking::Client,
}

impl EmulatorProcess {
    /// Starts the binary on a free port with extra flags.
    pub fn start_with(args: &[&str]) -> EmulatorProcess {
        EmulatorProcess::spawn("127.0.0.1:0", args)
    }

    /// Starts the binary on `127.0.0.1:port` (e.g. to restart it on the port a workspace
    /// already points at), with extra flags.
    pub fn start_on(port: u16, args: &[&str]) -> EmulatorProcess {
        EmulatorProcess::spawn(&format!("127.0.0.1:{port}"), args)
    }

    /// Waits for the binary's "listening on" line.
    fn spawn(listen: &str, args: &[&str]) -> EmulatorProcess {
        let mut child = Command::new(workspace_bin("alloy-emulator"))
            .args([
                "--listen",
                listen,
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
        EmulatorProcess {
            child,
            url,
            http: reqwest::blocking::Client::new(),
        }
    }

    /// Kills the process at once (SIGKILL): no graceful shutdown, like a crash.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Admin for EmulatorProcess {
    fn url(&self) -> String {
        self.url.clone()
    }

    fn admin(&self, method: Method, path: &str, body: Option<Json>) -> (u16, Json) {
        let mut req = self
            .http
            .request(method.clone(), format!("{}/_emulator/{path}", self.url));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req
            .send()
            .unwrap_or_else(|e| panic!("{method} /_emulator/{path}: {e}"));
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Json::Null))
    }
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What refreshing N >= 4 users costs, as documented (src/snapshot.rs, and "How many API calls
/// a plan costs" in docs/guides/adopting-existing-users.md): two `GET /users/{id}` and the list
/// when the third read's 250 ms window sees the next read coming (the best case, and the usual
/// one when Terraform reads in parallel), one more `GET` when it does not (reads one at a time,
/// or a machine too busy to send the next read within the window).
pub const REFRESH_CALLS_BEST: u64 = 3;
/// See [`REFRESH_CALLS_BEST`]: the bound that holds however the window ends.
pub const REFRESH_CALLS_MAX: u64 = 4;

/// An `alloy_user` block named `name`, with `full_name` when given.
pub fn user_hcl(name: &str, username: &str, full_name: Option<&str>) -> String {
    let full = full_name
        .map(|f| format!("  full_name = \"{f}\"\n"))
        .unwrap_or_default();
    format!("resource \"alloy_user\" \"{name}\" {{\n  username = \"{username}\"\n{full}}}\n")
}

/// An empty `provider "alloy"` block followed by `parts`.
pub fn config(parts: &[String]) -> String {
    format!("provider \"alloy\" {{}}\n\n{}", parts.concat())
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

/// A binary of another package of this workspace (`alloy-emulator`, `xtask`; each package is
/// named after its binary). Cargo defines `CARGO_BIN_EXE_*` for a package's own binaries only and
/// builds only those before its tests, so the first use in a test process builds this one with
/// the same cargo, profile and target directory as the test itself (a no-op when it is current):
/// a test never runs a stale or missing binary. `--workspace` resolves features as `cargo build`
/// at the root does (the scripts' build), so the two share one build instead of making two.
pub fn workspace_bin(name: &str) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    // The test executable is <target dir>/<profile dir>/deps/<test>-<hash>.
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable under <target>/<profile>/deps");
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !built.iter().any(|b| b == name) {
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") => "dev",
            Some(other) => other,
            None => panic!("no profile directory in {}", exe.display()),
        };
        let target_dir = profile_dir.parent().expect("target directory");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_string());
        let status = Command::new(&cargo)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["build", "--quiet", "--workspace", "--bin", name])
            .args(["--profile", profile, "--target-dir"])
            .arg(target_dir)
            .status()
            .unwrap_or_else(|e| panic!("run {cargo}: {e}"));
        assert!(status.success(), "cargo build --bin {name}: {status}");
        built.push(name.to_string());
    }
    profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// The terraform binary: `TF_ACC_TERRAFORM_PATH` (terraform-plugin-testing's name), then
/// `TERRAFORM`, then `terraform` on PATH.
pub fn terraform_bin() -> String {
    ["TF_ACC_TERRAFORM_PATH", "TERRAFORM"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "terraform".to_string())
}

impl Workspace {
    /// A workspace whose provider reaches `emu` in the development environment (through ALLOY_*
    /// variables, so the HCL can stay `provider "alloy" {}`).
    pub fn new(emu: &impl Admin) -> Workspace {
        let mut ws = Workspace::bare();
        ws.set_env("ALLOY_BASE_URL", &emu.url());
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

    /// `terraform apply` that must fail (`what` names it in the panic otherwise).
    pub fn apply_fails(&self, what: &str) -> Run {
        self.tf(&["apply", "-auto-approve", "-input=false"])
            .expect_fail(what)
    }

    pub fn destroy(&self) -> Run {
        self.tf(&["destroy", "-auto-approve", "-input=false"])
            .expect_ok("terraform destroy")
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

// ---- fault scenarios: a free port, guarded runs, signals, the audit ----

/// A loopback port that was free a moment ago (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind a free port")
        .local_addr()
        .expect("local addr")
        .port()
}

/// Figures read from the emulator's request log.
#[derive(Clone, Copy, Debug, Default)]
pub struct Traffic {
    pub api_calls: u64,
    /// Answers that make a client retry: 5xx and 429.
    pub retryable: u64,
    pub lost: u64,
}

impl Traffic {
    pub fn of(emu: &impl Admin) -> Traffic {
        let r = emu.request_counts();
        Traffic {
            api_calls: r.total,
            retryable: r.retryable(),
            lost: r.lost_responses,
        }
    }

    pub fn plus(self, o: Traffic) -> Traffic {
        Traffic {
            api_calls: self.api_calls + o.api_calls,
            retryable: self.retryable + o.retryable,
            lost: self.lost + o.lost,
        }
    }
}

/// Prints the one line of figures every fault scenario reports.
pub fn figures(scenario: &str, users: usize, t: Traffic, wall: std::time::Duration) {
    println!(
        "FIGURES {scenario}: users={users} api_calls={} retries(5xx/429)={} lost={} wall={:.1}s",
        t.api_calls,
        t.retryable,
        t.lost,
        wall.as_secs_f64()
    );
}

/// The `alloy_user` instances in state as (address, id, username, tainted).
pub fn state_users(ws: &Workspace) -> Vec<(String, String, String, bool)> {
    let s = ws.state();
    let mut out = Vec::new();
    collect_instances(&s["values"]["root_module"], &mut out);
    out
}

fn collect_instances(module: &Json, out: &mut Vec<(String, String, String, bool)>) {
    for r in module["resources"].as_array().into_iter().flatten() {
        if r["type"] == "alloy_user" {
            out.push((
                r["address"].as_str().unwrap_or_default().to_string(),
                r["values"]["id"].as_str().unwrap_or_default().to_string(),
                r["values"]["username"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                r["tainted"].as_bool().unwrap_or(false),
            ));
        }
    }
    for c in module["child_modules"].as_array().into_iter().flatten() {
        collect_instances(c, out);
    }
}

/// The users of the development environment must be exactly the `alloy_user`s in state: same
/// ids with the same usernames, no duplicate username, no orphan (in the API, not in state) and
/// none missing (in state, not in the API). Returns how many there are.
pub fn audit_users(emu: &impl Admin, ws: &Workspace) -> usize {
    let api = emu.users(Development);
    let state = state_users(ws);
    let mut api_pairs: Vec<(String, String)> =
        api.into_iter().map(|u| (u.user_id, u.username)).collect();
    let mut state_pairs: Vec<(String, String)> = state
        .iter()
        .map(|(_, id, u, _)| (id.clone(), u.clone()))
        .collect();
    api_pairs.sort();
    state_pairs.sort();
    let mut names: Vec<&String> = api_pairs.iter().map(|(_, u)| u).collect();
    names.sort();
    names.dedup();
    assert_eq!(
        names.len(),
        api_pairs.len(),
        "duplicate usernames in the API"
    );
    let orphans: Vec<_> = api_pairs
        .iter()
        .filter(|p| !state_pairs.contains(p))
        .collect();
    let missing: Vec<_> = state_pairs
        .iter()
        .filter(|p| !api_pairs.contains(p))
        .collect();
    assert!(
        orphans.is_empty() && missing.is_empty(),
        "API and state disagree: {} orphan(s) (in the API only) {orphans:?}; {} missing (in state only) {missing:?}",
        orphans.len(),
        missing.len()
    );
    api_pairs.len()
}

/// [`audit_users`], then a `terraform plan -detailed-exitcode` that must be empty.
pub fn audit(emu: &impl Admin, ws: &Workspace) -> usize {
    let n = audit_users(emu, ws);
    let r = ws.tf(&["plan", "-input=false", "-detailed-exitcode"]);
    assert_eq!(
        r.status.code(),
        Some(0),
        "the plan after the scenario is not empty:\n{}",
        r.all()
    );
    n
}

/// A terraform command running in its own process group (as a terminal runs a foreground
/// job), with its output going to files so it can never block on a full pipe.
pub struct Running {
    child: Child,
    out: PathBuf,
    err: PathBuf,
    pub started: std::time::Instant,
}

impl Workspace {
    /// Starts terraform (`-no-color` added as in [`Workspace::tf`]) without waiting for it.
    pub fn spawn(&self, args: &[&str]) -> Running {
        use std::os::unix::process::CommandExt;
        let mut full: Vec<&str> = args.to_vec();
        if !full.is_empty() {
            full.insert(1, "-no-color");
        }
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let out = self.path().join(format!("run-{n}.out"));
        let err = self.path().join(format!("run-{n}.err"));
        let child = self
            .command(&full)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).expect("stdout file"))
            .stderr(std::fs::File::create(&err).expect("stderr file"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `{}`: {e}", terraform_bin()));
        Running {
            child,
            out,
            err,
            started: std::time::Instant::now(),
        }
    }

    /// Runs terraform, killing its whole process group if it has not ended after `kill_after`
    /// (a hang then fails the test instead of blocking CI).
    pub fn tf_guarded(&self, args: &[&str], kill_after: std::time::Duration) -> Run {
        self.spawn(args).wait(kill_after)
    }
}

impl Running {
    /// Sends `signal` to the whole process group, as a terminal's Ctrl-C (SIGINT) does.
    pub fn signal_group(&self, signal: i32) {
        let pgid = self.child.id() as i32;
        // SAFETY: kill(2) with a negative pid signals the group we created; no memory involved.
        let rc = unsafe { libc::kill(-pgid, signal) };
        assert_eq!(rc, 0, "kill(-{pgid}, {signal}) failed");
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the end; after `kill_after`, kills the process group and panics with the
    /// output so far.
    pub fn wait(mut self, kill_after: std::time::Duration) -> Run {
        let deadline = self.started + kill_after;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for terraform") {
                break status;
            }
            if std::time::Instant::now() >= deadline {
                self.signal_group(libc::SIGKILL);
                let _ = self.child.wait();
                panic!(
                    "terraform did not end within {kill_after:?} and was killed:\n{}\n{}",
                    std::fs::read_to_string(&self.out).unwrap_or_default(),
                    std::fs::read_to_string(&self.err).unwrap_or_default()
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        Run {
            status,
            stdout: std::fs::read_to_string(&self.out).unwrap_or_default(),
            stderr: std::fs::read_to_string(&self.err).unwrap_or_default(),
        }
    }
}

/// Polls `cond` every 50 ms until it holds; panics after `within`.
pub fn wait_until(what: &str, within: std::time::Duration, mut cond: impl FnMut() -> bool) {
    let end = std::time::Instant::now() + within;
    while !cond() {
        assert!(
            std::time::Instant::now() < end,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
