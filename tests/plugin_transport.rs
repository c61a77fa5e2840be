//! End-to-end tests of the provider process as Terraform sees it: launch with
//! the go-plugin environment, read the handshake line, connect over the unix
//! socket or loopback TCP (with go-plugin-style mTLS or in plaintext), call
//! RPCs, and stop it.
//! The last tests drive a real `terraform validate` when Terraform is on PATH.

mod common;

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::plugin::*;
use terraform_plugin::plugin::handshake::MAGIC_COOKIE_VALUE;
use terraform_plugin::proto::plugin::grpc_stdio_client::GrpcStdioClient;

// ---------------------------------------------------------------------------
// Refusals
// ---------------------------------------------------------------------------

#[test]
fn without_the_magic_cookie_it_explains_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let (status, stdout, stderr) = run_to_end(base_command(dir.path()));
    assert_eq!(status.code(), Some(1));
    assert!(stdout.is_empty(), "no handshake line: {stdout:?}");
    assert!(stderr.contains("Terraform provider plugin"), "{stderr}");
    assert!(stderr.contains("required_providers"), "{stderr}");
    assert!(stderr.contains("dev_overrides"), "{stderr}");
    assert!(stderr.contains("--debug"), "{stderr}");
    // Nothing was created.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn protocol_5_only_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = managed_command(dir.path());
    cmd.env("PLUGIN_PROTOCOL_VERSIONS", "5");
    let (status, stdout, stderr) = run_to_end(cmd);
    assert_eq!(status.code(), Some(1));
    assert!(stdout.is_empty());
    assert!(stderr.contains("protocol 6"), "{stderr}");
    assert!(stderr.contains("\"5\""), "names what was offered: {stderr}");
    assert!(
        stderr.contains("use Terraform 1.10 or later"),
        "names the minimum Terraform version: {stderr}"
    );
}

#[test]
fn version_flag_prints_name_and_version() {
    let out = Command::new(BIN)
        .arg("--version")
        .env_clear()
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("terraform-provider-alloy {}", env!("CARGO_PKG_VERSION"))
    );
}

// ---------------------------------------------------------------------------
// AutoMTLS, services, Shutdown
// ---------------------------------------------------------------------------

#[tokio::test]
async fn mtls_session_like_terraform_then_shutdown_exits_cleanly() {
    let parent = tempfile::tempdir().unwrap();
    let me = go_plugin_client_identity();
    let mut cmd = managed_command(parent.path());
    cmd.env("PLUGIN_CLIENT_CERT", &me.pem);
    let p = Provider::spawn(cmd);

    assert!(p.cert_field.len() > 50, "a certificate is announced");
    assert!(!p.cert_field.ends_with('='), "unpadded base64");
    let socket_dir = p.socket().parent().unwrap().to_path_buf();
    assert!(
        socket_dir.starts_with(parent.path()),
        "honours PLUGIN_UNIX_SOCKET_DIR"
    );
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&socket_dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "socket directory is private");

    let ch = connect(&p.addr, Some(client_tls(&p.cert_field, &me)))
        .await
        .expect("mTLS connect");
    assert_eq!(health_check(ch.clone()).await.unwrap(), SERVING);
    let schema = get_schema(ch.clone()).await.expect("GetProviderSchema");
    assert!(
        schema
            .server_capabilities
            .unwrap()
            .get_provider_schema_optional
    );
    assert!(schema.provider.is_some());

    // go-plugin opens the stdio stream right after connecting; it must stay
    // open (and silent) without blocking shutdown.
    let mut stdio = GrpcStdioClient::new(ch.clone())
        .stream_stdio(())
        .await
        .unwrap()
        .into_inner();
    let stdio_task = tokio::spawn(async move { stdio.message().await });

    shutdown(ch).await;
    let (status, _stderr) = tokio::task::spawn_blocking(move || p.wait()).await.unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(!socket_dir.exists(), "socket directory removed on exit");
    // The stdio stream ended without ever carrying data.
    assert!(!matches!(stdio_task.await.unwrap(), Ok(Some(_))));
}

