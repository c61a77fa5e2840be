//! Fault scenarios end to end: the real `terraform`, the provider binary and the emulator on
//! loopback (a process of its own where it must crash), with the emulator's fault knobs standing
//! in for a misbehaving API, a dead one, a crash, and a user pressing Ctrl-C.
//!
//! Every scenario ends with the same audit: the emulator's users are exactly the users in state
//! (no duplicate, no orphan, none missing) and a following plan is empty. Each prints one line
//! `FIGURES <scenario>: ...` read from the emulator's request log; the numbers are reported, not
//! asserted against a clock (the machine is shared and noisy). The scenarios run one at a time
//! so that their figures, and the rate limiter's, are not distorted by each other.

mod common;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{
    Admin, Development, Emulator, EmulatorProcess, Run, Traffic, Workspace, audit, audit_users,
    figures, free_port, state_users, wait_until,
};
use serde_json::json;

/// Scenarios share two cores: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Generous: a hang fails the test instead of blocking CI.
const KILL_AFTER: Duration = Duration::from_secs(300);

fn users_hcl(provider_settings: &str, n: usize) -> String {
    format!(
        "provider \"alloy\" {{\n{provider_settings}}}\n\nresource \"alloy_user\" \"u\" {{\n  count    = {n}\n  username = \"tenant-${{count.index}}@example.com\"\n}}\n"
    )
}

fn apply(ws: &Workspace) -> Run {
    ws.tf_guarded(&["apply", "-auto-approve", "-input=false"], KILL_AFTER)
}

fn apply_ok(ws: &Workspace, what: &str) -> Run {
    apply(ws).expect_ok(what)
}

/// No response may carry the framework's panic diagnostic.
fn assert_no_internal_error(run: &Run) {
    let out = run.flat();
    assert!(
        !out.contains("internal error") && !out.contains("panicked"),
        "the provider failed internally:\n{out}"
    );
}

#[test]
fn server_errors_on_30_percent_of_requests() {
    let _one = serial();
    let n = 200;
    let emu = Emulator::with(json!({"error_rate": 0.3}), Some(7));
    let ws = Workspace::new(&emu);
    ws.write_main(&users_hcl("", n));
    let t = Instant::now();
    let run = apply_ok(&ws, "apply through 30 % server errors");
    let wall = t.elapsed();
    assert_no_internal_error(&run);
    let traffic = Traffic::of(&emu);
    assert!(traffic.retryable > 0, "the faults were not in force");
    emu.patch_faults(json!({"error_rate": 0.0}));
    assert_eq!(audit(&emu, &ws), n);
    figures("server_errors_30pct", n, traffic, wall);
}

#[test]
fn rate_limited_api_is_paced_not_hammered() {
    let _one = serial();
    let n = 150;
    let limit = 20;
    let emu = Emulator::with(json!({"rate_limit": limit}), None);
    let ws = Workspace::new(&emu);
    ws.write_main(&users_hcl("", n));
    let t = Instant::now();
    let run = apply_ok(&ws, "apply under a rate limit");
    let wall = t.elapsed();
    assert_no_internal_error(&run);
    let traffic = Traffic::of(&emu);

    // From the request log: once the client has seen the limit (one second after the first
    // 429), it paces itself, so 429s become rare rather than one per burst.
    let log = emu.requests().log;
    let first_429 = log
        .iter()
        .find(|e| e.status == 429)
        .map(|e| e.at_ms)
        .expect("the limit was hit at least once");
    let later: Vec<_> = log.iter().filter(|e| e.at_ms > first_429 + 1_000).collect();
    let later_429 = later.iter().filter(|e| e.status == 429).count();
    let span_s = later
        .last()
        .map_or(0.0, |e| (e.at_ms - first_429 - 1_000) as f64 / 1000.0);
    let share = later_429 as f64 / later.len().max(1) as f64;
    println!(
        "DETAIL rate_limit_{limit}rps: after the first second following the first 429: {} requests, {later_429} answered 429 ({:.1} %), {:.1} requests/s",
        later.len(),
        share * 100.0,
        later.len() as f64 / span_s.max(0.001)
    );
    assert!(
        later.len() > 100,
        "most of the traffic comes after the adaptation"
    );
    assert!(
        share <= 0.05,
        "429s stay frequent after adaptation: {later_429} of {}",
        later.len()
    );
    emu.patch_faults(json!({"rate_limit": 0}));
    assert_eq!(audit(&emu, &ws), n);
    figures(&format!("rate_limit_{limit}rps"), n, traffic, wall);
}

