//! The gate every API request passes through, around its handler.
//!
//! In the order documented in `faults.rs`: the fault knobs (delay, rate limit, injected server
//! errors), the `x-api-version` check, the API key (`Authorization: Bearer`, which picks the
//! [`Environment`]); after the handler, a lost response or a spoilt answer; and last, the request
//! log entry. Handlers in `routes.rs` therefore only ever see authenticated requests. It is kept
//! apart from the handlers because it is the one place that decides *whether* a request is
//! answered, and tests that count API calls depend on it logging every one exactly once.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::faults::{self, BadAnswer, Faults, Rejection};
use super::requests::{Entry, VersionSource};
use super::store::Environment;
use super::wire::ApiError;
use super::{App, CURRENT_API_VERSION, DropConnection, PathVersion};

/// `YYYY-MM` with a plausible month.
pub(crate) fn is_api_version(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 7
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..].iter().all(u8::is_ascii_digit)
        && matches!((b[5] - b'0') * 10 + (b[6] - b'0'), 1..=12)
}

fn is_write(m: &Method) -> bool {
    matches!(*m, Method::POST | Method::PUT | Method::DELETE)
}

fn rejection_response(r: Rejection) -> Response {
    match r {
        Rejection::RateLimited { retry_after_secs } => {
            let mut resp =
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded").into_response();
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            resp
        }
        Rejection::ServerError { status } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let message = if status == StatusCode::SERVICE_UNAVAILABLE {
                "Service temporarily unavailable (injected fault)"
            } else {
                "Internal server error (injected fault)"
            };
            ApiError::new(status, message).into_response()
        }
    }
}

/// Everything every API request goes through, in the order documented in `faults.rs`.
pub(crate) async fn gate(State(app): State<Arc<App>>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let path = req.uri().path().to_owned();
    let (api_version, versioned_by) = match req.extensions().get::<PathVersion>() {
        Some(PathVersion(v)) => (Ok(v.clone()), VersionSource::Path),
        None => match req.headers().get("x-api-version") {
            Some(h) => (
                h.to_str()
                    .ok()
                    .filter(|v| is_api_version(v))
                    .map(str::to_owned)
                    .ok_or_else(|| String::from_utf8_lossy(h.as_bytes()).into_owned()),
                VersionSource::Header,
            ),
            None => (Ok(CURRENT_API_VERSION.to_owned()), VersionSource::Default),
        },
    };

    let route_key = route.as_deref().map(|r| format!("{method} {r}"));
    let mut faults = app.faults.current();
    if !faults.applies_to(route_key.as_deref()) {
        faults = Faults::default();
    }
    if let Some(delay) = app.faults.delay(&faults) {
        tokio::time::sleep(delay).await;
    }
    let mut environment = None;
    let mut lost = false;
    let mut bad_answer = false;
    let response = if let Err(r) = app.faults.admit(&faults, Instant::now()) {
        rejection_response(r)
    } else if let Err(bad) = &api_version {
        ApiError::bad_request(format!(
            "Unsupported x-api-version {bad:?}: expected YYYY-MM"
        ))
        .into_response()
    } else if route.is_none() {
        next.run(req).await
    } else if let Some(env) = app.authenticate(req.headers()) {
        environment = Some(env);
        req.extensions_mut().insert(env);
        let mut resp = next.run(req).await;
        if is_write(&method) && resp.status().is_success() && app.faults.lose_response(&faults) {
            resp.extensions_mut().insert(DropConnection);
            lost = true;
        } else if resp.status().is_success() && app.faults.spoil_answer(&faults) {
            resp = spoilt(resp, faults.bad_answer).await;
            bad_answer = true;
        }
        resp
    } else {
        ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized").into_response()
    };

    let entry = Entry {
        at_ms: app.started.elapsed().as_millis() as u64,
        method: method.as_str().to_owned(),
        route: route.unwrap_or_else(|| "(unmatched)".to_owned()),
        path,
        status: response.status().as_u16(),
        environment: environment.map(Environment::as_str),
        api_version: api_version.unwrap_or_else(|bad| bad),
        versioned_by,
        lost,
        bad_answer,
    };
    if app.verbose {
        // Never the headers: they carry the API key.
        eprintln!(
            "alloy-emulator: {} {} -> {}{} in {} ms [{}]",
            entry.method,
            entry.path,
            entry.status,
            if lost {
                " (response dropped)"
            } else if bad_answer {
                " (bad answer)"
            } else {
                ""
            },
            started.elapsed().as_millis(),
            entry.environment.unwrap_or("unauthenticated"),
        );
    }
    app.log.record(entry);
    response
}

