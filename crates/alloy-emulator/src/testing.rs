//! Test support: an emulator running in the test's own process, typed views of the admin API,
//! and a relay that lets a test act while a request is on the wire.
//!
//! ```no_run
//! use alloy_emulator::Environment::Development;
//! use alloy_emulator::testing::{Admin, TestEmulator};
//!
//! let emu = TestEmulator::start();
//! // ... point a client or `terraform` at `emu.url()` with `emu.development_key()` ...
//! assert_eq!(emu.count("POST /users"), emu.users(Development).len() as u64);
//! ```
//!
//! [`TestEmulator`] serves on a free loopback port from a tokio runtime of its own, so one
//! fixture serves plain `#[test]`s (which run `terraform` and wait for it) and `#[tokio::test]`s
//! alike; dropping it stops it. [`Admin`] is the admin API (`/_emulator/...`) as typed accessors
//! — the request log, an environment's users, the issued tokens — over one generic call, so any
//! emulator that answers that call (this one in-process, or the binary over HTTP) gets them all,
//! and a route without a typed view yet is reachable as JSON with [`Admin::admin_get`].
//!
//! Everything here panics with a message on a failure: it is for tests, where a panic is the
//! failure report.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, header};
use hyper::service::Service as _;
use hyper_util::service::TowerToHyperService;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{EmulatorConfig, Environment, Faults, RunningEmulator, admin};

// ---- the admin API, typed ----

/// The request log (`GET /_emulator/requests`): exact counters since the last clear, and the
/// entries (see [`LOG_CAPACITY`](crate::LOG_CAPACITY)).
#[derive(Clone, Debug, Deserialize)]
pub struct Requests {
    pub total: u64,
    pub lost_responses: u64,
    pub bad_answers: u64,
    /// By route template: `"GET /users/{id}"`.
    pub by_route: BTreeMap<String, u64>,
    pub by_status: BTreeMap<u16, u64>,
    /// Empty when read with `tail=0` (the counters only).
    pub log: Vec<LoggedRequest>,
}

impl Requests {
    /// Requests on one route template (`"POST /users"`).
    pub fn count(&self, route: &str) -> u64 {
        self.by_route.get(route).copied().unwrap_or(0)
    }

    /// The routes other than `GET`s, with their counts: what may have changed something.
    pub fn writes(&self) -> Vec<(String, u64)> {
        self.by_route
            .iter()
            .filter(|(route, _)| !route.starts_with("GET "))
            .map(|(route, n)| (route.clone(), *n))
            .collect()
    }

    /// Answers that make a client retry: 5xx and 429.
    pub fn retryable(&self) -> u64 {
        self.by_status
            .iter()
            .filter(|(status, _)| **status >= 500 || **status == 429)
            .map(|(_, n)| n)
            .sum()
    }
}

/// One entry of the request log.
#[derive(Clone, Debug, Deserialize)]
pub struct LoggedRequest {
    /// Milliseconds since the emulator started.
    pub at_ms: u64,
    pub method: String,
    /// The matched route template, or `(unmatched)`.
    pub route: String,
    pub path: String,
    pub status: u16,
    /// `development`, `production`, or `None` when the request was not authenticated.
    pub environment: Option<String>,
    pub api_version: String,
    /// `path`, `header` or `default`.
    pub versioned_by: String,
    pub lost: bool,
    pub bad_answer: bool,
}

impl LoggedRequest {
    /// `"GET /users/{id}"`, as the counters name routes.
    pub fn route_key(&self) -> String {
        format!("{} {}", self.method, self.route)
    }
}

/// A user as the admin API lists it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub struct User {
    #[serde(rename = "userId")]
    pub user_id: String,
    pub username: String,
    #[serde(rename = "fullName")]
    pub full_name: Option<String>,
}

/// A token the emulator issued (`GET /_emulator/tokens`). Its `Debug` leaves the token out, so
/// a failing assertion never prints one.
#[derive(Clone, Deserialize)]
pub struct IssuedToken {
    #[serde(rename = "userId")]
    pub user_id: String,
    pub environment: String,
    pub token: String,
    /// Issued at and expiry, in seconds since the Unix epoch.
    pub iat: u64,
    pub exp: u64,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("user_id", &self.user_id)
            .field("environment", &self.environment)
            .field("token", &"<redacted>")
            .field("iat", &self.iat)
            .field("exp", &self.exp)
            .finish()
    }
}

fn parse<T: DeserializeOwned>(what: &str, v: Value) -> T {
    serde_json::from_value(v).unwrap_or_else(|e| panic!("{what}: unexpected admin answer: {e}"))
}

/// The admin API of an emulator: one generic call, and typed accessors built on it.
pub trait Admin {
    /// The emulator's base URL (`http://127.0.0.1:PORT`).
    fn url(&self) -> String;