#[tokio::test]
async fn a_different_client_certificate_is_refused() {
    let parent = tempfile::tempdir().unwrap();
    let expected = go_plugin_client_identity();
    let intruder = go_plugin_client_identity();
    let mut cmd = managed_command(parent.path());
    cmd.env("PLUGIN_CLIENT_CERT", &expected.pem);
    let p = Provider::spawn(cmd);

    // With TLS 1.3 the client may believe the handshake succeeded; what
    // matters is that no RPC gets through.
    if let Ok(ch) = connect(&p.addr, Some(client_tls(&p.cert_field, &intruder))).await {
        assert!(
            health_check(ch.clone()).await.is_err(),
            "health answered a stranger"
        );
        assert!(
            get_schema(ch).await.is_err(),
            "provider answered a stranger"
        );
    }
    // A client without any certificate fares no better.
    let no_cert = client_tls_without_cert(&p.cert_field);
    if let Ok(ch) = connect(&p.addr, Some(no_cert)).await {
        assert!(
            get_schema(ch).await.is_err(),
            "provider answered a client without a certificate"
        );
    }
    // A plaintext client is refused too.
    if let Ok(ch) = connect(&p.addr, None).await {
        assert!(get_schema(ch).await.is_err(), "provider answered plaintext");
    }

    // Failed handshakes did not stop the server: the right client still works.
    let ch = connect(&p.addr, Some(client_tls(&p.cert_field, &expected)))
        .await
        .expect("legitimate client connects");
    assert_eq!(health_check(ch.clone()).await.unwrap(), SERVING);
    shutdown(ch).await;
    let (status, _) = tokio::task::spawn_blocking(move || p.wait()).await.unwrap();
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn tls_disabled_gives_plaintext_handshake_and_working_rpcs() {
    let parent = tempfile::tempdir().unwrap();
    let me = go_plugin_client_identity();
    let mut cmd = managed_command(parent.path());
    // Even with a certificate offered, the user's switch wins.
    cmd.env("PLUGIN_CLIENT_CERT", &me.pem)
        .env("TF_DISABLE_PLUGIN_TLS", "1");
    let p = Provider::spawn(cmd);
    assert_eq!(p.cert_field, "", "empty certificate field");

    let ch = connect(&p.addr, None).await.expect("plaintext connect");
    assert_eq!(health_check(ch.clone()).await.unwrap(), SERVING);
    assert!(get_schema(ch.clone()).await.is_ok());
    shutdown(ch).await;
    let (status, _) = tokio::task::spawn_blocking(move || p.wait()).await.unwrap();
    assert_eq!(status.code(), Some(0));
}

// ---------------------------------------------------------------------------
// TCP transport (go-plugin's choice on Windows; ALLOY_PROVIDER_TRANSPORT=tcp)
// ---------------------------------------------------------------------------

/// A port range of 21 ports starting at one this test holds, so the provider must skip the
/// first port: returns the held listener and the range's ends.
fn range_starting_at_a_busy_port() -> (std::net::TcpListener, u16, u16) {
    let held = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let busy = held.local_addr().unwrap().port();
    let last = busy.saturating_add(20);
    (held, busy, last)
}

#[tokio::test]
async fn tcp_mtls_session_in_the_port_range_then_shutdown_exits_cleanly() {
    let parent = tempfile::tempdir().unwrap();
    let me = go_plugin_client_identity();
    let (_held, busy, last) = range_starting_at_a_busy_port();
    let mut cmd = managed_command(parent.path());
    cmd.env(TRANSPORT_VAR, "tcp")
        .env("PLUGIN_MIN_PORT", busy.to_string())
        .env("PLUGIN_MAX_PORT", last.to_string())
        .env("PLUGIN_CLIENT_CERT", &me.pem);
    let p = Provider::spawn(cmd);

    let Addr::Tcp(addr) = p.addr else {
        panic!("expected tcp in the handshake, got {:?}", p.addr)
    };
    assert_eq!(addr.ip().to_string(), "127.0.0.1", "loopback only");
    assert!(
        addr.port() > busy && addr.port() <= last,
        "port {} outside PLUGIN_MIN_PORT={busy}..PLUGIN_MAX_PORT={last} or on the busy one",
        addr.port()
    );
    assert!(p.cert_field.len() > 50, "AutoMTLS as over the unix socket");
    assert_eq!(
        std::fs::read_dir(parent.path()).unwrap().count(),
        0,
        "no socket directory for TCP"
    );

    // Strangers get nothing over TCP either.
    let intruder = go_plugin_client_identity();
    if let Ok(ch) = connect(&p.addr, Some(client_tls(&p.cert_field, &intruder))).await {
        assert!(
            get_schema(ch).await.is_err(),
            "provider answered a stranger"
        );
    }
    if let Ok(ch) = connect(&p.addr, None).await {
        assert!(get_schema(ch).await.is_err(), "provider answered plaintext");
    }

    let ch = connect(&p.addr, Some(client_tls(&p.cert_field, &me)))
        .await
        .expect("mTLS connect over tcp");
    assert_eq!(health_check(ch.clone()).await.unwrap(), SERVING);
    assert!(get_schema(ch.clone()).await.unwrap().provider.is_some());
    shutdown(ch).await;
    let (status, _) = tokio::task::spawn_blocking(move || p.wait()).await.unwrap();
    assert_eq!(status.code(), Some(0));
    // The port is free again.
    std::net::TcpListener::bind(addr).expect("port released after exit");
}

#[tokio::test]
async fn tcp_without_a_range_takes_any_loopback_port_and_sigterm_stops() {
    let parent = tempfile::tempdir().unwrap();
    let mut cmd = base_command(parent.path());
    cmd.env("TF_PLUGIN_MAGIC_COOKIE", MAGIC_COOKIE_VALUE)
        .env(TRANSPORT_VAR, "TCP");
    let mut p = Provider::spawn(cmd);
    let Addr::Tcp(addr) = p.addr else {
        panic!("expected tcp, got {:?}", p.addr)
    };
    assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");
    assert_eq!(p.cert_field, "", "no client certificate offered: plaintext");
    let ch = connect(&p.addr, None).await.unwrap();
    p.signal(libc::SIGINT);
    // As over the unix socket: SIGINT is ignored while Terraform manages us. The pause only
    // gives a mishandled SIGINT time to act.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(p.still_running(), "SIGINT must not stop a managed provider");
    assert!(get_schema(ch).await.is_ok());
    p.signal(libc::SIGTERM);
    let (status, _) = tokio::task::spawn_blocking(move || p.wait()).await.unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn an_unknown_transport_is_refused_naming_the_variable() {
    for value in ["udp", "unix-socket", "npipe"] {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = managed_command(dir.path());
        cmd.env(TRANSPORT_VAR, value);
        let (status, stdout, stderr) = run_to_end(cmd);
        assert_eq!(status.code(), Some(1), "{stderr}");
        assert!(stdout.is_empty(), "no handshake line: {stdout:?}");
        assert!(
            stderr.contains(&format!("{TRANSPORT_VAR}=\"{value}\"")),
            "names the variable and its value: {stderr}"
        );
        assert!(
            stderr.contains("\"unix\" or \"tcp\""),
            "lists the allowed values: {stderr}"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
    // Debug mode checks it too, before printing anything.
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = base_command(dir.path());
    cmd.arg("--debug").env(TRANSPORT_VAR, "udp");
    let (status, stdout, stderr) = run_to_end(cmd);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains(TRANSPORT_VAR), "{stderr}");
}

#[test]
fn a_bad_or_exhausted_port_range_is_refused_naming_the_variables() {
    let cases: [(&str, &str, &str); 3] = [
        (
            "ten",
            "25000",
            "PLUGIN_MIN_PORT=\"ten\" is not a TCP port number",
        ),
        (
            "10000",
            "70000",
            "PLUGIN_MAX_PORT=\"70000\" is not a TCP port number",
        ),
        (
            "25000",
            "10000",
            "PLUGIN_MIN_PORT=25000 is greater than PLUGIN_MAX_PORT=10000",
        ),
    ];
    for (min, max, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = managed_command(dir.path());
        cmd.env(TRANSPORT_VAR, "tcp")
            .env("PLUGIN_MIN_PORT", min)
            .env("PLUGIN_MAX_PORT", max);
        let (status, stdout, stderr) = run_to_end(cmd);
        assert_eq!(status.code(), Some(1), "{stderr}");
        assert!(stdout.is_empty(), "{stdout}");
        assert!(stderr.contains(expected), "{min}..{max}: {stderr}");
    }
    // A one-port range on a port someone else holds.
    let held = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let busy = held.local_addr().unwrap().port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = managed_command(dir.path());
    cmd.env(TRANSPORT_VAR, "tcp")
        .env("PLUGIN_MIN_PORT", &busy)
        .env("PLUGIN_MAX_PORT", &busy);
    let (status, stdout, stderr) = run_to_end(cmd);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains(&format!(
            "no free port on 127.0.0.1 between PLUGIN_MIN_PORT={busy} and PLUGIN_MAX_PORT={busy}"
        )),
        "{stderr}"
    );
    // The unix transport ignores the port variables altogether.
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = managed_command(dir.path());
    cmd.env(TRANSPORT_VAR, "unix").env("PLUGIN_MIN_PORT", "ten");
    let p = Provider::spawn(cmd);
    assert!(matches!(p.addr, Addr::Unix(_)), "{:?}", p.addr);
}

#[tokio::test]
async fn debug_mode_over_tcp_prints_a_tcp_reattach_address() {
    let parent = tempfile::tempdir().unwrap();
    let mut cmd = base_command(parent.path());
    cmd.arg("--debug").env(TRANSPORT_VAR, "tcp");
    let mut child = cmd.spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let reattach = loop {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "EOF before reattach line"
        );
        if let Some(rest) = line.trim().strip_prefix("TF_REATTACH_PROVIDERS='") {
            break rest.strip_suffix('\'').unwrap().to_owned();
        }
    };
    let v: serde_json::Value = serde_json::from_str(&reattach).unwrap();
    let entry = &v["alloy-automation/alloy"];
    assert_eq!(entry["Addr"]["Network"], "tcp");
    let addr = Addr::parse("tcp", entry["Addr"]["String"].as_str().unwrap());
    let ch = connect(&addr, None).await.expect("plaintext connect");
    assert!(get_schema(ch).await.is_ok());
    // SAFETY: kill(2) on our own child.
    assert_eq!(
        unsafe { libc::kill(i32::try_from(child.id()).unwrap(), libc::SIGINT) },
        0
    );
    let status = tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            if start.elapsed() > HANG_LIMIT {
                let _ = child.kill();
                panic!("debug provider ignored Ctrl-C");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    })
    .await
    .unwrap();
    assert_eq!(status.code(), Some(0));
}

