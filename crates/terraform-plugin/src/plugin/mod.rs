//! The provider process: everything between `main` and a `tfplugin6::Provider`.
//!
//! Terraform launches providers through HashiCorp's go-plugin. This module
//! behaves like a go-plugin gRPC server written in Go would: it checks the
//! magic cookie and protocol version, listens on a private unix socket (or,
//! as go-plugin does on Windows, on loopback TCP), does
//! AutoMTLS with a pinned client certificate, prints the handshake line, serves
//! the provider next to go-plugin's controller/stdio/health services, and exits
//! promptly on `GRPCController.Shutdown`.
//!
//! It knows nothing about tfplugin6 semantics: any `Provider` implementation
//! can be served. `run` is synchronous and returns an `ExitCode` so the binary's
//! `main` stays one line and every exit path runs destructors (the socket
//! directory is removed by `Drop`).

pub mod handshake;
pub mod log;
pub mod server;
pub mod tls;

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use crate::proto::tfplugin6::provider_server::Provider;
use handshake::{LaunchEnv, Transport};

/// Static facts about the provider binary.
#[derive(Debug, Clone)]
pub struct PluginConfig {
    /// Executable name, e.g. `terraform-provider-alloy`; used in `--version`
    /// and in messages.
    pub binary_name: &'static str,
    /// Provider source address (e.g. `alloy-automation/alloy`), the key of the
    /// `TF_REATTACH_PROVIDERS` JSON printed in debug mode.
    pub provider_address: String,
    /// Prefix of the environment variables the provider reads its settings from (`ALLOY_`);
    /// debug mode says they must be set in the shell that runs the provider.
    pub env_prefix: &'static str,
    /// Target prefixes of the provider's own crates (`tracing` targets): they log at the
    /// level `TF_LOG` asks for, while dependencies are capped at INFO.
    pub log_targets: &'static [&'static str],
}

/// Parsed command line.
#[derive(Debug, Clone, Copy)]
struct Args {
    debug: bool,
}

/// Parses the command line. `Err` carries the exit code after clap has
/// printed help, the version, or a usage error.
fn parse_args(
    cfg: &PluginConfig,
    argv: impl IntoIterator<Item = std::ffi::OsString>,
) -> Result<Args, ExitCode> {
    let cmd = clap::Command::new(cfg.binary_name)
        .version(env!("CARGO_PKG_VERSION"))
        .about("Terraform provider for Alloy Automation's Embedded iPaaS. Normally started by Terraform, not by hand.")
        .arg(
            clap::Arg::new("debug")
                .long("debug")
                .action(clap::ArgAction::SetTrue)
                .help("Serve in the foreground and print a TF_REATTACH_PROVIDERS value for Terraform to attach to"),
        );
    match cmd.try_get_matches_from(argv) {
        Ok(m) => Ok(Args {
            debug: m.get_flag("debug"),
        }),
        Err(err) => {
            let _ = err.print();
            Err(ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2)))
        }
    }
}

/// How this process was started.
enum Mode {
    /// Launched by Terraform: handshake line, TLS when offered.
    Managed { client_cert_pem: Option<String> },
    /// `--debug`: plaintext, reattach instructions, runs until Ctrl-C.
    Debug,
}

/// Runs the provider process to completion and returns its exit code.
///
/// Reads the command line (`--debug`, `--version`, `--help`) and the
/// go-plugin environment, sets up logging from `TF_LOG_PROVIDER`/`TF_LOG`,
/// then serves `provider` until Terraform calls `GRPCController.Shutdown`, a
/// SIGTERM arrives, or (in debug mode only) Ctrl-C is pressed.
pub fn run<P>(cfg: PluginConfig, provider: P) -> ExitCode
where
    P: Provider,
{
    let args = match parse_args(&cfg, std::env::args_os()) {
        Ok(a) => a,
        Err(code) => return code,
    };
    log::init(log::level_from_env(), cfg.log_targets);
    let env = LaunchEnv::from_process();
    // Checked before anything else is set up, in debug mode too: a typo must not silently
    // fall back to the other transport.
    let transport_var = handshake::transport_var(cfg.env_prefix);
    let transport = match handshake::parse_transport(
        &transport_var,
        std::env::var(&transport_var).ok().as_deref(),
    ) {
        Ok(t) => t,
        Err(err) => {
            eprintln!("{}: {err}", cfg.binary_name);
            return ExitCode::FAILURE;
        }
    };

    let mode = if args.debug {
        Mode::Debug
    } else {
        if !env.has_magic_cookie() {
            eprint!(
                "{}",
                handshake::not_a_command_text(cfg.binary_name, &cfg.provider_address)
            );
            return ExitCode::FAILURE;
        }
        if let Err(err) = handshake::negotiate_version(env.protocol_versions.as_deref()) {
            tracing::error!(offered = %err.offered, "protocol version mismatch");
            eprintln!("{}: {err}", cfg.binary_name);
            return ExitCode::FAILURE;
        }
        Mode::Managed {
            client_cert_pem: env.tls_client_cert().map(str::to_owned),
        }
    };

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("{}: cannot start the async runtime: {err}", cfg.binary_name);
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(serve(&cfg, &env, transport, mode, provider));
    // Connection tasks that outlived the drain are simply dropped.
    runtime.shutdown_timeout(Duration::from_millis(50));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            tracing::error!(error = %msg, "provider server failed");
            eprintln!("{}: {msg}", cfg.binary_name);
            ExitCode::FAILURE
        }
    }
}

