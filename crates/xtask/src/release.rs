//! Release artefacts in the layout the Terraform Registry (and a network mirror) expects:
//!
//! ```text
//! terraform-provider-alloy_X.Y.Z_<os>_<arch>.zip    one per target: terraform-provider-alloy_vX.Y.Z,
//!                                                   LICENSE and THIRD-PARTY-LICENSES.txt
//! terraform-provider-alloy_X.Y.Z_manifest.json      copy of terraform-registry-manifest.json
//! terraform-provider-alloy_X.Y.Z_SHA256SUMS         "<sha256>  <file>" for the zips and the manifest
//! terraform-provider-alloy_X.Y.Z_SHA256SUMS.sig     binary detached GPG signature (when a key is given)
//! ```
//!
//! Only the host target is built: cross toolchains are not part of this project's set-up, and a
//! zip is only ever made from a binary that really exists. On linux_amd64 that binary is the
//! portable one ([`super::portable`]: glibc 2.17, remapped paths), and no linux_amd64 binary is
//! packaged unless its dynamic section passes the glibc 2.17 check. The packaging step takes
//! binaries by path so it can be tested with a small fake file.
//!
//! Output is reproducible: archive entries carry one timestamp (`SOURCE_DATE_EPOCH`, else the
//! commit's date) in a fixed order, and the checksum file is sorted by name.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::zip::{DOS_EPOCH, DosTime};
use super::{
    BINARY, CARGO_VERSION, Error, Result, Target, check_binary_version, check_version, io_err,
    notice, portable, run, sha256_hex,
};

/// `terraform-provider-alloy_X.Y.Z`: the prefix of every artefact of a version.
fn prefix(version: &str) -> String {
    format!("{BINARY}_{version}")
}

/// The executable's name inside a zip: `terraform-provider-alloy_vX.Y.Z` (`.exe` on Windows).
pub fn binary_name(version: &str, target: Target) -> String {
    format!("{BINARY}_v{version}{}", target.exe_suffix())
}

pub fn zip_name(version: &str, target: Target) -> String {
    format!("{}_{}.zip", prefix(version), target.name())
}

pub fn manifest_name(version: &str) -> String {
    format!("{}_manifest.json", prefix(version))
}

pub fn sums_name(version: &str) -> String {
    format!("{}_SHA256SUMS", prefix(version))
}

/// What packaging needs besides the binaries.
#[derive(Clone, Debug)]
pub struct PackageOptions {
    pub version: String,
    pub out: PathBuf,
    /// `terraform-registry-manifest.json`.
    pub manifest: PathBuf,
    /// GPG key (id, fingerprint or user id) to sign the checksums with.
    pub gpg_key: Option<String>,
    /// GnuPG home holding that key (`GNUPGHOME`); gpg's default when `None`.
    pub gnupg_home: Option<PathBuf>,
    /// Files every zip carries after the binary (name, contents), e.g. the licences.
    pub extra_files: Vec<(String, Vec<u8>)>,
    /// Modification time of every zip entry, Unix seconds.
    pub mtime: i64,
}

/// The files a release produced.
#[derive(Clone, Debug)]
pub struct Artefacts {
    pub zips: Vec<PathBuf>,
    pub manifest: PathBuf,
    pub sums: PathBuf,
    pub signature: Option<PathBuf>,
}

/// Checks the registry manifest says what a protocol 6 provider must: version 1, protocol 6.0.
pub fn check_manifest(text: &str) -> Result<()> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        Error::Invalid(format!("terraform-registry-manifest.json is not JSON: {e}"))
    })?;
    let protocols: Vec<&str> = v["metadata"]["protocol_versions"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p.as_str()).collect())
        .unwrap_or_default();
    if v["version"].as_u64() != Some(1) || protocols != ["6.0"] {
        return Err(Error::Invalid(format!(
            "terraform-registry-manifest.json must be {{\"version\": 1, \"metadata\": \
             {{\"protocol_versions\": [\"6.0\"]}}}} for this protocol 6 provider, found {}",
            text.trim()
        )));
    }
    Ok(())
}

