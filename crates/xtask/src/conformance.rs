//! `xtask conformance`: checks, against whatever API the `ALLOY_*` variables name, each behaviour
//! the emulator assumes where Alloy's documentation is silent or contradicts itself, and prints
//! one table row per assumption: *assumption | observed | agrees*.
//!
//! Raw HTTP (reqwest), not the provider's client: the client retries, adopts and maps statuses
//! to errors, which would hide exactly what the probe must see. It creates only users whose
//! username starts with a per-run `tfacc-<random>-` prefix and deletes all of them at the end,
//! whatever happened before (and sweeps its own prefix, in case an answer was lost).
//! A 429 is waited out (honouring `Retry-After`) and recorded for the `Retry-After` row; the probe
//! never tries to provoke one, because on a real account that would burn its rate limit.
//!
//! The workflow rows change nothing that is not the probe's: the refusals are asked of the
//! probe's own user (who has nothing installed) or of ids that do not exist. The two rows that
//! need an installed workflow (a repeated activate, an upgrade at the latest version) run only on
//! the install [`WORKFLOW_VAR`] names, a test tenant the person running the probe chose, and
//! leave it as they found it; the incompatible-upgrade row always needs a setup the API cannot
//! make (a published version marked incompatible), so it is reported *not observed*.

use std::fmt::Write as _;
use std::io;
use std::time::Duration;

use base64::Engine as _;
use reqwest::Method;
use serde_json::{Value, json};
use url::Url;

use super::account::{Account, describe};
use super::{Error, Result};
use alloy_emulator::TOKEN_TTL_SECS;

/// The username prefix every acceptance-test, probe and sweep user shares.
pub const RUN_PREFIX_ROOT: &str = "tfacc-";
/// How often one request is retried after a 429 before the probe gives up on it.
const MAX_429_RETRIES: u32 = 3;
/// The longest `Retry-After` the probe waits for.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// Names an installed workflow of a test tenant, `<userId or username>/<workflowId>`, that the
/// probe may activate (restoring it afterwards) and upgrade when it is at the latest version.
pub const WORKFLOW_VAR: &str = "ALLOY_CONFORMANCE_WORKFLOW";
/// A workflow id no account has (24 hex digits, so only its existence is in question).
const ABSENT_WORKFLOW: &str = "000000000000000000000000";
/// The keys every item of `GET /workflows/{id}/users` carries in the emulator.
const WORKFLOW_USER_KEYS: [&str; 6] = [
    "username",
    "fullName",
    "userId",
    "workflowActive",
    "installedVersion",
    "installedAt",
];
/// The incompatible-upgrade row, which the probe can never observe (see `workflow_checks`).
const INCOMPATIBLE_ROW: &str = "upgrade across a version marked incompatible → 422 {message: must reinstall}, nothing upgraded (CHOICE)";

/// What the person running the probe set up for the rows that need more than a key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Setup {
    /// An installed workflow of a test tenant: (user id or username, workflow id).
    pub workflow: Option<(String, String)>,
}

impl Setup {
    /// From [`WORKFLOW_VAR`] as `lookup` gives it (unset or blank: no setup).
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Setup> {
        let Some(raw) = lookup(WORKFLOW_VAR).filter(|v| !v.trim().is_empty()) else {
            return Ok(Setup::default());
        };
        let raw = raw.trim();
        // Workflow ids have no slash; a username might.
        match raw.rsplit_once('/') {
            Some((user, workflow)) if !user.is_empty() && is_object_id(workflow) => Ok(Setup {
                workflow: Some((user.to_owned(), workflow.to_owned())),
            }),
            _ => Err(Error::Invalid(format!(
                "{WORKFLOW_VAR} is {raw:?}: set it to <userId or username>/<workflowId> (a \
                 24-hex workflow id) naming a test tenant's installed workflow, or unset it"
            ))),
        }
    }
}

/// A fresh `tfacc-<8 hex>-` prefix for one run.
pub fn run_prefix() -> String {
    format!("{RUN_PREFIX_ROOT}{:08x}-", rand::random::<u32>())
}

/// How one assumption fared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Agrees,
    Disagrees,
    /// The probe had no safe way to observe it this run (e.g. no 429 happened).
    NotObserved,
}

impl Verdict {
    fn of(ok: bool) -> Verdict {
        if ok {
            Verdict::Agrees
        } else {
            Verdict::Disagrees
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Agrees => "yes",
            Verdict::Disagrees => "NO",
            Verdict::NotObserved => "not observed",
        }
    }
}

/// One line of the table.
#[derive(Clone, Debug)]
pub struct Row {
    pub assumption: &'static str,
    pub observed: String,
    pub verdict: Verdict,
}

/// What the probe found, and whether it left nothing behind.
#[derive(Debug)]
pub struct Report {
    pub rows: Vec<Row>,
    /// Users the probe deleted at the end (its own, by prefix).
    pub cleaned: usize,
    /// Why the cleanup could not delete everything, if it could not.
    pub cleanup_error: Option<String>,
    pub requests: u32,
}

impl Report {
    /// True when every observed assumption agrees and nothing was left behind.
    pub fn passed(&self) -> bool {
        self.cleanup_error.is_none() && self.rows.iter().all(|r| r.verdict != Verdict::Disagrees)
    }

    /// The table, one row per assumption, in Markdown.
    pub fn table(&self) -> String {
        let mut s = String::from("| assumption | observed | agrees |\n|---|---|---|\n");
        for r in &self.rows {
            let _ = writeln!(
                s,
                "| {} | {} | {} |",
                r.assumption,
                r.observed.replace('|', "\\|"),
                r.verdict.as_str()
            );
        }
        s
    }
}