#[test]
fn lost_responses_on_10_percent_of_writes_make_no_duplicates() {
    let _one = serial();
    let n = 150;
    let emu = Emulator::with(json!({"lost_response_rate": 0.1}), Some(11));
    let ws = Workspace::new(&emu);
    ws.write_main(&users_hcl("", n));
    let t = Instant::now();
    let run = apply_ok(&ws, "apply with lost responses");
    let wall = t.elapsed();
    assert_no_internal_error(&run);
    let traffic = Traffic::of(&emu);
    assert!(traffic.lost > 0, "the faults were not in force");
    assert_eq!(
        emu.count("POST /users"),
        n as u64,
        "a create whose answer was lost is resolved by lookup, never posted again"
    );
    emu.patch_faults(json!({"lost_response_rate": 0.0}));
    assert_eq!(audit(&emu, &ws), n);
    figures("lost_responses_10pct", n, traffic, wall);
}

#[test]
fn latency_spikes_beyond_the_request_timeout_are_retried() {
    let _one = serial();
    let n = 30;
    // About half the requests take longer than the 1 s timeout; a generous retry budget keeps
    // an operation from losing every draw.
    let emu = Emulator::with(json!({"latency_ms": 600, "jitter_ms": 800}), Some(3));
    let ws = Workspace::new(&emu);
    ws.write_main(&users_hcl(
        "  request_timeout = 1\n  max_retries     = 20\n",
        n,
    ));
    let t = Instant::now();
    let run = apply_ok(&ws, "apply with latency spikes");
    let wall = t.elapsed();
    assert_no_internal_error(&run);
    let traffic = Traffic::of(&emu);
    // Requests the client gave up on are not in the log (the emulator drops them), so the
    // retries (and the lookups after a create that timed out) show as more calls than the one
    // POST per user a calm API needs.
    assert!(
        traffic.api_calls > n as u64,
        "no timeout happened: {traffic:?}"
    );
    emu.patch_faults(json!({"latency_ms": 0, "jitter_ms": 0}));
    assert_eq!(audit(&emu, &ws), n);
    figures("latency_beyond_timeout", n, traffic, wall);
}

#[test]
fn a_dead_api_fails_with_a_clear_error_and_terraform_exits() {
    let _one = serial();
    let port = free_port(); // nothing listens there
    let emu = Emulator::start(); // only for the workspace's keys; never reached
    let mut ws = Workspace::new(&emu);
    let dead = format!("http://127.0.0.1:{port}");
    ws.set_env("ALLOY_BASE_URL", &dead);
    ws.write_main(&users_hcl(
        "  request_timeout = 1\n  max_retries     = 2\n",
        3,
    ));
    let t = Instant::now();
    let run = apply(&ws).expect_fail("apply against a dead API");
    let wall = t.elapsed();
    let out = run.flat();
    assert!(out.contains("Cannot create Alloy user"), "{out}");
    assert!(
        out.contains("create user: could not get an answer from the Alloy API after 3 attempts"),
        "names the operation and the attempts: {out}"
    );
    assert!(
        out.contains(&format!("127.0.0.1:{port}")),
        "names the API: {out}"
    );
    assert!(out.contains("Check `base_url`"), "{out}");
    assert_no_internal_error(&run);
    assert!(state_users(&ws).is_empty(), "nothing was created");
    assert_eq!(emu.total_requests(), 0);
    figures("dead_api", 0, Traffic::default(), wall);
}

