//! Developer tasks behind `cargo run --bin xtask -- <task>`: Registry docs generated from the
//! provider's own schema, release artefacts in the layout the Registry and mirrors expect, and an
//! offline install into a filesystem mirror.
//!
//! Why a library module and not scripts: the docs must come from the same schema Terraform sees
//! (taken in-process from [`Server::schemas`](terraform_plugin::framework::Server::schemas), no Terraform
//! needed), and tests must be able to run each task in-process into a temporary directory. The
//! `xtask` binary only parses flags and calls the `*_command` functions here, which write their
//! report to any `Write` so tests can read it.
//!
//! - [`docs`]: schema + `examples/` → `docs/` (and the check that `docs/` is current);
//! - [`release`]: zip per OS/arch, manifest, `SHA256SUMS` and its detached signature;
//! - [`portable`]: the glibc 2.17 linux_amd64 build and the check of its dynamic section;
//! - [`notice`]: the third-party licence notice, from the dependency tree;
//! - [`install`]: the unpacked filesystem-mirror layout and the CLI configuration that uses it;
//! - `zip`: the small zip writer the release uses;
//! - [`account`], [`conformance`], [`sweep`]: the API a task talks to (from the provider's
//!   `ALLOY_*` variables), the probe of the emulator's assumptions, and the sweeper of leftover
//!   `tfacc-` users; [`tap`]: the recording proxy that proves, in CI, that the acceptance tests
//!   and the probe use the public API only.

#![cfg_attr(not(test), warn(unused_crate_dependencies))]

// Only the `xtask` binary parses flags; the package's dependency is there for it.
use clap as _;

pub mod account;
pub mod conformance;
pub mod docs;
pub mod install;
pub mod notice;
pub mod portable;
pub mod release;
pub mod sweep;
pub mod tap;
mod zip;

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The provider's type name: binaries, archives and source addresses are built from it.
pub const PROVIDER_TYPE: &str = "alloy";
/// The namespace part of the provider's source address.
pub const NAMESPACE: &str = "alloy-automation";
/// The provider's executable name as cargo builds it.
pub const BINARY: &str = "terraform-provider-alloy";
/// The version in Cargo.toml, which the binary reports with `--version`.
pub const CARGO_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Why a task failed. Messages are sentences a developer can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot {what} {}: {source}", .path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("`{command}` failed: {detail}")]
    Command { command: String, detail: String },
}

pub type Result<T> = std::result::Result<T, Error>;

/// Attaches what was being done and to which path to an I/O error.
pub(crate) fn io_err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> Error + use<> {
    let path = path.to_path_buf();
    move |source| Error::Io { what, path, source }
}

/// The checkout the xtask binary was built from: the default root for `examples/`, `docs/` and
/// the registry manifest. Taken at compile time so the tool works from any directory.
pub fn repo_root() -> PathBuf {
    // This crate lives in crates/xtask of the checkout.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .nth(2)
        .unwrap_or(manifest)
        .to_path_buf()
}

/// An OS/architecture pair in Terraform's spelling (`linux_amd64`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    pub os: &'static str,
    pub arch: &'static str,
}

impl Target {
    /// The machine we run on, in Terraform's names; `None` for a platform Terraform has no
    /// name for (we would rather stop than publish a guessed name).
    pub fn host() -> Option<Target> {
        Target::from_rust(std::env::consts::OS, std::env::consts::ARCH)
    }

    /// Maps Rust's `std::env::consts` names to Go's GOOS/GOARCH names, which Terraform uses.
    pub fn from_rust(os: &str, arch: &str) -> Option<Target> {
        let os = match os {
            "linux" => "linux",
            "macos" => "darwin",
            "windows" => "windows",
            "freebsd" => "freebsd",
            "openbsd" => "openbsd",
            "netbsd" => "netbsd",
            "solaris" => "solaris",
            _ => return None,
        };
        let arch = match arch {
            "x86_64" => "amd64",
            "x86" => "386",
            "aarch64" => "arm64",
            "arm" => "arm",
            _ => return None,
        };
        Some(Target { os, arch })
    }

    /// `linux_amd64`: the directory and archive suffix Terraform expects.
    pub fn name(&self) -> String {
        format!("{}_{}", self.os, self.arch)
    }

