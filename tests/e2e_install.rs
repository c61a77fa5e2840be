//! Installing the provider the way a user consumes a release. The artefact is the real release:
//! `xtask release` builds the portable linux_amd64 binary (cargo-zigbuild against glibc 2.17,
//! its own target directory; a few minutes the first time, then cached) and zips it. Then:
//! the zip served from a packed mirror, the real `terraform init` offline with a lock file,
//! apply a user against the emulator, destroy; the unpacked binary's dynamic section needs
//! nothing newer than glibc 2.17; and the same binary installed into an unpacked mirror with
//! `xtask install`, and into Terraform's implied local mirror directory with no CLI
//! configuration at all.
//!
//! Everything is installed under the provider's real address, `alloy-automation/alloy` on the
//! registry host Terraform implies (asked of `terraform providers`, never written here), and the
//! configurations use the short source, as a user's will once the provider is published. No
//! test lets Terraform reach the network: the CLI configurations exclude this address from
//! direct installation, and an implied local mirror does the same for what it holds.
//!
//! Needs cargo-zigbuild and Zig (`./scripts/release-tools.sh`); without them `xtask release`
//! fails and says how to install them, and so do these tests.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{Admin, Development, Emulator, Workspace, terraform_bin};
use xtask::{install, portable};

const VERSION: &str = env!("CARGO_PKG_VERSION");
const SOURCE: &str = "alloy-automation/alloy";

/// The registry host Terraform implies for a two-part source.
fn host() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| install::default_host(&terraform_bin()).expect("terraform providers"))
}

/// `HOST/alloy-automation/alloy`, the address lock files and state record.
fn address() -> String {
    format!("{}/{SOURCE}", host())
}

fn provider_bin() -> &'static str {
    env!("CARGO_BIN_EXE_terraform-provider-alloy")
}

fn xtask(args: &[&str]) -> String {
    xtask_with(
        Command::new(common::workspace_bin("xtask")).args(args),
        args,
    )
}

fn xtask_with(cmd: &mut Command, args: &[&str]) -> String {
    let out = cmd.output().expect("run xtask");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "xtask {args:?} failed:\n{text}");
    text
}

/// The release this test binary built (once, whichever test asks first).
struct Release {
    dist: PathBuf,
    /// The portable binary the zip was made from.
    binary: PathBuf,
    report: String,
}

fn release() -> &'static Release {
    static RELEASE: OnceLock<Release> = OnceLock::new();
    RELEASE.get_or_init(|| {
        let dist = Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e_install-dist");
        let _ = std::fs::remove_dir_all(&dist);
        let report = xtask(&["release", "--out", dist.to_str().expect("utf-8")]);
        let binary = report
            .lines()
            .find_map(|l| l.split_once("(this machine; from ")?.1.strip_suffix(")."))
            .map(PathBuf::from)
            .unwrap_or_else(|| panic!("release names no binary:\n{report}"));
        Release {
            dist,
            binary,
            report,
        }
    })
}

fn main_tf(body: &str) -> String {
    format!(
        "terraform {{\n  required_providers {{\n    alloy = {{\n      source  = \"{SOURCE}\"\n      version = \"{VERSION}\"\n    }}\n  }}\n}}\n\nprovider \"alloy\" {{}}\n\n{body}\n"
    )
}

const ACME: &str = "resource \"alloy_user\" \"acme\" {\n  username  = \"acme@customers.example.com\"\n  full_name = \"Acme\"\n}\n";

/// The `h1:` hashes the lock file records for our provider, under its fully qualified address.
fn locked_hashes(ws: &Workspace) -> Vec<String> {
    let lock = std::fs::read_to_string(ws.path().join(".terraform.lock.hcl"))
        .expect("terraform init writes .terraform.lock.hcl");
    let block = lock
        .split(&format!("provider \"{}\"", address()))
        .nth(1)
        .unwrap_or_else(|| panic!("no entry for our provider in the lock file:\n{lock}"));
    assert!(
        block.contains(&format!("version     = \"{VERSION}\"")),
        "{block}"
    );
    block
        .split('"')
        .filter(|s| s.starts_with("h1:"))
        .map(str::to_string)
        .collect()
}

/// The provider address of every resource in state.
fn state_providers(ws: &Workspace) -> Vec<String> {
    let state = ws.state();
    state["values"]["root_module"]["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| {
            r["provider_name"]
                .as_str()
                .expect("provider_name")
                .to_string()
        })
        .collect()
}

