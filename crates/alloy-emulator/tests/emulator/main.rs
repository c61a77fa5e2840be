//! End-to-end tests of `alloy-emulator`: each test starts the library in this process
//! (`TestEmulator`, the fixture the other suites use too) or, where the binary is the subject
//! (its flags, state file, signals and logs), the real binary on a free loopback port, and
//! talks HTTP to it, checking JSON field names against the literal names Alloy documents.

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy_emulator::testing::TestEmulator;
use alloy_emulator::{
    EmulatorConfig, Faults, RunningEmulator, TOKEN_TTL_SECS, catalogue::catalogue,
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

mod api;
mod credentials;
mod faults;
mod process;
mod workflows;

const DEV: &str = "dev-emulator-key-0000000000";
const PROD: &str = "prod-emulator-key-0000000000";

/// A running `alloy-emulator` process, killed when dropped.
struct Proc {
    child: Child,
    url: String,
    stderr: Option<ChildStderr>,
}

fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_alloy-emulator"));
    cmd.arg("--listen")
        .arg("127.0.0.1:0")
        .args(args)
        .env_remove("ALLOY_EMULATOR_DEVELOPMENT_KEY")
        .env_remove("ALLOY_EMULATOR_PRODUCTION_KEY")
        .env_remove("ALLOY_EMULATOR_JWT_SECRET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Start the emulator and wait for its first stdout line, which must be exactly the
/// documented `alloy-emulator listening on http://127.0.0.1:PORT`.
fn start(mut cmd: Command) -> Proc {
    let mut child = cmd.spawn().expect("spawn alloy-emulator");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let url = line
        .trim_end_matches('\n')
        .strip_prefix("alloy-emulator listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    let port = url.strip_prefix("http://127.0.0.1:").expect("loopback URL");
    assert!(port.parse::<u16>().is_ok_and(|p| p > 0), "{url}");
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let stderr = child.stderr.take();
    Proc { child, url, stderr }
}

fn spawn(args: &[&str]) -> Proc {
    start(command(args))
}

impl Proc {
    fn signal(&self, sig: i32) {
        let pid = i32::try_from(self.child.id()).unwrap();
        // SAFETY: sending a signal to our own child process.
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
    }

    /// SIGTERM, then the exit status and everything written to stderr.
    fn terminate(mut self) -> (std::process::ExitStatus, String) {
        self.signal(libc::SIGTERM);
        let status = self.child.wait().unwrap();
        let mut err = String::new();
        if let Some(mut s) = self.stderr.take() {
            s.read_to_string(&mut err).unwrap();
        }
        (status, err)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A small HTTP helper bound to one emulator and one key.
#[derive(Clone)]
struct Api {
    http: Client,
    url: String,
    key: Option<String>,
}

impl Api {
    fn new(url: &str, key: &str) -> Api {
        Api {
            http: Client::new(),
            url: url.to_owned(),
            key: Some(key.to_owned()),
        }
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut rb = self
            .http
            .request(method, format!("{}{path}", self.url))
            .header("x-api-version", "2025-09");
        if let Some(k) = &self.key {
            rb = rb.bearer_auth(k);
        }
        rb
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut rb = self.request(method, path);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        decode(rb.send().await.expect("request")).await
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::POST, path, Some(body)).await
    }

    async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::PUT, path, Some(body)).await
    }

    async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::DELETE, path, None).await
    }

    async fn create(&self, username: &str) -> String {
        let (s, v) = self.post("/users", json!({"username": username})).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["userId"].as_str().unwrap().to_owned()
    }

    /// Admin call (no key, no version).
    async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut rb = self.http.request(method, format!("{}{path}", self.url));
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        decode(rb.send().await.expect("admin request")).await
    }
}

async fn decode(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = resp.bytes().await.unwrap();
    assert_eq!(
        ct.as_deref(),
        Some("application/json"),
        "{status}: {bytes:?}"
    );
    (status, serde_json::from_slice(&bytes).expect("JSON body"))
}

fn is_object_id(s: &str) -> bool {
    s.len() == 24
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn message(v: &Value) -> &str {
    v["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no message in {v}"))
}
