//! Fault injection for the API routes: latency, server errors, rate limiting, lost responses
//! and malformed ("bad") answers.
//!
//! The knobs exist so the API client and the provider can be tested against the failures a real
//! network service produces. They apply to API routes only: the admin routes under
//! `/_emulator` must stay reliable, since tests use them to set up state and to count requests.
//! `routes` narrows them further to some route templates (as the request log names them, e.g.
//! `GET /users/{id}`), so a test can break one step of an operation — the lookup after an
//! unreadable create answer, say — and leave the others working. Requests on other routes see
//! no fault at all.
//!
//! Order of application for one API request: latency (+ jitter) first, then the rate limit,
//! then the error rate — both of which answer before the store is touched — then the handler,
//! then, for a successful write, the lost-response draw (the write stays committed, only the
//! answer disappears), then, for any successful answer that was not lost, the bad-answer draw
//! (the work is done, but the body the client receives is not what the API documents: what a
//! misconfigured proxy, a wrong `base_url` or a truncated transfer produce).
//!
//! The rate limit is a *fixed* one-second window shared by both API keys: the window opens at
//! the first request after the previous one closed and admits `rate_limit` requests; the rest are
//! answered 429 with `Retry-After: 1` (the window is at most one second away from closing, and
//! the header counts whole seconds). Rejected requests do not use up the allowance.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::lock;

/// The fault knobs. All zero (the default) means a well-behaved API.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Fixed delay before each API request is handled, in milliseconds.
    pub latency_ms: u64,
    /// Extra delay drawn uniformly from `0..=jitter_ms`, added to `latency_ms`.
    pub jitter_ms: u64,
    /// Fraction (0..=1) of API requests answered 500 or 503 (alternately) before any work.
    pub error_rate: f64,
    /// Admitted API requests per second; 0 turns the limit off.
    pub rate_limit: u32,
    /// Fraction (0..=1) of successful writes (POST/PUT/DELETE) whose response is dropped: the
    /// change is committed and the connection is closed without an HTTP response.
    pub lost_response_rate: f64,
    /// Fraction (0..=1) of successful API answers replaced by a malformed one of kind
    /// `bad_answer`, after the handler did its work.
    pub bad_answer_rate: f64,
    /// What a bad answer looks like.
    pub bad_answer: BadAnswer,
    /// Route templates (`"GET /users/{id}"`, method and path as in the request log) the knobs
    /// apply to; empty means every API route.
    pub routes: Vec<String>,
}

/// The malformed answer that replaces a successful one when `bad_answer_rate` draws it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum BadAnswer {
    /// A gateway's HTML error page, with status 200 (a proxy that hides the failure).
    #[default]
    #[serde(rename = "html")]
    Html,
    /// The same HTML page with status 502.
    #[serde(rename = "html_502")]
    Html502,
    /// The JSON body cut in half.
    #[serde(rename = "truncated")]
    Truncated,
    /// The JSON body without `userId` (top level and list items); a body without `userId`
    /// loses another field instead.
    #[serde(rename = "missing_field")]
    MissingField,
    /// Status 200 with an empty body.
    #[serde(rename = "empty")]
    Empty,
}

impl BadAnswer {
    pub const ALL: [BadAnswer; 5] = [
        BadAnswer::Html,
        BadAnswer::Html502,
        BadAnswer::Truncated,
        BadAnswer::MissingField,
        BadAnswer::Empty,
    ];

    /// The name used by the admin API and the `--bad-answer` flag.
    pub fn as_str(self) -> &'static str {
        match self {
            BadAnswer::Html => "html",
            BadAnswer::Html502 => "html_502",
            BadAnswer::Truncated => "truncated",
            BadAnswer::MissingField => "missing_field",
            BadAnswer::Empty => "empty",
        }
    }
}

impl std::fmt::Display for BadAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for BadAnswer {
    type Err = String;

    fn from_str(s: &str) -> Result<BadAnswer, String> {
        BadAnswer::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = BadAnswer::ALL.iter().map(|k| k.as_str()).collect();
                format!(
                    "unknown bad answer {s:?}: expected one of {}",
                    names.join(", ")
                )
            })
    }
}