// ---------------------------------------------------------------------------
// Signals
// ---------------------------------------------------------------------------

#[tokio::test]
async fn sigint_is_ignored_and_sigterm_stops() {
    let parent = tempfile::tempdir().unwrap();
    let mut p = Provider::spawn(managed_command(parent.path()));
    let socket_dir = p.socket().parent().unwrap().to_path_buf();
    let ch = connect(&p.addr, None).await.unwrap();

    p.signal(libc::SIGINT);
    // Give a mishandled SIGINT the chance to kill the process before we look;
    // this pause only makes the check meaningful, it measures nothing.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(p.still_running(), "SIGINT must not stop a managed provider");
    assert_eq!(health_check(ch.clone()).await.unwrap(), SERVING);
    assert!(get_schema(ch).await.is_ok());

    p.signal(libc::SIGTERM);
    let (status, _) = tokio::task::spawn_blocking(move || p.wait()).await.unwrap();
    assert_eq!(status.code(), Some(0), "SIGTERM is a clean stop");
    assert!(!socket_dir.exists());
}

// ---------------------------------------------------------------------------
// Debug (reattach) mode
// ---------------------------------------------------------------------------

#[tokio::test]
async fn debug_mode_prints_reattach_config_and_serves_plaintext() {
    let parent = tempfile::tempdir().unwrap();
    // No cookie: debug mode is meant to be started by hand.
    let mut cmd = base_command(parent.path());
    cmd.arg("--debug");
    let mut child = cmd.spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut before = String::new();
    let reattach = loop {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "EOF before reattach line"
        );
        if let Some(rest) = line.trim().strip_prefix("TF_REATTACH_PROVIDERS='") {
            break rest.strip_suffix('\'').unwrap().to_owned();
        }
        before.push_str(&line);
    };
    // Settings come from the debug process's own environment, and the banner says so first.
    assert!(
        before.contains("ALLOY_* settings from this shell"),
        "{before}"
    );
    let v: serde_json::Value = serde_json::from_str(&reattach).unwrap();
    let entry = &v["alloy-automation/alloy"];
    assert_eq!(entry["Protocol"], "grpc");
    assert_eq!(entry["ProtocolVersion"].as_u64(), Some(6));
    assert_eq!(entry["Pid"].as_u64(), Some(u64::from(child.id())));
    assert_eq!(entry["Test"], true);
    assert_eq!(entry["Addr"]["Network"], "unix");
    let socket = PathBuf::from(entry["Addr"]["String"].as_str().unwrap());

    let ch = connect(&Addr::Unix(socket.clone()), None)
        .await
        .expect("plaintext connect");
    assert!(get_schema(ch).await.is_ok());

    // Ctrl-C is how a developer stops it.
    // SAFETY: kill(2) on our own child.
    assert_eq!(
        unsafe { libc::kill(i32::try_from(child.id()).unwrap(), libc::SIGINT) },
        0
    );
    let status = tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            if start.elapsed() > HANG_LIMIT {
                let _ = child.kill();
                panic!("debug provider ignored Ctrl-C");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    })
    .await
    .unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(!socket.parent().unwrap().exists());
}