async fn serve<P: Provider>(
    cfg: &PluginConfig,
    env: &LaunchEnv,
    transport: Transport,
    mode: Mode,
    provider: P,
) -> Result<(), String> {
    let stop = server::StopHandle::new();
    let debug_mode = matches!(mode, Mode::Debug);
    // Signals first, so a signal sent right after the handshake is handled.
    spawn_signal_watch(stop.clone(), debug_mode)
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;

    let (tls, cert_field) = match &mode {
        Mode::Managed {
            client_cert_pem: Some(pem),
        } => {
            let client_certs = tls::parse_pem_certs(pem).map_err(|e| e.to_string())?;
            let identity = tls::ServerIdentity::generate().map_err(|e| e.to_string())?;
            let config = tls::server_config(&identity, client_certs).map_err(|e| e.to_string())?;
            (Some(config), Some(identity.handshake_field()))
        }
        _ => (None, None),
    };

    let listen = listen_for(env, transport)?;
    let bound = server::Bound::bind(server::ServeOptions {
        listen,
        tls,
        stop: stop.clone(),
    })
    .await
    .map_err(|e| format!("cannot listen ({} transport): {e}", transport.name()))?;

    let announcement = if debug_mode {
        let reattach =
            handshake::reattach_json(&cfg.provider_address, std::process::id(), bound.address());
        handshake::debug_banner(cfg.binary_name, cfg.env_prefix, &reattach)
    } else {
        handshake::handshake_line(bound.address(), cert_field.as_deref()) + "\n"
    };
    // The listener is bound, so the client may connect as soon as it reads this.
    let mut stdout = std::io::stdout().lock();
    if let Err(err) = stdout
        .write_all(announcement.as_bytes())
        .and_then(|()| stdout.flush())
    {
        return Err(format!("cannot write the handshake to stdout: {err}"));
    }
    drop(stdout);
    tracing::debug!(
        network = bound.address().network(),
        address = %bound.address(),
        tls = cert_field.is_some(),
        debug_mode,
        "plugin server listening"
    );

    bound
        .serve(provider)
        .await
        .map_err(|e| format!("gRPC server error: {e}"))?;
    tracing::debug!("plugin server stopped");
    Ok(())
}

/// Turns the chosen transport and the go-plugin variables into a place to listen.
fn listen_for(env: &LaunchEnv, transport: Transport) -> Result<server::Listen, String> {
    match transport {
        Transport::Tcp => {
            let range = handshake::port_range(env.min_port.as_deref(), env.max_port.as_deref())
                .map_err(|e| e.to_string())?;
            Ok(server::Listen::Tcp(range))
        }
        #[cfg(unix)]
        Transport::Unix => {
            let dir = server::SocketDir::create(env.unix_socket_dir.as_deref())
                .map_err(|e| format!("cannot create the socket directory: {e}"))?;
            Ok(server::Listen::Unix(dir))
        }
        #[cfg(not(unix))]
        Transport::Unix => Err(
            "the unix transport is not available on this system; unset the transport variable \
             or set it to \"tcp\""
                .to_owned(),
        ),
    }
}

/// SIGTERM always stops the server. SIGINT is ignored when Terraform manages
/// us: Terraform forwards Ctrl-C to the whole process group and then asks
/// politely through StopProvider and Shutdown. In debug mode nobody else will
/// stop us, so SIGINT stops the server too.
#[cfg(unix)]
fn spawn_signal_watch(stop: server::StopHandle, debug: bool) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = stop.stopped() => break,
                _ = term.recv() => {
                    tracing::debug!("SIGTERM received; stopping");
                    stop.stop(server::SIGNAL_DRAIN);
                    break;
                }
                _ = int.recv() => {
                    if debug {
                        tracing::debug!("interrupt received; stopping (debug mode)");
                        stop.stop(server::SIGNAL_DRAIN);
                        break;
                    }
                    tracing::debug!("interrupt ignored; Terraform will call StopProvider");
                }
            }
        }
    });
    Ok(())
}

/// Elsewhere (Windows) only Ctrl-C exists: ignored when Terraform manages us,
/// as go-plugin's servers do, and a stop in debug mode. Terraform ends a
/// managed provider through Shutdown or by killing it.
#[cfg(not(unix))]
fn spawn_signal_watch(stop: server::StopHandle, debug: bool) -> std::io::Result<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = stop.stopped() => break,
                r = tokio::signal::ctrl_c() => {
                    if let Err(err) = r {
                        tracing::debug!(error = %err, "cannot watch for Ctrl-C");
                        break;
                    }
                    if debug {
                        tracing::debug!("interrupt received; stopping (debug mode)");
                        stop.stop(server::SIGNAL_DRAIN);
                        break;
                    }
                    tracing::debug!("interrupt ignored; Terraform will call StopProvider");
                }
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> PluginConfig {
        PluginConfig {
            binary_name: "terraform-provider-alloy",
            provider_address: "alloy-automation/alloy".into(),
            env_prefix: "ALLOY_",
            log_targets: &[],
        }
    }

    fn argv(a: &[&str]) -> Vec<std::ffi::OsString> {
        a.iter().map(Into::into).collect()
    }

    #[test]
    fn args() {
        assert!(!parse_args(&cfg(), argv(&["p"])).unwrap().debug);
        assert!(parse_args(&cfg(), argv(&["p", "--debug"])).unwrap().debug);
        assert_eq!(
            parse_args(&cfg(), argv(&["p", "--version"])).unwrap_err(),
            ExitCode::SUCCESS
        );
        assert_eq!(
            parse_args(&cfg(), argv(&["p", "--bogus"])).unwrap_err(),
            ExitCode::from(2)
        );
    }
}