fn printed_hash(out: &str) -> String {
    out.split_whitespace()
        .skip_while(|w| *w != "hash")
        .nth(1)
        .unwrap_or_else(|| panic!("no package hash in:\n{out}"))
        .to_string()
}

#[test]
fn the_provider_binary_reports_the_cargo_version() {
    let out = Command::new(provider_bin())
        .arg("--version")
        .output()
        .expect("--version");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("terraform-provider-alloy {VERSION}")
    );
    assert_eq!(terraform_provider_alloy::VERSION, VERSION);
}

#[test]
fn install_the_released_binary_into_a_mirror_then_init_offline_apply_and_destroy() {
    let released = release();
    let emu = Emulator::start();
    let tmp = tempfile::tempdir().expect("tempdir");
    let mirror = tmp.path().join("mirror");
    let rc = tmp.path().join("mirror.tfrc");
    // No --host: xtask asks Terraform for the host itself.
    let out = xtask(&[
        "install",
        "--terraform",
        &terraform_bin(),
        "--mirror",
        mirror.to_str().expect("utf-8"),
        "--write-cli-config",
        rc.to_str().expect("utf-8"),
        "--binary",
        released.binary.to_str().expect("utf-8"),
    ]);
    assert!(
        out.contains(&format!("Installed {} {VERSION}", address())),
        "{out}"
    );
    assert!(out.contains(&format!("source  = \"{SOURCE}\"")), "{out}");
    assert!(out.contains(&format!("version = \"{VERSION}\"")), "{out}");
    let target = xtask::Target::host().expect("host");
    let installed = install::package_dir(&mirror, host(), VERSION, target)
        .join(format!("terraform-provider-alloy_v{VERSION}"));
    assert!(installed.is_file(), "{}", installed.display());
    let hash = printed_hash(&out);
    let rc_text = std::fs::read_to_string(&rc).expect("CLI config");
    assert!(
        rc_text.contains(&format!("exclude = [\"{}\"]", address())),
        "Terraform must not try the network for this address:\n{rc_text}"
    );

    let mut ws = Workspace::new(&emu);
    ws.set_env("TF_CLI_CONFIG_FILE", rc.to_str().expect("utf-8"));
    ws.write("main.tf", &main_tf(ACME));
    let init = ws
        .tf(&["init", "-input=false"])
        .expect_ok("terraform init from the mirror");
    assert!(
        init.flat()
            .contains(&format!("Installed {SOURCE} v{VERSION}")),
        "{}",
        init.all()
    );
    assert!(
        !init.flat().contains("development overrides"),
        "the mirror, not dev_overrides, supplied the provider"
    );
    assert_eq!(
        locked_hashes(&ws),
        vec![hash.clone()],
        "the lock file holds the h1 hash xtask printed"
    );

    ws.apply();
    let users = emu.users(Development);
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].username, "acme@customers.example.com");
    assert_eq!(
        state_providers(&ws),
        vec![address()],
        "state records the real address, so it never needs replace-provider"
    );
    assert!(ws.plan_is_empty());
    ws.destroy();
    assert!(emu.users(Development).is_empty());

    // A second init with the lock file in place reuses the locked hash.
    ws.tf(&["init", "-input=false"])
        .expect_ok("init with the lock file");
    assert_eq!(locked_hashes(&ws), vec![hash]);
}

