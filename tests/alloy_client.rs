//! Integration tests of the Alloy API client against the real emulator on loopback.
//!
//! Each test starts its own in-process emulator on a free port (`TestEmulator`), drives it
//! through the client (through a relay where a test must act while a request is on the wire),
//! and checks the outcome both from the client's side and from the emulator's side (its admin
//! API: users per environment, fault knobs, and the request log with per-request status and
//! time). Fault injection stands in for a misbehaving API: server errors, rate limits, lost
//! responses and latency.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use alloy_client::{AlloyClient, ApiKey, ClientConfig, Error};
use alloy_emulator::Environment::{Development, Production};
use alloy_emulator::testing::{Admin, LoggedRequest, TestEmulator};
use base64::Engine as _;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const UA: &str = "terraform-provider-alloy/0.1.0 terraform/1.9.8";

/// A client configuration for the fixture's API with `key`.
fn config(emu: &TestEmulator, key: &str) -> ClientConfig {
    config_at(&emu.url(), key)
}

fn config_at(base: &str, key: &str) -> ClientConfig {
    let mut cfg = ClientConfig::new(
        url::Url::parse(base).unwrap(),
        "2025-09",
        ApiKey::new(key),
        UA,
    );
    cfg.request_timeout = Duration::from_secs(10);
    cfg.deadline = Duration::from_secs(60);
    cfg
}

/// A client of the fixture's development environment.
fn client(emu: &TestEmulator) -> AlloyClient {
    AlloyClient::new(config(emu, emu.development_key())).unwrap()
}

fn statuses(log: &[LoggedRequest]) -> Vec<(String, u16)> {
    log.iter().map(|e| (e.route_key(), e.status)).collect()
}

fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("three JWT parts");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn every_operation_round_trips() {
    let emu = TestEmulator::start();
    let c = client(&emu);

    let jane = c
        .create_user("jane@example.com", Some("Jane Doe"))
        .await
        .unwrap();
    assert!(jane.adopted.is_none());
    assert_eq!(jane.user_id.len(), 24, "{}", jane.user_id);
    let bare = c.create_user("no-name", None).await.unwrap();

    let by_id = c.get_user(&jane.user_id).await.unwrap();
    assert_eq!(by_id.user_id, jane.user_id);
    assert_eq!(by_id.username.as_deref(), Some("jane@example.com"));
    assert_eq!(by_id.full_name.as_deref(), Some("Jane Doe"));
    let by_name = c.get_user("jane@example.com").await.unwrap();
    assert_eq!(by_name, by_id);
    assert_eq!(c.get_user(&bare.user_id).await.unwrap().full_name, None);

    let all = c.list_users().await.unwrap();
    let ids: Vec<&str> = all.iter().map(|u| u.user_id.as_str()).collect();
    assert_eq!(ids, [jane.user_id.as_str(), bare.user_id.as_str()]);

    let updated = c
        .update_user("jane@example.com", Some("Jane Q. Doe"))
        .await
        .unwrap();
    assert_eq!(updated.full_name.as_deref(), Some("Jane Q. Doe"));
    assert_eq!(updated.username.as_deref(), Some("jane@example.com"));
    let cleared = c.update_user(&jane.user_id, None).await.unwrap();
    assert_eq!(cleared.full_name, None);
    assert_eq!(c.get_user(&jane.user_id).await.unwrap().full_name, None);

    let token = c.user_token(&jane.user_id).await.unwrap();
    let claims = jwt_claims(&token);
    assert_eq!(claims["userId"], json!(jane.user_id));
    assert!(emu.tokens().iter().any(|t| t.token == token));

    let integrations = c.list_integrations(&jane.user_id).await.unwrap();
    assert!(integrations.len() >= 8, "{}", integrations.len());
    assert!(integrations.iter().all(|i| !i.installed));
    assert!(integrations.iter().all(|i| !i.workflows.is_empty()));
    let first = &integrations[0];
    let wf = &first.workflows[0];
    emu.install(
        Development,
        &jane.user_id,
        &first.integration_id,
        Some(&wf.workflow_id),
    );
    let got = c
        .get_integration(&first.integration_id, "jane@example.com")
        .await
        .unwrap();
    assert_eq!(got.integration_id, first.integration_id);
    assert!(got.installed);
    assert!(got.installed_version.is_some());
    let got_wf = got
        .workflows
        .iter()
        .find(|w| w.workflow_id == wf.workflow_id)
        .unwrap();
    assert!(got_wf.installed);
    assert!(got_wf.installed_version.is_some());
    if let Some(app) = &first.app {
        let by_app = c.get_integration(app, &jane.user_id).await.unwrap();
        assert_eq!(by_app.integration_id, first.integration_id);
    }
    // Installs are per user.
    let other = c.list_integrations(&bare.user_id).await.unwrap();
    assert!(other.iter().all(|i| !i.installed));

    c.delete_user("jane@example.com").await.unwrap();
    assert!(c.get_user(&jane.user_id).await.unwrap_err().is_not_found());
    assert_eq!(emu.users(Development).len(), 1);

    // The headers reached the API: version by header on an unversioned URL.
    let log = emu.requests().log;
    assert!(
        log.iter()
            .all(|e| e.environment.as_deref() == Some("development"))
    );
    assert!(log.iter().all(|e| e.api_version == "2025-09"));
    assert!(log.iter().all(|e| e.versioned_by == "header"));
}

