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
//! zip is only ever made from a binary that really exists. On Linux that binary is the portable
//! one ([`super::portable`]: glibc 2.17, remapped paths), and no Linux binary is packaged unless
//! its dynamic section passes the glibc 2.17 check. Every binary's executable header must name
//! the platform it is zipped for. Other platforms are built on their own machines (the release
//! workflow's runners), zipped there with `--target`, and brought together by [`assemble`],
//! which checks the set against [`PLATFORMS`] before writing the checksums and signing them. The
//! packaging step takes binaries by path so it can be tested with small stand-in files.
//!
//! Output is reproducible: archive entries carry one timestamp (`SOURCE_DATE_EPOCH`, else the
//! commit's date) in a fixed order, and the checksum file is sorted by name.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::zip::{DOS_EPOCH, DosTime};
use super::{
    BINARY, CARGO_VERSION, Error, PLATFORMS, Result, Target, check_binary_version, check_version,
    executable_platform, io_err, notice, platform_list, portable, run, run_with_stdin, sha256_hex,
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
    /// The key's passphrase for signing without a terminal; gpg asks (pinentry) when `None`.
    pub gpg_passphrase: Option<Passphrase>,
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

/// Zips one platform's binary with the extra files into `out`; returns the zip's path and its
/// SHA-256.
fn zip_one(target: Target, binary: &Path, opts: &PackageOptions) -> Result<(PathBuf, String)> {
    let data = std::fs::read(binary).map_err(io_err("read", binary))?;
    let inner = binary_name(&opts.version, target);
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
    let path = opts.out.join(zip_name(&opts.version, target));
    std::fs::write(&path, &bytes).map_err(io_err("write", &path))?;
    Ok((path, sha256_hex(&bytes)))
}

/// What goes beside the zips: the manifest, the checksums and (given a key) their signature.
struct Finish<'a> {
    version: &'a str,
    out: &'a Path,
    manifest_text: &'a str,
    gpg_key: Option<&'a str>,
    gnupg_home: Option<&'a Path>,
    gpg_passphrase: Option<&'a Passphrase>,
}

/// Writes the manifest copy, `SHA256SUMS` over the zips (name, hash) and the manifest, and the
/// signature; removes a stale signature when unsigned.
fn finish(f: &Finish<'_>, zips: Vec<(PathBuf, String)>) -> Result<Artefacts> {
    let mut sums: Vec<(String, String)> = zips
        .iter()
        .map(|(path, hash)| (file_name(path), hash.clone()))
        .collect();
    let manifest_name = manifest_name(f.version);
    let manifest = f.out.join(&manifest_name);
    std::fs::write(&manifest, f.manifest_text.as_bytes()).map_err(io_err("write", &manifest))?;
    sums.push((manifest_name, sha256_hex(f.manifest_text.as_bytes())));

    sums.sort();
    let text: String = sums
        .iter()
        .map(|(name, hash)| format!("{hash}  {name}\n"))
        .collect();
    let sums_path = f.out.join(sums_name(f.version));
    std::fs::write(&sums_path, text).map_err(io_err("write", &sums_path))?;

    let sig_path = PathBuf::from(format!("{}.sig", sums_path.display()));
    let signature = match f.gpg_key {
        Some(key) => {
            sign(&sums_path, &sig_path, key, f.gnupg_home, f.gpg_passphrase)?;
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
        zips: zips.into_iter().map(|(p, _)| p).collect(),
        manifest,
        sums: sums_path,
        signature,
    })
}

/// Reads and checks `terraform-registry-manifest.json`.
fn read_manifest(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path).map_err(io_err("read", path))?;
    check_manifest(&text)?;
    Ok(text)
}

/// Zips each binary, copies the manifest, writes the checksums and, given a key, signs them.
pub fn package(binaries: &[(Target, PathBuf)], opts: &PackageOptions) -> Result<Artefacts> {
    check_version(&opts.version)?;
    if binaries.is_empty() {
        return Err(Error::Invalid("no binary to package".to_string()));
    }
    std::fs::create_dir_all(&opts.out).map_err(io_err("create", &opts.out))?;
    let manifest_text = read_manifest(&opts.manifest)?;
    let zips = binaries
        .iter()
        .map(|(target, binary)| zip_one(*target, binary, opts))
        .collect::<Result<Vec<_>>>()?;
    finish(
        &Finish {
            version: &opts.version,
            out: &opts.out,
            manifest_text: &manifest_text,
            gpg_key: opts.gpg_key.as_deref(),
            gnupg_home: opts.gnupg_home.as_deref(),
            gpg_passphrase: opts.gpg_passphrase.as_ref(),
        },
        zips,
    )
}