// ---------------------------------------------------------------------------
// Logging
// ---------------------------------------------------------------------------

#[tokio::test]
async fn trace_logging_writes_hclog_json_and_silence_writes_nothing() {
    // With TF_LOG_PROVIDER=trace every stderr line is an hclog JSON object.
    let parent = tempfile::tempdir().unwrap();
    let mut cmd = managed_command(parent.path());
    cmd.env("TF_LOG_PROVIDER", "trace");
    let p = Provider::spawn(cmd);
    let ch = connect(&p.addr, None).await.unwrap();
    get_schema(ch.clone()).await.unwrap();
    shutdown(ch).await;
    let (status, stderr) = tokio::task::spawn_blocking(move || p.wait()).await.unwrap();
    assert!(status.success());
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(!lines.is_empty(), "trace logging produced nothing");
    for line in &lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v["@level"].is_string(), "{line}");
        assert!(v["@message"].is_string(), "{line}");
        assert_eq!(v["@module"], "alloy", "{line}");
    }
    assert!(stderr.contains("Shutdown"), "{stderr}");

    // Without TF_LOG the same session writes nothing at all to stderr.
    let parent = tempfile::tempdir().unwrap();
    let p = Provider::spawn(managed_command(parent.path()));
    let ch = connect(&p.addr, None).await.unwrap();
    get_schema(ch.clone()).await.unwrap();
    shutdown(ch).await;
    let (status, stderr) = tokio::task::spawn_blocking(move || p.wait()).await.unwrap();
    assert!(status.success());
    assert_eq!(stderr, "", "silent without TF_LOG");
}