#[tokio::test]
async fn awkward_usernames_are_addressable() {
    let emu = TestEmulator::start();
    let c = client(&emu);
    for name in [
        "a b+c@example.com",
        "slash/in/name",
        "percent%20literal",
        "q?x=1#frag",
        "ünïcödé",
        "...",
    ] {
        let created = c.create_user(name, Some(name)).await.unwrap();
        let got = c.get_user(name).await.unwrap();
        assert_eq!(got.user_id, created.user_id, "{name}");
        assert_eq!(got.username.as_deref(), Some(name));
        c.list_integrations(name).await.unwrap();
        c.delete_user(name).await.unwrap();
        assert!(c.get_user(name).await.unwrap_err().is_not_found(), "{name}");
    }
    assert!(emu.users(Development).is_empty());
}

#[tokio::test]
async fn path_versioned_base_url_with_trailing_slash() {
    let emu = TestEmulator::start();
    let mut cfg = config(&emu, emu.development_key());
    cfg.base_url = url::Url::parse(&format!("{}/2024-03/", emu.url())).unwrap();
    let c = AlloyClient::new(cfg).unwrap();
    let created = c.create_user("pathy", None).await.unwrap();
    assert_eq!(c.list_users().await.unwrap()[0].user_id, created.user_id);
    let log = emu.requests().log;
    assert_eq!(
        statuses(&log),
        [
            ("POST /users".to_owned(), 200),
            ("GET /users".to_owned(), 200)
        ]
    );
    assert!(log.iter().all(|e| e.versioned_by == "path"));
}