/// Zips each binary, copies the manifest, writes the checksums and, given a key, signs them.
pub fn package(binaries: &[(Target, PathBuf)], opts: &PackageOptions) -> Result<Artefacts> {
    check_version(&opts.version)?;
    if binaries.is_empty() {
        return Err(Error::Invalid("no binary to package".to_string()));
    }
    std::fs::create_dir_all(&opts.out).map_err(io_err("create", &opts.out))?;
    let manifest_text =
        std::fs::read_to_string(&opts.manifest).map_err(io_err("read", &opts.manifest))?;
    check_manifest(&manifest_text)?;

    let mut sums: Vec<(String, String)> = Vec::new();
    let mut zips = Vec::new();
    for (target, binary) in binaries {
        let data = std::fs::read(binary).map_err(io_err("read", binary))?;
        let inner = binary_name(&opts.version, *target);
        let mut entries = vec![super::zip::Entry {
            name: &inner,
            data: &data,
            mode: 0o755,
        }];
        entries.extend(
            opts.extra_files
                .iter()
                .map(|(name, data)| super::zip::Entry {
                    name,
                    data,
                    mode: 0o644,
                }),
        );
        let mut bytes = Vec::new();
        super::zip::write(&entries, DosTime::from_unix(opts.mtime), &mut bytes)
            .map_err(io_err("zip", binary))?;
        let name = zip_name(&opts.version, *target);
        let path = opts.out.join(&name);
        std::fs::write(&path, &bytes).map_err(io_err("write", &path))?;
        sums.push((name, sha256_hex(&bytes)));
        zips.push(path);
    }

    let manifest_name = manifest_name(&opts.version);
    let manifest = opts.out.join(&manifest_name);
    std::fs::write(&manifest, manifest_text.as_bytes()).map_err(io_err("write", &manifest))?;
    sums.push((manifest_name, sha256_hex(manifest_text.as_bytes())));

    sums.sort();
    let text: String = sums
        .iter()
        .map(|(name, hash)| format!("{hash}  {name}\n"))
        .collect();
    let sums_path = opts.out.join(sums_name(&opts.version));
    std::fs::write(&sums_path, text).map_err(io_err("write", &sums_path))?;

    let sig_path = PathBuf::from(format!("{}.sig", sums_path.display()));
    let signature = match &opts.gpg_key {
        Some(key) => {
            sign(&sums_path, &sig_path, key, opts.gnupg_home.as_deref())?;
            Some(sig_path)
        }
        None => {
            // A signature left from an earlier run would not match these checksums.
            match std::fs::remove_file(&sig_path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("remove", &sig_path)(e)),
            }
            None
        }
    };
    Ok(Artefacts {
        zips,
        manifest,
        sums: sums_path,
        signature,
    })
}

/// GnuPG's public-key algorithm numbers the Registry accepts: RSA (1, 2, 3) and DSA (17).
const REGISTRY_KEY_ALGORITHMS: [&str; 4] = ["1", "2", "3", "17"];

/// Makes a binary (not armoured) detached signature of `file` with `key`, then verifies it.
pub fn sign(file: &Path, sig: &Path, key: &str, gnupg_home: Option<&Path>) -> Result<()> {
    let gpg = || {
        let mut c = Command::new("gpg");
        if let Some(h) = gnupg_home {
            c.env("GNUPGHOME", h);
        }
        c
    };
    let listing = run(gpg().args(["--batch", "--with-colons", "--list-secret-keys", "--", key]))
        .map_err(|e| Error::Invalid(format!("no usable GPG secret key {key:?}: {e}")))?;
    let listing = String::from_utf8_lossy(&listing.stdout);
    let algorithm = listing
        .lines()
        .find(|l| l.starts_with("sec:"))
        .and_then(|l| l.split(':').nth(3))
        .unwrap_or("");
    if !REGISTRY_KEY_ALGORITHMS.contains(&algorithm) {
        return Err(Error::Invalid(format!(
            "GPG key {key:?} uses public-key algorithm {algorithm:?}; the Registry only accepts RSA \
             or DSA signing keys, not ECC. Create an RSA key (gpg --full-generate-key) and use it."
        )));
    }
    // No --batch: a key with a passphrase may need pinentry on the developer's terminal.
    run(gpg()
        .args(["--yes", "--local-user", key, "--output"])
        .arg(sig)
        .arg("--detach-sign")
        .arg(file))?;
    run(gpg().args(["--batch", "--verify"]).arg(sig).arg(file))?;
    Ok(())
}