// ---------------------------------------------------------------------------
// Real Terraform
// ---------------------------------------------------------------------------

/// `terraform validate` on `provider "alloy" {}` through dev_overrides, with the
/// shared harness's own CLI configuration and environment.
fn terraform_validate(disable_tls: bool) {
    let mut ws = common::Workspace::bare();
    ws.set_env("TF_LOG", "debug");
    if disable_tls {
        ws.set_env("TF_DISABLE_PLUGIN_TLS", "1");
    }
    ws.write_main("provider \"alloy\" {}");
    let run = ws.tf(&["validate"]);
    let (stdout, stderr) = (&run.stdout, &run.stderr);
    assert!(run.ok(), "terraform validate failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("Success!"), "{stdout}");
    // Terraform really launched and negotiated with our binary...
    assert!(stderr.contains("using plugin: version=6"), "{stderr}");
    // ...over the transport we expect (our own debug line, relayed by Terraform)...
    let tls_marker = if disable_tls { "tls=false" } else { "tls=true" };
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("provider.terraform-provider-alloy") && l.contains(tls_marker)),
        "expected {tls_marker} in:\n{stderr}"
    );
    // ...and it exited by itself after Shutdown instead of being killed.
    assert!(stderr.contains("plugin process exited"), "{stderr}");
    assert!(!stderr.contains("failed to exit gracefully"), "{stderr}");
}

#[test]
fn terraform_validate_with_automtls() {
    terraform_validate(false);
}

#[test]
fn terraform_validate_with_tls_disabled() {
    terraform_validate(true);
}