/// How a request authenticates.
#[derive(Clone, Copy)]
enum Auth<'a> {
    Key,
    OtherKey(&'a str),
    Bearer(&'a str),
    Anonymous,
}

/// How a request carries the API version.
#[derive(Clone, Copy)]
enum Version<'a> {
    Header,
    Custom(&'a str),
    Omitted,
}

/// One answer as the probe keeps it. `status` 0 means no answer (the text says why).
struct Reply {
    status: u16,
    json: Option<Value>,
    text: String,
}

impl Reply {
    fn message(&self) -> Option<&str> {
        self.json.as_ref()?.get("message")?.as_str()
    }

    /// `404 "User not found"`, `200`, or `no answer (...)`.
    fn brief(&self) -> String {
        match (self.status, self.message()) {
            (0, _) => format!("no answer ({})", self.text),
            (s, Some(m)) => format!("{s} {:?}", clip(m)),
            (s, None) if self.json.is_none() && !self.text.is_empty() => {
                format!("{s} (not JSON: {:?})", clip(&self.text))
            }
            (s, None) => s.to_string(),
        }
    }
}

fn clip(s: &str) -> String {
    const MAX: usize = 80;
    let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= MAX {
        one_line
    } else {
        format!("{}…", one_line.chars().take(MAX).collect::<String>())
    }
}

struct Probe<'a> {
    http: reqwest::Client,
    account: &'a Account,
    prefix: String,
    /// Ids of users this run created and has not deleted yet.
    created: Vec<String>,
    requests: u32,
    /// `Retry-After` of every 429 seen (None when the header was missing).
    retry_after: Vec<Option<String>>,
    rows: Vec<Row>,
    setup: Setup,
    /// Why a tenant's workflow could not be put back as the probe found it, if it could not.
    restore_failures: Vec<String>,
}