    /// `method` on `/_emulator/{path}` (`path` may carry a query), with a JSON body: the status
    /// and the JSON answer (`Null` when there is none).
    fn admin(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value);

    /// [`admin`](Admin::admin) that must succeed (2xx): its JSON answer.
    fn admin_ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let what = format!("{method} /_emulator/{path}");
        let (status, v) = self.admin(method, path, body);
        assert!((200..300).contains(&status), "{what}: HTTP {status}: {v}");
        v
    }

    /// `GET /_emulator/{path}`: the JSON answer, for routes without a typed accessor.
    fn admin_get(&self, path: &str) -> Value {
        self.admin_ok(Method::GET, path, None)
    }

    /// The whole request log.
    fn requests(&self) -> Requests {
        parse("requests", self.admin_get("requests"))
    }

    /// The request log's counters, without its entries.
    fn request_counts(&self) -> Requests {
        parse("requests", self.admin_get("requests?tail=0"))
    }

    /// API requests on one route template (`"GET /users/{id}"`) since the last clear.
    fn count(&self, route: &str) -> u64 {
        self.request_counts().count(route)
    }

    /// API requests since the last clear.
    fn total_requests(&self) -> u64 {
        self.request_counts().total
    }

    fn clear_requests(&self) {
        self.admin_ok(Method::DELETE, "requests", None);
    }

    /// The users of one environment, in creation order.
    fn users(&self, environment: Environment) -> Vec<User> {
        let v = self.admin_get(&format!("users?environment={environment}"));
        parse("users", v["data"].clone())
    }

    /// Every token the emulator issued, oldest first.
    fn tokens(&self) -> Vec<IssuedToken> {
        parse("tokens", self.admin_get("tokens")["tokens"].clone())
    }

    /// Changes the fault knobs named in `patch` (the others stay): the knobs now in force.
    fn patch_faults(&self, patch: Value) -> Value {
        self.admin_ok(Method::PUT, "faults", Some(patch))
    }

    /// Deletes a user behind the API's back (no request is logged).
    fn delete_out_of_band(&self, environment: Environment, id: &str) {
        self.admin_ok(Method::DELETE, &format!("users/{environment}/{id}"), None);
    }

    /// Installs an integration (or one of its workflows) for a user.
    fn install(
        &self,
        environment: Environment,
        user_id: &str,
        integration_id: &str,
        workflow_id: Option<&str>,
    ) {
        let mut body = json!({
            "environment": environment.as_str(),
            "userId": user_id,
            "integrationId": integration_id,
        });
        if let Some(w) = workflow_id {
            body["workflowId"] = json!(w);
        }
        self.admin_ok(Method::POST, "installs", Some(body));
    }
}

// ---- the in-process emulator ----

/// An emulator in this process on a free loopback port, served by a runtime of its own (so it
/// answers while the test's thread blocks on `terraform`, or while a `#[tokio::test]` awaits).
/// Stopped when dropped.
pub struct TestEmulator {
    emulator: Option<RunningEmulator>,
    admin: Router,
    runtime: Option<Runtime>,
}

impl fmt::Debug for TestEmulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestEmulator")
            .field("emulator", &self.emulator)
            .finish_non_exhaustive()
    }
}

impl TestEmulator {
    /// The default configuration (default keys, no faults, in memory).
    pub fn start() -> TestEmulator {
        TestEmulator::with(EmulatorConfig::default())
    }

    pub fn with(cfg: EmulatorConfig) -> TestEmulator {
        TestEmulator::on(cfg, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
    }

    /// On a chosen address (port 0 picks a free one).
    pub fn on(cfg: EmulatorConfig, listen: SocketAddr) -> TestEmulator {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("test-emulator")
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot start the emulator's runtime: {e}"));
        let emulator = run_on(&runtime, RunningEmulator::start(cfg, listen))
            .unwrap_or_else(|e| panic!("the emulator did not start on {listen}: {e}"));
        TestEmulator {
            admin: admin::router(emulator.app.clone()),
            emulator: Some(emulator),
            runtime: Some(runtime),
        }
    }

    fn running(&self) -> &RunningEmulator {
        self.emulator.as_ref().expect("running until dropped")
    }

    fn runtime(&self) -> &Runtime {
        self.runtime.as_ref().expect("running until dropped")
    }

    pub fn url(&self) -> String {
        self.running().url()
    }

    pub fn addr(&self) -> SocketAddr {
        self.running().addr()
    }

    pub fn development_key(&self) -> &str {
        self.running().development_key()
    }

    pub fn production_key(&self) -> &str {
        self.running().production_key()
    }

    /// The fault knobs in force.
    pub fn faults(&self) -> Faults {
        self.running().faults()
    }

    /// Replaces every fault knob (see [`Admin::patch_faults`] to change some).
    pub fn set_faults(&self, faults: Faults) {
        self.running()
            .set_faults(faults)
            .unwrap_or_else(|e| panic!("invalid faults: {e}"));
    }

    /// A [`Relay`] in front of this emulator.
    pub fn relay(&self) -> Relay {
        Relay::start(self.runtime(), self.addr())
    }
}

impl Admin for TestEmulator {
    fn url(&self) -> String {
        TestEmulator::url(self)
    }