/// The passphrase of the signing key, for unattended signing (CI). Never printed: its `Debug`
/// says only that there is one, and it reaches gpg on a pipe, not on the command line.
#[derive(Clone)]
pub struct Passphrase(String);

impl Passphrase {
    pub fn new(s: String) -> Passphrase {
        Passphrase(s)
    }
}

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

/// GnuPG's public-key algorithm numbers the Registry accepts: RSA (1, 2, 3) and DSA (17).
const REGISTRY_KEY_ALGORITHMS: [&str; 4] = ["1", "2", "3", "17"];

/// Makes a binary (not armoured) detached signature of `file` with `key`, then verifies it.
pub fn sign(
    file: &Path,
    sig: &Path,
    key: &str,
    gnupg_home: Option<&Path>,
    passphrase: Option<&Passphrase>,
) -> Result<()> {
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
    match passphrase {
        // No --batch: a key with a passphrase may need pinentry on the developer's terminal.
        None => {
            run(gpg()
                .args(["--yes", "--local-user", key, "--output"])
                .arg(sig)
                .arg("--detach-sign")
                .arg(file))?;
        }
        // Unattended: the passphrase on stdin (loopback pinentry), never in argv or a log.
        Some(Passphrase(p)) => {
            let mut cmd = gpg();
            cmd.args([
                "--batch",
                "--yes",
                "--pinentry-mode",
                "loopback",
                "--passphrase-fd",
                "0",
                "--local-user",
                key,
                "--output",
            ])
            .arg(sig)
            .arg("--detach-sign")
            .arg(file);
            run_with_stdin(&mut cmd, p.as_bytes())?;
        }
    }
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
    /// The platform to package; this machine's when `None`. Another machine's needs `binary`.
    pub target: Option<Target>,
    /// Assemble these per-platform zips (files, or directories holding them) into the release
    /// instead of building: see [`assemble`].
    pub assemble: Vec<PathBuf>,
    pub gpg_passphrase: Option<Passphrase>,
}

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

/// Refuses a binary that is not an executable for `target` (read from its header): a zip named
/// for one platform must never carry another's.
pub fn check_platform(binary: &Path, target: Target) -> Result<()> {
    let data = std::fs::read(binary).map_err(io_err("read", binary))?;
    match executable_platform(&data) {
        Some(t) if t == target => Ok(()),
        found => Err(Error::Invalid(format!(
            "{} is {}, not a {} executable: pass the binary built for {} (or --target {})",
            binary.display(),
            describe(found),
            target.name(),
            target.name(),
            found
                .map(|t| t.name())
                .unwrap_or_else(|| "<its platform>".into()),
        ))),
    }
}

fn describe(found: Option<Target>) -> String {
    match found {
        Some(t) => format!("a {} executable", t.name()),
        None => "no executable of any release platform".to_string(),
    }
}

