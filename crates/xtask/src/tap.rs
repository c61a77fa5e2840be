//! `xtask tap --upstream URL -- COMMAND...`: runs a command whose only way to the API is a
//! recording proxy, and proves afterwards that it used nothing but the public API.
//!
//! CI runs the acceptance tests and the conformance probe through it against a freshly started
//! emulator. The emulator's request log records API calls only, so it cannot show that a test
//! never called an admin route; the tap can, because it sits in front: the command gets the
//! tap's address as `ALLOY_BASE_URL` (it never learns the emulator's), every request is counted,
//! admin paths (`/_emulator...`) are refused with 403 and counted, and everything else is
//! forwarded unchanged. At the end the tap compares its count of forwarded requests with the
//! emulator's own request log, so nothing reached the emulator's API behind its back either.
//! It fails when the command fails, when any admin call was attempted, or when the counts differ.

use std::io;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use url::Url;

use super::{Error, Result};

/// Largest request body the tap forwards (the API's bodies are small JSON objects).
const MAX_BODY: usize = 16 << 20;

/// What went through the tap.
#[derive(Debug, Default)]
pub struct Counts {
    pub forwarded: AtomicU64,
    pub admin_refused: AtomicU64,
}

struct Tap {
    upstream: Url,
    http: reqwest::Client,
    counts: Arc<Counts>,
}

/// True for the emulator's admin routes, however the path is spelled.
pub fn is_admin_path(path: &str) -> bool {
    path.split('/')
        .any(|seg| seg.eq_ignore_ascii_case("_emulator"))
}

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "content-length",
    "host",
    "keep-alive",
    "transfer-encoding",
    "upgrade",
];

fn skip(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(&name.as_str())
}

async fn forward(State(tap): State<Arc<Tap>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    if is_admin_path(parts.uri.path()) {
        tap.counts.admin_refused.fetch_add(1, Ordering::SeqCst);
        eprintln!(
            "tap: refused admin call {} {}",
            parts.method,
            parts.uri.path()
        );
        return (
            StatusCode::FORBIDDEN,
            r#"{"message":"the tap forwards the public API only"}"#,
        )
            .into_response();
    }
    let mut url = tap.upstream.clone();
    url.set_path(parts.uri.path());
    url.set_query(parts.uri.query());
    let body: Bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("tap: {e}")).into_response(),
    };
    let mut out = tap.http.request(parts.method.clone(), url).body(body);
    for (name, value) in &parts.headers {
        if !skip(name) {
            out = out.header(name, value);
        }
    }
    tap.counts.forwarded.fetch_add(1, Ordering::SeqCst);
    let resp = match out.send().await {
        Ok(r) => r,
        Err(e) => {
            return (StatusCode::BAD_GATEWAY, format!("tap: upstream: {e}")).into_response();
        }
    };
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.unwrap_or_default();
    let mut answer = Response::new(Body::from(bytes));
    *answer.status_mut() = status;
    for (name, value) in &headers {
        if !skip(name) {
            answer.headers_mut().append(name, value.clone());
        }
    }
    answer
}

/// Starts the tap on a free loopback port; returns its address and counters.
pub async fn start(upstream: Url) -> Result<(SocketAddr, Arc<Counts>)> {
    let counts = Arc::new(Counts::default());
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .map_err(|e| Error::Invalid(format!("cannot set up an HTTP client: {e}")))?;
    let tap = Arc::new(Tap {
        upstream,
        http,
        counts: counts.clone(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| Error::Invalid(format!("cannot listen on loopback: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Invalid(format!("cannot read the tap's address: {e}")))?;
    let app = Router::new().fallback(forward).with_state(tap);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((addr, counts))
}

/// The emulator's own count of API requests (`GET /_emulator/requests`), or None when the
/// upstream has no such admin route (it is not our emulator).
async fn emulator_total(upstream: &Url) -> Option<u64> {
    let mut url = upstream.clone();
    url.set_path("/_emulator/requests");
    url.set_query(Some("tail=0"));
    let v: serde_json::Value = reqwest::Client::new()
        .get(url)
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    v["total"].as_u64()
}

/// `xtask tap`: runs `command` with `ALLOY_BASE_URL` pointing at the tap in front of
/// `upstream`, then reports. Ok(true) when the command passed using the public API only.
pub fn tap_command(upstream: &str, command: &[String], out: &mut dyn io::Write) -> Result<bool> {
    let upstream = Url::parse(upstream)
        .map_err(|e| Error::Invalid(format!("--upstream {upstream:?} is not a URL ({e})")))?;
    let Some((program, args)) = command.split_first() else {
        return Err(Error::Invalid(
            "no command to run: xtask tap --upstream URL -- COMMAND [ARGS...]".into(),
        ));
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Invalid(format!("cannot start an async runtime: {e}")))?;
    let before = rt.block_on(emulator_total(&upstream));
    let (addr, counts) = rt.block_on(start(upstream.clone()))?;
    let _ = writeln!(out, "tap: http://{addr} in front of {upstream}");
    let _ = out.flush();
    let status = Command::new(program)
        .args(args)
        .env("ALLOY_BASE_URL", format!("http://{addr}"))
        .status()
        .map_err(|e| Error::Command {
            command: program.clone(),
            detail: e.to_string(),
        })?;
    let after = rt.block_on(emulator_total(&upstream));
    let forwarded = counts.forwarded.load(Ordering::SeqCst);
    let admin = counts.admin_refused.load(Ordering::SeqCst);
    let mut ok = status.success() && admin == 0;
    let seen = match (before, after) {
        (Some(b), Some(a)) => {
            let n = a.saturating_sub(b);
            ok &= n == forwarded;
            format!("the emulator logged {n} API requests meanwhile")
        }
        _ => "the upstream has no emulator request log to compare with".to_owned(),
    };
    let _ = writeln!(
        out,
        "tap: `{program}` {status}; {forwarded} API requests forwarded, {admin} admin calls refused; {seen}"
    );
    if !ok && status.success() {
        let _ = writeln!(
            out,
            "tap: FAILED: the command must reach the API only through the tap and never call an \
             admin route"
        );
    }
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_paths_are_recognised_however_spelled() {
        for p in [
            "/_emulator",
            "/_emulator/reset",
            "/2025-09/_emulator/x",
            "/_EMULATOR/",
        ] {
            assert!(is_admin_path(p), "{p}");
        }
        for p in ["/users", "/users/_emulatorx", "/"] {
            assert!(!is_admin_path(p), "{p}");
        }
    }
}
