//! A local emulator of Alloy Automation's Embedded API, shipped as `alloy-emulator` and used by
//! every test of the project.
//!
//! Users point the provider's `base_url` at it to try configurations without an Alloy account;
//! the test suites start it in-process ([`RunningEmulator::start`]) or as a process on loopback.
//! Where Alloy's documentation is silent the emulator follows the project's decisions (422 for a
//! duplicate username, 404 for an unknown user, disjoint development and production users, ...),
//! so client and provider are tested against one consistent reading of the API.
//!
//! Layout, following a request:
//! - this file: configuration, the accept loop and [`dispatch`] — which strips the optional
//!   `/{YYYY-MM}` version segment and trailing slash, picks the API or admin router, and closes
//!   the connection without an answer when fault injection decided to lose the response;
//! - `gate.rs`: the middleware every API request passes: faults, version, auth, the request log;
//! - `routes.rs`: the API handlers; `wire.rs`: the JSON they read and write (the emulator's own);
//! - `admin.rs`: the unauthenticated `/_emulator/...` routes tests use to arrange and observe;
//! - `store.rs`: users and their installed workflows per environment, and the versions published
//!   of each workflow; `persist.rs`: the durable `--state` file;
//! - `faults.rs`, `requests.rs`, `jwt.rs`, [`catalogue`]: the knobs, the log, tokens, integrations.
//!
//! The accept loop is our own (hyper's HTTP/1 connection driver rather than `axum::serve`)
//! because a lost response must close the connection *after* the write committed and *without*
//! any HTTP answer, which only a service error at the hyper level achieves.
//!
//! Choices where the brief left room: an unversioned path without `x-api-version` is accepted
//! as the current version [`CURRENT_API_VERSION`]; a malformed `x-api-version` is a 400.
//! `fullName` is always present in user objects and `null` when never set; in `PUT` an explicit
//! `null` clears it. A path parameter is looked up as a user id first, then as a username.
//!
//! The workflow routes follow the project's wire contract (the statuses are tabled in the local
//! emulator guide): a workflow id that is no workflow of the account, an unknown user and a
//! workflow the user has not installed are 404s, checked in that order; repeating an activate or
//! deactivate, or upgrading at the latest version, is a 200 that changes nothing; an upgrade
//! across a version marked incompatible is a 422 that changes nothing. Installing (an admin call,
//! standing for the end user in Alloy's modal) always lands on the latest version, active, and
//! reinstalls a workflow installed already; an upgrade keeps the activation and `installedAt`.

#![cfg_attr(not(test), warn(unused_crate_dependencies))]

// Only the `alloy-emulator` binary parses flags; the package's dependency is there for it.
use clap as _;

pub mod catalogue;
pub mod testing;

mod admin;
mod faults;
mod gate;
mod jwt;
mod persist;
mod requests;
mod routes;
mod store;
pub mod tenant;
mod tenant_routes;
mod wire;

pub use faults::{API_ROUTES, BadAnswer, Faults};
pub use jwt::TOKEN_TTL_SECS;
pub use requests::LOG_CAPACITY;
pub use routes::MAX_BATCH;
pub use store::Environment;

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, Response, Uri};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::Service as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use rand::RngCore;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use persist::Persister;
use store::Store;
use wire::ApiError;

/// The development key when none is configured. Not a secret: the emulator has no real auth.
pub const DEFAULT_DEVELOPMENT_KEY: &str = "dev-emulator-key-0000000000";
/// The production key when none is configured.
pub const DEFAULT_PRODUCTION_KEY: &str = "prod-emulator-key-0000000000";
/// Where `alloy-emulator` listens by default.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";
/// The version assumed for an unversioned path without an `x-api-version` header.
pub const CURRENT_API_VERSION: &str = "2025-09";

/// How long shutdown waits for in-flight requests before giving up on them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Issued tokens kept for `GET /_emulator/tokens` (oldest dropped first).
const TOKEN_LOG_CAPACITY: usize = 100_000;