#[test]
fn ctrl_c_midway_leaves_no_orphan_and_the_next_apply_converges() {
    let _one = serial();
    let n = 150;
    // Lost answers too, so that some creates are between their committed POST and the lookup
    // that finds the user when the stop arrives: the case where abandoning work orphans users.
    let emu = Emulator::with(
        json!({"latency_ms": 150, "lost_response_rate": 0.3}),
        Some(5),
    );
    let mut ws = Workspace::new(&emu);
    // To see StopProvider arrive in the provider's own log.
    ws.set_env("TF_LOG_PROVIDER", "info");
    ws.write_main(&users_hcl("", n));
    let running = ws.spawn(&["apply", "-auto-approve", "-input=false"]);
    // Midway: once creates are flowing (a fixed sleep would race Terraform's start-up).
    wait_until("the first users", Duration::from_secs(120), || {
        emu.users(Development).len() >= 30
    });
    let signalled_after = running.started.elapsed();
    running.signal_group(libc::SIGINT);
    let t = Instant::now();
    let run = running.wait(KILL_AFTER);
    let stop_wall = t.elapsed();
    assert_no_internal_error(&run);
    assert!(
        run.all().contains("Interrupt received"),
        "Terraform saw the interrupt:\n{}",
        run.all()
    );
    assert!(
        run.stderr.contains("StopProvider"),
        "Terraform asked the provider to stop:\n{}",
        run.stderr
    );

    let traffic = Traffic::of(&emu);
    let made = audit_users(&emu, &ws);
    assert!(made < n, "the interrupt came too late to test anything");
    let tainted = state_users(&ws).iter().filter(|u| u.3).count();
    println!(
        "DETAIL ctrl_c: signal after {:.1}s, terraform exited {:?} {:.1}s later, users in API = users in state = {made}, tainted={tainted}",
        signalled_after.as_secs_f64(),
        run.status.code(),
        stop_wall.as_secs_f64()
    );

    emu.patch_faults(json!({"latency_ms": 0, "lost_response_rate": 0.0}));
    let t = Instant::now();
    apply_ok(&ws, "apply after the interrupt");
    let wall = t.elapsed();
    assert_eq!(audit(&emu, &ws), n);
    figures("ctrl_c", n, traffic.plus(Traffic::of(&emu)), wall);
}

#[test]
fn emulator_restarted_mid_apply_then_the_next_apply_converges() {
    let _one = serial();
    let n = 100;
    let port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("emulator-state.json");
    let state_arg = state.display().to_string();
    let emu = EmulatorProcess::start_on(port, &["--state", &state_arg, "--latency-ms", "50"]);
    let ws = Workspace::new(&emu);
    ws.write_main(&users_hcl("", n));
    let t = Instant::now();
    let running = ws.spawn(&["apply", "-auto-approve", "-input=false"]);
    wait_until("the first users", Duration::from_secs(120), || {
        emu.users(Development).len() >= 20
    });
    let before = Traffic::of(&emu);
    emu.kill(); // a crash: in-flight requests get no answer
    std::thread::sleep(Duration::from_millis(300));
    let emu = EmulatorProcess::start_on(port, &["--state", &state_arg]);
    let first = running.wait(KILL_AFTER);
    assert_no_internal_error(&first);
    let mid = Traffic::of(&emu);
    // The apply may have failed; whatever it recorded, the next one converges.
    let second = apply_ok(&ws, "apply after the restart");
    let wall = t.elapsed();
    assert_no_internal_error(&second);
    let traffic = before.plus(Traffic::of(&emu));
    assert_eq!(audit(&emu, &ws), n);
    println!(
        "DETAIL emulator_restart: first apply exited {:?}; calls before the crash {}, after the restart during the first apply {}",
        first.status.code(),
        before.api_calls,
        mid.api_calls
    );
    figures("emulator_restart", n, traffic, wall);
}