impl Faults {
    /// Check the rates are probabilities and the routes name API routes (a typo would
    /// otherwise silently scope the faults to nothing).
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [
            ("error_rate", self.error_rate),
            ("lost_response_rate", self.lost_response_rate),
            ("bad_answer_rate", self.bad_answer_rate),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("{name} must be between 0 and 1, got {v}"));
            }
        }
        for r in &self.routes {
            if !API_ROUTES.contains(&r.as_str()) {
                return Err(format!(
                    "routes: {r:?} is not an API route; expected one of {}",
                    API_ROUTES.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// Whether the knobs apply to a request on `route` (`"GET /users/{id}"`; `None` when no
    /// route matched, which only an unscoped fault set covers).
    pub(crate) fn applies_to(&self, route: Option<&str>) -> bool {
        self.routes.is_empty() || route.is_some_and(|r| self.routes.iter().any(|x| x == r))
    }
}

/// A partial update of [`Faults`] (the admin `PUT /_emulator/faults` body): omitted fields keep
/// their value. Unknown fields are refused so that a typo in a test fails loudly.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FaultsPatch {
    latency_ms: Option<u64>,
    jitter_ms: Option<u64>,
    error_rate: Option<f64>,
    rate_limit: Option<u32>,
    lost_response_rate: Option<f64>,
    bad_answer_rate: Option<f64>,
    bad_answer: Option<BadAnswer>,
    routes: Option<Vec<String>>,
}

impl FaultsPatch {
    pub(crate) fn apply(&self, base: &Faults) -> Faults {
        Faults {
            latency_ms: self.latency_ms.unwrap_or(base.latency_ms),
            jitter_ms: self.jitter_ms.unwrap_or(base.jitter_ms),
            error_rate: self.error_rate.unwrap_or(base.error_rate),
            rate_limit: self.rate_limit.unwrap_or(base.rate_limit),
            lost_response_rate: self.lost_response_rate.unwrap_or(base.lost_response_rate),
            bad_answer_rate: self.bad_answer_rate.unwrap_or(base.bad_answer_rate),
            bad_answer: self.bad_answer.unwrap_or(base.bad_answer),
            routes: self.routes.clone().unwrap_or_else(|| base.routes.clone()),
        }
    }
}

/// A request refused by fault injection, before it reached the store.
#[derive(Debug, PartialEq)]
pub(crate) enum Rejection {
    /// 429 with `Retry-After` in whole seconds.
    RateLimited { retry_after_secs: u64 },
    /// An injected 500 or 503.
    ServerError { status: u16 },
}

struct Window {
    opened: Option<Instant>,
    admitted: u32,
}

/// The live fault state: the knobs, a random generator (seeded with `--seed` for reproducible
/// runs), the rate-limit window and the 500/503 alternation.
pub(crate) struct FaultInjector {
    faults: Mutex<Faults>,
    rng: Mutex<StdRng>,
    window: Mutex<Window>,
    errors_injected: AtomicU64,
}

impl FaultInjector {
    pub(crate) fn new(faults: Faults, rng: StdRng) -> FaultInjector {
        FaultInjector {
            faults: Mutex::new(faults),
            rng: Mutex::new(rng),
            window: Mutex::new(Window {
                opened: None,
                admitted: 0,
            }),
            errors_injected: AtomicU64::new(0),
        }
    }

    pub(crate) fn current(&self) -> Faults {
        lock(&self.faults).clone()
    }

    pub(crate) fn set(&self, faults: Faults) {
        *lock(&self.faults) = faults;
        let mut w = lock(&self.window);
        w.opened = None;
        w.admitted = 0;
    }

    /// How long to wait before handling a request.
    pub(crate) fn delay(&self, f: &Faults) -> Option<Duration> {
        if f.latency_ms == 0 && f.jitter_ms == 0 {
            return None;
        }
        let jitter = if f.jitter_ms > 0 {
            lock(&self.rng).random_range(0..=f.jitter_ms)
        } else {
            0
        };
        Some(Duration::from_millis(f.latency_ms.saturating_add(jitter)))
    }

    /// Rate limit, then error rate. `Ok` means the request may proceed.
    pub(crate) fn admit(&self, f: &Faults, now: Instant) -> Result<(), Rejection> {
        if f.rate_limit > 0 {
            let mut w = lock(&self.window);
            let second = Duration::from_secs(1);
            match w.opened {
                Some(t) if now.saturating_duration_since(t) < second => {}
                _ => {
                    w.opened = Some(now);
                    w.admitted = 0;
                }
            }
            if w.admitted >= f.rate_limit {
                return Err(Rejection::RateLimited {
                    retry_after_secs: 1,
                });
            }
            w.admitted += 1;
        }
        if f.error_rate > 0.0 && lock(&self.rng).random::<f64>() < f.error_rate {
            let n = self.errors_injected.fetch_add(1, Ordering::Relaxed);
            let status = if n.is_multiple_of(2) { 500 } else { 503 };
            return Err(Rejection::ServerError { status });
        }
        Ok(())
    }

    /// Whether to drop the response of a successful write.
    pub(crate) fn lose_response(&self, f: &Faults) -> bool {
        f.lost_response_rate > 0.0 && lock(&self.rng).random::<f64>() < f.lost_response_rate
    }

    /// Whether to replace a successful answer with a bad one.
    pub(crate) fn spoil_answer(&self, f: &Faults) -> bool {
        f.bad_answer_rate > 0.0 && lock(&self.rng).random::<f64>() < f.bad_answer_rate
    }
}

/// Every API route template, as the request log names them. Kept next to the fault knobs
/// because `routes` is checked against it; a test in `routes.rs` keeps it in step with the
/// router.
pub const API_ROUTES: &[&str] = &[
    "GET /users",
    "POST /users",
    "POST /users/batch",
    "GET /users/{id}",
    "PUT /users/{id}",
    "DELETE /users/{id}",
    "GET /users/{id}/token",
    "GET /integrations",
    "GET /integrations/{id}",
    "GET /workflows/{id}/users",
    "PUT /workflows/activate",
    "PUT /workflows/deactivate",
    "PUT /workflows/{id}/upgrade",
    "DELETE /workflows/{id}",
    "POST /headless/credentials",
    "GET /credentials/users/{id}",
    "GET /users/{id}/credentials",
    "DELETE /users/{id}/credentials/{credential}",
    "DELETE /credentials/{credential}/users/{id}",
    "GET /metadata/credentials",
    "GET /metadata/credentials/{name}",
    "GET /workflows/{id}/logs",
    "DELETE /users/{id}/logs",
    "DELETE /workflows/logs",
];

/// The HTML a failing gateway sends instead of the API's JSON.
const GATEWAY_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n<body><h1>502 Bad Gateway</h1><p>The upstream server returned an invalid response.</p></body></html>\n";

/// A malformed answer of kind `kind` in place of the successful answer `(status, body)`:
/// `(status, content type, body)`.
pub(crate) fn spoil(kind: BadAnswer, status: u16, body: &[u8]) -> (u16, &'static str, Vec<u8>) {
    const JSON: &str = "application/json";
    const HTML: &str = "text/html; charset=utf-8";
    match kind {
        BadAnswer::Html => (200, HTML, GATEWAY_PAGE.as_bytes().to_vec()),
        BadAnswer::Html502 => (502, HTML, GATEWAY_PAGE.as_bytes().to_vec()),
        BadAnswer::Truncated => (status, JSON, body[..body.len() / 2].to_vec()),
        BadAnswer::Empty => (200, JSON, Vec::new()),
        BadAnswer::MissingField => (status, JSON, without_user_id(body)),
    }
}

/// `body` without `userId`, at the top level and in the items of `data`; a body that has none
/// loses one field (the first in key order), so every answer is spoilt somehow.
fn without_user_id(body: &[u8]) -> Vec<u8> {
    let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return body.to_vec();
    };
    let mut removed = false;
    if let Some(obj) = v.as_object_mut() {
        removed |= obj.remove("userId").is_some();
        match obj.get_mut("data") {
            Some(serde_json::Value::Array(items)) => {
                for item in items.iter_mut().filter_map(|i| i.as_object_mut()) {
                    removed |= item.remove("userId").is_some();
                }
            }
            Some(serde_json::Value::Object(item)) => removed |= item.remove("userId").is_some(),
            _ => {}
        }
        if !removed && let Some(first) = obj.keys().next().cloned() {
            obj.remove(&first);
        }
    }
    serde_json::to_vec(&v).unwrap_or_default()
}

/// A generator seeded from `seed` (offset per purpose, so that the store's ids and the fault
/// draws are independent sequences), or from the OS when no seed is given.
pub(crate) fn rng_for(seed: Option<u64>, purpose: u64) -> StdRng {
    match seed {
        Some(s) => StdRng::seed_from_u64(s ^ purpose.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        None => StdRng::from_os_rng(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn injector(f: &Faults) -> FaultInjector {
        FaultInjector::new(f.clone(), rng_for(Some(42), 1))
    }

    #[test]
    fn no_faults_admits_everything_without_delay() {
        let f = Faults::default();
        let inj = injector(&f);
        let now = Instant::now();
        assert_eq!(inj.delay(&f), None);
        for _ in 0..1000 {
            assert_eq!(inj.admit(&f, now), Ok(()));
            assert!(!inj.lose_response(&f));
        }
    }

    #[test]
    fn latency_plus_jitter_stays_in_range() {
        let f = Faults {
            latency_ms: 10,
            jitter_ms: 5,
            ..Faults::default()
        };
        let inj = injector(&f);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..500 {
            let d = inj.delay(&f).unwrap().as_millis();
            assert!((10..=15).contains(&d), "{d}");
            seen.insert(d);
        }
        assert!(seen.len() > 3, "jitter varies: {seen:?}");
    }

    #[test]
    fn fixed_window_rate_limit() {
        let f = Faults {
            rate_limit: 3,
            ..Faults::default()
        };
        let inj = injector(&f);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(inj.admit(&f, t0), Ok(()));
        }
        let limited = Err(Rejection::RateLimited {
            retry_after_secs: 1,
        });
        assert_eq!(inj.admit(&f, t0 + Duration::from_millis(500)), limited);
        assert_eq!(inj.admit(&f, t0 + Duration::from_millis(999)), limited);
        // A new window opens a second after the first.
        assert_eq!(inj.admit(&f, t0 + Duration::from_millis(1000)), Ok(()));
    }

    #[test]
    fn error_rate_is_roughly_right_and_alternates_500_503() {
        let f = Faults {
            error_rate: 0.3,
            ..Faults::default()
        };
        let inj = injector(&f);
        let now = Instant::now();
        let errors: Vec<u16> = (0..10_000)
            .filter_map(|_| match inj.admit(&f, now) {
                Err(Rejection::ServerError { status }) => Some(status),
                _ => None,
            })
            .collect();
        assert!((2700..=3300).contains(&errors.len()), "{}", errors.len());
        assert!(errors.iter().step_by(2).all(|s| *s == 500));
        assert!(errors.iter().skip(1).step_by(2).all(|s| *s == 503));
    }

    #[test]
    fn seeded_draws_are_reproducible() {
        let f = Faults {
            error_rate: 0.5,
            ..Faults::default()
        };
        let draws = |inj: FaultInjector| -> Vec<bool> {
            (0..200)
                .map(|_| inj.admit(&f, Instant::now()).is_ok())
                .collect()
        };
        assert_eq!(draws(injector(&f)), draws(injector(&f)));
    }

    #[test]
    fn bad_answers_and_route_scope() {
        let f = Faults {
            bad_answer_rate: 0.5,
            ..Faults::default()
        };
        let inj = injector(&f);
        let spoilt = (0..10_000).filter(|_| inj.spoil_answer(&f)).count();
        assert!((4500..=5500).contains(&spoilt), "{spoilt}");
        assert!(!inj.spoil_answer(&Faults::default()));

        let user = br#"{"userId":"abc","username":"u","fullName":null}"#;
        let json = |b: &[u8]| serde_json::from_slice::<serde_json::Value>(b).unwrap();
        let (s, ct, b) = spoil(BadAnswer::MissingField, 200, user);
        assert_eq!((s, ct), (200, "application/json"));
        assert_eq!(json(&b), json(br#"{"username":"u","fullName":null}"#));
        let list = br#"{"data":[{"userId":"a","username":"x"},{"userId":"b"}]}"#;
        let (_, _, b) = spoil(BadAnswer::MissingField, 200, list);
        assert_eq!(json(&b), json(br#"{"data":[{"username":"x"},{}]}"#));
        let (_, _, b) = spoil(BadAnswer::MissingField, 200, br#"{"token":"t"}"#);
        assert_eq!(json(&b), json(b"{}"));
        let (s, _, b) = spoil(BadAnswer::Truncated, 201, user);
        assert_eq!(s, 201);
        assert_eq!(b, &user[..user.len() / 2]);
        assert!(serde_json::from_slice::<serde_json::Value>(&b).is_err());
        let (s, ct, b) = spoil(BadAnswer::Html, 200, user);
        assert_eq!(s, 200);
        assert!(ct.starts_with("text/html") && b.starts_with(b"<!DOCTYPE html>"));
        assert_eq!(spoil(BadAnswer::Html502, 200, user).0, 502);
        assert_eq!(
            spoil(BadAnswer::Empty, 200, user),
            (200, "application/json", vec![])
        );

        for k in BadAnswer::ALL {
            assert_eq!(k.as_str().parse::<BadAnswer>(), Ok(k));
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{k}\""));
        }
        assert!("HTML".parse::<BadAnswer>().is_err());

        let scoped = Faults {
            routes: vec!["GET /users/{id}".into()],
            ..Faults::default()
        };
        assert!(scoped.validate().is_ok());
        assert!(scoped.applies_to(Some("GET /users/{id}")));
        assert!(!scoped.applies_to(Some("POST /users")));
        assert!(!scoped.applies_to(None));
        assert!(Faults::default().applies_to(None));
        let typo = Faults {
            routes: vec!["GET /user/{id}".into()],
            ..Faults::default()
        };
        assert!(typo.validate().unwrap_err().contains("GET /user/{id}"));
        let bad_rate = Faults {
            bad_answer_rate: 1.01,
            ..Faults::default()
        };
        assert!(bad_rate.validate().unwrap_err().contains("bad_answer_rate"));
    }

    #[test]
    fn patch_changes_only_given_fields_and_validation() {
        let base = Faults {
            latency_ms: 5,
            rate_limit: 7,
            ..Faults::default()
        };
        let patch: FaultsPatch = serde_json::from_str(r#"{"error_rate": 0.25}"#).unwrap();
        let f = patch.apply(&base);
        assert_eq!(f.latency_ms, 5);
        assert_eq!(f.rate_limit, 7);
        assert_eq!(f.error_rate, 0.25);
        assert!(serde_json::from_str::<FaultsPatch>(r#"{"eror_rate": 1}"#).is_err());
        let patch: FaultsPatch = serde_json::from_str(
            r#"{"routes": ["POST /users"], "bad_answer": "truncated", "bad_answer_rate": 1}"#,
        )
        .unwrap();
        let g = patch.apply(&f);
        assert_eq!(g.routes, vec!["POST /users".to_string()]);
        assert_eq!(g.bad_answer, BadAnswer::Truncated);
        assert_eq!(g.bad_answer_rate, 1.0);
        assert_eq!(g.error_rate, 0.25, "other knobs kept");
        let cleared: FaultsPatch = serde_json::from_str(r#"{"routes": []}"#).unwrap();
        assert!(cleared.apply(&g).routes.is_empty());
        assert!(serde_json::from_str::<FaultsPatch>(r#"{"bad_answer": "garbage"}"#).is_err());
        assert!(
            Faults {
                lost_response_rate: 1.5,
                ..Faults::default()
            }
            .validate()
            .is_err()
        );
        assert!(
            Faults {
                error_rate: f64::NAN,
                ..Faults::default()
            }
            .validate()
            .is_err()
        );
        assert!(f.validate().is_ok());
    }
}