#[test]
fn the_release_zip_installs_from_a_packed_mirror_and_manages_a_user() {
    let released = release();
    let out = &released.report;
    let dist = &released.dist;
    assert!(out.contains("UNSIGNED"), "{out}");
    assert!(
        out.contains("Portable: highest glibc symbol version GLIBC_2."),
        "{out}"
    );
    let target = xtask::Target::host().expect("host");
    assert!(
        out.contains(&format!("Built targets: {}", target.name())),
        "{out}"
    );
    let zip_name = format!("terraform-provider-alloy_{VERSION}_{}.zip", target.name());
    let zip = dist.join(&zip_name);
    assert!(zip.is_file(), "{out}");

    // SHA256SUMS covers the zip, checked with the system tool when there is one.
    let sums = std::fs::read_to_string(
        dist.join(format!("terraform-provider-alloy_{VERSION}_SHA256SUMS")),
    )
    .expect("SHA256SUMS");
    assert!(sums.contains(&format!("  {zip_name}\n")), "{sums}");
    if let Ok(check) = Command::new("sha256sum")
        .arg("--check")
        .arg("--strict")
        .arg(format!("terraform-provider-alloy_{VERSION}_SHA256SUMS"))
        .current_dir(dist)
        .output()
    {
        assert!(
            check.status.success(),
            "{}",
            String::from_utf8_lossy(&check.stdout)
        );
    }

    // Packed layout: HOST/NAMESPACE/TYPE/<the release zip>.
    let tmp = tempfile::tempdir().expect("tempdir");
    let mirror = tmp.path().join("mirror");
    let packed = mirror.join(host()).join("alloy-automation").join("alloy");
    std::fs::create_dir_all(&packed).expect("mkdir");
    std::fs::copy(&zip, packed.join(&zip_name)).expect("copy zip");
    let rc = tmp.path().join("packed.tfrc");
    std::fs::write(&rc, install::cli_config(&mirror, host())).expect("rc");

    let emu = Emulator::start();
    let mut ws = Workspace::new(&emu);
    ws.set_env("TF_CLI_CONFIG_FILE", rc.to_str().expect("utf-8"));
    ws.write("main.tf", &main_tf(ACME));
    ws.tf(&["init", "-input=false"])
        .expect_ok("terraform init from the release zip");

    // Terraform unpacked our zip: the portable executable, our licence and the notice.
    let unpacked: PathBuf = ws
        .path()
        .join(".terraform/providers")
        .join(host())
        .join("alloy-automation/alloy")
        .join(VERSION)
        .join(target.name());
    let exe = unpacked.join(format!("terraform-provider-alloy_v{VERSION}"));
    assert_eq!(
        std::fs::read(&exe).expect("unpacked binary"),
        std::fs::read(&released.binary).expect("released binary")
    );
    let mut files: Vec<String> = std::fs::read_dir(&unpacked)
        .expect("unpacked dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "LICENSE".to_string(),
            "THIRD-PARTY-LICENSES.txt".to_string(),
            format!("terraform-provider-alloy_v{VERSION}")
        ]
    );
    let license = std::fs::read_to_string(unpacked.join("LICENSE")).expect("LICENSE");
    assert!(license.starts_with("Mozilla Public License Version 2.0\n"));
    let notice =
        std::fs::read_to_string(unpacked.join("THIRD-PARTY-LICENSES.txt")).expect("notice");
    for krate in ["aws-lc-sys ", "rustls ", "tokio "] {
        assert!(
            notice.contains(&format!("\n{krate}")),
            "{krate} missing from the notice"
        );
    }

    // What a customer's glibc 2.17 runner must provide: nothing newer, nothing else.
    let links = portable::link_report(&exe).expect("dynamic section");
    assert_eq!(links.problems(), Vec::<String>::new(), "{links:?}");
    assert!(links.max_glibc().is_some(), "{links:?}");
    for lib in &links.needed {
        assert!(portable::ALLOWED_LIBRARIES.contains(&lib.as_str()), "{lib}");
    }

    // Its lock hash is the package hash of what Terraform unpacked, as we compute it.
    let expected = install::package_hash(&unpacked).expect("hash");
    assert_eq!(locked_hashes(&ws), vec![expected]);

    // The released binary serves: apply a user against the emulator, then destroy it.
    ws.apply();
    let users = emu.users(Development);
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].username, "acme@customers.example.com");
    assert!(ws.plan_is_empty());
    ws.destroy();
    assert!(emu.users(Development).is_empty());
}