/// Options of `xtask release`.
#[derive(Clone, Debug)]
pub struct ReleaseOptions {
    pub root: PathBuf,
    pub version: Option<String>,
    /// Defaults to `<target dir>/dist/<version>`.
    pub out: Option<PathBuf>,
    pub gpg_key: Option<String>,
    pub gnupg_home: Option<PathBuf>,
    /// Package this binary instead of building one (on linux_amd64 it must still pass the
    /// glibc 2.17 check).
    pub binary: Option<PathBuf>,
    /// Target directory of the portable build; defaults to `<target dir>/portable`.
    pub build_dir: Option<PathBuf>,
}

/// The linux_amd64 platform, whose release is the portable (glibc 2.17) build.
const LINUX_AMD64: Target = Target {
    os: "linux",
    arch: "amd64",
};

/// The zip entries' date: `SOURCE_DATE_EPOCH` when set, else the date of the commit being
/// built (so the same commit always gives the same bytes), else 1980-01-01. Returns the time
/// and where it came from.
pub fn source_date_epoch(root: &Path) -> Result<(i64, &'static str)> {
    if let Ok(v) = std::env::var("SOURCE_DATE_EPOCH") {
        let secs = v.trim().parse::<i64>().map_err(|_| {
            Error::Invalid(format!(
                "SOURCE_DATE_EPOCH={v:?} is not a number of seconds since 1970; unset it or set \
                 it to e.g. `git log -1 --format=%ct`"
            ))
        })?;
        return Ok((secs, "SOURCE_DATE_EPOCH"));
    }
    let commit = Command::new("git")
        .current_dir(root)
        .args(["log", "-1", "--format=%ct"])
        .output();
    if let Ok(o) = commit
        && o.status.success()
        && let Ok(secs) = String::from_utf8_lossy(&o.stdout).trim().parse::<i64>()
    {
        return Ok((secs, "the commit date"));
    }
    Ok((
        DOS_EPOCH,
        "1980-01-01 (no SOURCE_DATE_EPOCH, no git commit)",
    ))
}

