//! Installing the provider the way a user consumes a release: from a filesystem mirror, with
//! `terraform init` and a lock file, offline.
//!
//! Terraform's unpacked mirror layout is
//! `<mirror>/HOST/NAMESPACE/TYPE/VERSION/OS_ARCH/terraform-provider-TYPE_vVERSION`. The CLI
//! configuration sends `HOST/*/*` to the mirror and excludes it from direct installation, so
//! `terraform init` never tries the network for it.
//!
//! HOST is ours to choose, and it must never be a real registry's name: excluding a real host
//! from direct installation would stop every other provider served from it. So only special-use
//! names that can never resolve publicly are accepted (`terraform.local` by default, or names
//! under `.test`, `.internal`, `.localhost`, …).
//!
//! We also compute the package's `h1:` hash the way Terraform does (SHA-256 over the sorted
//! "sha256  name" lines of the package directory), so the printed hash is the one the lock file
//! will hold.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use super::{
    BINARY, CARGO_VERSION, Error, NAMESPACE, PROVIDER_TYPE, Result, Target, check_binary_version,
    check_version, io_err, sha256_hex,
};

/// The mirror host used unless told otherwise.
pub const DEFAULT_HOST: &str = "terraform.local";

/// Top-level names reserved for local or test use (RFC 2606, 6761, 6762, 8375, and ICANN's
/// `.internal`), which no public registry can ever be served from.
const SPECIAL_USE_SUFFIXES: [&str; 7] = [
    "local",
    "localhost",
    "test",
    "example",
    "invalid",
    "internal",
    "home.arpa",
];

/// First line of a CLI configuration we wrote; only such a file is ever overwritten.
const CLI_CONFIG_MARKER: &str = "# Written by `cargo run --bin xtask -- install`";

/// Checks a mirror host: a lowercase DNS name of at least two labels under a special-use name.
pub fn check_host(host: &str) -> Result<()> {
    let labels: Vec<&str> = host.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    if labels.len() < 2 || !labels.iter().all(label_ok) {
        return Err(Error::Invalid(format!(
            "{host:?} is not a host name Terraform accepts in a provider source: use lowercase \
             labels separated by dots, e.g. {DEFAULT_HOST}"
        )));
    }
    let special = SPECIAL_USE_SUFFIXES.iter().any(|s| {
        host.strip_suffix(s)
            .is_some_and(|rest| rest.ends_with('.') && rest.len() > 1)
    });
    if !special {
        return Err(Error::Invalid(format!(
            "{host:?} could be a real registry's host. The mirror's CLI configuration stops Terraform \
             from installing anything from its host directly, so the host must be a name that can \
             never serve real providers: one ending in .{}, e.g. {DEFAULT_HOST}.",
            SPECIAL_USE_SUFFIXES.join(", .")
        )));
    }
    Ok(())
}

/// `HOST/alloy-automation/alloy`: the source address to put in `required_providers`.
pub fn source_address(host: &str) -> String {
    format!("{host}/{NAMESPACE}/{PROVIDER_TYPE}")
}

/// The package directory of one version and platform inside a mirror.
pub fn package_dir(mirror: &Path, host: &str, version: &str, target: Target) -> PathBuf {
    mirror
        .join(host)
        .join(NAMESPACE)
        .join(PROVIDER_TYPE)
        .join(version)
        .join(target.name())
}

fn files_under(dir: &Path, rel: &str, out: &mut Vec<String>) -> Result<()> {
    for e in std::fs::read_dir(dir).map_err(io_err("list", dir))? {
        let e = e.map_err(io_err("list", dir))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let rel_name = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let path = e.path();
        if path.is_dir() {
            files_under(&path, &rel_name, out)?;
        } else {
            out.push(rel_name);
        }
    }
    Ok(())
}