/// `xtask release`: build the host binary (unless given one), check it, then package it with
/// our licence and the third-party notice. With `--target` and `--binary`, package a binary
/// built on another machine; with `--assemble`, make the release from zips built elsewhere.
pub fn release_command(opts: &ReleaseOptions, out: &mut dyn Write) -> Result<Artefacts> {
    let version = opts
        .version
        .clone()
        .unwrap_or_else(|| CARGO_VERSION.to_string());
    check_version(&version)?;
    if !opts.assemble.is_empty() {
        return assemble_command(&version, opts, out);
    }
    let host = Target::host().ok_or_else(|| {
        Error::Invalid(format!(
            "this machine ({} {}) has no Terraform platform name",
            std::env::consts::OS,
            std::env::consts::ARCH
        ))
    })?;
    let target = opts.target.unwrap_or(host);
    if target != host && opts.binary.is_none() {
        return Err(Error::Invalid(format!(
            "--target {} is not this machine ({}): xtask release builds only for the machine it \
             runs on (no cross toolchains). Build on a {} machine (the release workflow has a \
             runner for each platform), or pass --binary PATH with a binary built there.",
            target.name(),
            host.name(),
            target.name()
        )));
    }
    let portable = portable::portable_target(target);
    let (mtime, mtime_from) = source_date_epoch(&opts.root)?;
    let target_dir = super::target_dir(&opts.root)?;
    let binary = match (&opts.binary, portable) {
        (Some(b), _) => b.clone(),
        (None, Some(portable)) => {
            let tools = portable::find_tools(&opts.root, &target_dir)?;
            for w in portable::version_warnings(&opts.root, &tools)? {
                let _ = writeln!(out, "WARNING: {w}");
            }
            let build_dir = match &opts.build_dir {
                Some(d) => d.clone(),
                None => target_dir.join("portable"),
            };
            portable::build(&opts.root, &build_dir, portable, &tools, mtime, out)?
        }
        (None, None) => super::build_release_binary(&opts.root, out)?,
    };
    check_platform(&binary, target)?;
    let links = if portable.is_some() {
        let report = portable::link_report(&binary)?;
        report.check(&binary)?;
        Some(report)
    } else {
        None
    };
    // A binary of another platform cannot run here to report its version; its zip's inner
    // name still carries the version, and the runner that built it ran it.
    if target == host {
        check_binary_version(&binary, &version)?;
    }

    let license_path = opts.root.join("LICENSE");
    let license = std::fs::read(&license_path).map_err(io_err("read", &license_path))?;
    let crates = notice::crates(&opts.root, target.rust_target())?;
    let product = format!("{BINARY} {version} ({})", target.name());
    let third_party = notice::render(&product, &crates);

    let out_dir = match &opts.out {
        Some(o) => o.clone(),
        None => target_dir.join("dist").join(&version),
    };
    let artefacts = package(
        &[(target, binary.clone())],
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
            gpg_passphrase: opts.gpg_passphrase.clone(),
        },
    )?;
    let built = if target == host {
        "this machine"
    } else {
        "built on another machine, version not run here"
    };
    let _ = writeln!(
        out,
        "Release {version} in {}\n\
         Built targets: {} ({built}; from {}).\n\
         Not built: every other OS/arch (no cross toolchains here; build those on their own \
         machines, then `xtask release --assemble` their zips).",
        out_dir.display(),
        target.name(),
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
    report_files(&artefacts, out);
    Ok(artefacts)
}

/// Lists the files of a release and says whether the checksums are signed.
fn report_files(artefacts: &Artefacts, out: &mut dyn Write) {
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
}

/// Where a zip's file name says it belongs: `terraform-provider-alloy_<version>_<os>_<arch>.zip`
/// → (version, `<os>_<arch>`).
fn parse_zip_name(name: &str) -> Option<(&str, String)> {
    let rest = name
        .strip_prefix(BINARY)?
        .strip_prefix('_')?
        .strip_suffix(".zip")?;
    let (rest, arch) = rest.rsplit_once('_')?;
    let (version, os) = rest.rsplit_once('_')?;
    Some((version, format!("{os}_{arch}")))
}

/// What [`assemble`] needs.
#[derive(Clone, Debug)]
pub struct AssembleOptions {
    pub version: String,
    /// The zips: files, or directories whose files are the zips (and nothing else but this
    /// version's manifest, checksums and signature, which are rewritten).
    pub inputs: Vec<PathBuf>,
    pub out: PathBuf,
    /// `terraform-registry-manifest.json`.
    pub manifest: PathBuf,
    pub gpg_key: Option<String>,
    pub gnupg_home: Option<PathBuf>,
    pub gpg_passphrase: Option<Passphrase>,
}

/// The zip files among `inputs`, each with its file name; every other file is an error.
fn collect_zips(version: &str, inputs: &[PathBuf]) -> Result<Vec<(PathBuf, String)>> {
    let ours = [
        manifest_name(version),
        sums_name(version),
        format!("{}.sig", sums_name(version)),
    ];
    let mut zips = Vec::new();
    let mut stray = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut names = Vec::new();
            for entry in std::fs::read_dir(input).map_err(io_err("read", input))? {
                let entry = entry.map_err(io_err("read", input))?;
                names.push(entry.path());
            }
            names.sort();
            for path in names {
                let name = file_name(&path);
                if name.ends_with(".zip") {
                    zips.push((path, name));
                } else if !ours.contains(&name) {
                    stray.push(path.display().to_string());
                }
            }
        } else if input.is_file() {
            zips.push((input.clone(), file_name(input)));
        } else {
            return Err(Error::Invalid(format!(
                "{} does not exist: give the per-platform zips, or the directory holding them",
                input.display()
            )));
        }
    }
    if !stray.is_empty() {
        return Err(Error::Invalid(format!(
            "not a release zip, and it would be published with the release: {}. Only the \
             per-platform zips belong in the directories given; move the rest away.",
            stray.join(", ")
        )));
    }
    Ok(zips)
}