/// The build-from-source path of the installing guide: `xtask install` into
/// `~/.terraform.d/plugins`, one of the directories Terraform searches on its own, and a CLI
/// configuration with no provider_installation block at all.
#[test]
fn installed_into_the_implied_local_mirror_it_needs_no_cli_configuration() {
    let released = release();
    let emu = Emulator::start();
    let home = tempfile::tempdir().expect("tempdir");
    let plugins = home.path().join(".terraform.d").join("plugins");
    std::fs::create_dir_all(&plugins).expect("mkdir");
    let args = [
        "install",
        "--terraform",
        &terraform_bin(),
        "--mirror",
        plugins.to_str().expect("utf-8"),
        "--binary",
        released.binary.to_str().expect("utf-8"),
    ];
    let out = xtask_with(
        Command::new(common::workspace_bin("xtask"))
            .args(args)
            .env("HOME", home.path()),
        &args,
    );
    assert!(out.contains("implied local mirror directories"), "{out}");
    let hash = printed_hash(&out);

    let mut ws = Workspace::new(&emu);
    let rc = ws.path().join("empty.tfrc");
    std::fs::write(&rc, "").expect("rc");
    ws.set_env("TF_CLI_CONFIG_FILE", rc.to_str().expect("utf-8"));
    ws.set_env("HOME", home.path().to_str().expect("utf-8"));
    ws.write("main.tf", &main_tf(ACME));
    let init = ws
        .tf(&["init", "-input=false"])
        .expect_ok("terraform init from the implied local mirror");
    assert!(
        init.flat()
            .contains(&format!("Installed {SOURCE} v{VERSION}")),
        "{}",
        init.all()
    );
    assert_eq!(locked_hashes(&ws), vec![hash]);
    ws.apply();
    assert_eq!(state_providers(&ws), vec![address()]);
    assert_eq!(emu.users(Development).len(), 1);
}

/// The first bytes of an executable for another platform: header enough to say which one it is
/// (ELF, Mach-O or PE, and the machine field), written out from the formats' specifications.
/// Stand-ins for the binaries the release workflow builds on its other runners.
fn stand_in(platform: &str) -> Vec<u8> {
    let mut b = match platform {
        "linux_amd64" | "linux_arm64" => {
            let mut b = b"\x7fELF\x02\x01\x01".to_vec(); // 64-bit, little-endian
            b.resize(64, 0);
            b[18] = if platform == "linux_amd64" { 62 } else { 183 }; // EM_X86_64, EM_AARCH64
            b
        }
        "darwin_amd64" | "darwin_arm64" => {
            let cpu: u32 = if platform == "darwin_amd64" {
                0x0100_0007 // CPU_TYPE_X86_64
            } else {
                0x0100_000c // CPU_TYPE_ARM64
            };
            let mut b = vec![0xcf, 0xfa, 0xed, 0xfe]; // MH_MAGIC_64
            b.extend_from_slice(&cpu.to_le_bytes());
            b.resize(32, 0);
            b
        }
        "windows_amd64" => {
            let mut b = b"MZ".to_vec();
            b.resize(0x40, 0);
            b[0x3c] = 0x40;
            b.extend_from_slice(b"PE\0\0\x64\x86"); // IMAGE_FILE_MACHINE_AMD64
            b
        }
        other => panic!("no stand-in for {other}"),
    };
    b.extend_from_slice(format!("stand-in {platform} provider").as_bytes());
    b
}

/// A throwaway GnuPG home with an RSA signing key behind a passphrase, as the release workflow
/// imports from its secrets; the agent it starts is stopped on drop.
struct SigningKey {
    home: tempfile::TempDir,
}

const KEY_UID: &str = "release-test@example.com";
const PASSPHRASE: &str = "correct horse battery";

impl SigningKey {
    fn new() -> SigningKey {
        // Short path: gpg-agent's socket lives in the home and socket paths are limited.
        let home = tempfile::Builder::new()
            .prefix("g")
            .tempdir()
            .expect("tempdir");
        let out = Command::new("gpg")
            .env("GNUPGHOME", home.path())
            .args(["--batch", "--pinentry-mode", "loopback", "--passphrase"])
            .arg(PASSPHRASE)
            .args(["--quick-generate-key", KEY_UID, "rsa2048", "sign", "never"])
            .output()
            .expect("gpg (GnuPG) on PATH: the release is signed with it");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        SigningKey { home }
    }

    fn verify(&self, sig: &Path, file: &Path) -> bool {
        Command::new("gpg")
            .env("GNUPGHOME", self.home.path())
            .args(["--batch", "--verify"])
            .arg(sig)
            .arg(file)
            .output()
            .expect("gpg --verify")
            .status
            .success()
    }
}

impl Drop for SigningKey {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "gpg-agent"])
            .output();
    }
}