#[tokio::test]
async fn error_statuses_map_to_causes_with_the_api_message() {
    let emu = TestEmulator::start();
    let c = client(&emu);

    // 401: unknown key. The key never shows in the error.
    let bad_key = "not-a-real-key-SECRET-123456";
    let bad = AlloyClient::new(config(&emu, bad_key)).unwrap();
    let e = bad.list_users().await.unwrap_err();
    assert!(e.is_unauthorized(), "{e}");
    assert_eq!(e.api_message(), Some("Unauthorized"));
    assert!(e.to_string().starts_with("list users: "), "{e}");
    assert!(!e.to_string().contains(bad_key) && !format!("{e:?}").contains(bad_key));

    // 404 on every user operation.
    for e in [
        c.get_user("ghost").await.unwrap_err(),
        c.update_user("ghost", Some("x")).await.unwrap_err(),
        c.delete_user("ghost").await.unwrap_err(),
        c.user_token("ghost").await.unwrap_err(),
        c.list_integrations("ghost").await.unwrap_err(),
    ] {
        assert!(e.is_not_found(), "{e}");
        assert!(e.api_message().is_some(), "{e}");
    }
    assert_eq!(
        c.get_user("ghost").await.unwrap_err().api_message(),
        Some("User not found")
    );

    // 422: duplicate username, with the API's message naming it.
    c.create_user("dup@example.com", None).await.unwrap();
    let e = c
        .create_user("dup@example.com", Some("Again"))
        .await
        .unwrap_err();
    assert!(e.is_conflict(), "{e}");
    assert_eq!(e.status(), Some(422));
    assert!(e.api_message().unwrap().contains("dup@example.com"), "{e}");
    assert!(e.to_string().starts_with("create user: "), "{e}");

    // Other 4xx: an empty username is a 400 with a message, not retried.
    emu.clear_requests();
    let e = c.create_user("", None).await.unwrap_err();
    assert!(matches!(e, Error::Api { status: 400, .. }), "{e}");
    assert!(e.api_message().is_some(), "{e}");
    assert_eq!(emu.requests().log.len(), 1, "a 400 is not retried");

    // Unknown integration for a known user.
    let e = c
        .get_integration("no-such-integration", "dup@example.com")
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e}");

    // 429 after the retry budget: RateLimited with the API's message.
    let mut cfg = config(&emu, emu.development_key());
    cfg.max_retries = 0;
    let impatient = AlloyClient::new(cfg).unwrap();
    emu.patch_faults(json!({"rate_limit": 1}));
    impatient.list_users().await.unwrap();
    let e = impatient.list_users().await.unwrap_err();
    assert!(e.is_rate_limited(), "{e}");
    assert_eq!(e.api_message(), Some("Rate limit exceeded"));

    // 5xx after the retry budget: Server with status and message.
    emu.patch_faults(json!({"rate_limit": 0, "error_rate": 1.0}));
    let mut cfg = config(&emu, emu.development_key());
    cfg.max_retries = 1;
    let c1 = AlloyClient::new(cfg).unwrap();
    emu.clear_requests();
    let e = c1.get_user("dup@example.com").await.unwrap_err();
    assert!(matches!(e, Error::Server { attempts: 2, .. }), "{e}");
    assert!(matches!(e.status(), Some(500 | 503)), "{e}");
    assert!(e.api_message().is_some(), "{e}");
    assert_eq!(emu.requests().log.len(), 2, "one attempt plus one retry");
}

/// Waits until the emulator has answered `status` to some request, then switches faults off.
async fn heal_after_first(emu: &TestEmulator, statuses: &[u16]) {
    for _ in 0..2_000 {
        let log = emu.requests().log;
        if log.iter().any(|e| statuses.contains(&e.status)) {
            emu.patch_faults(json!({"error_rate": 0.0, "rate_limit": 0}));
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("the fault never showed");
}

#[tokio::test]
async fn server_error_is_retried_then_succeeds() {
    let emu = TestEmulator::start();
    let c = client(&emu);
    let id = c.create_user("retry-me", None).await.unwrap().user_id;
    emu.clear_requests();
    emu.patch_faults(json!({"error_rate": 1.0}));
    let (user, ()) = tokio::join!(c.get_user(&id), heal_after_first(&emu, &[500, 503]));
    assert_eq!(user.unwrap().user_id, id);
    let seen = statuses(&emu.requests().log);
    assert!(seen.len() >= 2, "{seen:?}");
    assert!(
        seen[..seen.len() - 1]
            .iter()
            .all(|(r, s)| r == "GET /users/{id}" && (*s == 500 || *s == 503)),
        "{seen:?}"
    );
    assert_eq!(seen.last().unwrap(), &("GET /users/{id}".to_owned(), 200));
}

#[tokio::test]
async fn create_after_server_errors_makes_exactly_one_user() {
    let emu = TestEmulator::start();
    let c = client(&emu);
    emu.patch_faults(json!({"error_rate": 1.0}));
    let (created, ()) = tokio::join!(
        c.create_user("flaky@example.com", Some("F")),
        heal_after_first(&emu, &[500, 503])
    );
    let created = created.unwrap();
    assert!(
        created.adopted.is_none(),
        "the 5xx came before the store, so the re-post created it"
    );
    let users = emu.users(Development);
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].user_id, created.user_id);
    // A 5xx on POST is ambiguous: it was followed by a lookup before posting again.
    let seen = statuses(&emu.requests().log);
    let first_lookup = seen.iter().position(|(r, _)| r == "GET /users/{id}");
    assert!(matches!(first_lookup, Some(1)), "{seen:?}");
    assert_eq!(seen.last().unwrap(), &("POST /users".to_owned(), 200));
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let emu = TestEmulator::start();
    let c = client(&emu);
    emu.patch_faults(json!({"rate_limit": 1}));
    c.list_users().await.unwrap();
    c.list_users().await.unwrap();
    let log = emu.requests().log;
    let seen = statuses(&log);
    let limited = seen.iter().position(|(_, s)| *s == 429).expect("a 429");
    assert_eq!(seen.last().unwrap().1, 200, "{seen:?}");
    let at = |i: usize| log[i].at_ms;
    // The emulator said Retry-After: 1; the next request came at least a second later
    // (one millisecond of slack for the log's rounding).
    let gap = at(limited + 1) - at(limited);
    assert!(
        gap >= 999,
        "retried {gap} ms after a 429 with Retry-After: 1"
    );
    // And the client adapted its pace.
    assert!(c.throttle_rate().is_some());
}