/// Checks one platform's zip: it holds exactly one provider executable, named for this version
/// and platform, built for that platform. Returns the problems found (empty when none).
fn zip_problems(version: &str, target: Target, path: &Path) -> Result<Vec<String>> {
    let name = file_name(path);
    let bytes = std::fs::read(path).map_err(io_err("read", path))?;
    let entries = match super::zip::read_entries(&bytes) {
        Ok(e) => e,
        Err(e) => {
            return Ok(vec![format!(
                "{}: {name} is not a readable zip ({e})",
                target.name()
            )]);
        }
    };
    let expected = binary_name(version, target);
    let providers: Vec<_> = entries
        .iter()
        .filter(|e| e.name.starts_with(BINARY))
        .collect();
    let mut problems = Vec::new();
    match providers.as_slice() {
        [only] if only.name == expected => {
            let found = executable_platform(&only.data);
            if found != Some(target) {
                problems.push(format!(
                    "{}: {name} holds {}, not a {} executable",
                    target.name(),
                    describe(found),
                    target.name()
                ));
            }
        }
        _ => problems.push(format!(
            "{}: {name} must hold one executable named {expected}, it holds {}",
            target.name(),
            if providers.is_empty() {
                "none".to_string()
            } else {
                providers
                    .iter()
                    .map(|e| e.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        )),
    }
    Ok(problems)
}

/// Makes a release from per-platform zips built elsewhere (by `xtask release` on each
/// platform's machine): checks the set is exactly [`PLATFORMS`], one zip each, every zip of this
/// version holding its own platform's executable; then copies the zips to `out` and writes the
/// manifest, `SHA256SUMS` and (given a key) its signature beside them. Every problem of the set
/// is reported at once, each naming its platform; nothing is written unless the set is whole.
pub fn assemble(opts: &AssembleOptions) -> Result<Artefacts> {
    check_version(&opts.version)?;
    let manifest_text = read_manifest(&opts.manifest)?;
    let zips = collect_zips(&opts.version, &opts.inputs)?;

    let mut problems = Vec::new();
    let mut chosen: Vec<(Target, PathBuf)> = Vec::new();
    for (path, name) in &zips {
        let Some((version, platform)) = parse_zip_name(name) else {
            problems.push(format!(
                "{name} is not named like a release zip ({BINARY}_<version>_<os>_<arch>.zip)"
            ));
            continue;
        };
        let Some(target) = PLATFORMS.iter().copied().find(|t| t.name() == platform) else {
            problems.push(format!(
                "{platform}: {name} is for a platform this release does not carry (it carries \
                 {})",
                platform_list()
            ));
            continue;
        };
        if version != opts.version {
            problems.push(format!(
                "{platform}: {name} is version {version}, the release is {}",
                opts.version
            ));
            continue;
        }
        if let Some((_, first)) = chosen.iter().find(|(t, _)| *t == target) {
            problems.push(format!(
                "{platform}: given twice, {} and {}; keep one",
                first.display(),
                path.display()
            ));
            continue;
        }
        problems.extend(zip_problems(&opts.version, target, path)?);
        chosen.push((target, path.clone()));
    }
    for t in PLATFORMS {
        if !chosen.iter().any(|(c, _)| *c == t) {
            problems.push(format!(
                "{}: missing, no {} among the zips given",
                t.name(),
                zip_name(&opts.version, t)
            ));
        }
    }
    if !problems.is_empty() {
        return Err(Error::Invalid(format!(
            "refusing to assemble release {}: every release carries exactly one zip for each of \
             {}, built for that platform.\n  - {}",
            opts.version,
            platform_list(),
            problems.join("\n  - ")
        )));
    }

    std::fs::create_dir_all(&opts.out).map_err(io_err("create", &opts.out))?;
    chosen.sort_by_key(|(t, _)| t.name());
    let mut placed = Vec::new();
    for (target, path) in &chosen {
        let bytes = std::fs::read(path).map_err(io_err("read", path))?;
        let dest = opts.out.join(zip_name(&opts.version, *target));
        let same = std::fs::canonicalize(path).ok() == std::fs::canonicalize(&dest).ok();
        if !same {
            std::fs::write(&dest, &bytes).map_err(io_err("write", &dest))?;
        }
        placed.push((dest, sha256_hex(&bytes)));
    }
    finish(
        &Finish {
            version: &opts.version,
            out: &opts.out,
            manifest_text: &manifest_text,
            gpg_key: opts.gpg_key.as_deref(),
            gnupg_home: opts.gnupg_home.as_deref(),
            gpg_passphrase: opts.gpg_passphrase.as_ref(),
        },
        placed,
    )
}

/// `xtask release --assemble`.
fn assemble_command(
    version: &str,
    opts: &ReleaseOptions,
    out: &mut dyn Write,
) -> Result<Artefacts> {
    if opts.binary.is_some() || opts.target.is_some() {
        return Err(Error::Invalid(
            "--assemble takes zips already built; drop --binary and --target (package each \
             platform first with `xtask release --target T --binary PATH`)"
                .to_string(),
        ));
    }
    let out_dir = match &opts.out {
        Some(o) => o.clone(),
        None => super::target_dir(&opts.root)?.join("dist").join(version),
    };
    let artefacts = assemble(&AssembleOptions {
        version: version.to_string(),
        inputs: opts.assemble.clone(),
        out: out_dir.clone(),
        manifest: opts.root.join("terraform-registry-manifest.json"),
        gpg_key: opts.gpg_key.clone(),
        gnupg_home: opts.gnupg_home.clone(),
        gpg_passphrase: opts.gpg_passphrase.clone(),
    })?;
    let _ = writeln!(
        out,
        "Release {version} assembled in {}: {} (each zip checked: name, version, executable \
         platform).",
        out_dir.display(),
        platform_list()
    );
    report_files(&artefacts, out);
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
            gpg_passphrase: None,
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

    /// The first bytes of an executable for `t`: enough header for [`executable_platform`],
    /// written out here by hand from the formats' specifications.
    fn standin(t: Target) -> Vec<u8> {
        let mut b = match (t.os, t.arch) {
            ("linux", arch) => {
                let mut b = b"\x7fELF\x02\x01\x01".to_vec();
                b.resize(64, 0);
                b[18] = if arch == "amd64" { 62 } else { 183 };
                b
            }
            ("darwin", arch) => {
                let cpu: u32 = if arch == "amd64" {
                    0x0100_0007
                } else {
                    0x0100_000c
                };
                let mut b = vec![0xcf, 0xfa, 0xed, 0xfe];
                b.extend_from_slice(&cpu.to_le_bytes());
                b.resize(32, 0);
                b
            }
            _ => {
                let mut b = b"MZ".to_vec();
                b.resize(0x40, 0);
                b[0x3c] = 0x40;
                b.extend_from_slice(b"PE\0\0\x64\x86");
                b
            }
        };
        b.extend_from_slice(format!("stand-in {} provider", t.name()).as_bytes());
        b
    }

    /// A set of stand-in zips, one per release platform, version 1.2.3, in `<dir>/zips`.
    fn zip_set() -> (tempfile::TempDir, AssembleOptions) {
        let (dir, mut opts, _) = setup();
        let mut bins = Vec::new();
        for t in PLATFORMS {
            let path = dir.path().join(format!("bin-{}", t.name()));
            std::fs::write(&path, standin(t)).unwrap();
            bins.push((t, path));
        }
        opts.out = dir.path().join("zips");
        package(&bins, &opts).unwrap();
        let a = AssembleOptions {
            version: "1.2.3".into(),
            inputs: vec![opts.out.clone()],
            out: dir.path().join("release"),
            manifest: opts.manifest.clone(),
            gpg_key: None,
            gnupg_home: None,
            gpg_passphrase: None,
        };
        (dir, a)
    }

    fn zip_of(a: &AssembleOptions, platform: &str) -> PathBuf {
        a.inputs[0].join(format!("terraform-provider-alloy_1.2.3_{platform}.zip"))
    }

    #[test]
    fn assembles_one_zip_per_platform_with_manifest_and_checksums() {
        let (_dir, a) = zip_set();
        let r = assemble(&a).unwrap();
        assert_eq!(r.zips.len(), 5);
        let sums = std::fs::read_to_string(&r.sums).unwrap();
        let names: Vec<&str> = sums.lines().map(|l| &l[66..]).collect();
        assert_eq!(
            names,
            [
                "terraform-provider-alloy_1.2.3_darwin_amd64.zip",
                "terraform-provider-alloy_1.2.3_darwin_arm64.zip",
                "terraform-provider-alloy_1.2.3_linux_amd64.zip",
                "terraform-provider-alloy_1.2.3_linux_arm64.zip",
                "terraform-provider-alloy_1.2.3_manifest.json",
                "terraform-provider-alloy_1.2.3_windows_amd64.zip",
            ]
        );
        for line in sums.lines() {
            let bytes = std::fs::read(a.out.join(&line[66..])).unwrap();
            assert_eq!(&line[..64], sha256_hex(&bytes));
        }
        assert_eq!(std::fs::read_to_string(&r.manifest).unwrap(), MANIFEST);
        // The zips are the ones given, byte for byte.
        assert_eq!(
            std::fs::read(
                a.out
                    .join("terraform-provider-alloy_1.2.3_windows_amd64.zip")
            )
            .unwrap(),
            std::fs::read(zip_of(&a, "windows_amd64")).unwrap()
        );
        // Assembling in place (out = the zips' directory) rewrites only the sums and manifest.
        let mut in_place = a.clone();
        in_place.out = a.inputs[0].clone();
        let again = assemble(&in_place).unwrap();
        assert_eq!(std::fs::read(&again.sums).unwrap(), sums.as_bytes());
    }

    fn refusal(a: &AssembleOptions) -> String {
        let e = assemble(a).unwrap_err().to_string();
        assert!(!a.out.exists(), "nothing written for a refused set");
        e
    }

    #[test]
    fn refuses_a_set_with_a_platform_missing() {
        let (_dir, a) = zip_set();
        std::fs::remove_file(zip_of(&a, "darwin_arm64")).unwrap();
        std::fs::remove_file(zip_of(&a, "windows_amd64")).unwrap();
        let e = refusal(&a);
        assert!(
            e.contains("darwin_arm64: missing, no terraform-provider-alloy_1.2.3_darwin_arm64.zip"),
            "{e}"
        );
        assert!(e.contains("windows_amd64: missing"), "{e}");
        assert!(!e.contains("linux_amd64: missing"), "{e}");
    }

    #[test]
    fn refuses_a_platform_given_twice() {
        let (dir, mut a) = zip_set();
        let other = dir.path().join("other");
        std::fs::create_dir(&other).unwrap();
        std::fs::copy(
            zip_of(&a, "linux_arm64"),
            other.join("terraform-provider-alloy_1.2.3_linux_arm64.zip"),
        )
        .unwrap();
        a.inputs.push(other);
        let e = refusal(&a);
        assert!(e.contains("linux_arm64: given twice"), "{e}");
    }

    #[test]
    fn refuses_a_zip_whose_contents_do_not_match_its_name() {
        let (_dir, a) = zip_set();
        // The Intel Mac build under the Apple silicon name.
        std::fs::copy(zip_of(&a, "darwin_amd64"), zip_of(&a, "darwin_arm64")).unwrap();
        let e = refusal(&a);
        assert!(
            e.contains(
                "darwin_arm64: terraform-provider-alloy_1.2.3_darwin_arm64.zip holds a darwin_amd64 \
                 executable, not a darwin_arm64 executable"
            ),
            "{e}"
        );

        // The Linux zip under the Windows name: the inner name lacks .exe.
        let (_dir, a) = zip_set();
        std::fs::copy(zip_of(&a, "linux_amd64"), zip_of(&a, "windows_amd64")).unwrap();
        let e = refusal(&a);
        assert!(
            e.contains(
                "windows_amd64: terraform-provider-alloy_1.2.3_windows_amd64.zip must hold one \
                 executable named terraform-provider-alloy_v1.2.3.exe, it holds \
                 terraform-provider-alloy_v1.2.3"
            ),
            "{e}"
        );

        // Not a zip at all.
        let (_dir, a) = zip_set();
        std::fs::write(zip_of(&a, "linux_arm64"), b"PK not really").unwrap();
        let e = refusal(&a);
        assert!(
            e.contains(
                "linux_arm64: terraform-provider-alloy_1.2.3_linux_arm64.zip is not a readable zip"
            ),
            "{e}"
        );
    }

    #[test]
    fn refuses_another_version_a_foreign_platform_and_stray_files() {
        let (dir, mut a) = zip_set();
        // A zip of 1.2.4 (file name and inner name) for linux_amd64, instead of 1.2.3's.
        let (_d, mut opts, _) = setup();
        opts.version = "1.2.4".into();
        opts.out = dir.path().join("next");
        let bin = dir.path().join("bin-linux_amd64");
        package(&[(PLATFORMS[2], bin)], &opts).unwrap();
        std::fs::remove_file(zip_of(&a, "linux_amd64")).unwrap();
        a.inputs.push(
            opts.out
                .join("terraform-provider-alloy_1.2.4_linux_amd64.zip"),
        );
        let e = refusal(&a);
        assert!(
            e.contains("linux_amd64: terraform-provider-alloy_1.2.4_linux_amd64.zip is version 1.2.4, the release is 1.2.3"),
            "{e}"
        );
        assert!(e.contains("linux_amd64: missing"), "{e}");

        let (_dir, a) = zip_set();
        std::fs::copy(zip_of(&a, "linux_amd64"), zip_of(&a, "freebsd_amd64")).unwrap();
        let e = refusal(&a);
        assert!(e.contains("freebsd_amd64: terraform-provider-alloy_1.2.3_freebsd_amd64.zip is for a platform this release does not carry"), "{e}");

        let (_dir, a) = zip_set();
        std::fs::write(a.inputs[0].join("notes.txt"), b"x").unwrap();
        let e = refusal(&a);
        assert!(e.contains("notes.txt"), "{e}");
    }

    #[test]
    fn packaging_for_another_platform_checks_the_binary_is_for_it() {
        let (dir, _opts, _) = setup();
        let mac = dir.path().join("mac");
        std::fs::write(&mac, standin(PLATFORMS[1])).unwrap();
        check_platform(&mac, PLATFORMS[1]).unwrap();
        let e = check_platform(&mac, PLATFORMS[0]).unwrap_err().to_string();
        assert!(
            e.contains("is a darwin_arm64 executable, not a darwin_amd64 executable"),
            "{e}"
        );
        let script = dir.path().join("fake-provider");
        let e = check_platform(&script, PLATFORMS[2])
            .unwrap_err()
            .to_string();
        assert!(e.contains("no executable of any release platform"), "{e}");
    }

    #[test]
    fn the_release_workflow_builds_every_platform() {
        let text = std::fs::read_to_string(
            super::super::repo_root().join(".github/workflows/release.yml"),
        )
        .unwrap();
        let mut matrix: Vec<&str> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("- platform: "))
            .collect();
        matrix.sort();
        let want: Vec<String> = PLATFORMS.iter().map(Target::name).collect();
        assert_eq!(matrix, want);
    }

    /// A throwaway GnuPG home with one key of the given algorithm; `None` when gpg is missing.
    struct GpgHome {
        dir: tempfile::TempDir,
    }

    impl GpgHome {
        fn new(algo: &str) -> Option<GpgHome> {
            GpgHome::with_passphrase(algo, "")
        }

        fn with_passphrase(algo: &str, passphrase: &str) -> Option<GpgHome> {
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
                    "--pinentry-mode",
                    "loopback",
                    "--passphrase",
                    passphrase,
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

    #[test]
    fn assembles_and_signs_unattended_with_the_passphrase() {
        let Some(home) = GpgHome::with_passphrase("rsa2048", "correct horse") else {
            return;
        };
        let (_dir, mut a) = zip_set();
        a.gpg_key = Some("release@example.com".into());
        a.gnupg_home = Some(home.dir.path().to_path_buf());

        a.gpg_passphrase = Some(Passphrase::new("wrong staple".into()));
        let e = assemble(&a).unwrap_err().to_string();
        assert!(
            !e.contains("wrong staple"),
            "the passphrase never shows: {e}"
        );
        assert!(format!("{a:?}").contains("Passphrase(<redacted>)"));
        assert!(!format!("{a:?}").contains("wrong staple"));

        a.gpg_passphrase = Some(Passphrase::new("correct horse".into()));
        let r = assemble(&a).unwrap();
        let sig = r.signature.expect("signed");
        let verify = Command::new("gpg")
            .env("GNUPGHOME", home.dir.path())
            .args(["--batch", "--verify"])
            .arg(&sig)
            .arg(&r.sums)
            .output()
            .unwrap();
        assert!(verify.status.success());
    }
}