/// `xtask release --assemble` expected to refuse: its message.
fn assemble_refused(zips: &Path, out: &Path) -> String {
    let o = Command::new(common::workspace_bin("xtask"))
        .args(["release", "--assemble"])
        .arg(zips)
        .arg("--out")
        .arg(out)
        .output()
        .expect("run xtask");
    let text = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "refused:\n{text}");
    assert!(!out.exists(), "a refused set writes nothing");
    text
}

/// What the release workflow does across its runners, with the binaries put in place by hand:
/// the real portable binary of this machine (linux_amd64 here) and stand-ins for the other
/// four, each packaged by `xtask release --target`, then assembled and signed into one release.
/// The checksums, the manifest and the signature are verified with the tools a user has
/// (sha256sum, gpg), Terraform accepts every platform's package from a mirror of the set and
/// installs this machine's, and a set with a platform missing or mismatched is refused.
#[test]
fn a_multi_platform_release_assembles_from_zips_built_elsewhere_and_installs_this_platform() {
    let released = release();
    let tmp = tempfile::tempdir().expect("tempdir");
    let platforms: Vec<String> = xtask::PLATFORMS.iter().map(|t| t.name()).collect();
    let here = xtask::Target::host().expect("host").name();
    assert!(platforms.contains(&here), "{here} is a release platform");

    // One directory per runner's upload, as the workflow's artefacts arrive.
    let mut uploads = Vec::new();
    for platform in &platforms {
        let binary = if *platform == here {
            released.binary.clone()
        } else {
            let p = tmp.path().join(format!("built-on-{platform}"));
            std::fs::write(&p, stand_in(platform)).expect("stand-in");
            p
        };
        // One platform by its Rust target name, as a maintainer may write it.
        let target = if platform == "darwin_arm64" {
            "aarch64-apple-darwin"
        } else {
            platform.as_str()
        };
        let upload = tmp.path().join(format!("zip-{platform}"));
        let out = xtask(&[
            "release",
            "--target",
            target,
            "--binary",
            binary.to_str().expect("utf-8"),
            "--out",
            upload.to_str().expect("utf-8"),
        ]);
        assert!(
            out.contains(&format!("Built targets: {platform} (")),
            "{out}"
        );
        uploads.push(upload);
    }

    let key = SigningKey::new();
    let set = tmp.path().join("release");
    let mut args = vec!["release".to_string(), "--assemble".to_string()];
    args.extend(
        uploads
            .iter()
            .map(|u| u.to_str().expect("utf-8").to_string()),
    );
    args.extend(
        [
            "--out",
            set.to_str().expect("utf-8"),
            "--gpg-key",
            KEY_UID,
            "--gnupg-home",
        ]
        .map(String::from),
    );
    args.push(key.home.path().to_str().expect("utf-8").to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = xtask_with(
        Command::new(common::workspace_bin("xtask"))
            .args(&args)
            .env("RELEASE_GPG_PASSPHRASE", PASSPHRASE),
        &args,
    );
    assert!(!out.contains(PASSPHRASE), "{out}");
    assert!(
        out.contains("(binary detached signature, verified)"),
        "{out}"
    );

    // The set: five zips, the manifest, SHA256SUMS and its signature, nothing else.
    let prefix = format!("terraform-provider-alloy_{VERSION}");
    let mut files: Vec<String> = std::fs::read_dir(&set)
        .expect("release dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut expected: Vec<String> = platforms
        .iter()
        .map(|p| format!("{prefix}_{p}.zip"))
        .collect();
    expected.extend([
        format!("{prefix}_SHA256SUMS"),
        format!("{prefix}_SHA256SUMS.sig"),
        format!("{prefix}_manifest.json"),
    ]);
    expected.sort();
    assert_eq!(files, expected);

    // SHA256SUMS lists exactly the zips and the manifest, and sha256sum agrees with each line.
    let sums_name = format!("{prefix}_SHA256SUMS");
    let sums = std::fs::read_to_string(set.join(&sums_name)).expect("sums");
    let mut listed: Vec<&str> = sums
        .lines()
        .map(|l| l.split_once("  ").expect("<hash>  <name>").1)
        .collect();
    listed.sort();
    let mut want: Vec<&str> = expected
        .iter()
        .map(String::as_str)
        .filter(|f| !f.contains("SHA256SUMS"))
        .collect();
    want.sort();
    assert_eq!(listed, want);
    let check = Command::new("sha256sum")
        .args(["--check", "--strict", &sums_name])
        .current_dir(&set)
        .output()
        .expect("sha256sum (coreutils)");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    // The manifest is the repository's, and the signature verifies (and not for other bytes).
    assert_eq!(
        std::fs::read(set.join(format!("{prefix}_manifest.json"))).expect("manifest"),
        std::fs::read(xtask::repo_root().join("terraform-registry-manifest.json")).expect("repo")
    );
    let sig = set.join(format!("{sums_name}.sig"));
    assert!(key.verify(&sig, &set.join(&sums_name)));
    let altered = tmp.path().join("altered-sums");
    std::fs::write(&altered, sums.replace(&prefix, "x")).expect("write");
    assert!(!key.verify(&sig, &altered));

    // A packed mirror holding the whole set: Terraform installs this machine's package.
    let mirror = tmp.path().join("mirror");
    let packed = mirror.join(host()).join("alloy-automation").join("alloy");
    std::fs::create_dir_all(&packed).expect("mkdir");
    for p in &platforms {
        let zip = format!("{prefix}_{p}.zip");
        std::fs::copy(set.join(&zip), packed.join(&zip)).expect("copy zip");
    }
    let rc = tmp.path().join("packed.tfrc");
    std::fs::write(&rc, install::cli_config(&mirror, host())).expect("rc");
    let emu = Emulator::start();
    let mut ws = Workspace::new(&emu);
    ws.set_env("TF_CLI_CONFIG_FILE", rc.to_str().expect("utf-8"));
    ws.write("main.tf", &main_tf(ACME));
    ws.tf(&["init", "-input=false"])
        .expect_ok("terraform init from the assembled set");
    let providers = ws.path().join(".terraform/providers").join(address());
    let installed: Vec<String> = std::fs::read_dir(providers.join(VERSION))
        .expect("installed versions")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(installed, vec![here.clone()]);
    let unpacked = providers.join(VERSION).join(&here);
    assert_eq!(
        std::fs::read(unpacked.join(format!("terraform-provider-alloy_v{VERSION}")))
            .expect("unpacked binary"),
        std::fs::read(&released.binary).expect("released binary")
    );
    let here_hash = install::package_hash(&unpacked).expect("hash");
    assert_eq!(locked_hashes(&ws), vec![here_hash.clone()]);
    ws.apply();
    assert_eq!(emu.users(Development).len(), 1);
    ws.destroy();

    // Terraform reads every platform's package of the set: locking for all five from the
    // mirror adds one distinct h1 hash per platform, this machine's unchanged.
    let mut lock = vec!["providers", "lock"];
    let fs_mirror = format!("-fs-mirror={}", mirror.display());
    lock.push(&fs_mirror);
    let platform_flags: Vec<String> = platforms.iter().map(|p| format!("-platform={p}")).collect();
    lock.extend(platform_flags.iter().map(String::as_str));
    ws.tf(&lock)
        .expect_ok("terraform providers lock for every platform");
    let mut hashes = locked_hashes(&ws);
    assert!(hashes.contains(&here_hash), "{hashes:?}");
    hashes.sort();
    hashes.dedup();
    assert_eq!(hashes.len(), platforms.len(), "{hashes:?}");

    // Refused: a set with a platform missing, and one whose darwin_arm64 zip holds the Intel
    // build; each message names the platform.
    let partial = tmp.path().join("partial");
    std::fs::create_dir(&partial).expect("mkdir");
    for p in platforms.iter().filter(|p| *p != "darwin_arm64") {
        let zip = format!("{prefix}_{p}.zip");
        std::fs::copy(set.join(&zip), partial.join(&zip)).expect("copy zip");
    }
    let e = assemble_refused(&partial, &tmp.path().join("out-partial"));
    assert!(
        e.contains(&format!(
            "darwin_arm64: missing, no {prefix}_darwin_arm64.zip"
        )),
        "{e}"
    );
    std::fs::copy(
        set.join(format!("{prefix}_darwin_amd64.zip")),
        partial.join(format!("{prefix}_darwin_arm64.zip")),
    )
    .expect("copy zip");
    let e = assemble_refused(&partial, &tmp.path().join("out-mismatched"));
    assert!(
        e.contains(&format!(
            "darwin_arm64: {prefix}_darwin_arm64.zip holds a darwin_amd64 executable"
        )),
        "{e}"
    );
    assert!(!e.contains("missing"), "{e}");
}
