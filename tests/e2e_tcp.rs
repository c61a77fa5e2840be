//! The TCP transport end to end: real `terraform`, the provider binary and the emulator on
//! loopback, with `ALLOY_PROVIDER_TRANSPORT=tcp` so the provider serves as go-plugin does on
//! Windows (127.0.0.1, a port from Terraform's PLUGIN_MIN_PORT..PLUGIN_MAX_PORT, AutoMTLS).
//! Terraform reads the network from the handshake line on every OS, so Linux runs this path.

mod common;

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Admin, DEV_KEY, Development, Emulator, PROD_KEY, Run, Workspace, audit, wait_until};

const TRANSPORT_VAR: &str = "ALLOY_PROVIDER_TRANSPORT";

/// Generous: a hang fails the test instead of blocking CI.
const KILL_AFTER: Duration = Duration::from_secs(300);

fn users_hcl(n: usize) -> String {
    format!(
        "provider \"alloy\" {{}}\n\nresource \"alloy_user\" \"u\" {{\n  count    = {n}\n  username = \"tcp-${{count.index}}@example.com\"\n}}\n"
    )
}

/// A workspace on `emu` whose provider processes serve over TCP, with Terraform's debug log
/// (which relays the provider's own debug lines) on stderr.
fn tcp_workspace(emu: &Emulator) -> Workspace {
    let mut ws = Workspace::new(emu);
    ws.set_env(TRANSPORT_VAR, "tcp");
    ws.set_env("TF_LOG", "debug");
    ws
}

/// Every provider process of the run announced TCP on loopback with AutoMTLS, in the range
/// Terraform gave it, and exited by itself after Shutdown.
fn assert_served_over_tcp(run: &Run, what: &str) {
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| {
            l.contains("provider.terraform-provider-alloy") && l.contains("plugin server listening")
        })
        .collect();
    assert!(
        !lines.is_empty(),
        "{what}: no provider announced where it listens:\n{}",
        run.stderr
    );
    for line in &lines {
        assert!(line.contains("network=tcp"), "{what}: {line}");
        assert!(line.contains("tls=true"), "{what}: AutoMTLS: {line}");
        let port = line
            .split("address=127.0.0.1:")
            .nth(1)
            .and_then(|rest| {
                rest.split(|c: char| !c.is_ascii_digit())
                    .next()?
                    .parse::<u16>()
                    .ok()
            })
            .unwrap_or_else(|| panic!("{what}: no loopback address in {line}"));
        // Terraform 1.11.4 sets PLUGIN_MIN_PORT=10000 and PLUGIN_MAX_PORT=25000.
        assert!((10000..=25000).contains(&port), "{what}: port {port}");
    }
    assert!(
        run.stderr.contains("using plugin: version=6"),
        "{what}: {}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("failed to exit gracefully"),
        "{what}: a provider had to be killed:\n{}",
        run.stderr
    );
}

#[test]
fn validate_plan_apply_destroy_over_tcp() {
    let emu = Emulator::start();
    let ws = tcp_workspace(&emu);
    ws.write_main(&users_hcl(2));

    let run = ws.tf(&["validate"]).expect_ok("validate over tcp");
    assert!(run.stdout.contains("Success!"), "{}", run.stdout);
    assert_served_over_tcp(&run, "validate");

    let run = ws.tf(&["plan", "-input=false"]).expect_ok("plan over tcp");
    assert!(run.stdout.contains("2 to add"), "{}", run.stdout);
    assert_served_over_tcp(&run, "plan");
    assert_eq!(emu.count("POST /users"), 0, "a plan creates nothing");

    let run = ws
        .tf_guarded(&["apply", "-auto-approve", "-input=false"], KILL_AFTER)
        .expect_ok("apply over tcp");
    assert!(run.stdout.contains("2 added"), "{}", run.stdout);
    assert_served_over_tcp(&run, "apply");
    assert_eq!(emu.count("POST /users"), 2);
    let mut names: Vec<String> = emu
        .users(Development)
        .into_iter()
        .map(|u| u.username)
        .collect();
    names.sort();
    assert_eq!(names, ["tcp-0@example.com", "tcp-1@example.com"]);
    assert_eq!(audit(&emu, &ws), 2, "state and API agree, next plan empty");

    let run = ws
        .tf_guarded(&["destroy", "-auto-approve", "-input=false"], KILL_AFTER)
        .expect_ok("destroy over tcp");
    assert!(run.stdout.contains("2 destroyed"), "{}", run.stdout);
    assert_served_over_tcp(&run, "destroy");
    assert!(emu.users(Development).is_empty());
}