    fn admin(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let what = format!("{method} /_emulator/{path}");
        let mut request = Request::builder()
            .method(method)
            .uri(format!("/_emulator/{path}"));
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Body::from(
                body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
            ))
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let service = TowerToHyperService::new(self.admin.clone());
        let answer = run_on(self.runtime(), async move {
            let Ok(response) = service.call(request).await;
            let status = response.status().as_u16();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await;
            (status, bytes)
        });
        let (status, bytes) = (answer.0, answer.1.unwrap_or_else(|e| panic!("{what}: {e}")));
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{what}: not JSON: {e}"))
        };
        (status, json)
    }
}

impl Drop for TestEmulator {
    fn drop(&mut self) {
        // Stop serving, then drop the runtime without blocking: this may run inside another
        // runtime (a `#[tokio::test]`), where a blocking shutdown is refused.
        self.emulator.take();
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Runs `work` on `rt` and waits for its result from any thread, inside another runtime too
/// (where `Runtime::block_on` is refused).
fn run_on<T: Send + 'static>(rt: &Runtime, work: impl Future<Output = T> + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    rt.spawn(async move {
        let _ = tx.send(work.await);
    });
    rx.recv()
        .unwrap_or_else(|_| panic!("the emulator's runtime dropped a task"))
}

// ---- the relay ----

/// A TCP relay in front of an emulator. It records each request it has received whole and
/// each answer it has passed on whole (`"POST /users"`, path as sent), and can hold the answers
/// to the requests of one method — a dropped connection included — until released. A test that
/// must act while a request is on the wire, or between an answer and the client's next
/// attempt, waits for [`received`](Relay::received) or [`answered`](Relay::answered), acts,
/// then releases: no sleep has to win a race.
///
/// It reads requests and answers as a client and the emulator send them: one request at a time
/// per connection (no pipelining), bodies with a `content-length`.
pub struct Relay {
    url: String,
    seen: Arc<watch::Sender<Vec<String>>>,
    answered: Arc<watch::Sender<Vec<String>>>,
    hold: Arc<watch::Sender<Option<&'static str>>>,
}

impl Relay {
    fn start(rt: &Runtime, upstream: SocketAddr) -> Relay {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .unwrap_or_else(|e| panic!("the relay cannot listen: {e}"));
        let url = match listener.local_addr() {
            Ok(addr) => format!("http://{addr}"),
            Err(e) => panic!("the relay cannot listen: {e}"),
        };
        let relay = Relay {
            url,
            seen: Arc::new(watch::Sender::new(Vec::new())),
            answered: Arc::new(watch::Sender::new(Vec::new())),
            hold: Arc::new(watch::Sender::new(None)),
        };
        let (seen, answered, hold) = (
            relay.seen.clone(),
            relay.answered.clone(),
            relay.hold.clone(),
        );
        rt.spawn(async move {
            let Ok(listener) = TcpListener::from_std(listener) else {
                return;
            };
            while let Ok((client, _)) = listener.accept().await {
                let ends = Ends {
                    seen: seen.clone(),
                    answered: answered.clone(),
                    hold: hold.subscribe(),
                };
                tokio::spawn(relay_connection(client, upstream, ends));
            }
        });
        relay
    }

    /// The URL to give the client instead of the emulator's.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Holds the answers to requests with `method` from now on, until [`release`](Self::release).
    pub fn hold(&self, method: &'static str) {
        self.hold.send_replace(Some(method));
    }

    pub fn release(&self) {
        self.hold.send_replace(None);
    }

    /// Holds the answers to `method` requests, and returns what a test joins with the operation:
    /// once the first such request has been received, it stops the client, then lets the
    /// answer through.
    pub fn stop_when_received<'a>(
        &'a self,
        method: &'static str,
        stop: &'a CancellationToken,
    ) -> impl Future<Output = ()> + 'a {
        self.hold(method);
        async move {
            self.received(method, 1).await;
            stop.cancel();
            self.release();
        }
    }

    /// Waits until the relay has received `n` whole requests with `method`.
    pub async fn received(&self, method: &str, n: usize) {
        wait_for(&self.seen, method, n).await;
    }

    /// Waits until the relay has passed on the whole answers to `n` requests with `method`.
    pub async fn answered(&self, method: &str, n: usize) {
        wait_for(&self.answered, method, n).await;
    }
}

