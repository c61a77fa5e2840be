//! Failures that are the same for every tenant, decided once per run (issue 22), end to end: the
//! real `terraform`, the provider binary and the emulator on loopback, with a few hundred users.
//!
//! Each scenario prints one `FIGURES failures_<name>:` line (API calls from the emulator's request
//! log, connection attempts from the provider's debug log, lines of output per instance, wall
//! time); counts are asserted, times only reported. `FAILURES_USERS=2000` runs them at 2,000.

mod common;

use std::sync::Mutex;
use std::time::Instant;

use common::{Admin, Development, PROD_KEY, Production, Run, Workspace, free_port};

/// The scenarios share two cores and hundreds of users each: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn users() -> usize {
    std::env::var("FAILURES_USERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(300)
}

fn users_hcl(n: usize, protected: bool) -> String {
    format!(
        "provider \"alloy\" {{}}\n\nresource \"alloy_user\" \"u\" {{\n  count               = {n}\n  username            = \"tenant-${{count.index}}@example.com\"\n  deletion_protection = {protected}\n}}\n"
    )
}

/// An emulator with `n` users applied through Terraform.
fn applied(n: usize, protected: bool) -> (common::Emulator, Workspace) {
    let emu = common::Emulator::start();
    let ws = Workspace::new(&emu);
    ws.write_main(&users_hcl(n, protected));
    ws.apply();
    assert_eq!(emu.users(Development).len(), n);
    (emu, ws)
}

/// Deletes every development user outside Terraform, as a real mass deletion would.
fn delete_everyone(emu: &common::Emulator) {
    for u in emu.users(Development) {
        emu.delete_out_of_band(Development, &u.user_id);
    }
}

fn plan(ws: &Workspace) -> (Run, f64) {
    let t = Instant::now();
    let r = ws.tf(&["plan", "-input=false", "-detailed-exitcode"]);
    (r, t.elapsed().as_secs_f64())
}

fn state_count(ws: &Workspace) -> usize {
    ws.tf(&["state", "list"])
        .expect_ok("state list")
        .stdout
        .lines()
        .filter(|l| l.starts_with("alloy_user."))
        .count()
}

/// How often `summary` opens an error box in `run`'s output, and how many of those carry the
/// full explanation (`marker`, a phrase only the full text has). Terraform wraps long lines, so
/// words are compared in [`Run::flat`]'s form, white space folded.
fn errors(run: &Run, summary: &str, marker: &str) -> (usize, usize) {
    let flat = run.flat();
    let boxes: Vec<&str> = flat.split("Error: ").skip(1).collect();
    let of = boxes.iter().filter(|b| b.starts_with(summary));
    let n = of.clone().count();
    let full = of.filter(|b| b.contains(marker)).count();
    (n, full)
}

fn lines_per_instance(out: &str, n: usize) -> f64 {
    out.lines().count() as f64 / n as f64
}

#[test]
fn the_other_environments_key_fails_the_plan_once_and_keeps_every_user() {
    let _one = serial();
    let n = users();
    let (emu, mut ws) = applied(n, false);

    // The production key where the development key belongs, as "swap keys" would do.
    ws.set_env("ALLOY_DEVELOPMENT_API_KEY", PROD_KEY);
    emu.clear_requests();
    let (r, secs) = plan(&ws);
    let out = r.all();
    assert_eq!(r.status.code(), Some(1), "the plan must fail:\n{out}");
    assert!(!out.contains("to add"), "no plan was made:\n{out}");
    assert!(
        !out.contains("Warning: Alloy user deleted outside Terraform"),
        "no user reported deleted:\n{out}"
    );
    let (boxes, full) = errors(&r, "Alloy users missing en masse", "other environment");
    assert_eq!(full, 1, "one full explanation:\n{out}");
    assert!(boxes >= 3, "every missing user fails:\n{out}");
    assert!(
        out.contains("ALLOY_DEVELOPMENT_API_KEY"),
        "names the key's variable:\n{out}"
    );
    assert!(
        out.contains("ALLOY_ACCEPT_MISSING_USERS"),
        "says how to proceed:\n{out}"
    );
    assert!(!out.contains(PROD_KEY), "the key leaked");
    let calls = emu.total_requests();
    println!(
        "FIGURES failures_wrong_environment_key: users={n} api_calls={calls} lines={} \
         lines_per_instance={:.2} wall_s={secs:.2}",
        out.lines().count(),
        lines_per_instance(&out, n)
    );
    assert_eq!(state_count(&ws), n, "nothing left state");

    // An apply meets the same refusal and changes nothing anywhere.
    let r = ws.tf(&["apply", "-auto-approve", "-input=false"]);
    assert_eq!(r.status.code(), Some(1), "{}", r.all());
    assert!(
        emu.users(Production).is_empty(),
        "no user made in the other environment"
    );
    assert_eq!(state_count(&ws), n);
}

#[test]
fn a_real_mass_deletion_goes_through_when_accepted() {
    let _one = serial();
    let n = users();
    let (emu, mut ws) = applied(n, false);
    delete_everyone(&emu);

    let (r, _) = plan(&ws);
    assert_eq!(
        r.status.code(),
        Some(1),
        "refused without acceptance:\n{}",
        r.all()
    );
    assert_eq!(state_count(&ws), n);

    ws.set_env("ALLOY_ACCEPT_MISSING_USERS", "true");
    let (r, _) = plan(&ws);
    let out = r.all();
    assert_eq!(
        r.status.code(),
        Some(2),
        "accepted: a plan to re-create:\n{out}"
    );
    assert!(
        out.contains(&format!("Plan: {n} to add, 0 to change, 0 to destroy")),
        "{out}"
    );
    let r = ws
        .tf(&["apply", "-refresh-only", "-auto-approve", "-input=false"])
        .expect_ok("refresh-only apply with acceptance");
    assert!(r.all().contains("deleted outside Terraform"));
    assert_eq!(state_count(&ws), 0, "the deleted users left state");
}