#[test]
fn ctrl_c_over_tcp_stops_the_apply_and_the_next_apply_converges() {
    let n = 60;
    let emu = Emulator::with(serde_json::json!({"latency_ms": 150}), None);
    let mut ws = tcp_workspace(&emu);
    ws.set_env("TF_LOG", "info");
    ws.set_env("TF_LOG_PROVIDER", "info");
    ws.write_main(&users_hcl(n));
    let running = ws.spawn(&["apply", "-auto-approve", "-input=false"]);
    // Once creates are flowing: a fixed sleep would race Terraform's start-up.
    wait_until("the first users", Duration::from_secs(120), || {
        emu.users(Development).len() >= 5
    });
    running.signal_group(libc::SIGINT);
    let run = running.wait(KILL_AFTER);
    assert!(
        run.all().contains("Interrupt received"),
        "Terraform saw the interrupt:\n{}",
        run.all()
    );
    assert!(
        run.stderr.contains("StopProvider"),
        "Terraform asked the provider to stop over tcp:\n{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("failed to exit gracefully"),
        "{}",
        run.stderr
    );
    assert!(
        emu.users(Development).len() < n,
        "the interrupt came too late to test anything"
    );

    ws.set_env("TF_LOG", "debug");
    ws.unset_env("TF_LOG_PROVIDER");
    let run = ws
        .tf_guarded(&["apply", "-auto-approve", "-input=false"], KILL_AFTER)
        .expect_ok("apply after the interrupt");
    assert_served_over_tcp(&run, "apply after the interrupt");
    assert_eq!(audit(&emu, &ws), n);
}

#[test]
fn debug_mode_over_tcp_serves_terraform_through_reattach() {
    let emu = Emulator::start();
    // Debug mode reads its settings from its own environment, not Terraform's.
    let mut provider = Command::new(env!("CARGO_BIN_EXE_terraform-provider-alloy"));
    provider
        .arg("--debug")
        .env_clear()
        .env(TRANSPORT_VAR, "tcp")
        .env("ALLOY_BASE_URL", &emu.url)
        .env("ALLOY_ENVIRONMENT", "development")
        .env("ALLOY_DEVELOPMENT_API_KEY", DEV_KEY)
        .env("ALLOY_PRODUCTION_API_KEY", PROD_KEY)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = provider.spawn().expect("start the provider in debug mode");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let reattach = loop {
        let mut line = String::new();
        let read = stdout.read_line(&mut line).expect("read the debug banner");
        assert!(read > 0, "EOF before the reattach line");
        if let Some(rest) = line.trim().strip_prefix("TF_REATTACH_PROVIDERS='") {
            break rest.strip_suffix('\'').expect("quoted").to_owned();
        }
    };
    let v: serde_json::Value = serde_json::from_str(&reattach).expect("reattach JSON");
    assert_eq!(v["alloy-automation/alloy"]["Addr"]["Network"], "tcp");

    // Terraform attaches to this process: the workspace's own ALLOY_* are not what it uses.
    let mut ws = Workspace::bare();
    ws.set_env("TF_REATTACH_PROVIDERS", &reattach);
    ws.write_main(&users_hcl(1));
    ws.tf_guarded(&["apply", "-auto-approve", "-input=false"], KILL_AFTER)
        .expect_ok("apply through reattach over tcp");
    assert_eq!(emu.count("POST /users"), 1);
    assert!(
        matches!(child.try_wait(), Ok(None)),
        "Terraform leaves a reattached provider running"
    );
    ws.tf_guarded(&["destroy", "-auto-approve", "-input=false"], KILL_AFTER)
        .expect_ok("destroy through reattach over tcp");
    assert!(emu.users(Development).is_empty());

    // Ctrl-C is how a developer stops it.
    // SAFETY: kill(2) on our own child's pid; no memory involved.
    let rc = unsafe { libc::kill(i32::try_from(child.id()).expect("pid"), libc::SIGINT) };
    assert_eq!(rc, 0);
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for the provider") {
            break st;
        }
        if start.elapsed() > KILL_AFTER {
            let _ = child.kill();
            panic!("the debug provider ignored Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
}