/// `xtask release`: build the host binary (unless given one), check it, then package it with
/// our licence and the third-party notice.
pub fn release_command(opts: &ReleaseOptions, out: &mut dyn Write) -> Result<Artefacts> {
    let version = opts
        .version
        .clone()
        .unwrap_or_else(|| CARGO_VERSION.to_string());
    check_version(&version)?;
    let host = Target::host().ok_or_else(|| {
        Error::Invalid(format!(
            "this machine ({} {}) has no Terraform platform name",
            std::env::consts::OS,
            std::env::consts::ARCH
        ))
    })?;
    let portable = host == LINUX_AMD64;
    let (mtime, mtime_from) = source_date_epoch(&opts.root)?;
    let target_dir = super::target_dir(&opts.root)?;
    let binary = match (&opts.binary, portable) {
        (Some(b), _) => b.clone(),
        (None, true) => {
            let tools = portable::find_tools(&opts.root, &target_dir)?;
            for w in portable::version_warnings(&opts.root, &tools)? {
                let _ = writeln!(out, "WARNING: {w}");
            }
            let build_dir = match &opts.build_dir {
                Some(d) => d.clone(),
                None => target_dir.join("portable"),
            };
            portable::build(&opts.root, &build_dir, &tools, mtime, out)?
        }
        (None, false) => super::build_release_binary(&opts.root, out)?,
    };
    let links = if portable {
        let report = portable::link_report(&binary)?;
        report.check(&binary)?;
        Some(report)
    } else {
        None
    };
    check_binary_version(&binary, &version)?;

    let license_path = opts.root.join("LICENSE");
    let license = std::fs::read(&license_path).map_err(io_err("read", &license_path))?;
    let filter = portable.then_some(portable::RUST_TARGET);
    let crates = notice::crates(&opts.root, filter)?;
    let product = format!("{BINARY} {version} ({})", host.name());
    let third_party = notice::render(&product, &crates);

    let out_dir = match &opts.out {
        Some(o) => o.clone(),
        None => target_dir.join("dist").join(&version),
    };
    let artefacts = package(
        &[(host, binary.clone())],
        &PackageOptions {
            version: version.clone(),
            out: out_dir.clone(),
            manifest: opts.root.join("terraform-registry-manifest.json"),
            gpg_key: opts.gpg_key.clone(),
            gnupg_home: opts.gnupg_home.clone(),
            extra_files: vec![
                ("LICENSE".to_string(), license),
                (notice::NOTICE_FILE.to_string(), third_party.into_bytes()),
            ],
            mtime,
        },
    )?;
    let _ = writeln!(
        out,
        "Release {version} in {}\n\
         Built targets: {} (this machine; from {}).\n\
         Not built: every other OS/arch (no cross toolchains here; build those on their own machines).",
        out_dir.display(),
        host.name(),
        binary.display()
    );
    if let Some(r) = &links {
        let _ = writeln!(
            out,
            "Portable: highest glibc symbol version {}; needs {}.",
            r.max_glibc().unwrap_or("none"),
            r.needed.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "Zip entries dated {} (from {mtime_from}); {} third-party crates in {}.",
        time::OffsetDateTime::from_unix_timestamp(mtime.max(DOS_EPOCH))
            .map(|t| t.date().to_string())
            .unwrap_or_default(),
        crates.len(),
        notice::NOTICE_FILE
    );
    for z in &artefacts.zips {
        let _ = writeln!(out, "  {}", file_name(z));
    }
    let _ = writeln!(out, "  {}", file_name(&artefacts.manifest));
    let _ = writeln!(out, "  {}", file_name(&artefacts.sums));
    match &artefacts.signature {
        Some(sig) => {
            let _ = writeln!(
                out,
                "  {} (binary detached signature, verified)",
                file_name(sig)
            );
        }
        None => {
            let _ = writeln!(
                out,
                "UNSIGNED: no --gpg-key given, so {} has no .sig. The Registry refuses unsigned \
                 releases; sign with --gpg-key <RSA key id> before publishing.",
                file_name(&artefacts.sums)
            );
        }
    }
    Ok(artefacts)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINUX: Target = Target {
        os: "linux",
        arch: "amd64",
    };
    const WINDOWS: Target = Target {
        os: "windows",
        arch: "amd64",
    };
    const MANIFEST: &str =
        "{\n  \"version\": 1,\n  \"metadata\": {\n    \"protocol_versions\": [\"6.0\"]\n  }\n}\n";

    fn setup() -> (tempfile::TempDir, PackageOptions, Vec<(Target, PathBuf)>) {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("fake-provider");
        std::fs::write(&bin, b"#!/bin/sh\necho fake provider\n".repeat(50)).unwrap();
        let exe = dir.path().join("fake-provider.exe");
        std::fs::write(&exe, b"MZ fake windows provider").unwrap();
        let manifest = dir.path().join("terraform-registry-manifest.json");
        std::fs::write(&manifest, MANIFEST).unwrap();
        let opts = PackageOptions {
            version: "1.2.3".into(),
            out: dir.path().join("dist"),
            manifest,
            gpg_key: None,
            gnupg_home: None,
            extra_files: vec![
                ("LICENSE".into(), b"our licence".to_vec()),
                ("NOTICE.txt".into(), b"their licences".to_vec()),
            ],
            mtime: 1_751_291_117,
        };
        (dir, opts, vec![(LINUX, bin), (WINDOWS, exe)])
    }

    #[test]
    fn lays_out_zips_manifest_and_checksums() {
        let (dir, opts, bins) = setup();
        let a = package(&bins, &opts).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(&opts.out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "terraform-provider-alloy_1.2.3_SHA256SUMS",
                "terraform-provider-alloy_1.2.3_linux_amd64.zip",
                "terraform-provider-alloy_1.2.3_manifest.json",
                "terraform-provider-alloy_1.2.3_windows_amd64.zip",
            ]
        );
        assert!(a.signature.is_none());

        let linux = super::super::zip::read(&std::fs::read(&a.zips[0]).unwrap());
        let names: Vec<&str> = linux.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            ["terraform-provider-alloy_v1.2.3", "LICENSE", "NOTICE.txt"]
        );
        assert_eq!(linux[0].mode & 0o777, 0o755);
        assert_eq!(linux[0].data, std::fs::read(&bins[0].1).unwrap());
        assert_eq!(linux[1].mode & 0o777, 0o644);
        assert_eq!(linux[2].data, b"their licences");
        assert!(
            linux
                .iter()
                .all(|e| e.mtime == DosTime::from_unix(opts.mtime))
        );
        let windows = super::super::zip::read(&std::fs::read(&a.zips[1]).unwrap());
        assert_eq!(windows[0].name, "terraform-provider-alloy_v1.2.3.exe");

        assert_eq!(std::fs::read_to_string(&a.manifest).unwrap(), MANIFEST);

        let sums = std::fs::read_to_string(&a.sums).unwrap();
        let lines: Vec<&str> = sums.lines().collect();
        assert_eq!(lines.len(), 3, "{sums}");
        let mut listed = Vec::new();
        for line in &lines {
            let (hash, name) = line.split_once("  ").expect("two spaces");
            assert_eq!(hash.len(), 64);
            let bytes = std::fs::read(opts.out.join(name)).unwrap();
            assert_eq!(hash, sha256_hex(&bytes), "{name}");
            listed.push(name);
        }
        assert_eq!(
            listed,
            [
                "terraform-provider-alloy_1.2.3_linux_amd64.zip",
                "terraform-provider-alloy_1.2.3_manifest.json",
                "terraform-provider-alloy_1.2.3_windows_amd64.zip",
            ]
        );
        drop(dir);
    }

    #[test]
    fn packaging_twice_gives_identical_bytes() {
        let (_dir, opts, bins) = setup();
        let a = package(&bins, &opts).unwrap();
        let first = std::fs::read(&a.sums).unwrap();
        let b = package(&bins, &opts).unwrap();
        assert_eq!(first, std::fs::read(&b.sums).unwrap());
        // Another date gives other zips: the timestamp really is the one given.
        let mut later = opts.clone();
        later.mtime += 86_400;
        let c = package(&bins, &later).unwrap();
        assert_ne!(first, std::fs::read(&c.sums).unwrap());
    }

    #[test]
    fn source_date_epoch_comes_from_the_commit() {
        // The checkout is a git repository (unless SOURCE_DATE_EPOCH overrides it).
        let (secs, from) = source_date_epoch(&super::super::repo_root()).unwrap();
        if std::env::var_os("SOURCE_DATE_EPOCH").is_none() {
            assert_eq!(from, "the commit date");
        }
        assert!(secs > DOS_EPOCH, "{secs}");
    }

    #[test]
    fn a_wrong_manifest_or_version_is_refused() {
        let (_dir, mut opts, bins) = setup();
        opts.version = "v1.2.3".into();
        assert!(package(&bins, &opts).is_err());
        opts.version = "1.2.3".into();
        std::fs::write(
            &opts.manifest,
            r#"{"version": 1, "metadata": {"protocol_versions": ["5.0"]}}"#,
        )
        .unwrap();
        let e = package(&bins, &opts).unwrap_err().to_string();
        assert!(e.contains("6.0"), "{e}");
    }

    #[test]
    fn the_repository_manifest_is_valid() {
        let text = std::fs::read_to_string(
            super::super::repo_root().join("terraform-registry-manifest.json"),
        )
        .unwrap();
        check_manifest(&text).unwrap();
    }

    /// A throwaway GnuPG home with one key of the given algorithm; `None` when gpg is missing.
    struct GpgHome {
        dir: tempfile::TempDir,
    }

    impl GpgHome {
        fn new(algo: &str) -> Option<GpgHome> {
            if Command::new("gpg").arg("--version").output().is_err() {
                eprintln!("gpg not on PATH: signing test skipped");
                return None;
            }
            // Short path: gpg-agent's socket lives in the home and socket paths are limited.
            let dir = tempfile::Builder::new().prefix("g").tempdir().unwrap();
            let out = Command::new("gpg")
                .env("GNUPGHOME", dir.path())
                .args([
                    "--batch",
                    "--passphrase",
                    "",
                    "--quick-generate-key",
                    "Release Test <release@example.com>",
                    algo,
                    "sign",
                    "never",
                ])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            Some(GpgHome { dir })
        }
    }

    impl Drop for GpgHome {
        fn drop(&mut self) {
            // Stop the agent this home started (and only it).
            let _ = Command::new("gpgconf")
                .env("GNUPGHOME", self.dir.path())
                .args(["--kill", "gpg-agent"])
                .output();
        }
    }

    #[test]
    fn signs_with_rsa_and_refuses_ecc() {
        let Some(rsa) = GpgHome::new("rsa2048") else {
            return;
        };
        let Some(ecc) = GpgHome::new("ed25519") else {
            return;
        };
        let (_dir, mut opts, bins) = setup();
        opts.gpg_key = Some("release@example.com".into());

        opts.gnupg_home = Some(rsa.dir.path().to_path_buf());
        let a = package(&bins, &opts).unwrap();
        let sig = a.signature.clone().expect("signature");
        assert_eq!(
            sig.file_name().unwrap(),
            "terraform-provider-alloy_1.2.3_SHA256SUMS.sig"
        );
        let bytes = std::fs::read(&sig).unwrap();
        assert!(!bytes.starts_with(b"-----BEGIN"), "binary, not armoured");
        assert_eq!(bytes[0] & 0x80, 0x80, "an OpenPGP packet tag");
        let verify = Command::new("gpg")
            .env("GNUPGHOME", rsa.dir.path())
            .args(["--batch", "--verify"])
            .arg(&sig)
            .arg(&a.sums)
            .output()
            .unwrap();
        assert!(verify.status.success());
        // Tampered checksums no longer verify.
        std::fs::write(&a.sums, "0000  x\n").unwrap();
        let tampered = Command::new("gpg")
            .env("GNUPGHOME", rsa.dir.path())
            .args(["--batch", "--verify"])
            .arg(&sig)
            .arg(&a.sums)
            .output()
            .unwrap();
        assert!(!tampered.status.success());

        opts.gnupg_home = Some(ecc.dir.path().to_path_buf());
        let e = package(&bins, &opts).unwrap_err().to_string();
        assert!(e.contains("only accepts RSA or DSA"), "{e}");

        opts.gpg_key = Some("nobody@example.com".into());
        let e = package(&bins, &opts).unwrap_err().to_string();
        assert!(e.contains("no usable GPG secret key"), "{e}");

        // Re-packaging unsigned drops the stale signature.
        opts.gpg_key = None;
        assert!(package(&bins, &opts).unwrap().signature.is_none());
        assert!(!sig.exists());
    }
}