    /// What executables end with on this target.
    pub fn exe_suffix(&self) -> &'static str {
        if self.os == "windows" { ".exe" } else { "" }
    }

    /// The Rust target a release builds for this platform (`aarch64-apple-darwin`); `None`
    /// for a platform no release carries.
    pub fn rust_target(&self) -> Option<&'static str> {
        Some(match (self.os, self.arch) {
            ("darwin", "amd64") => "x86_64-apple-darwin",
            ("darwin", "arm64") => "aarch64-apple-darwin",
            ("linux", "amd64") => "x86_64-unknown-linux-gnu",
            ("linux", "arm64") => "aarch64-unknown-linux-gnu",
            ("windows", "amd64") => "x86_64-pc-windows-msvc",
            _ => return None,
        })
    }
}

/// Every platform a release carries, in Terraform's names and in the order Terraform sorts
/// them. The one list packaging, assembly and the release workflow's matrix follow (a test
/// checks the workflow against it).
pub const PLATFORMS: [Target; 5] = [
    Target {
        os: "darwin",
        arch: "amd64",
    },
    Target {
        os: "darwin",
        arch: "arm64",
    },
    Target {
        os: "linux",
        arch: "amd64",
    },
    Target {
        os: "linux",
        arch: "arm64",
    },
    Target {
        os: "windows",
        arch: "amd64",
    },
];