impl Probe<'_> {
    fn row(&mut self, assumption: &'static str, observed: impl Into<String>, ok: bool) {
        self.rows.push(Row {
            assumption,
            observed: observed.into(),
            verdict: Verdict::of(ok),
        });
    }

    fn not_observed(&mut self, assumption: &'static str, why: impl Into<String>) {
        self.rows.push(Row {
            assumption,
            observed: why.into(),
            verdict: Verdict::NotObserved,
        });
    }

    /// The base URL without a trailing `/YYYY-MM` segment, and that segment's version if any.
    fn root(&self) -> (Url, Option<String>) {
        let mut url = self.account.base_url.clone();
        let path = url.path().trim_end_matches('/').to_owned();
        let (head, last) = path.rsplit_once('/').unwrap_or(("", &path));
        if is_version(last) {
            let version = last.to_owned();
            url.set_path(if head.is_empty() { "/" } else { head });
            (url, Some(version))
        } else {
            (url, None)
        }
    }

    async fn call(
        &mut self,
        method: Method,
        url: Url,
        auth: Auth<'_>,
        version: Version<'_>,
        body: Option<Value>,
    ) -> Reply {
        let mut attempt = 0;
        loop {
            let mut req = self.http.request(method.clone(), url.clone());
            req = match auth {
                Auth::Key => req.bearer_auth(self.account.key.expose()),
                Auth::OtherKey(k) | Auth::Bearer(k) => req.bearer_auth(k),
                Auth::Anonymous => req,
            };
            req = match version {
                Version::Header => req.header("x-api-version", &self.account.api_version),
                Version::Custom(v) => req.header("x-api-version", v),
                Version::Omitted => req,
            };
            if let Some(b) = &body {
                req = req.json(b);
            }
            self.requests += 1;
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    return Reply {
                        status: 0,
                        json: None,
                        text: describe(&e),
                    };
                }
            };
            let status = resp.status().as_u16();
            if status == 429 {
                let after = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                self.retry_after.push(after.clone());
                if attempt < MAX_429_RETRIES {
                    attempt += 1;
                    let wait = after
                        .and_then(|a| a.trim().parse::<u64>().ok())
                        .map_or(Duration::from_secs(2), Duration::from_secs)
                        .min(MAX_RETRY_AFTER);
                    tokio::time::sleep(wait).await;
                    continue;
                }
            }
            let text = match resp.text().await {
                Ok(t) => t,
                Err(e) => {
                    return Reply {
                        status: 0,
                        json: None,
                        text: format!("the body could not be read: {}", describe(&e)),
                    };
                }
            };
            return Reply {
                status,
                json: serde_json::from_str(&text).ok(),
                text,
            };
        }
    }

    async fn api(&mut self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let url = self.account.url(path);
        self.call(method, url, Auth::Key, Version::Header, body)
            .await
    }

    fn user_path(name: &str) -> String {
        let seg: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
        format!("/users/{}", seg.replace('+', "%20"))
    }

    /// `POST /users`; remembers the id of whatever it created.
    async fn create(&mut self, username: &str, full_name: &str) -> (Reply, Option<String>) {
        let r = self
            .api(
                Method::POST,
                "/users",
                Some(json!({"username": username, "fullName": full_name})),
            )
            .await;
        let id = r
            .json
            .as_ref()
            .and_then(|v| v["userId"].as_str())
            .map(str::to_owned);
        if let Some(id) = &id {
            self.created.push(id.clone());
        }
        (r, id)
    }

    async fn run(&mut self) {
        self.auth_checks().await;
        let name_a = format!("{}probe-a", self.prefix);
        let (r, id) = self.create(&name_a, "Probe A").await;
        let ok = r.status == 200 && id.as_deref().is_some_and(is_object_id);
        let observed = match &id {
            Some(id) if r.status == 200 => format!("200 userId {id}"),
            _ => r.brief(),
        };
        self.row("POST /users → 200 {userId: 24 hex}", observed, ok);
        let Some(id) = id else { return };

        let (dup, dup_id) = self.create(&name_a, "Probe A again").await;
        let names_it = dup.message().is_some_and(|m| m.contains(&name_a));
        let observed = match dup_id {
            Some(other) => format!("{} and a second user {other}", dup.status),
            None => dup.brief(),
        };
        self.row(
            "duplicate username → 422 {message naming it}",
            observed,
            dup.status == 422 && names_it,
        );

        self.read_checks(&id, &name_a).await;
        self.unknown_user_checks().await;
        self.update_checks(&id).await;
        let (_, second) = self
            .create(&format!("{}probe-list", self.prefix), "Probe list")
            .await;
        self.list_checks(&id, second.as_deref()).await;
        self.token_checks(&id).await;
        self.workflow_checks(&id).await;
        self.version_checks().await;
        self.isolation_check(&id).await;
        self.credential_checks(&id).await;
        self.delete_checks(&id).await;
        self.deleted_user_checks(&id).await;
        self.rate_limit_row();
    }

    async fn auth_checks(&mut self) {
        let url = self.account.url("/users");
        let bad = self
            .call(
                Method::GET,
                url.clone(),
                Auth::Bearer("tfacc-not-a-key-0000000000"),
                Version::Header,
                None,
            )
            .await;
        let ok = bad.status == 401 && bad.message().is_some();
        self.row("unknown API key → 401 {message}", bad.brief(), ok);
        let none = self
            .call(Method::GET, url, Auth::Anonymous, Version::Header, None)
            .await;
        let ok = none.status == 401 && none.message().is_some();
        self.row("no Authorization header → 401 {message}", none.brief(), ok);
    }

    async fn read_checks(&mut self, id: &str, username: &str) {
        let r = self.api(Method::GET, &format!("/users/{id}"), None).await;
        let v = r.json.clone().unwrap_or(Value::Null);
        let ok = r.status == 200
            && v["userId"] == id
            && v["username"] == username
            && v["fullName"] == "Probe A";
        let observed = if r.status == 200 {
            format!("200 keys {}", keys(&v))
        } else {
            r.brief()
        };
        self.row(
            "GET /users/{id} → 200 {userId, username, fullName}",
            observed,
            ok,
        );

        let r = self
            .api(Method::GET, &Self::user_path(username), None)
            .await;
        let found = r
            .json
            .as_ref()
            .and_then(|v| v["userId"].as_str())
            .map(str::to_owned);
        let observed = match &found {
            Some(f) if r.status == 200 => format!("200 userId {f}"),
            _ => r.brief(),
        };
        self.row(
            "GET /users/{username} finds the same user",
            observed,
            r.status == 200 && found.as_deref() == Some(id),
        );
    }

    async fn unknown_user_checks(&mut self) {
        let ghost = Self::user_path(&format!("{}absent", self.prefix));
        let checks: [(&'static str, Method, String, Option<Value>); 4] = [
            (
                "unknown user: GET → 404 {message}",
                Method::GET,
                ghost.clone(),
                None,
            ),
            (
                "unknown user: PUT → 404 {message}",
                Method::PUT,
                ghost.clone(),
                Some(json!({"fullName": "nobody"})),
            ),
            (
                "unknown user: DELETE → 404 {message}",
                Method::DELETE,
                ghost.clone(),
                None,
            ),
            (
                "unknown user: token → 404 {message}",
                Method::GET,
                format!("{ghost}/token"),
                None,
            ),
        ];
        for (what, method, path, body) in checks {
            let r = self.api(method, &path, body).await;
            let ok = r.status == 404 && r.message().is_some();
            self.row(what, r.brief(), ok);
            // A PUT that created a user instead would be ours to clean up.
            if let Some(id) = r.json.as_ref().and_then(|v| v["userId"].as_str()) {
                self.created.push(id.to_owned());
            }
        }
    }

    async fn update_checks(&mut self, id: &str) {
        let path = format!("/users/{id}");
        let r = self
            .api(Method::PUT, &path, Some(json!({"fullName": null})))
            .await;
        let after = self.api(Method::GET, &path, None).await;
        let full = after.json.as_ref().map(|v| v["fullName"].clone());
        let ok = r.status == 200 && after.status == 200 && full == Some(Value::Null);
        let observed = match (&full, r.status) {
            (Some(f), 200) => format!("200, then fullName {f}"),
            _ => format!("PUT {}, GET {}", r.brief(), after.brief()),
        };
        self.row("PUT {fullName: null} clears fullName", observed, ok);

        let renamed = format!("{}probe-b", self.prefix);
        let r = self
            .api(Method::PUT, &path, Some(json!({"username": renamed})))
            .await;
        let after = self.api(Method::GET, &path, None).await;
        let now = after.json.as_ref().map(|v| v["username"].clone());
        let ok = r.status == 200 && now.as_ref().is_some_and(|u| *u == renamed.as_str());
        let observed = match (&now, r.status) {
            (Some(u), 200) => format!("200, then username {u}"),
            _ => format!("PUT {}, GET {}", r.brief(), after.brief()),
        };
        self.row("PUT {username} renames the user (same id)", observed, ok);
    }

    async fn list_checks(&mut self, id: &str, second: Option<&str>) {
        let r = self.api(Method::GET, "/users", None).await;
        let v = r.json.clone().unwrap_or(Value::Null);
        let data = v["data"].as_array().cloned().unwrap_or_default();
        let has = |want: &str| data.iter().any(|u| u["userId"] == want);
        let paging: Vec<&String> = v
            .as_object()
            .map(|o| {
                o.keys()
                    .filter(|k| PAGING_WORDS.split(' ').any(|w| w == k.as_str()))
                    .collect()
            })
            .unwrap_or_default();
        let ok = r.status == 200
            && v["data"].is_array()
            && paging.is_empty()
            && has(id)
            && second.is_some_and(has);
        let observed = if r.status == 200 {
            format!(
                "200 keys {}, {} users, probe users listed: {}",
                keys(&v),
                data.len(),
                has(id)
            )
        } else {
            r.brief()
        };
        self.row(
            "GET /users → one {data: [...]} page, no paging fields",
            observed,
            ok,
        );

        let r = self
            .api(Method::GET, "/users?limit=1&page=1&pageSize=1", None)
            .await;
        let n = r
            .json
            .as_ref()
            .and_then(|v| v["data"].as_array())
            .map(Vec::len);
        let ok = r.status == 200 && n == Some(data.len()) && data.len() >= 2;
        let observed = match n {
            Some(n) if r.status == 200 => format!("{n} of {} users", data.len()),
            _ => r.brief(),
        };
        self.row("GET /users ignores limit/page parameters", observed, ok);
    }

    async fn token_checks(&mut self, id: &str) {
        let r = self
            .api(Method::GET, &format!("/users/{id}/token"), None)
            .await;
        let token = r
            .json
            .as_ref()
            .and_then(|v| v["token"].as_str())
            .map(str::to_owned);
        let claims = token.as_deref().and_then(jwt_claims);
        let (observed, ok) = match (&claims, r.status) {
            (Some(c), 200) => (
                format!(
                    "200 JWT claims {}, userId matches: {}",
                    keys(c),
                    c["userId"] == id
                ),
                c["userId"] == id,
            ),
            (None, 200) => ("200 but the token is not a JWT".to_owned(), false),
            _ => (r.brief(), false),
        };
        self.row("token → 200 {token: JWT with a userId claim}", observed, ok);

        let life = claims
            .as_ref()
            .and_then(|c| Some(c["exp"].as_i64()? - c["iat"].as_i64()?));
        let observed = life.map_or("no iat/exp claims".to_owned(), |s| format!("{s} s"));
        self.row(
            "token lifetime exp − iat = 1800 s",
            observed,
            life == Some(TOKEN_TTL_SECS as i64),
        );

        let r = self
            .api(Method::GET, &format!("/users/{id}/token?userId={id}"), None)
            .await;
        let ok = r.status == 200 && r.json.as_ref().is_some_and(|v| v["token"].is_string());
        self.row("token also accepts ?userId= (2025-09 docs)", r.brief(), ok);
    }

    /// The workflow routes: their shape, and each status the emulator chose where the docs are
    /// silent. `id` is the probe's own user, who has nothing installed.
    async fn workflow_checks(&mut self, id: &str) {
        // A workflow of the account, from the integrations the probe user is offered.
        let r = self
            .api(Method::GET, &format!("/integrations?userId={id}"), None)
            .await;
        let workflow = r
            .json
            .as_ref()
            .and_then(|v| v["data"].as_array())
            .and_then(|ints| {
                ints.iter()
                    .flat_map(|i| i["workflows"].as_array().into_iter().flatten())
                    .find_map(|w| w["workflowId"].as_str().map(str::to_owned))
            });

        const LIST: &str = "GET /workflows/{id}/users → 200 {data: [{username, fullName, userId, \
                            workflowActive, installedVersion, installedAt}]}";
        const NOT_INSTALLED: &str =
            "activate a workflow the user has not installed → 404 {message} (CHOICE)";
        const UNKNOWN_USER: &str =
            "activate for an unknown user → 404 {message naming it} (CHOICE)";
        match &workflow {
            Some(w) => {
                let r = self
                    .api(Method::GET, &format!("/workflows/{w}/users"), None)
                    .await;
                let items = r.json.as_ref().and_then(|v| v["data"].as_array()).cloned();
                let shaped = |u: &Value| WORKFLOW_USER_KEYS.iter().all(|k| u.get(k).is_some());
                let (observed, ok) = match &items {
                    Some(items) if r.status == 200 => (
                        match items.first() {
                            Some(first) => {
                                format!("200, {} user(s), keys {}", items.len(), keys(first))
                            }
                            None => "200, no user has it installed".to_owned(),
                        },
                        items.iter().all(shaped),
                    ),
                    _ => (r.brief(), false),
                };
                self.row(LIST, observed, ok);

                let r = self
                    .api(
                        Method::PUT,
                        "/workflows/activate",
                        Some(json!({"userId": id, "workflowId": w})),
                    )
                    .await;
                let ok = r.status == 404 && r.message().is_some();
                self.row(NOT_INSTALLED, r.brief(), ok);

                let ghost = format!("{}absent", self.prefix);
                let r = self
                    .api(
                        Method::PUT,
                        "/workflows/activate",
                        Some(json!({"userId": ghost, "workflowId": w})),
                    )
                    .await;
                let ok = r.status == 404 && r.message().is_some_and(|m| m.contains(&ghost));
                self.row(UNKNOWN_USER, r.brief(), ok);
            }
            None => {
                let why = match r.status {
                    200 => "not checked: GET /integrations lists no workflow in this account"
                        .to_owned(),
                    _ => format!("not checked: GET /integrations gave {}", r.brief()),
                };
                for row in [LIST, NOT_INSTALLED, UNKNOWN_USER] {
                    self.not_observed(row, why.clone());
                }
            }
        }

        let r = self
            .api(
                Method::GET,
                &format!("/workflows/{ABSENT_WORKFLOW}/users"),
                None,
            )
            .await;
        let names_it = |r: &Reply| r.message().is_some_and(|m| m.contains(ABSENT_WORKFLOW));
        let ok = r.status == 404 && names_it(&r);
        self.row(
            "GET /workflows/{id}/users of no workflow of the account → 404 {message naming it} (CHOICE)",
            r.brief(),
            ok,
        );
        let r = self
            .api(
                Method::PUT,
                "/workflows/activate",
                Some(json!({"userId": id, "workflowId": ABSENT_WORKFLOW})),
            )
            .await;
        let ok = r.status == 404 && names_it(&r);
        self.row(
            "activate a workflow that is no workflow of the account → 404 {message naming it} (CHOICE)",
            r.brief(),
            ok,
        );
        let r = self
            .api(Method::PUT, "/workflows/activate", Some(json!({})))
            .await;
        let ok = r.status == 400 && r.message().is_some();
        self.row(
            "activate without userId and workflowId → 400 {message} (CHOICE)",
            r.brief(),
            ok,
        );

        match self.setup.workflow.clone() {
            Some((user, w)) => {
                self.repeated_activate(&user, &w).await;
                self.upgrade_at_latest(&user, &w).await;
            }
            None => {
                let why = format!(
                    "needs setup: set {WORKFLOW_VAR}=<userId>/<workflowId> to a test tenant's \
                     installed workflow (left as found)"
                );
                self.not_observed(REPEATED_ACTIVATE, why.clone());
                self.not_observed(UPGRADE_AT_LATEST, why);
            }
        }
        self.not_observed(
            INCOMPATIBLE_ROW,
            "needs setup: a version marked incompatible published after the one a tenant \
             installed; the API cannot publish one, so the probe never upgrades across it",
        );
    }

    /// The install of `workflow` for `user` as `GET /workflows/{id}/users` lists it, or why not.
    async fn install_of(
        &mut self,
        user: &str,
        workflow: &str,
    ) -> std::result::Result<Value, String> {
        let r = self
            .api(Method::GET, &format!("/workflows/{workflow}/users"), None)
            .await;
        if r.status != 200 {
            return Err(format!("GET /workflows/{{id}}/users gave {}", r.brief()));
        }
        r.json
            .as_ref()
            .and_then(|v| v["data"].as_array())
            .and_then(|items| {
                items
                    .iter()
                    .find(|u| u["userId"] == user || u["username"] == user)
                    .cloned()
            })
            .ok_or_else(|| {
                format!(
                    "{WORKFLOW_VAR} names user {user:?}, who has not installed workflow \
                     {workflow} (GET /workflows/{{id}}/users does not list them)"
                )
            })
    }

    async fn repeated_activate(&mut self, user: &str, workflow: &str) {
        let before = match self.install_of(user, workflow).await {
            Ok(b) => b,
            Err(why) => return self.not_observed(REPEATED_ACTIVATE, format!("not checked: {why}")),
        };
        let body = json!({"userId": user, "workflowId": workflow});
        let mut answers = Vec::new();
        for _ in 0..2 {
            let r = self
                .api(Method::PUT, "/workflows/activate", Some(body.clone()))
                .await;
            let ok = r.status == 200 && r.json.as_ref().is_some_and(|v| v["activated"] == true);
            answers.push((ok, r.brief()));
        }
        let after = self.install_of(user, workflow).await;
        let active_after = after.as_ref().is_ok_and(|a| a["workflowActive"] == true);
        let same_version = after
            .as_ref()
            .is_ok_and(|a| a["installedVersion"] == before["installedVersion"]);
        let ok = answers.iter().all(|(ok, _)| *ok) && active_after && same_version;
        let observed = format!(
            "{} then {}; afterwards active: {active_after}, version unchanged: {same_version}",
            answers[0].1, answers[1].1
        );
        self.row(REPEATED_ACTIVATE, observed, ok);
        if before["workflowActive"] == false {
            // Put it back as it was.
            let r = self
                .api(Method::PUT, "/workflows/deactivate", Some(body))
                .await;
            let back = self.install_of(user, workflow).await;
            if r.status != 200 || !back.as_ref().is_ok_and(|b| b["workflowActive"] == false) {
                self.restore_failures.push(format!(
                    "workflow {workflow} of user {user} was inactive and could not be deactivated \
                     again ({}): deactivate it by hand",
                    r.brief()
                ));
            }
        }
    }

    async fn upgrade_at_latest(&mut self, user: &str, workflow: &str) {
        let before = match self.install_of(user, workflow).await {
            Ok(b) => b,
            Err(why) => return self.not_observed(UPGRADE_AT_LATEST, format!("not checked: {why}")),
        };
        let r = self
            .api(Method::GET, &format!("/integrations?userId={user}"), None)
            .await;
        let latest = r
            .json
            .as_ref()
            .and_then(|v| v["data"].as_array())
            .and_then(|ints| {
                ints.iter()
                    .flat_map(|i| i["workflows"].as_array().into_iter().flatten())
                    .find(|w| w["workflowId"] == workflow)
            })
            .and_then(|w| w["version"].as_u64());
        let installed = before["installedVersion"].as_u64();
        match (installed, latest) {
            (Some(i), Some(l)) if i >= l => {}
            (Some(i), Some(l)) => {
                return self.not_observed(
                    UPGRADE_AT_LATEST,
                    format!(
                        "not checked: the install is at version {i}, behind the latest {l}, so \
                         an upgrade would change it"
                    ),
                );
            }
            _ => {
                return self.not_observed(
                    UPGRADE_AT_LATEST,
                    format!(
                        "not checked: no installedVersion ({}) or latest version (GET \
                         /integrations gave {})",
                        before["installedVersion"],
                        r.brief()
                    ),
                );
            }
        }
        let r = self
            .api(
                Method::PUT,
                &format!("/workflows/{workflow}/upgrade?userId={user}"),
                None,
            )
            .await;
        let after = self.install_of(user, workflow).await;
        let unchanged = after.as_ref().is_ok_and(|a| {
            ["workflowActive", "installedVersion", "installedAt"]
                .iter()
                .all(|k| a[*k] == before[*k])
        });
        let answered = r.json.as_ref().map(|v| v["installedVersion"].clone());
        let ok = r.status == 200 && unchanged;
        let observed = match answered {
            Some(v) if r.status == 200 => {
                format!("200 installedVersion {v}; install unchanged: {unchanged}")
            }
            _ => format!("{}; install unchanged: {unchanged}", r.brief()),
        };
        self.row(UPGRADE_AT_LATEST, observed, ok);
    }

    async fn version_checks(&mut self) {
        let listed =
            |r: &Reply| r.status == 200 && r.json.as_ref().is_some_and(|v| v["data"].is_array());
        let (root, path_version) = self.root();
        let users_at = |base: &Url, rest: &str| {
            let mut u = base.clone();
            let p = u.path().trim_end_matches('/').to_owned();
            u.set_path(&format!("{p}{rest}"));
            u
        };
        let r = self
            .call(
                Method::GET,
                users_at(&root, "/users"),
                Auth::Key,
                Version::Omitted,
                None,
            )
            .await;
        let ok = listed(&r);
        self.row(
            "no x-api-version, unversioned path → 200 (current version)",
            r.brief(),
            ok,
        );

        let r = self
            .call(
                Method::GET,
                users_at(&root, "/users"),
                Auth::Key,
                Version::Custom("latest"),
                None,
            )
            .await;
        let ok = r.status == 400 && r.message().is_some();
        self.row("malformed x-api-version → 400 {message}", r.brief(), ok);

        let r = self
            .call(
                Method::GET,
                users_at(&root, "/users"),
                Auth::Key,
                Version::Header,
                None,
            )
            .await;
        let ok = listed(&r);
        self.row(
            "header versioning: /users + x-api-version → 200",
            r.brief(),
            ok,
        );

        let v = path_version.unwrap_or_else(|| self.account.api_version.clone());
        let r = self
            .call(
                Method::GET,
                users_at(&root, &format!("/{v}/users")),
                Auth::Key,
                Version::Omitted,
                None,
            )
            .await;
        let ok = listed(&r);
        self.row("path versioning: /{YYYY-MM}/users → 200", r.brief(), ok);

        let r = self.api(Method::GET, "/users/", None).await;
        let ok = listed(&r);
        self.row("trailing slash: GET /users/ = GET /users", r.brief(), ok);
    }

    async fn isolation_check(&mut self, id: &str) {
        let Some(other) = self.account.other_key.clone() else {
            self.rows.push(Row {
                assumption: "the other environment's key cannot see the user → 404",
                observed:
                    "not checked: set both ALLOY_DEVELOPMENT_API_KEY and ALLOY_PRODUCTION_API_KEY"
                        .into(),
                verdict: Verdict::NotObserved,
            });
            return;
        };
        let url = self.account.url(&format!("/users/{id}"));
        let r = self
            .call(
                Method::GET,
                url,
                Auth::OtherKey(other.expose()),
                Version::Header,
                None,
            )
            .await;
        self.row(
            "the other environment's key cannot see the user → 404",
            r.brief(),
            r.status == 404,
        );
    }

    async fn delete_checks(&mut self, id: &str) {
        let path = format!("/users/{id}");
        let r = self.api(Method::DELETE, &path, None).await;
        let ok = r.status == 200 && r.json.as_ref().is_some_and(|v| v["success"] == true);
        if r.status == 200 {
            self.created.retain(|c| c != id);
        }
        let observed = if r.status == 200 {
            format!("200 {}", clip(&r.text))
        } else {
            r.brief()
        };
        self.row("DELETE /users/{id} → 200 {success: true}", observed, ok);
        let r = self.api(Method::GET, &path, None).await;
        self.row("GET after DELETE → 404", r.brief(), r.status == 404);
        let r = self.api(Method::DELETE, &path, None).await;
        self.row(
            "repeat DELETE → 404 {message}",
            r.brief(),
            r.status == 404 && r.message().is_some(),
        );
    }

    /// `POST /headless/credentials` with `data`; a credential it made anyway is deleted again,
    /// so the check restores what it found.
    async fn try_credential(&mut self, user: &str, kind: &str, data: Value) -> Reply {
        let r = self
            .api(
                Method::POST,
                "/headless/credentials",
                Some(json!({"userId": user, "credential": {"type": kind, "data": data}})),
            )
            .await;
        if let Some(cid) = r.json.as_ref().and_then(|v| v["credentialId"].as_str()) {
            let cid = cid.to_owned();
            self.api(
                Method::DELETE,
                &format!("/users/{user}/credentials/{cid}"),
                None,
            )
            .await;
        }
        r
    }

    /// The statuses the project chose for credential refusals (issue 24). Each attempt is meant
    /// to be refused; one that is not is undone at once.
    async fn credential_checks(&mut self, id: &str) {
        let r = self.api(Method::GET, "/metadata/credentials", None).await;
        let types: Vec<Value> = r
            .json
            .as_ref()
            .and_then(|v| v["data"].as_array())
            .cloned()
            .unwrap_or_default();
        let ok = r.status == 200
            && !types.is_empty()
            && types.iter().all(|t| {
                (t["connector"].is_string() || t["name"].is_string())
                    && t["isOauth"].is_boolean()
                    && t["properties"].is_array()
            });
        let observed = if r.status == 200 {
            format!("200, {} types", types.len())
        } else {
            r.brief()
        };
        self.row(
            "GET /metadata/credentials → 200 {data: [{connector, isOauth, properties}]}",
            observed,
            ok,
        );
        let name = |t: &Value| {
            t["connector"]
                .as_str()
                .or_else(|| t["name"].as_str())
                .unwrap_or_default()
                .to_owned()
        };
        let r = self
            .try_credential(id, "tfacc-no-such-type", json!({"probe": "x"}))
            .await;
        self.row(
            "unknown credential type → 400 {message} (CHOICE)",
            r.brief(),
            r.status == 400 && r.message().is_some(),
        );
        match types.iter().find(|t| t["isOauth"] == true).map(name) {
            Some(kind) => {
                let r = self.try_credential(id, &kind, json!({"probe": "x"})).await;
                self.row(
                    "OAuth type on /headless/credentials → 400 {message} (CHOICE)",
                    format!("{kind}: {}", r.brief()),
                    r.status == 400 && r.message().is_some(),
                );
            }
            None => self.not_observed(
                "OAuth type on /headless/credentials → 400 {message} (CHOICE)",
                "the account lists no OAuth credential type",
            ),
        }
        let required = types.iter().find_map(|t| {
            let props = t["properties"].as_array()?;
            let req = props.iter().find(|p| p["required"] == true)?;
            let prop = req["name"].as_str()?.to_owned();
            (t["isOauth"] == false).then(|| (name(t), prop))
        });
        match required {
            Some((kind, prop)) => {
                let r = self.try_credential(id, &kind, json!({"probe": "x"})).await;
                let names_it = r.message().is_some_and(|m| m.contains(&prop));
                self.row(
                    "missing required property → 400 {message naming it} (CHOICE)",
                    format!("{kind} without {prop}: {}", r.brief()),
                    r.status == 400 && names_it,
                );
            }
            None => self.not_observed(
                "missing required property → 400 {message naming it} (CHOICE)",
                "no non-OAuth type marks a property required",
            ),
        }
        let ghost = format!("{}absent", self.prefix);
        // A body that is valid in every other respect: each listed property filled in.
        let (kind, data) = types
            .iter()
            .find(|t| t["isOauth"] == false)
            .map(|t| {
                let data: serde_json::Map<String, Value> = t["properties"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p["name"].as_str())
                    .map(|n| (n.to_owned(), json!("tfacc-probe")))
                    .collect();
                (name(t), Value::Object(data))
            })
            .unwrap_or_else(|| {
                (
                    "httpHeaderAuth".into(),
                    json!({"fieldName": "X", "value": "x"}),
                )
            });
        let r = self.try_credential(&ghost, &kind, data).await;
        self.row(
            "unknown user on /headless/credentials → 404 {message} (CHOICE)",
            r.brief(),
            r.status == 404 && r.message().is_some(),
        );
        let r = self
            .api(
                Method::DELETE,
                &format!("/users/{id}/credentials/0123456789abcdef01234567"),
                None,
            )
            .await;
        self.row(
            "unknown credential: DELETE /users/{id}/credentials/{cid} → 404 {message} (CHOICE)",
            r.brief(),
            r.status == 404 && r.message().is_some(),
        );
    }

    /// What is left of a deleted user through the API (read-only, or a purge of nothing).
    async fn deleted_user_checks(&mut self, id: &str) {
        let r = self
            .api(Method::GET, &format!("/credentials/users/{id}"), None)
            .await;
        self.row(
            "does a user delete remove credentials? GET /credentials/users/{deleted} → 404: unreachable through the API either way (CHOICE: the emulator keeps them)",
            r.brief(),
            r.status == 404,
        );
        let r = self
            .api(Method::DELETE, &format!("/users/{id}/logs"), None)
            .await;
        self.row(
            "do logs survive a user delete? DELETE /users/{deleted}/logs → 404: they cannot be purged once the user is gone (CHOICE: the emulator keeps them)",
            r.brief(),
            r.status == 404,
        );
    }

    fn rate_limit_row(&mut self) {
        let assumption = "429 carries Retry-After in seconds";
        if self.retry_after.is_empty() {
            self.rows.push(Row {
                assumption,
                observed: "no 429 seen (the probe never provokes one)".into(),
                verdict: Verdict::NotObserved,
            });
            return;
        }
        let all_secs = self.retry_after.iter().all(|a| {
            a.as_deref()
                .is_some_and(|s| s.trim().parse::<u64>().is_ok())
        });
        let observed = format!(
            "{} × 429, Retry-After {:?}",
            self.retry_after.len(),
            self.retry_after
        );
        self.row(assumption, observed, all_secs);
    }

    /// Deletes every user this run created, then any user still carrying its prefix.
    async fn cleanup(&mut self) -> (usize, Option<String>) {
        let mut deleted = 0;
        let mut failures = Vec::new();
        let ids = std::mem::take(&mut self.created);
        for id in ids {
            let r = self
                .api(Method::DELETE, &format!("/users/{id}"), None)
                .await;
            match r.status {
                200 => deleted += 1,
                404 => {}
                _ => failures.push(format!("{id}: {}", r.brief())),
            }
        }
        let r = self.api(Method::GET, "/users", None).await;
        let left: Vec<String> = r
            .json
            .as_ref()
            .and_then(|v| v["data"].as_array())
            .map(|a| {
                a.iter()
                    .filter(|u| {
                        u["username"]
                            .as_str()
                            .is_some_and(|n| n.starts_with(&self.prefix))
                    })
                    .filter_map(|u| u["userId"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if r.status != 200 {
            failures.push(format!("listing users to check: {}", r.brief()));
        }
        for id in left {
            let r = self
                .api(Method::DELETE, &format!("/users/{id}"), None)
                .await;
            match r.status {
                200 => deleted += 1,
                404 => {}
                _ => failures.push(format!("{id}: {}", r.brief())),
            }
        }
        let err = (!failures.is_empty()).then(|| {
            format!(
                "could not delete every probe user ({}); run `cargo run --bin xtask -- sweep --prefix {} --yes`",
                failures.join("; "),
                self.prefix
            )
        });
        (deleted, err)
    }
}

const REPEATED_ACTIVATE: &str =
    "activate twice → 200 {activated: true} both times, install unchanged (CHOICE)";
const UPGRADE_AT_LATEST: &str = "upgrade at the latest version → 200, nothing changes (CHOICE)";

/// Top-level keys that would mean the list is paginated, space-separated.
const PAGING_WORDS: &str = "next nextPage nextCursor cursor page pages pageSize limit offset \
                            hasMore has_more total totalCount links";

fn keys(v: &Value) -> String {
    match v.as_object() {
        Some(o) => format!("[{}]", o.keys().cloned().collect::<Vec<_>>().join(", ")),
        None => "(not an object)".into(),
    }
}

fn is_object_id(s: &str) -> bool {
    s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_version(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 7
        && b[4] == b'-'
        && b[..4].iter().all(u8::is_ascii_digit)
        && s[5..].parse::<u8>().is_ok_and(|m| (1..=12).contains(&m))
}

/// The payload of a JWT, decoded (the signature is not checked: only the claims matter here).
fn jwt_claims(token: &str) -> Option<Value> {
    let mut parts = token.split('.');
    let (_, payload, _) = (parts.next()?, parts.next()?, parts.next()?);
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Runs the probe against `account` with users named `prefix...`, without any [`Setup`]. Fails
/// (before creating anything) when the API cannot be reached or rejects the key.
pub async fn probe(account: &Account, prefix: &str) -> Result<Report> {
    probe_with(account, prefix, Setup::default()).await
}

/// [`probe`] with what the person running it set up for the rows that need more than a key.
pub async fn probe_with(account: &Account, prefix: &str, setup: Setup) -> Result<Report> {
    if !prefix.starts_with(RUN_PREFIX_ROOT) || prefix.len() <= RUN_PREFIX_ROOT.len() {
        return Err(Error::Invalid(format!(
            "the probe prefix {prefix:?} must start with {RUN_PREFIX_ROOT:?} and name a run"
        )));
    }
    let http = account.http()?;
    account.preflight(&http).await?;
    let mut p = Probe {
        http,
        account,
        prefix: prefix.to_owned(),
        created: Vec::new(),
        requests: 1,
        retry_after: Vec::new(),
        rows: Vec::new(),
        setup,
        restore_failures: Vec::new(),
    };
    p.run().await;
    let (cleaned, mut cleanup_error) = p.cleanup().await;
    if !p.restore_failures.is_empty() {
        let restore = p.restore_failures.join("; ");
        cleanup_error = Some(match cleanup_error {
            Some(e) => format!("{e}; {restore}"),
            None => restore,
        });
    }
    Ok(Report {
        rows: p.rows,
        cleaned,
        cleanup_error,
        requests: p.requests,
    })
}

/// `xtask conformance`: the probe against the API the environment names, its table on `out`.
/// Ok(true) when every assumption agrees.
pub fn conformance_command(account: Result<Account>, out: &mut dyn io::Write) -> Result<bool> {
    let account = account?;
    let setup = Setup::from_lookup(&|k| std::env::var(k).ok())?;
    let prefix = run_prefix();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Invalid(format!("cannot start an async runtime: {e}")))?;
    let _ = writeln!(
        out,
        "conformance: {} ({}, key from {}), users named {prefix}*",
        account.base_url,
        account.environment.as_str(),
        account.key_from
    );
    let report = rt.block_on(probe_with(&account, &prefix, setup))?;
    let _ = write!(out, "{}", report.table());
    let count = |v: Verdict| report.rows.iter().filter(|r| r.verdict == v).count();
    let _ = writeln!(
        out,
        "conformance: {} agree, {} disagree, {} not observed; {} requests; cleanup deleted {} more probe user(s)",
        count(Verdict::Agrees),
        count(Verdict::Disagrees),
        count(Verdict::NotObserved),
        report.requests,
        report.cleaned
    );
    if let Some(e) = &report.cleanup_error {
        let _ = writeln!(out, "conformance: {e}");
    }
    Ok(report.passed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_versions() {
        let p = run_prefix();
        assert!(
            p.starts_with("tfacc-") && p.ends_with('-') && p.len() == 15,
            "{p}"
        );
        assert_ne!(run_prefix(), run_prefix());
        assert!(is_version("2024-03") && !is_version("2024-13") && !is_version("users"));
    }

    #[test]
    fn the_workflow_setup_names_a_user_and_a_workflow_id() {
        let wf = "a1f7fad397c0ac5b8339697b";
        let setup = |v: Option<&str>| {
            let v = v.map(str::to_owned);
            Setup::from_lookup(&move |k| (k == WORKFLOW_VAR).then(|| v.clone()).flatten())
        };
        assert_eq!(setup(None).unwrap(), Setup::default());
        assert_eq!(setup(Some("  ")).unwrap(), Setup::default());
        assert_eq!(
            setup(Some(&format!(" team/a@example.com/{wf} "))).unwrap(),
            Setup {
                workflow: Some(("team/a@example.com".into(), wf.into()))
            }
        );
        for bad in [wf.to_owned(), format!("/{wf}"), "jane/Sync orders".into()] {
            let err = setup(Some(&bad)).unwrap_err().to_string();
            assert!(
                err.contains(WORKFLOW_VAR) && err.contains("<userId or username>/<workflowId>"),
                "{err}"
            );
        }
    }

    #[test]
    fn jwt_payloads_decode() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"userId":"abc","iat":1,"exp":1801}"#);
        let c = jwt_claims(&format!("e30.{payload}.sig")).expect("claims");
        assert_eq!(c["userId"], "abc");
        assert!(jwt_claims("not-a-jwt").is_none());
    }

    #[test]
    fn table_escapes_pipes_and_fails_on_any_disagreement() {
        let mut r = Report {
            rows: vec![Row {
                assumption: "a",
                observed: "x | y".into(),
                verdict: Verdict::NotObserved,
            }],
            cleaned: 0,
            cleanup_error: None,
            requests: 1,
        };
        assert!(r.passed());
        assert!(r.table().contains("| a | x \\| y | not observed |"));
        r.rows.push(Row {
            assumption: "b",
            observed: "z".into(),
            verdict: Verdict::Disagrees,
        });
        assert!(!r.passed());
    }
}