#[tokio::test]
async fn lost_create_response_is_resolved_by_lookup() {
    let emu = TestEmulator::start();
    let c = client(&emu);
    emu.patch_faults(json!({"lost_response_rate": 1.0}));
    let created = c
        .create_user("lost@example.com", Some("Lost Answer"))
        .await
        .unwrap();
    let found = created.adopted.expect("the lost create is adopted");
    assert_eq!(found.user_id, created.user_id);
    assert_eq!(found.username.as_deref(), Some("lost@example.com"));
    assert_eq!(found.full_name.as_deref(), Some("Lost Answer"));
    let users = emu.users(Development);
    assert_eq!(users.len(), 1, "{users:?}");
    assert_eq!(users[0].user_id, created.user_id);
    let log = emu.requests().log;
    assert_eq!(
        statuses(&log)
            .iter()
            .map(|(r, _)| r.as_str())
            .collect::<Vec<_>>(),
        ["POST /users", "GET /users/{id}"],
        "one post, its answer lost, then one lookup"
    );
    assert!(log[0].lost);
}

#[tokio::test]
async fn lost_delete_response_counts_as_deleted() {
    let emu = TestEmulator::start();
    let c = client(&emu);
    let id = c.create_user("bye", None).await.unwrap().user_id;
    emu.clear_requests();
    emu.patch_faults(json!({"lost_response_rate": 1.0}));
    c.delete_user(&id).await.unwrap();
    assert!(emu.users(Development).is_empty());
    let seen = statuses(&emu.requests().log);
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[1], ("DELETE /users/{id}".to_owned(), 404));
}

#[tokio::test]
async fn development_and_production_keys_are_isolated() {
    let emu = TestEmulator::start();
    let dev = client(&emu);
    let prod = AlloyClient::new(config(&emu, emu.production_key())).unwrap();
    let d = dev.create_user("same-name", Some("Dev")).await.unwrap();
    assert!(prod.get_user(&d.user_id).await.unwrap_err().is_not_found());
    assert!(prod.get_user("same-name").await.unwrap_err().is_not_found());
    assert!(prod.list_users().await.unwrap().is_empty());
    let p = prod.create_user("same-name", Some("Prod")).await.unwrap();
    assert_ne!(p.user_id, d.user_id);
    assert_eq!(
        dev.get_user("same-name")
            .await
            .unwrap()
            .full_name
            .as_deref(),
        Some("Dev")
    );
    assert_eq!(
        prod.get_user("same-name")
            .await
            .unwrap()
            .full_name
            .as_deref(),
        Some("Prod")
    );
    assert_eq!(emu.users(Development).len(), 1);
    assert_eq!(emu.users(Production).len(), 1);
}