/// `darwin_amd64, darwin_arm64, ...`: the platforms, for messages.
pub fn platform_list() -> String {
    PLATFORMS
        .iter()
        .map(Target::name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads a release platform given as Terraform names it (`darwin_arm64`) or as its Rust target
/// (`aarch64-apple-darwin`).
pub fn parse_platform(s: &str) -> Result<Target> {
    PLATFORMS
        .iter()
        .find(|t| t.name() == s || t.rust_target() == Some(s))
        .copied()
        .ok_or_else(|| {
            Error::Invalid(format!(
                "{s:?} is not a platform a release carries: use one of {} (or its Rust target, \
                 e.g. aarch64-apple-darwin)",
                platform_list()
            ))
        })
}

/// The platform an executable was built for, read from its header (ELF, Mach-O or PE and the
/// machine field); `None` when it is none of the release platforms' formats. ELF is taken as
/// Linux: no release carries another ELF system.
pub fn executable_platform(bytes: &[u8]) -> Option<Target> {
    let u16_at = |i: usize| Some(u16::from_le_bytes(bytes.get(i..i + 2)?.try_into().ok()?));
    let u32_at = |i: usize| Some(u32::from_le_bytes(bytes.get(i..i + 4)?.try_into().ok()?));
    let (os, arch) = if bytes.starts_with(b"\x7fELF") {
        // 64-bit, little-endian; e_machine EM_X86_64 or EM_AARCH64.
        if bytes.get(4..6) != Some(&[2, 1]) {
            return None;
        }
        match u16_at(18)? {
            62 => ("linux", "amd64"),
            183 => ("linux", "arm64"),
            _ => return None,
        }
    } else if bytes.starts_with(&[0xcf, 0xfa, 0xed, 0xfe]) {
        // MH_MAGIC_64 (little-endian); cputype CPU_TYPE_X86_64 or CPU_TYPE_ARM64.
        match u32_at(4)? {
            0x0100_0007 => ("darwin", "amd64"),
            0x0100_000c => ("darwin", "arm64"),
            _ => return None,
        }
    } else if bytes.starts_with(b"MZ") {
        // The PE header the DOS stub points to; IMAGE_FILE_MACHINE_AMD64 or _ARM64.
        let pe = usize::try_from(u32_at(0x3c)?).ok()?;
        if bytes.get(pe..pe.checked_add(4)?) != Some(b"PE\0\0") {
            return None;
        }
        match u16_at(pe.checked_add(4)?)? {
            0x8664 => ("windows", "amd64"),
            0xaa64 => ("windows", "arm64"),
            _ => return None,
        }
    } else {
        return None;
    };
    Some(Target { os, arch })
}

/// Checks a release version: `X.Y.Z` with an optional pre-release (`1.2.0-rc.1`), no leading `v`
/// (tags carry the `v`; file names and `required_providers` do not).
pub fn check_version(v: &str) -> Result<()> {
    let (core, pre) = match v.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (v, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    let numeric = |p: &&str| {
        !p.is_empty()
            && p.bytes().all(|b| b.is_ascii_digit())
            && (p.len() == 1 || !p.starts_with('0'))
    };
    let pre_ok = pre.is_none_or(|p| {
        !p.is_empty()
            && p.split('.').all(|id| {
                !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
    });
    if parts.len() == 3 && parts.iter().all(numeric) && pre_ok {
        return Ok(());
    }
    let hint = match v.strip_prefix('v') {
        Some(rest) => format!(" (drop the leading `v`: {rest})"),
        None => String::new(),
    };
    Err(Error::Invalid(format!(
        "{v:?} is not a release version: use X.Y.Z, e.g. {CARGO_VERSION}{hint}"
    )))
}

/// Lowercase hex SHA-256 of some bytes.
pub fn sha256_hex(data: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs a command to completion, turning a spawn failure or a non-zero exit into an error that
/// names the command and carries its stderr.
pub(crate) fn run(cmd: &mut Command) -> Result<std::process::Output> {
    run_with(cmd, None)
}

/// [`run`] with `input` written to the command's stdin (which is then closed). The input is
/// never part of an error.
pub(crate) fn run_with_stdin(cmd: &mut Command, input: &[u8]) -> Result<std::process::Output> {
    run_with(cmd, Some(input))
}

fn run_with(cmd: &mut Command, input: Option<&[u8]>) -> Result<std::process::Output> {
    use std::io::Write as _;
    use std::process::Stdio;
    let shown = format!(
        "{} {}",
        cmd.get_program().to_string_lossy(),
        cmd.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let failed = |e: io::Error| Error::Command {
        command: shown.clone(),
        detail: e.to_string(),
    };
    let out = match input {
        None => cmd.output().map_err(failed)?,
        Some(input) => {
            let mut child = cmd
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(failed)?;
            if let Some(mut stdin) = child.stdin.take() {
                // A command that exits without reading its input is judged by its status.
                let _ = stdin.write_all(input);
            }
            child.wait_with_output().map_err(failed)?
        }
    };
    if !out.status.success() {
        return Err(Error::Command {
            command: shown,
            detail: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(out)
}

/// The version a provider binary reports with `--version` (`terraform-provider-alloy 0.1.0`).
pub fn binary_version(binary: &Path) -> Result<String> {
    let out = run(Command::new(binary).arg("--version"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .nth(1)
        .map(str::to_string)
        .ok_or_else(|| {
            Error::Invalid(format!(
                "{} --version printed {:?}, not `{BINARY} X.Y.Z`",
                binary.display(),
                text.trim()
            ))
        })
}

/// Refuses a binary whose `--version` disagrees with the version it would be published under:
/// Terraform would then run a provider whose logs and User-Agent name another version.
pub fn check_binary_version(binary: &Path, version: &str) -> Result<()> {
    let reported = binary_version(binary)?;
    if reported != version {
        return Err(Error::Invalid(format!(
            "{} reports version {reported}, but it would be published as {version}. Set the version \
             in Cargo.toml to {version} and rebuild, or pass --version {reported}.",
            binary.display()
        )));
    }
    Ok(())
}

/// Cargo's target directory for this checkout (honours `CARGO_TARGET_DIR` and config files).
pub fn target_dir(root: &Path) -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let out = run(Command::new(cargo).current_dir(root).args([
        "metadata",
        "--format-version",
        "1",
        "--no-deps",
    ]))?;
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| Error::Invalid(format!("cargo metadata printed invalid JSON: {e}")))?;
    meta["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| Error::Invalid("cargo metadata has no target_directory".to_string()))
}

/// `cargo build --release` of the provider binary; returns its path.
pub fn build_release_binary(root: &Path, out: &mut dyn io::Write) -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let _ = writeln!(out, "==> cargo build --release --bin {BINARY}");
    // Inherit stdio: a release build takes minutes and its progress is worth seeing.
    let status = Command::new(&cargo)
        .current_dir(root)
        .args(["build", "--release", "--locked", "--bin", BINARY])
        .status()
        .map_err(|e| Error::Command {
            command: format!("{cargo} build --release"),
            detail: e.to_string(),
        })?;
    if !status.success() {
        return Err(Error::Command {
            command: format!("{cargo} build --release"),
            detail: status.to_string(),
        });
    }
    let host = Target::host().map(|t| t.exe_suffix()).unwrap_or("");
    let path = target_dir(root)?
        .join("release")
        .join(format!("{BINARY}{host}"));
    if !path.is_file() {
        return Err(Error::Invalid(format!(
            "cargo build succeeded but {} is missing",
            path.display()
        )));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        for ok in ["0.1.0", "1.20.3", "2.0.0-rc.1", "1.0.0-beta-2"] {
            assert!(check_version(ok).is_ok(), "{ok}");
        }
        for bad in [
            "v0.1.0",
            "0.1",
            "0.1.0.1",
            "01.2.3",
            "1.2.x",
            "1.2.3-",
            "1.2.3-a..b",
            "",
        ] {
            assert!(check_version(bad).is_err(), "{bad}");
        }
        let e = check_version("v0.1.0").unwrap_err().to_string();
        assert!(e.contains("drop the leading `v`: 0.1.0"), "{e}");
    }

    #[test]
    fn targets_use_go_names() {
        assert_eq!(
            Target::from_rust("linux", "x86_64").map(|t| t.name()),
            Some("linux_amd64".to_string())
        );
        assert_eq!(
            Target::from_rust("macos", "aarch64").map(|t| t.name()),
            Some("darwin_arm64".to_string())
        );
        let w = Target::from_rust("windows", "x86").expect("windows");
        assert_eq!((w.name().as_str(), w.exe_suffix()), ("windows_386", ".exe"));
        assert_eq!(Target::from_rust("linux", "riscv64"), None);
        assert!(
            Target::host().is_some(),
            "the build host has a Terraform name"
        );
    }

    #[test]
    fn release_platforms_parse_from_either_name() {
        for t in PLATFORMS {
            let rust = t
                .rust_target()
                .expect("a release platform has a Rust target");
            assert_eq!(parse_platform(&t.name()).unwrap(), t);
            assert_eq!(parse_platform(rust).unwrap(), t);
            // Rust's own names for the platform map back to it.
            let (arch, os) = (
                rust.split('-').next().unwrap(),
                rust.split('-').nth(2).unwrap(),
            );
            let os = if os == "darwin" { "macos" } else { os };
            assert_eq!(Target::from_rust(os, arch), Some(t));
        }
        let e = parse_platform("windows_arm64").unwrap_err().to_string();
        assert!(e.contains("darwin_amd64, darwin_arm64, linux_amd64, linux_arm64, windows_amd64"));
    }

    #[test]
    fn executable_headers_name_their_platform() {
        let mut elf = b"\x7fELF\x02\x01\x01".to_vec();
        elf.resize(64, 0);
        elf[18] = 183;
        assert_eq!(
            executable_platform(&elf).map(|t| t.name()).as_deref(),
            Some("linux_arm64")
        );
        elf[4] = 1; // 32-bit
        assert_eq!(executable_platform(&elf), None);
        let macho = [0xcf, 0xfa, 0xed, 0xfe, 0x07, 0, 0, 0x01, 0, 0, 0, 0];
        assert_eq!(
            executable_platform(&macho).map(|t| t.name()).as_deref(),
            Some("darwin_amd64")
        );
        let mut pe = b"MZ".to_vec();
        pe.resize(0x80, 0);
        pe[0x3c] = 0x40;
        pe[0x40..0x46].copy_from_slice(b"PE\0\0\x64\x86");
        assert_eq!(
            executable_platform(&pe).map(|t| t.name()).as_deref(),
            Some("windows_amd64")
        );
        pe[0x3c] = 0xff; // points past the end
        assert_eq!(executable_platform(&pe), None);
        assert_eq!(executable_platform(b"#!/bin/sh\n"), None);
        assert_eq!(executable_platform(b""), None);
        // This test binary, built for the host.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(executable_platform(&me), Target::host());
    }

    #[test]
    fn sha256_matches_a_known_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn cargo_version_is_the_providers() {
        assert_eq!(CARGO_VERSION, terraform_provider_alloy::VERSION);
        check_version(CARGO_VERSION).expect("Cargo.toml's version is a release version");
    }
}