/// How to run an emulator. `Default` gives the default keys, an in-memory store and no faults.
#[derive(Clone)]
pub struct EmulatorConfig {
    pub development_key: String,
    pub production_key: String,
    /// Load from and persist to this file; `None` keeps everything in memory.
    pub state_file: Option<PathBuf>,
    pub faults: Faults,
    /// Seed for user ids and fault draws; `None` seeds from the OS.
    pub seed: Option<u64>,
    /// HS256 secret for user tokens; `None` draws a random one for this process.
    pub jwt_secret: Option<String>,
    /// Allow a non-loopback listen address (the API and admin routes have no real protection).
    pub allow_remote: bool,
    /// Print one line per API request on stderr.
    pub verbose: bool,
}

impl Default for EmulatorConfig {
    fn default() -> EmulatorConfig {
        EmulatorConfig {
            development_key: DEFAULT_DEVELOPMENT_KEY.to_owned(),
            production_key: DEFAULT_PRODUCTION_KEY.to_owned(),
            state_file: None,
            faults: Faults::default(),
            seed: None,
            jwt_secret: None,
            allow_remote: false,
            verbose: false,
        }
    }
}

/// Keys and the JWT secret are redacted: a configured key may be a real one.
impl fmt::Debug for EmulatorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmulatorConfig")
            .field("development_key", &"<redacted>")
            .field("production_key", &"<redacted>")
            .field("state_file", &self.state_file)
            .field("faults", &self.faults)
            .field("seed", &self.seed)
            .field(
                "jwt_secret",
                &self.jwt_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("allow_remote", &self.allow_remote)
            .field("verbose", &self.verbose)
            .finish()
    }
}

/// Lock a mutex, carrying on after a panic elsewhere: every critical section leaves the data
/// consistent before anything that could panic, and an emulator that stops answering would be
/// worse than one that answers from the state it has.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Serialize)]
struct TokenRecord {
    #[serde(rename = "userId")]
    user_id: String,
    environment: &'static str,
    token: String,
    iat: u64,
    exp: u64,
}

/// Shared state of one emulator.
pub(crate) struct App {
    store: Mutex<Store>,
    persister: Option<Arc<Persister>>,
    faults: faults::FaultInjector,
    log: requests::RequestLog,
    tokens: Mutex<VecDeque<TokenRecord>>,
    signer: jwt::TokenSigner,
    development_key: String,
    production_key: String,
    started: Instant,
    verbose: bool,
}

impl App {
    pub(crate) fn lock_store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    fn authenticate(&self, headers: &HeaderMap) -> Option<Environment> {
        let key = gate::bearer_key(headers)?;
        if key == self.development_key {
            Some(Environment::Development)
        } else if key == self.production_key {
            Some(Environment::Production)
        } else {
            None
        }
    }

    /// Make the change that produced `generation` durable before the caller answers.
    async fn commit(&self, generation: u64) -> Result<(), ApiError> {
        match &self.persister {
            None => Ok(()),
            Some(p) => p.wait_durable(generation).await.map_err(|e| {
                ApiError::internal(format!(
                    "the change could not be saved to the state file: {e}"
                ))
            }),
        }
    }

    fn record_token(&self, env: Environment, user_id: String, token: String, iat: u64, exp: u64) {
        let mut tokens = lock(&self.tokens);
        if tokens.len() == TOKEN_LOG_CAPACITY {
            tokens.pop_front();
        }
        tokens.push_back(TokenRecord {
            user_id,
            environment: env.as_str(),
            token,
            iat,
            exp,
        });
    }

    fn clear_tokens(&self) {
        lock(&self.tokens).clear();
    }

    fn tokens_json(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct View<'a> {
            tokens: &'a VecDeque<TokenRecord>,
        }
        let tokens = lock(&self.tokens);
        serde_json::to_vec(&View { tokens: &tokens })
            .unwrap_or_else(|e| format!("{{\"message\":{:?}}}", e.to_string()).into_bytes())
    }
}

/// Response extension set by the API middleware: close the connection instead of answering.
#[derive(Clone, Copy)]
pub(crate) struct DropConnection;

/// Request extension: the `/{YYYY-MM}` segment the path carried, if any.
#[derive(Clone)]
pub(crate) struct PathVersion(pub String);

/// The error a lost response turns into; hyper reacts by closing the connection unanswered.
#[derive(Debug)]
struct ResponseDropped;

