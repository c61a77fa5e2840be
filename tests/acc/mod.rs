//! The acceptance-test harness: which Alloy API the tests run against, per-run username
//! prefixes, and cleanup that survives a failing test.
//!
//! Gated like terraform-plugin-testing: without `TF_ACC` every test prints one line saying why it
//! is skipped and returns, so `cargo test` stays offline. With it, the API and key come from the
//! provider's own variables (`ALLOY_BASE_URL` or `ALLOY_REGION`, `ALLOY_API_KEY` or
//! `ALLOY_<ENVIRONMENT>_API_KEY`, `ALLOY_ENVIRONMENT`, `ALLOY_API_VERSION`), read once by
//! [`Account`](xtask::account::Account) and checked with one
//! `GET /users`, so a missing key, a wrong URL or a rejected key fails every test with the same
//! one-line reason instead of a wall of Terraform errors. `TF_ACC_TERRAFORM_PATH` picks the
//! terraform binary (see `common::terraform_bin`) and `TF_ACC_LOG_PATH` sends the provider's
//! trace logs there.
//!
//! Only the public Alloy API is used, through the provider and through [`Acc::api`] for the
//! things a test must do behind Terraform's back (an out-of-band delete, creating a user to
//! import, cleanup). Nothing here knows the emulator exists.

use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value as Json;
use xtask::account::Account;
use xtask::conformance::run_prefix;

use crate::common::Workspace;

/// The configured API, the run's prefix and a blocking HTTP client for the public API.
pub struct Acc {
    pub account: Account,
    /// `tfacc-<8 hex>-`, shared by every test of this process.
    pub prefix: String,
    log_path: Option<String>,
    http: reqwest::blocking::Client,
}

/// An answer of the public API: status and JSON body (Null when there was none).
pub struct Answer {
    pub status: u16,
    pub json: Json,
}

static ACC: OnceLock<Result<Option<Acc>, String>> = OnceLock::new();

/// The harness for test `name`, or `None` (after printing why) when `TF_ACC` is not set.
/// Panics with a one-line reason when `TF_ACC` is set but the API cannot be used.
pub fn acc(name: &str) -> Option<&'static Acc> {
    match ACC.get_or_init(|| Acc::from_lookup(&|k| std::env::var(k).ok())) {
        Ok(Some(acc)) => Some(acc),
        Ok(None) => {
            println!(
                "skipping {name}: TF_ACC is not set (acceptance tests run against a real Alloy API; \
                 see docs/guides/testing-against-your-account.md)"
            );
            None
        }
        Err(e) => panic!("TF_ACC is set, but {e}"),
    }
}

impl Acc {
    /// `Ok(None)` without `TF_ACC`; otherwise the account, checked with one request.
    pub fn from_lookup(env: &dyn Fn(&str) -> Option<String>) -> Result<Option<Acc>, String> {
        if env("TF_ACC").is_none_or(|v| v.is_empty()) {
            return Ok(None);
        }
        let account = Account::from_lookup(env).map_err(|e| e.to_string())?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start a runtime: {e}"))?;
        let http = account.http().map_err(|e| e.to_string())?;
        rt.block_on(account.preflight(&http))
            .map_err(|e| e.to_string())?;
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot set up an HTTP client: {e}"))?;
        Ok(Some(Acc {
            account,
            prefix: run_prefix(),
            log_path: env("TF_ACC_LOG_PATH").filter(|p| !p.is_empty()),
            http,
        }))
    }

    /// A username owned by one test: `tfacc-<run>-<test>-<suffix>`.
    pub fn username(&self, test: &str, suffix: &str) -> String {
        format!("{}{test}-{suffix}", self.prefix)
    }

    /// A Terraform working directory whose provider reaches the configured API.
    pub fn workspace(&self) -> Workspace {
        let mut ws = Workspace::bare();
        let a = &self.account;
        ws.set_env("ALLOY_BASE_URL", a.base_url.as_str());
        ws.set_env("ALLOY_ENVIRONMENT", a.environment.as_str());
        ws.set_env("ALLOY_API_KEY", a.key.expose());
        ws.set_env("ALLOY_API_VERSION", &a.api_version);
        if let Some(path) = &self.log_path {
            ws.set_env("TF_LOG_PROVIDER", "trace");
            ws.set_env("TF_LOG_PATH", path);
        }
        ws
    }