// ---------------------------------------------------------------------------
// Benchmark driver (not a test): run through bench/startup.sh
// ---------------------------------------------------------------------------

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn p90(v: &mut [Duration]) -> Duration {
    v.sort();
    v[(v.len() * 9 / 10).min(v.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Prints the median time from spawn to handshake line and from the Shutdown
/// RPC to process exit, over the unix socket and TCP, with AutoMTLS and in plaintext. Asserts nothing
/// about the figures; `BENCH_RUNS` sets the number of runs (default 50).
#[test]
#[ignore = "benchmark; run bench/startup.sh"]
fn bench_startup_and_shutdown() {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    // A worker thread keeps the client's connections serviced (answering
    // HTTP/2 PINGs during the server's graceful shutdown) while this thread
    // blocks, as Go's client does.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    println!("binary: {BIN}");
    println!("runs per mode: {runs}");

    // In-process cost of the TLS identity the provider creates at start-up.
    let mut tls_setup = Vec::new();
    let client = go_plugin_client_identity();
    for _ in 0..runs {
        let t = Instant::now();
        let id = terraform_plugin::plugin::tls::ServerIdentity::generate().unwrap();
        let _cfg =
            terraform_plugin::plugin::tls::server_config(&id, vec![client.der.clone()]).unwrap();
        tls_setup.push(t.elapsed());
    }
    println!(
        "in-process P-256 cert + rustls config: median {} (p90 {})",
        ms(median(&mut tls_setup)),
        ms(p90(&mut tls_setup))
    );

    // The modes take turns run by run, so a change in the machine's load during the benchmark
    // falls on all of them alike and the unix/TCP ratio stays meaningful on a busy machine.
    let modes = [
        ("unix", true),
        ("tcp", true),
        ("unix", false),
        ("tcp", false),
    ];
    let mut to_handshake = vec![Vec::new(); modes.len()];
    let mut to_exit = vec![Vec::new(); modes.len()];
    for _ in 0..runs {
        for (i, &(transport, tls)) in modes.iter().enumerate() {
            let parent = tempfile::tempdir().unwrap();
            let me = go_plugin_client_identity();
            let mut cmd = managed_command(parent.path());
            cmd.env(TRANSPORT_VAR, transport);
            if tls {
                cmd.env("PLUGIN_CLIENT_CERT", &me.pem);
            }
            let start = Instant::now();
            let mut p = Provider::spawn(cmd);
            to_handshake[i].push(start.elapsed());

            let tls_cfg = tls.then(|| client_tls(&p.cert_field, &me));
            let ch = rt.block_on(connect(&p.addr, tls_cfg)).unwrap();
            rt.block_on(get_schema(ch.clone())).unwrap();

            // Wait for the exit on a thread that is already blocked in wait(2)
            // when Shutdown is sent, so the exit instant is precise.
            let mut child = p.take_child();
            let waiter = std::thread::spawn(move || {
                let status = child.wait().unwrap();
                (status, Instant::now())
            });
            let sent = Instant::now();
            // shutdown() consumes the channel, closing it as soon as the RPC
            // returns, as go-plugin does.
            rt.block_on(shutdown(ch));
            let (status, exited) = waiter.join().unwrap();
            assert!(status.success());
            to_exit[i].push(exited.duration_since(sent));
        }
    }
    let mut medians = Vec::new();
    for (i, &(transport, tls)) in modes.iter().enumerate() {
        let mode = if tls { "AutoMTLS" } else { "plaintext" };
        let handshake = median(&mut to_handshake[i]);
        medians.push(handshake);
        println!(
            "{transport:>4} {mode:>9}: start -> handshake median {} (p90 {}); Shutdown -> exit median {} (p90 {})",
            ms(handshake),
            ms(p90(&mut to_handshake[i])),
            ms(median(&mut to_exit[i])),
            ms(p90(&mut to_exit[i])),
        );
    }
    // Target: TCP within 1.2x of the unix socket.
    for (label, unix, tcp) in [
        ("AutoMTLS", medians[0], medians[1]),
        ("plaintext", medians[2], medians[3]),
    ] {
        println!(
            "tcp/unix start -> handshake, {label}: {:.2}x",
            tcp.as_secs_f64() / unix.as_secs_f64().max(f64::MIN_POSITIVE)
        );
    }
}