impl fmt::Display for ResponseDropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("response dropped by fault injection")
    }
}

impl std::error::Error for ResponseDropped {}

struct Routers {
    api: Router,
    admin: Router,
}

fn is_admin_path(path: &str) -> bool {
    path == "/_emulator" || path.starts_with("/_emulator/")
}

/// Remove an `/{YYYY-MM}` prefix (API paths only) and one trailing slash.
fn normalize_path(path: &str, admin: bool) -> (Option<&str>, &str) {
    let mut version = None;
    let mut rest = path;
    if !admin && let Some(after) = path.strip_prefix('/') {
        let end = after.find('/').unwrap_or(after.len());
        if gate::is_api_version(&after[..end]) {
            version = Some(&after[..end]);
            rest = &after[end..];
        }
    }
    if rest.len() > 1 && rest.ends_with('/') {
        rest = &rest[..rest.len() - 1];
    }
    if rest.is_empty() {
        rest = "/";
    }
    (version, rest)
}

async fn dispatch(
    routers: Arc<Routers>,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, ResponseDropped> {
    let admin = is_admin_path(req.uri().path());
    let (version, path) = normalize_path(req.uri().path(), admin);
    if path.len() != req.uri().path().len() {
        let rebuilt = match req.uri().query() {
            Some(q) => format!("{path}?{q}"),
            None => path.to_owned(),
        };
        let version = version.map(str::to_owned);
        if let Ok(uri) = Uri::builder().path_and_query(rebuilt).build() {
            *req.uri_mut() = uri;
        }
        if let Some(v) = version {
            req.extensions_mut().insert(PathVersion(v));
        }
    }
    let router = if admin { &routers.admin } else { &routers.api };
    let Ok(response) = TowerToHyperService::new(router.clone()).call(req).await;
    if response.extensions().get::<DropConnection>().is_some() {
        return Err(ResponseDropped);
    }
    Ok(response)
}

async fn serve(listener: TcpListener, routers: Arc<Routers>, cancel: CancellationToken) {
    // Every connection task holds a clone of `alive`; when all are gone, `recv` returns None.
    let (alive, mut all_closed) = tokio::sync::mpsc::channel::<()>(1);
    loop {
        let stream = tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    eprintln!("alloy-emulator: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let routers = routers.clone();
        let cancel = cancel.clone();
        let alive = alive.clone();
        tokio::spawn(async move {
            let _alive = alive;
            let service = hyper::service::service_fn(move |req| dispatch(routers.clone(), req));
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = cancel.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(SHUTDOWN_GRACE, conn).await;
                }
            }
        });
    }
    drop(listener);
    drop(alive);
    let _ = all_closed.recv().await;
}