/// Terraform's `h1:` hash of an unpacked provider package directory.
pub fn package_hash(dir: &Path) -> Result<String> {
    let mut files = Vec::new();
    files_under(dir, "", &mut files)?;
    files.sort();
    let mut summary = String::new();
    for f in &files {
        let path = dir.join(f);
        let data = std::fs::read(&path).map_err(io_err("read", &path))?;
        summary.push_str(&format!("{}  {f}\n", sha256_hex(&data)));
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, summary.as_bytes());
    Ok(format!(
        "h1:{}",
        base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
    ))
}

/// What an install produced.
#[derive(Clone, Debug)]
pub struct Installed {
    /// The binary inside the mirror.
    pub binary: PathBuf,
    /// The mirror directory, absolute.
    pub mirror: PathBuf,
    pub source: String,
    pub version: String,
    /// The `h1:` hash `terraform init` will record in the lock file.
    pub hash: String,
    /// CLI configuration text using the mirror.
    pub cli_config: String,
}

/// Copies `binary` into the mirror's package directory for `target`, replacing whatever that
/// directory held (it belongs to this provider version alone). The copy is renamed into place
/// so a Terraform running the old binary never sees a half-written file.
pub fn install_into(
    mirror: &Path,
    host: &str,
    version: &str,
    target: Target,
    binary: &Path,
) -> Result<Installed> {
    check_host(host)?;
    check_version(version)?;
    let dir = package_dir(mirror, host, version, target);
    std::fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
    let name = format!("{BINARY}_v{version}{}", target.exe_suffix());
    let tmp = dir.join(format!(".{name}.partial"));
    std::fs::copy(binary, &tmp).map_err(io_err("copy", binary))?;
    set_executable(&tmp)?;
    let dest = dir.join(&name);
    std::fs::rename(&tmp, &dest).map_err(io_err("move into place", &dest))?;
    for e in std::fs::read_dir(&dir).map_err(io_err("list", &dir))? {
        let e = e.map_err(io_err("list", &dir))?;
        if e.file_name().to_string_lossy() != name {
            let p = e.path();
            if p.is_dir() {
                std::fs::remove_dir_all(&p).map_err(io_err("remove", &p))?;
            } else {
                std::fs::remove_file(&p).map_err(io_err("remove", &p))?;
            }
        }
    }
    let mirror = std::fs::canonicalize(mirror).map_err(io_err("resolve", mirror))?;
    Ok(Installed {
        binary: dest,
        hash: package_hash(&dir)?,
        source: source_address(host),
        version: version.to_string(),
        cli_config: cli_config(&mirror, host),
        mirror,
    })
}

#[cfg(unix)]
fn set_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(io_err("make executable", path))
}

#[cfg(not(unix))]
fn set_executable(_path: &Path) -> Result<()> {
    Ok(())
}

/// An HCL string literal.
fn hcl_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '$' => out.push_str("$$"),
            '%' => out.push_str("%%"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A CLI configuration that installs `HOST/*/*` only from the mirror and everything else as usual.
pub fn cli_config(mirror: &Path, host: &str) -> String {
    let mirror = mirror.display().to_string().replace('\\', "/");
    let pattern = hcl_string(&format!("{host}/*/*"));
    format!(
        "{CLI_CONFIG_MARKER}: providers under {host} come only from the\n\
         # local mirror; every other provider is installed as usual.\n\
         provider_installation {{\n  \
           filesystem_mirror {{\n    \
             path    = {}\n    \
             include = [{pattern}]\n  \
           }}\n  \
           direct {{\n    \
             exclude = [{pattern}]\n  \
           }}\n\
         }}\n",
        hcl_string(&mirror)
    )
}

/// Writes a CLI configuration file, refusing to overwrite one that we did not write (it may be
/// the user's own `~/.terraformrc`).
pub fn write_cli_config(path: &Path, text: &str) -> Result<()> {
    match std::fs::read_to_string(path) {
        Ok(existing) if !existing.starts_with(CLI_CONFIG_MARKER) => {
            return Err(Error::Invalid(format!(
                "{} exists and was not written by xtask; not overwriting it. Add this block to it \
                 by hand instead:\n\n{text}",
                path.display()
            )));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err("read", path)(e)),
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io_err("create", parent))?;
    }
    std::fs::write(path, text).map_err(io_err("write", path))
}