/// The client talks to the emulator through a relay, so the stop is sent at a known point of
/// the exchange rather than after a sleep that must outlast it.
#[tokio::test]
async fn cancellation_stops_a_slow_request_and_a_retry_wait() {
    let emu = TestEmulator::start();
    let relay = emu.relay();
    let stop = CancellationToken::new();
    let mut cfg = config_at(relay.url(), emu.development_key());
    cfg.stop = stop.clone();
    cfg.request_timeout = Duration::from_secs(120);
    cfg.deadline = Duration::from_secs(600);
    let c = AlloyClient::new(cfg).unwrap();

    // Stuck in a slow request: the request has reached the API, its answer is held back.
    relay.hold("GET");
    let (result, ()) = tokio::join!(c.list_users(), async {
        relay.received("GET", 1).await;
        stop.cancel();
    });
    relay.release();
    let e = result.unwrap_err();
    assert!(e.is_cancelled(), "{e}");
    assert!(
        e.to_string()
            .contains("Terraform asked the provider to stop")
    );
    // Once stopped, every operation refuses at once.
    assert!(c.create_user("x", None).await.unwrap_err().is_cancelled());

    // Waiting between retries is cancellable too. The stop comes once the answer to the first
    // POST has reached the client: a 429 (this second's allowance went to an earlier request),
    // whose Retry-After makes the client wait a second before its next attempt. Every request
    // the limiter lets through meets the error rate, so no user is made either way.
    let stop = CancellationToken::new();
    let mut cfg = config_at(relay.url(), emu.development_key());
    cfg.stop = stop.clone();
    cfg.max_retries = 1_000;
    let c = AlloyClient::new(cfg).unwrap();
    emu.patch_faults(json!({"rate_limit": 1, "error_rate": 1.0}));
    let mut cfg = config(&emu, emu.development_key());
    cfg.max_retries = 0;
    let spent = AlloyClient::new(cfg).unwrap().list_users().await;
    assert!(matches!(spent, Err(Error::Server { .. })), "{spent:?}");
    let (result, ()) = tokio::join!(c.create_user("y", None), async {
        relay.answered("POST", 1).await;
        stop.cancel();
    });
    assert!(result.unwrap_err().is_cancelled());
    assert!(emu.users(Development).is_empty());
    assert_eq!(emu.count("POST /users"), 1, "no attempt after the stop");
}

#[tokio::test]
async fn deadline_bounds_an_operation() {
    let emu = TestEmulator::start();
    let mut cfg = config(&emu, emu.development_key());
    cfg.deadline = Duration::from_millis(1_500);
    cfg.max_retries = 1_000;
    let c = AlloyClient::new(cfg).unwrap();
    emu.patch_faults(json!({"error_rate": 1.0}));
    let e = c.list_users().await.unwrap_err();
    // Either the deadline cut a wait short, or the client saw that the next wait would end
    // past the deadline and reported the last server error instead of sleeping for nothing.
    match &e {
        Error::Deadline { last, .. } => assert!(last.is_some(), "{e}"),
        Error::Server { attempts, .. } => assert!(*attempts > 1, "{e}"),
        other => panic!("unexpected {other}"),
    }
}