#[test]
fn three_users_deleted_among_many_stay_drift() {
    let _one = serial();
    let n = users();
    let (emu, ws) = applied(n, false);
    let ids = emu.users(Development);
    for u in &ids[40..43] {
        emu.delete_out_of_band(Development, &u.user_id);
    }
    let (r, _) = plan(&ws);
    let out = r.all();
    assert_eq!(r.status.code(), Some(2), "{out}");
    assert!(
        out.contains("Plan: 3 to add, 0 to change, 0 to destroy"),
        "{out}"
    );
    assert!(
        out.contains("Alloy user deleted outside Terraform"),
        "{out}"
    );
    assert!(!out.contains("Error:"), "{out}");
}

#[test]
fn a_protected_user_that_is_missing_is_an_error_not_a_removal() {
    let _one = serial();
    let (emu, ws) = applied(5, true);
    let id = emu.users(Development).remove(2).user_id;
    emu.delete_out_of_band(Development, &id);
    let (r, _) = plan(&ws);
    let out = r.all();
    assert_eq!(r.status.code(), Some(1), "{out}");
    assert_eq!(
        errors(&r, "Protected Alloy user missing", "deletion_protection"),
        (1, 1),
        "{out}"
    );
    assert!(out.contains(&id), "names the user:\n{out}");
    assert_eq!(state_count(&ws), 5, "it stays in state");
}

#[test]
fn protected_users_missing_en_masse_cost_a_line_or_two_each() {
    let _one = serial();
    let n = users();
    let (emu, ws) = applied(n, true);
    delete_everyone(&emu);
    let (r, _) = plan(&ws);
    let out = r.all();
    assert_eq!(r.status.code(), Some(1), "{out}");
    assert_eq!(
        errors(&r, "Alloy users missing en masse", "other environment").1,
        1,
        "{out}"
    );
    println!(
        "FIGURES failures_protected_missing: users={n} lines={} lines_per_instance={:.2}",
        out.lines().count(),
        lines_per_instance(&out, n)
    );
    assert_eq!(state_count(&ws), n);
}

#[test]
fn an_environment_mismatch_is_explained_once() {
    let _one = serial();
    let n = users();
    let (_emu, mut ws) = applied(n, false);
    ws.set_env("ALLOY_ENVIRONMENT", "production");
    let (r, _) = plan(&ws);
    let out = r.all();
    assert_eq!(r.status.code(), Some(1), "{out}");
    let (boxes, full) = errors(
        &r,
        "Alloy environment mismatch",
        "Development and production",
    );
    assert_eq!((boxes, full), (n, 1), "{out}");
    println!(
        "FIGURES failures_environment_mismatch: users={n} lines={} lines_per_instance={:.2}",
        out.lines().count(),
        lines_per_instance(&out, n)
    );
}

#[test]
fn a_rejected_key_is_decided_by_the_first_answer() {
    let _one = serial();
    let n = users();
    let (emu, mut ws) = applied(n, false);
    ws.set_env("ALLOY_DEVELOPMENT_API_KEY", "not-a-key-0123456789");
    emu.clear_requests();
    let (r, secs) = plan(&ws);
    let out = r.all();
    assert_eq!(r.status.code(), Some(1), "{out}");
    let calls = emu.total_requests();
    println!(
        "FIGURES failures_rejected_key: users={n} api_calls={calls} lines={} \
         lines_per_instance={:.2} wall_s={secs:.2}",
        out.lines().count(),
        lines_per_instance(&out, n)
    );
    // Terraform reads ten at a time; only those already sent may meet the 401.
    assert!(calls <= 11, "{calls} calls after a rejected key");
    let (boxes, full) = errors(&r, "Cannot read Alloy user", "is a current Alloy API key");
    assert_eq!(full, 1, "one full explanation:\n{out}");
    assert_eq!(boxes, n, "{out}");
    assert!(out.contains("ALLOY_DEVELOPMENT_API_KEY"), "{out}");
    assert_eq!(state_count(&ws), n);
}

#[test]
fn an_unreachable_api_is_tried_by_one_read_only() {
    let _one = serial();
    let n = users();
    let (emu, mut ws) = applied(n, false);
    drop(emu);
    // A port nobody listens on: every connection is refused.
    ws.set_env(
        "ALLOY_BASE_URL",
        &format!("http://127.0.0.1:{}", free_port()),
    );
    ws.set_env("TF_LOG_PROVIDER", "debug");
    let (r, secs) = plan(&ws);
    let out = r.all();
    assert_eq!(r.status.code(), Some(1), "{out}");
    let attempts = r
        .stderr
        .lines()
        .filter(|l| l.contains("alloy api request failed"))
        .count();
    let shown =
        r.stdout.lines().count() + r.stderr.lines().filter(|l| !l.contains("[DEBUG]")).count();
    println!(
        "FIGURES failures_unreachable: users={n} connection_attempts={attempts} wall_s={secs:.2} \
         lines={shown} lines_per_instance={:.2}",
        shown as f64 / n as f64
    );
    // One read's attempts (the default 8 retries + 1), not one budget per user.
    assert!(
        (1..=9).contains(&attempts),
        "{attempts} connection attempts"
    );
    let (boxes, full) = errors(
        &r,
        "Cannot read Alloy user",
        "is reachable from this machine",
    );
    assert_eq!((boxes, full), (n, 1), "{out}");
}
