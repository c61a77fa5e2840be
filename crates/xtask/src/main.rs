//! `cargo run --bin xtask -- <task>`: developer tasks (docs, release, install). Flags only; the
//! work is in `xtask`, where tests can call it in-process.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use xtask::{self, account, conformance, docs, install, release, sweep, tap};

/// Developer tasks for terraform-provider-alloy.
#[derive(Parser)]
#[command(name = "xtask", version)]
struct Args {
    /// The checkout to work on (holds examples/, docs/ and the registry manifest).
    #[arg(long, global = true, value_name = "DIR", hide = true)]
    root: Option<PathBuf>,
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Generate the Registry docs (docs/) from the provider's schema and examples/.
    Docs {
        /// Do not write; exit 1 and list the files that are out of date.
        #[arg(long)]
        check: bool,
        /// Docs directory [default: docs/ in the checkout].
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Build the release binary (linux_amd64: against glibc 2.17 with cargo-zigbuild) and lay
    /// out the zips, manifest, SHA256SUMS and signature.
    Release {
        /// Release version, X.Y.Z [default: Cargo.toml's].
        #[arg(long)]
        version: Option<String>,
        /// Output directory [default: <target dir>/dist/<version>].
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// GPG key (RSA or DSA) to sign the SHA256SUMS file with; unsigned without it.
        #[arg(long, value_name = "ID")]
        gpg_key: Option<String>,
        /// GnuPG home holding the key [default: gpg's].
        #[arg(long, value_name = "DIR")]
        gnupg_home: Option<PathBuf>,
        /// Package this provider binary instead of building one (linux_amd64: it must still
        /// need nothing newer than glibc 2.17).
        #[arg(long, value_name = "PATH")]
        binary: Option<PathBuf>,
        /// Target directory of the portable linux_amd64 build [default: <target dir>/portable].
        #[arg(long, value_name = "DIR")]
        build_dir: Option<PathBuf>,
        /// Package for this platform (darwin_arm64, or its Rust target aarch64-apple-darwin)
        /// [default: this machine's]. Another machine's platform needs --binary.
        #[arg(long, value_name = "PLATFORM", value_parser = parse_platform)]
        target: Option<xtask::Target>,
        /// Build nothing: check that these zips (files or directories), built on each
        /// platform's machine, are exactly one per release platform, of this version, each
        /// holding its platform's executable; then write them to --out with the manifest,
        /// SHA256SUMS and, with --gpg-key, the signature. The key's passphrase, for signing
        /// without a terminal, is read from RELEASE_GPG_PASSPHRASE.
        #[arg(long, value_name = "ZIP|DIR", num_args = 1.., conflicts_with_all = ["binary", "target", "build_dir"])]
        assemble: Vec<PathBuf>,
    },
    /// Install the provider into a filesystem mirror for offline `terraform init`, under its
    /// real source address (alloy-automation/alloy on the registry host Terraform implies).
    Install {
        /// Mirror directory, e.g. ~/.terraform.d/plugins, one of Terraform's implied local
        /// mirror directories [default: <target dir>/terraform-mirror].
        #[arg(long, value_name = "DIR")]
        mirror: Option<PathBuf>,
        /// Registry host of the address to install under [default: the one `terraform
        /// providers` shows for alloy-automation/alloy].
        #[arg(long)]
        host: Option<String>,
        /// The Terraform (or OpenTofu) executable asked for the default host.
        #[arg(long, value_name = "PATH", default_value = "terraform")]
        terraform: String,
        /// Version to install as [default: Cargo.toml's].
        #[arg(long)]
        version: Option<String>,
        /// Write the CLI configuration (filesystem_mirror + direct exclude) to this file.
        #[arg(long, value_name = "FILE")]
        write_cli_config: Option<PathBuf>,
        /// Install this provider binary instead of running `cargo build --release`.
        #[arg(long, value_name = "PATH")]
        binary: Option<PathBuf>,
    },
    /// Probe the Alloy API named by ALLOY_BASE_URL or ALLOY_REGION (key from ALLOY_API_KEY or
    /// ALLOY_<ENVIRONMENT>_API_KEY) for every behaviour the emulator assumes; exit 1 on any
    /// disagreement. Creates and deletes only tfacc-<random>- users.
    Conformance,
    /// List (and with --yes delete) the users whose username starts with --prefix, in the
    /// environment the key belongs to.
    Sweep {
        /// Username prefix of the users to sweep (at least 5 characters), e.g. tfacc-.
        #[arg(long)]
        prefix: String,
        /// Delete them; without it the sweep only lists what it would delete.
        #[arg(long)]
        yes: bool,
    },
    /// Run COMMAND with ALLOY_BASE_URL pointing at a recording proxy in front of --upstream;
    /// fail if it fails, calls an emulator admin route, or reaches the API around the proxy.
    #[command(hide = true)]
    Tap {
        /// The API to forward to (a freshly started emulator in CI).
        #[arg(long)]
        upstream: String,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
}

fn parse_platform(s: &str) -> Result<xtask::Target, String> {
    xtask::parse_platform(s).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let root = args.root.unwrap_or_else(xtask::repo_root);
    let mut out = std::io::stdout();
    let result = match args.task {
        Task::Docs { check, out: dir } => docs::docs_command(
            &docs::DocsOptions {
                out: dir.unwrap_or_else(|| root.join("docs")),
                root,
                check,
            },
            &mut out,
        ),
        Task::Release {
            version,
            out: dir,
            gpg_key,
            gnupg_home,
            binary,
            build_dir,
            target,
            assemble,
        } => release::release_command(
            &release::ReleaseOptions {
                root,
                version,
                out: dir,
                gpg_key,
                gnupg_home,
                binary,
                build_dir,
                target,
                assemble,
                // From the environment only: a flag's value would show in the process list.
                gpg_passphrase: std::env::var("RELEASE_GPG_PASSPHRASE")
                    .ok()
                    .filter(|p| !p.is_empty())
                    .map(release::Passphrase::new),
            },
            &mut out,
        )
        .map(|_| true),
        Task::Install {
            mirror,
            host,
            terraform,
            version,
            write_cli_config,
            binary,
        } => install::install_command(
            &install::InstallOptions {
                root,
                mirror,
                host,
                terraform,
                version,
                binary,
                write_cli_config,
            },
            &mut out,
        )
        .map(|_| true),
        Task::Conformance => {
            conformance::conformance_command(account::Account::from_env(), &mut out)
        }
        Task::Sweep { prefix, yes } => {
            sweep::sweep_command(account::Account::from_env(), &prefix, yes, &mut out)
        }
        Task::Tap { upstream, command } => tap::tap_command(&upstream, &command, &mut out),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::from(2)
        }
    }
}