/// `resp` with its body replaced by a malformed answer of kind `kind` (see `faults::spoil`).
async fn spoilt(resp: Response, kind: BadAnswer) -> Response {
    let (parts, body) = resp.into_parts();
    // Our own answers are small and already in memory; the bound only guards against a bug.
    let bytes = axum::body::to_bytes(body, 64 << 20)
        .await
        .unwrap_or_default();
    let (status, content_type, spoilt) = faults::spoil(kind, parts.status.as_u16(), &bytes);
    let mut out = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
        spoilt,
    )
        .into_response();
    out.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    out
}

/// The `Authorization: Bearer <key>` check; the scheme is case-insensitive.
pub(crate) fn bearer_key(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| key.trim())
        .filter(|k| !k.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::tests::{request_log, served};
    use serde_json::Value;

    #[test]
    fn api_versions() {
        assert!(is_api_version("2025-09"));
        assert!(is_api_version("2023-12"));
        assert!(!is_api_version("2025-13"));
        assert!(!is_api_version("2025-00"));
        assert!(!is_api_version("v1"));
        assert!(!is_api_version("2025-9"));
        assert!(!is_api_version("users"));
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer_key(&h), None);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer abc"),
        );
        assert_eq!(bearer_key(&h), Some("abc"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("BEARER  abc "),
        );
        assert_eq!(bearer_key(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer_key(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("abc"));
        assert_eq!(bearer_key(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer_key(&h), None);
    }

    #[tokio::test]
    async fn faults_scoped_to_a_route_leave_the_others_alone() {
        let (emu, http) = served().await;
        let key = emu.development_key().to_owned();
        let url = emu.url();
        emu.set_faults(Faults {
            error_rate: 1.0,
            routes: vec!["GET /users/{id}".into()],
            ..Faults::default()
        })
        .unwrap();
        let r = http
            .post(format!("{url}/users"))
            .bearer_auth(&key)
            .body(r#"{"username":"scoped"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "POST is not in the scope");
        let r = http
            .get(format!("{url}/users/scoped"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert!(
            r.status() == 500 || r.status() == 503,
            "GET /users/{{id}} is: {}",
            r.status()
        );
        let r = http
            .get(format!("{url}/users"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        // The admin API takes the scope and reports it back.
        let r = http
            .put(format!("{url}/_emulator/faults"))
            .body(r#"{"routes": ["GET /nope"]}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "an unknown route is refused");
        let f: Value = http
            .put(format!("{url}/_emulator/faults"))
            .body(r#"{"routes": ["POST /users", "GET /users"]}"#)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            f["routes"],
            serde_json::json!(["POST /users", "GET /users"])
        );
        assert_eq!(f["error_rate"], 1.0);
        let r = http
            .get(format!("{url}/users/scoped"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "no longer in the scope");
    }

    #[tokio::test]
    async fn bad_answers_replace_successful_answers_after_the_work_is_done() {
        let (emu, http) = served().await;
        let key = emu.development_key().to_owned();
        let url = emu.url();
        for (n, kind) in BadAnswer::ALL.into_iter().enumerate() {
            emu.set_faults(Faults {
                bad_answer_rate: 1.0,
                bad_answer: kind,
                routes: vec!["POST /users".into()],
                ..Faults::default()
            })
            .unwrap();
            let r = http
                .post(format!("{url}/users"))
                .bearer_auth(&key)
                .body(format!(r#"{{"username":"bad-{n}"}}"#))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let ct = r
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let body = r.bytes().await.unwrap();
            let parsed = serde_json::from_slice::<Value>(&body);
            match kind {
                BadAnswer::Html | BadAnswer::Html502 => {
                    assert_eq!(status, if kind == BadAnswer::Html { 200 } else { 502 });
                    assert!(ct.starts_with("text/html"), "{ct}");
                    assert!(body.starts_with(b"<!DOCTYPE html>"));
                }
                BadAnswer::Truncated => {
                    assert_eq!(status, 200);
                    assert!(parsed.is_err() && !body.is_empty());
                }
                BadAnswer::MissingField => {
                    assert_eq!(status, 200);
                    assert_eq!(parsed.unwrap(), serde_json::json!({}));
                }
                BadAnswer::Empty => {
                    assert_eq!(status, 200);
                    assert!(body.is_empty());
                }
            }
            // The user was created all the same, and a route out of scope answers normally.
            let r = http
                .get(format!("{url}/users/bad-{n}"))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{kind}");
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["username"], format!("bad-{n}"));
        }
        // An error answer is never spoilt: the fault is about successful answers.
        let r = http
            .post(format!("{url}/users"))
            .bearer_auth(&key)
            .body(r#"{"username":"bad-0"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422);
        let log = request_log(&http, &url).await;
        assert_eq!(log["bad_answers"], BadAnswer::ALL.len());
        let flagged = log["log"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["bad_answer"] == true)
            .count();
        assert_eq!(flagged, BadAnswer::ALL.len());
    }
}