/// An emulator serving on a local port. Dropping it stops the server; [`shutdown`] also waits
/// for in-flight requests and the last state-file write.
///
/// [`shutdown`]: RunningEmulator::shutdown
pub struct RunningEmulator {
    addr: SocketAddr,
    app: Arc<App>,
    cancel: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl fmt::Debug for RunningEmulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningEmulator")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

impl RunningEmulator {
    /// Load the state file (if any), bind `listen` (port 0 picks a free one) and start serving
    /// on the current tokio runtime.
    pub async fn start(cfg: EmulatorConfig, listen: SocketAddr) -> io::Result<RunningEmulator> {
        if !cfg.allow_remote && !listen.ip().is_loopback() {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "refusing to listen on non-loopback address {listen}: the emulator has no real \
                     authentication (pass --allow-remote to do it anyway)"
                ),
            ));
        }
        if cfg.development_key.is_empty() || cfg.production_key.is_empty() {
            return Err(invalid("API keys must not be empty".into()));
        }
        if cfg.development_key == cfg.production_key {
            return Err(invalid(
                "the development and production keys must differ".into(),
            ));
        }
        cfg.faults.validate().map_err(invalid)?;

        let store_rng = faults::rng_for(cfg.seed, 1);
        let store = match &cfg.state_file {
            None => Store::new(store_rng),
            Some(path) => match tokio::fs::read(path).await {
                Ok(bytes) => Store::from_snapshot_json(&bytes, store_rng).map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{}: {e}", path.display()),
                    )
                })?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => Store::new(store_rng),
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("cannot read state file {}: {e}", path.display()),
                    ));
                }
            },
        };
        let persister = cfg.state_file.clone().map(|p| Arc::new(Persister::new(p)));
        if let Some(p) = &persister {
            // Write once now, so an unwritable path fails the start instead of every write.
            let bytes = store.snapshot_json().map_err(io::Error::other)?;
            let path = p.path().to_owned();
            tokio::task::spawn_blocking(move || persist::write_atomically(&path, &bytes))
                .await
                .map_err(io::Error::other)?
                .map_err(|e| io::Error::new(e.kind(), format!("cannot write state file: {e}")))?;
        }

        let secret = match &cfg.jwt_secret {
            Some(s) => s.as_bytes().to_vec(),
            None => {
                let mut s = vec![0u8; 32];
                rand::rng().fill_bytes(&mut s);
                s
            }
        };
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let app = Arc::new(App {
            store: Mutex::new(store),
            persister: persister.clone(),
            faults: faults::FaultInjector::new(cfg.faults.clone(), faults::rng_for(cfg.seed, 2)),
            log: requests::RequestLog::default(),
            tokens: Mutex::new(VecDeque::new()),
            signer: jwt::TokenSigner::new(&secret),
            development_key: cfg.development_key,
            production_key: cfg.production_key,
            started: Instant::now(),
            verbose: cfg.verbose,
        });
        let routers = Arc::new(Routers {
            api: routes::router(app.clone()),
            admin: admin::router(app.clone()),
        });
        let cancel = CancellationToken::new();
        let mut tasks = vec![tokio::spawn(serve(listener, routers, cancel.clone()))];
        if let Some(p) = persister {
            tasks.push(tokio::spawn(p.run(app.clone(), cancel.clone())));
        }
        Ok(RunningEmulator {
            addr,
            app,
            cancel,
            tasks,
        })
    }

    /// The base URL, e.g. `http://127.0.0.1:8787` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn development_key(&self) -> &str {
        &self.app.development_key
    }

    pub fn production_key(&self) -> &str {
        &self.app.production_key
    }

    /// The fault knobs in force.
    pub fn faults(&self) -> Faults {
        self.app.faults.current()
    }

    /// Replace the fault knobs (the same as `PUT /_emulator/faults` with every field).
    pub fn set_faults(&self, faults: Faults) -> Result<(), String> {
        faults.validate()?;
        self.app.faults.set(faults);
        Ok(())
    }

    /// Stop accepting, let in-flight requests finish (for a few seconds at most) and write the
    /// state file a last time.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_prefix_and_trailing_slash() {
        assert_eq!(
            normalize_path("/2024-03/users/", false),
            (Some("2024-03"), "/users")
        );
        assert_eq!(
            normalize_path("/2024-03/users/x/token", false),
            (Some("2024-03"), "/users/x/token")
        );
        assert_eq!(normalize_path("/users/", false), (None, "/users"));
        assert_eq!(normalize_path("/users", false), (None, "/users"));
        assert_eq!(normalize_path("/2024-03", false), (Some("2024-03"), "/"));
        assert_eq!(normalize_path("/", false), (None, "/"));
        // Only a leading version segment counts, and never on admin paths.
        assert_eq!(
            normalize_path("/users/2024-03", false),
            (None, "/users/2024-03")
        );
        assert_eq!(
            normalize_path("/_emulator/health/", true),
            (None, "/_emulator/health")
        );
        assert!(is_admin_path("/_emulator/faults"));
        assert!(!is_admin_path("/_emulatorx"));
    }

    #[test]
    fn config_debug_redacts_secrets() {
        let cfg = EmulatorConfig {
            development_key: "dev-super-secret".into(),
            production_key: "prod-super-secret".into(),
            jwt_secret: Some("jwt-super-secret".into()),
            ..EmulatorConfig::default()
        };
        let s = format!("{cfg:?}");
        assert!(!s.contains("super-secret"), "{s}");
        assert!(s.contains("<redacted>"));
    }
}