async fn wait_for(list: &watch::Sender<Vec<String>>, method: &str, n: usize) {
    let prefix = format!("{method} ");
    let mut seen = list.subscribe();
    // The relay keeps the sender as long as `list` is borrowed: this cannot fail.
    let _ = seen
        .wait_for(|seen| seen.iter().filter(|r| r.starts_with(&prefix)).count() >= n)
        .await;
}

/// What one relayed connection reports to, and takes orders from.
struct Ends {
    seen: Arc<watch::Sender<Vec<String>>>,
    answered: Arc<watch::Sender<Vec<String>>>,
    hold: watch::Receiver<Option<&'static str>>,
}

/// Relays one client connection to the emulator and back.
async fn relay_connection(client: TcpStream, upstream: SocketAddr, ends: Ends) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let Ends {
        seen,
        answered,
        mut hold,
    } = ends;
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    // The request being answered: set before its last byte is passed on, so before any byte of
    // its answer can come back.
    let answering = Mutex::new(String::new());
    let set_answering = |line: &str| {
        *answering.lock().unwrap_or_else(|p| p.into_inner()) = line.to_owned();
    };
    let requests = async {
        let mut pending = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            let n = match from_client.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            pending.extend_from_slice(&chunk[..n]);
            while let Some((len, line)) = whole_message(&pending) {
                set_answering(&line);
                seen.send_modify(|s| s.push(line));
                pending.drain(..len);
            }
            if to_server.write_all(&chunk[..n]).await.is_err() {
                break;
            }
        }
        let _ = to_server.shutdown().await;
    };
    let answers = async {
        let mut pending = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            let n = from_server.read(&mut chunk).await.unwrap_or(0);
            let line = answering.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let method = line.split(' ').next().unwrap_or_default();
            // An error means the relay is gone: nothing is held any more.
            let _ = hold.wait_for(|h| *h != Some(method)).await;
            if n == 0 || to_client.write_all(&chunk[..n]).await.is_err() {
                break;
            }
            pending.extend_from_slice(&chunk[..n]);
            while let Some((len, _status)) = whole_message(&pending) {
                answered.send_modify(|a| a.push(line.clone()));
                pending.drain(..len);
            }
        }
        let _ = to_client.shutdown().await;
    };
    tokio::join!(requests, answers);
}

/// The length and the first two words of the first whole HTTP/1 message in `buf` (a request:
/// `"POST /users"`; an answer: `"HTTP/1.1 200"`), if it holds one.
fn whole_message(buf: &[u8]) -> Option<(usize, String)> {
    let head_len = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..head_len]).ok()?;
    let body_len = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .map_or(Some(0), |(_, v)| v.trim().parse::<usize>().ok())?;
    if buf.len() < head_len + body_len {
        return None;
    }
    let mut first = head.lines().next()?.split(' ');
    let (a, b) = (first.next()?, first.next()?);
    Some((head_len + body_len, format!("{a} {b}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_whole_with_its_head_and_its_body() {
        let post = b"POST /users HTTP/1.1\r\ncontent-length: 5\r\n\r\nhello";
        assert_eq!(whole_message(&post[..20]), None, "half a head");
        assert_eq!(whole_message(&post[..post.len() - 1]), None, "half a body");
        assert_eq!(
            whole_message(post),
            Some((post.len(), "POST /users".to_owned()))
        );
        let get = b"GET /users/x HTTP/1.1\r\nHost: a\r\n\r\n";
        let two = [&get[..], &post[..]].concat();
        assert_eq!(
            whole_message(&two),
            Some((get.len(), "GET /users/x".to_owned()))
        );
        let answer = b"HTTP/1.1 429 Too Many Requests\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(
            whole_message(answer),
            Some((answer.len(), "HTTP/1.1 429".to_owned()))
        );
    }

    #[test]
    fn the_fixture_reads_its_own_admin_api() {
        let emu = TestEmulator::start();
        assert_eq!(emu.total_requests(), 0);
        assert!(emu.users(Environment::Development).is_empty());
        let f = emu.patch_faults(json!({"latency_ms": 5}));
        assert_eq!(f["latency_ms"], 5);
        assert_eq!(emu.faults().latency_ms, 5);
        let (status, v) = emu.admin(Method::GET, "nowhere", None);
        assert_eq!(status, 404, "{v}");
        assert!(emu.tokens().is_empty());
    }

    #[tokio::test]
    async fn the_fixture_serves_inside_another_runtime_and_drops_there() {
        let emu = TestEmulator::start();
        let answer = tokio::net::TcpStream::connect(emu.addr()).await;
        assert!(answer.is_ok(), "it serves while this runtime awaits");
        assert_eq!(emu.admin_get("health")["status"], "ok");
        drop(emu);
    }
}
