//! `alloy-emulator`: run the local Alloy Embedded API emulator.
//!
//! A thin shell over `alloy_emulator`: parse flags, start the emulator,
//! print where it listens (the first stdout line, which scripts and tests wait for), and stop
//! cleanly on SIGINT or SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use alloy_emulator::{
    BadAnswer, DEFAULT_DEVELOPMENT_KEY, DEFAULT_LISTEN, DEFAULT_PRODUCTION_KEY, EmulatorConfig,
    Faults, RunningEmulator,
};
use clap::Parser;

/// A local emulator of Alloy Automation's Embedded API, for developing and testing against.
#[derive(Parser)]
#[command(name = "alloy-emulator", version)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Allow a non-loopback listen address. The emulator has no real authentication.
    #[arg(long)]
    allow_remote: bool,
    /// API key that acts as the development key.
    #[arg(long, env = "ALLOY_EMULATOR_DEVELOPMENT_KEY", default_value = DEFAULT_DEVELOPMENT_KEY, hide_env_values = true)]
    development_key: String,
    /// API key that acts as the production key.
    #[arg(long, env = "ALLOY_EMULATOR_PRODUCTION_KEY", default_value = DEFAULT_PRODUCTION_KEY, hide_env_values = true)]
    production_key: String,
    /// Load users and installs from this file and save every change to it.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// HS256 secret for user tokens (random per process when not given).
    #[arg(long, env = "ALLOY_EMULATOR_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
    /// Seed for user ids and fault draws, for reproducible runs.
    #[arg(long)]
    seed: Option<u64>,
    /// Fixed delay before each API request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Extra random delay of up to this many milliseconds.
    #[arg(long, default_value_t = 0)]
    jitter_ms: u64,
    /// Fraction (0..1) of API requests answered 500/503.
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// API requests admitted per second (0 = unlimited); the rest get 429 with Retry-After.
    #[arg(long, default_value_t = 0)]
    rate_limit: u32,
    /// Fraction (0..1) of successful writes whose response is dropped after committing.
    #[arg(long, default_value_t = 0.0)]
    lost_response_rate: f64,
    /// Fraction (0..1) of successful answers replaced by a malformed one (see --bad-answer).
    #[arg(long, default_value_t = 0.0)]
    bad_answer_rate: f64,
    /// What a bad answer looks like: html (gateway page, status 200), html_502, truncated,
    /// missing_field (no userId) or empty (status 200, no body).
    #[arg(long, default_value_t = BadAnswer::Html)]
    bad_answer: BadAnswer,
    /// Apply the faults only to these routes, e.g. "GET /users/{id}" (repeat or separate with
    /// commas); all API routes when not given.
    #[arg(long, value_name = "ROUTE", value_delimiter = ',')]
    routes: Vec<String>,
    /// Log one line per API request to stderr.
    #[arg(long, short)]
    verbose: bool,
}

fn describe_key(key: &str, default: &str) -> String {
    if key == default {
        key.to_owned()
    } else {
        "(custom key, not shown)".to_owned()
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let cfg = EmulatorConfig {
        development_key: args.development_key,
        production_key: args.production_key,
        state_file: args.state,
        faults: Faults {
            latency_ms: args.latency_ms,
            jitter_ms: args.jitter_ms,
            error_rate: args.error_rate,
            rate_limit: args.rate_limit,
            lost_response_rate: args.lost_response_rate,
            bad_answer_rate: args.bad_answer_rate,
            bad_answer: args.bad_answer,
            routes: args.routes,
        },
        seed: args.seed,
        jwt_secret: args.jwt_secret,
        allow_remote: args.allow_remote,
        verbose: args.verbose,
    };
    let emulator = match RunningEmulator::start(cfg, args.listen).await {
        Ok(e) => e,
        Err(e) => {
            eprintln!("alloy-emulator: {e}");
            return ExitCode::from(2);
        }
    };
    {
        let mut out = std::io::stdout().lock();
        // Scripts wait for exactly this first line; flush it before anything else.
        let _ = writeln!(out, "alloy-emulator listening on {}", emulator.url());
        let _ = out.flush();
        let _ = writeln!(
            out,
            "development key: {}",
            describe_key(emulator.development_key(), DEFAULT_DEVELOPMENT_KEY)
        );
        let _ = writeln!(
            out,
            "production key:  {}",
            describe_key(emulator.production_key(), DEFAULT_PRODUCTION_KEY)
        );
        let _ = writeln!(out, "admin API:       {}/_emulator/health", emulator.url());
        let _ = out.flush();
    }

    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminated() => {}
    }
    emulator.shutdown().await;
    ExitCode::SUCCESS
}

/// Resolves when the system asks the process to stop other than by Ctrl-C: SIGTERM on Unix
/// (service managers, `docker stop`); on Windows, the console being closed or the user logging
/// off or the machine shutting down. Never resolves where that cannot be watched.
#[cfg(unix)]
async fn terminated() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}

#[cfg(windows)]
async fn terminated() {
    use tokio::signal::windows::{ctrl_break, ctrl_close, ctrl_logoff, ctrl_shutdown};
    match (ctrl_break(), ctrl_close(), ctrl_logoff(), ctrl_shutdown()) {
        (Ok(mut brk), Ok(mut close), Ok(mut logoff), Ok(mut shutdown)) => {
            tokio::select! {
                _ = brk.recv() => {}
                _ = close.recv() => {}
                _ = logoff.recv() => {}
                _ = shutdown.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}

#[cfg(not(any(unix, windows)))]
async fn terminated() {
    std::future::pending().await
}