    /// One request to the public API with the configured key; a transport failure panics
    /// with the reason (the preflight already proved the API answers).
    pub fn api(&self, method: reqwest::Method, path: &str, body: Option<Json>) -> Answer {
        self.try_api(method.clone(), path, body)
            .unwrap_or_else(|e| panic!("{method} {path}: no answer from the Alloy API: {e}"))
    }

    fn try_api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Json>,
    ) -> Result<Answer, reqwest::Error> {
        let mut req = self
            .http
            .request(method, self.account.url(path))
            .bearer_auth(self.account.key.expose())
            .header("x-api-version", &self.account.api_version);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send()?;
        let status = resp.status().as_u16();
        let json = resp.json().unwrap_or(Json::Null);
        Ok(Answer { status, json })
    }

    /// The user as the public API returns it (`GET /users/{id}`), or None on 404.
    pub fn user(&self, id: &str) -> Option<Json> {
        let a = self.api(reqwest::Method::GET, &format!("/users/{id}"), None);
        match a.status {
            200 => Some(a.json),
            404 => None,
            s => panic!("GET /users/{id} answered HTTP {s}: {}", a.json),
        }
    }

    /// Creates a user behind Terraform's back (as another tool would); returns its id.
    pub fn create_user(&self, username: &str, full_name: &str) -> String {
        let a = self.api(
            reqwest::Method::POST,
            "/users",
            Some(serde_json::json!({"username": username, "fullName": full_name})),
        );
        assert_eq!(a.status, 200, "POST /users: {}", a.json);
        a.json["userId"]
            .as_str()
            .unwrap_or_else(|| panic!("POST /users without userId: {}", a.json))
            .to_string()
    }

    /// Deletes a user behind Terraform's back, through the public API.
    pub fn delete_out_of_band(&self, id: &str) {
        let a = self.api(reqwest::Method::DELETE, &format!("/users/{id}"), None);
        assert_eq!(a.status, 200, "DELETE /users/{id}: {}", a.json);
    }

    /// Ids of the users whose username starts with `prefix` (empty when the list fails).
    pub fn users_with_prefix(&self, prefix: &str) -> Vec<String> {
        let Ok(a) = self.try_api(reqwest::Method::GET, "/users", None) else {
            return Vec::new();
        };
        a.json["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|u| {
                u["username"]
                    .as_str()
                    .is_some_and(|n| n.starts_with(prefix))
            })
            .filter_map(|u| u["userId"].as_str().map(str::to_string))
            .collect()
    }
}

/// The prologue of every acceptance test: the harness, a workspace of the test's own, and the
/// cleanup that runs when this drops (also when the test panics): `terraform destroy`, then the
/// deletion through the API of every user still named after the test. `None` (after printing
/// why) when `TF_ACC` is not set:
///
/// ```ignore
/// let Some(t) = acc::begin("lifecycle") else { return };
/// let (acc, ws) = (t.acc, &t.ws);
/// ```
pub fn begin(test: &'static str) -> Option<AccTest> {
    let acc = acc(test)?;
    Some(AccTest {
        acc,
        test,
        ws: acc.workspace(),
    })
}

/// See [`begin`].
pub struct AccTest {
    pub acc: &'static Acc,
    pub test: &'static str,
    pub ws: Workspace,
}

impl AccTest {
    /// A username owned by this test: `tfacc-<run>-<test>-<suffix>`.
    pub fn username(&self, suffix: &str) -> String {
        self.acc.username(self.test, suffix)
    }
}

/// Never panics itself: a panic while unwinding would abort the run and skip the cleanup of
/// other tests.
impl Drop for AccTest {
    fn drop(&mut self) {
        if self.ws.path().join("terraform.tfstate").exists() {
            let _ = self
                .ws
                .command(&["destroy", "-no-color", "-auto-approve", "-input=false"])
                .output();
        }
        let prefix = format!("{}{}-", self.acc.prefix, self.test);
        for id in self.acc.users_with_prefix(&prefix) {
            let _ = self
                .acc
                .try_api(reqwest::Method::DELETE, &format!("/users/{id}"), None);
        }
    }
}