/// Options of `xtask install`.
#[derive(Clone, Debug)]
pub struct InstallOptions {
    pub root: PathBuf,
    /// Defaults to `<target dir>/terraform-mirror`.
    pub mirror: Option<PathBuf>,
    pub host: String,
    pub version: Option<String>,
    /// Install this binary instead of running `cargo build --release`.
    pub binary: Option<PathBuf>,
    pub write_cli_config: Option<PathBuf>,
}

/// `xtask install`: build (unless given a binary), install into the mirror, write or print the
/// CLI configuration and the `required_providers` entry.
pub fn install_command(opts: &InstallOptions, out: &mut dyn Write) -> Result<Installed> {
    check_host(&opts.host)?;
    let version = opts
        .version
        .clone()
        .unwrap_or_else(|| CARGO_VERSION.to_string());
    check_version(&version)?;
    let target = Target::host()
        .ok_or_else(|| Error::Invalid("this machine has no Terraform platform name".to_string()))?;
    let binary = match &opts.binary {
        Some(b) => b.clone(),
        None => super::build_release_binary(&opts.root, out)?,
    };
    check_binary_version(&binary, &version)?;
    let mirror = match &opts.mirror {
        Some(m) => m.clone(),
        None => super::target_dir(&opts.root)?.join("terraform-mirror"),
    };
    let installed = install_into(&mirror, &opts.host, &version, target, &binary)?;
    let _ = writeln!(
        out,
        "Installed {} {version} ({}) into the filesystem mirror {}\n  {}\n  package hash {}",
        installed.source,
        target.name(),
        installed.mirror.display(),
        installed.binary.display(),
        installed.hash
    );
    match &opts.write_cli_config {
        Some(path) => {
            write_cli_config(path, &installed.cli_config)?;
            let shown = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
            let _ = writeln!(
                out,
                "\nWrote the CLI configuration {}. Use it with:\n  export TF_CLI_CONFIG_FILE={}",
                shown.display(),
                shown.display()
            );
        }
        None => {
            let _ = writeln!(
                out,
                "\nAdd this to your CLI configuration (the file TF_CLI_CONFIG_FILE names, or \
                 ~/.terraformrc), or pass --write-cli-config FILE:\n\n{}",
                installed.cli_config
            );
        }
    }
    let _ = writeln!(
        out,
        "\nIn your configuration:\n\n\
         terraform {{\n  required_providers {{\n    alloy = {{\n      source  = \"{}\"\n      \
         version = \"{version}\"\n    }}\n  }}\n}}\n\n\
         then run `terraform init`. After installing a rebuilt binary under the same version, \
         delete .terraform.lock.hcl (or its entry for this provider) and run `terraform init` again: \
         the hash changes with every build.",
        installed.source
    );
    Ok(installed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINUX: Target = Target {
        os: "linux",
        arch: "amd64",
    };

    #[test]
    fn hosts() {
        for ok in [
            "terraform.local",
            "mirror.test",
            "a-b.c.internal",
            "x.home.arpa",
            "p.localhost",
        ] {
            assert!(check_host(ok).is_ok(), "{ok}");
        }
        for bad in [
            "local",
            ".local",
            "Terraform.local",
            "mirror.example.com",
            "x.arpa",
            "under_score.test",
            "-a.test",
            "a..test",
            "terraformlocal",
        ] {
            assert!(check_host(bad).is_err(), "{bad}");
        }
        let e = check_host("providers.example.org").unwrap_err().to_string();
        assert!(e.contains("could be a real registry"), "{e}");
    }

    #[test]
    fn installs_in_the_unpacked_layout_and_hashes_like_terraform() {
        let tmp = tempfile::tempdir().unwrap();
        let bin = tmp.path().join("bin");
        std::fs::write(&bin, b"provider bytes").unwrap();
        let mirror = tmp.path().join("mirror");
        let i = install_into(&mirror, "terraform.local", "1.2.3", LINUX, &bin).unwrap();
        let expected = mirror.join(
            "terraform.local/alloy-automation/alloy/1.2.3/linux_amd64/terraform-provider-alloy_v1.2.3",
        );
        assert_eq!(std::fs::read(&expected).unwrap(), b"provider bytes");
        assert_eq!(
            std::fs::canonicalize(&i.binary).unwrap(),
            std::fs::canonicalize(&expected).unwrap()
        );
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&expected).unwrap().permissions().mode() & 0o777,
            0o755
        );
        assert_eq!(i.source, "terraform.local/alloy-automation/alloy");

        // The hash by hand: one line "sha256  name\n", hashed again, base64.
        let line = format!(
            "{}  terraform-provider-alloy_v1.2.3\n",
            sha256_hex(b"provider bytes")
        );
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, line.as_bytes());
        let want = format!(
            "h1:{}",
            base64::engine::general_purpose::STANDARD.encode(d.as_ref())
        );
        assert_eq!(i.hash, want);

        // Reinstalling replaces the binary and clears leftovers from the package directory.
        let dir = expected.parent().unwrap();
        std::fs::write(dir.join("leftover"), b"x").unwrap();
        std::fs::write(&bin, b"new build").unwrap();
        let again = install_into(&mirror, "terraform.local", "1.2.3", LINUX, &bin).unwrap();
        assert_eq!(std::fs::read_dir(dir).unwrap().count(), 1);
        assert_ne!(again.hash, i.hash);
    }

    #[test]
    fn package_hash_sorts_nested_files() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("sub")).unwrap();
        std::fs::write(tmp.path().join("b"), b"2").unwrap();
        std::fs::write(tmp.path().join("sub/a"), b"3").unwrap();
        std::fs::write(tmp.path().join("a"), b"1").unwrap();
        let summary = format!(
            "{}  a\n{}  b\n{}  sub/a\n",
            sha256_hex(b"1"),
            sha256_hex(b"2"),
            sha256_hex(b"3")
        );
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, summary.as_bytes());
        assert_eq!(
            package_hash(tmp.path()).unwrap(),
            format!(
                "h1:{}",
                base64::engine::general_purpose::STANDARD.encode(d.as_ref())
            )
        );
    }

    #[test]
    fn cli_config_uses_the_mirror_only_for_its_host() {
        let text = cli_config(Path::new("/some/dir \"q\""), "terraform.local");
        assert!(text.starts_with(CLI_CONFIG_MARKER));
        assert!(text.contains("path    = \"/some/dir \\\"q\\\"\""), "{text}");
        assert_eq!(
            text.matches("[\"terraform.local/*/*\"]").count(),
            2,
            "{text}"
        );
        let fs = text.find("filesystem_mirror").unwrap();
        let direct = text.find("direct {").unwrap();
        assert!(fs < direct);
        assert!(text[direct..].contains("exclude = [\"terraform.local/*/*\"]"));
    }

    #[test]
    fn never_overwrites_a_foreign_cli_config() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("rc");
        let ours = cli_config(tmp.path(), "terraform.local");
        write_cli_config(&p, &ours).unwrap();
        write_cli_config(&p, &ours).unwrap(); // ours: replaced
        std::fs::write(&p, "plugin_cache_dir = \"x\"\n").unwrap();
        let e = write_cli_config(&p, &ours).unwrap_err().to_string();
        assert!(e.contains("not overwriting"), "{e}");
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "plugin_cache_dir = \"x\"\n"
        );
    }
}