#[tokio::test]
async fn tls_failure_is_not_retried() {
    // https to a plain-HTTP server: the handshake fails, and retrying cannot help.
    let emu = TestEmulator::start();
    let mut cfg = config(&emu, emu.development_key());
    cfg.base_url = url::Url::parse(&format!("https://{}", emu.addr())).unwrap();
    let c = AlloyClient::new(cfg).unwrap();
    match c.list_users().await.unwrap_err() {
        Error::Transport { attempts, .. } => assert_eq!(attempts, 1),
        // A machine without system root certificates cannot set up HTTPS at all.
        Error::Config { message } => assert!(message.contains("HTTPS"), "{message}"),
        other => panic!("unexpected {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_throttle_keeps_ten_callers_under_the_rate_limit() {
    const LIMIT: u64 = 20;
    const CALLERS: usize = 10;
    const PER_CALLER: usize = 20;
    let emu = TestEmulator::start();
    let c = client(&emu);
    emu.patch_faults(json!({"rate_limit": LIMIT}));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for caller in 0..CALLERS {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..PER_CALLER {
                c.create_user(&format!("load-{caller}-{i}"), None)
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let took = started.elapsed();
    assert_eq!(
        emu.users(Development).len(),
        CALLERS * PER_CALLER,
        "every create made exactly one user"
    );

    let log = emu.requests().log;
    let limited: Vec<u64> = log
        .iter()
        .filter(|e| e.status == 429)
        .map(|e| e.at_ms)
        .collect();
    let first_429 = limited.first().copied().unwrap_or(0);
    let later_429 = limited.iter().filter(|&&t| t > first_429 + 1_000).count();
    // Requests per sliding one-second window, from the second after the first 429 on.
    let times: Vec<u64> = log
        .iter()
        .map(|e| e.at_ms)
        .filter(|&t| t > first_429 + 1_000)
        .collect();
    let mut busiest = 0;
    for (i, &t) in times.iter().enumerate() {
        let n = times[i..].iter().take_while(|&&u| u < t + 1_000).count();
        busiest = busiest.max(n);
    }
    println!(
        "throttle: {} creates by {CALLERS} callers against {LIMIT} req/s in {:.1} s; {} requests, \
         {} answered 429 ({} of them more than 1 s after the first); busiest 1 s window after \
         that: {busiest} requests; client pace at the end: {:.1} req/s",
        CALLERS * PER_CALLER,
        took.as_secs_f64(),
        log.len(),
        limited.len(),
        later_429,
        c.throttle_rate().unwrap_or(f64::NAN),
    );
    assert!(c.throttle_rate().is_some(), "the throttle engaged");
    // Without pacing, each of the ten callers hits the limit about once per second for the
    // whole run (~100 rejections); with it, only the first wave and a few probes remain.
    assert!(
        limited.len() <= 2 * CALLERS + 10,
        "{} requests answered 429",
        limited.len()
    );
    assert!(later_429 <= 10, "{later_429} 429s after the first second");
}

/// Collects the client's `tracing` output for the whole test binary.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

/// One global subscriber (a thread-scoped one misses events when other tests register the same
/// callsites concurrently), keeping the client's debug events only.
fn client_logs() -> &'static Captured {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::{Layer as _, filter::Targets};
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let captured = Captured::default();
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(captured.clone())
            .with_ansi(false)
            .with_filter(Targets::new().with_target("alloy_client", tracing::Level::DEBUG));
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
            .expect("no other global subscriber in this test binary");
        captured
    })
}

#[tokio::test]
async fn debug_logs_name_routes_but_never_secrets() {
    let logs = client_logs();
    let emu = TestEmulator::start();
    let c = client(&emu);
    let u = c.create_user("logged@example.com", None).await.unwrap();
    let token = c.user_token("logged@example.com").await.unwrap();
    let _ = c.get_user("nobody").await;

    // Other tests log concurrently into the same buffer; none of them may leak either.
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("route=\"/users/{id}/token\""), "{text}");
    assert!(text.contains("route=\"/users\""), "{text}");
    assert!(
        text.contains("status=200") && text.contains("status=404"),
        "{text}"
    );
    assert!(
        text.contains("elapsed_ms=") && text.contains("attempt="),
        "{text}"
    );
    assert!(!text.contains(&token), "the token was logged");
    assert!(
        !text.contains(emu.development_key()),
        "the API key was logged"
    );
    assert!(
        !text.contains("logged@example.com"),
        "ids stay out of routes"
    );
    assert!(!text.contains(&u.user_id), "ids stay out of routes");
}

/// A benchmark, not a test: it prints how long `AlloyClient::new` takes (construction runs about
/// four times per Terraform command) and asserts nothing, so it is ignored by `cargo test`.
/// Run it in release mode, where the figures mean something:
/// `cargo test --release --test alloy_client -- --ignored measure_construction --nocapture`
#[test]
#[ignore = "benchmark that prints figures; run: cargo test --release --test alloy_client -- --ignored measure_construction --nocapture"]
fn measure_construction() {
    let mut report = Vec::new();
    for base in ["http://127.0.0.1:8787", "https://alloy.invalid/2025-09"] {
        let mut times: Vec<Duration> = (0..200)
            .map(|_| {
                let cfg = ClientConfig::new(
                    url::Url::parse(base).unwrap(),
                    "2025-09",
                    ApiKey::new("key-0000000000000000"),
                    UA,
                );
                let t = Instant::now();
                let c = AlloyClient::new(cfg).unwrap();
                let d = t.elapsed();
                drop(c);
                d
            })
            .collect();
        times.sort();
        report.push(format!(
            "{base}: median {:?}, max {:?}",
            times[times.len() / 2],
            times[times.len() - 1]
        ));
    }
    let t = Instant::now();
    let eager = reqwest::Client::builder().build();
    report.push(format!(
        "for comparison, a reqwest client loading the system roots eagerly: {:?} ({})",
        t.elapsed(),
        if eager.is_ok() { "ok" } else { "failed" }
    ));
    println!("AlloyClient::new: {}", report.join("; "));
}
