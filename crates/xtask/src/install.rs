//! Installing the provider the way a user consumes a release: from a filesystem mirror, with
//! `terraform init` and a lock file, offline.
//!
//! Terraform's unpacked mirror layout is
//! `<mirror>/HOST/NAMESPACE/TYPE/VERSION/OS_ARCH/terraform-provider-TYPE_vVERSION`. We install
//! under the provider's real source address, `alloy-automation/alloy` on the registry host that
//! Terraform implies for a two-part source, so a configuration written against the mirror keeps
//! `source = "alloy-automation/alloy"` and its state never needs `terraform state
//! replace-provider` once the provider is published. That host is Terraform's to know, not ours:
//! [`default_host`] asks the CLI (`terraform providers` prints fully qualified addresses without
//! `init` or network), and `--host` overrides it.
//!
//! The CLI configuration sends exactly this provider's address to the mirror and excludes exactly
//! it from direct installation, so `terraform init` never tries the network for it while every
//! other provider of the same registry installs as usual.
//!
//! We also compute the package's `h1:` hash the way Terraform does (SHA-256 over the sorted
//! "sha256  name" lines of the package directory), so the printed hash is the one the lock file
//! will hold.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;

use super::{
    BINARY, CARGO_VERSION, Error, NAMESPACE, PROVIDER_TYPE, Result, Target, check_binary_version,
    check_version, io_err, sha256_hex,
};

/// First line of a CLI configuration we wrote; only such a file is ever overwritten.
const CLI_CONFIG_MARKER: &str = "# Written by `cargo run --bin xtask -- install`";

/// `alloy-automation/alloy`: the source address users write in `required_providers`.
pub fn short_source() -> String {
    format!("{NAMESPACE}/{PROVIDER_TYPE}")
}

/// Checks a registry host as it appears in a provider address: a lowercase DNS name of at least
/// two labels.
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
             labels separated by dots, like the host `terraform providers` shows"
        )));
    }
    Ok(())
}

/// Reads the registry host from `terraform providers` output: the line
/// `provider[HOST/alloy-automation/alloy]`.
pub fn host_from_providers_output(text: &str) -> Option<String> {
    let suffix = format!("/{}", short_source());
    text.lines().find_map(|l| {
        let inner = &l[l.find("provider[")? + "provider[".len()..];
        let host = inner[..inner.find(']')?].strip_suffix(&suffix)?;
        check_host(host).ok().map(|()| host.to_string())
    })
}

/// The registry host Terraform implies for `alloy-automation/alloy`, asked of the `terraform`
/// executable given (OpenTofu's `tofu` answers with its own). Runs `terraform providers` in an
/// empty temporary directory with an empty CLI configuration: no `init`, no network.
pub fn default_host(terraform: &str) -> Result<String> {
    let tmp = tempfile::tempdir().map_err(io_err("create", &std::env::temp_dir()))?;
    let main = tmp.path().join("main.tf");
    std::fs::write(
        &main,
        format!(
            "terraform {{\n  required_providers {{\n    alloy = {{ source = \"{}\" }}\n  }}\n}}\n",
            short_source()
        ),
    )
    .map_err(io_err("write", &main))?;
    let rc = tmp.path().join("empty.tfrc");
    std::fs::write(&rc, "").map_err(io_err("write", &rc))?;
    let mut cmd = Command::new(terraform);
    cmd.current_dir(tmp.path()).arg("providers");
    // Nothing from the caller's TF_* settings (a data dir, extra arguments) changes the answer.
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("TF_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("TF_CLI_CONFIG_FILE", &rc)
        .env("CHECKPOINT_DISABLE", "1");
    let out = super::run(&mut cmd).map_err(|e| {
        Error::Invalid(format!(
            "cannot ask Terraform for the registry host of {}: {e}. Install Terraform (or pass \
             --terraform PATH), or give the host with --host.",
            short_source()
        ))
    })?;
    let text = String::from_utf8_lossy(&out.stdout);
    host_from_providers_output(&text).ok_or_else(|| {
        Error::Invalid(format!(
            "`{terraform} providers` named no provider[HOST/{}]; it printed:\n{}\nGive the host \
             with --host.",
            short_source(),
            text.trim()
        ))
    })
}

/// `HOST/alloy-automation/alloy`: the fully qualified address the mirror and lock file use.
pub fn source_address(host: &str) -> String {
    format!("{host}/{}", short_source())
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

/// A CLI configuration that installs this provider only from the mirror and every other
/// provider as usual.
pub fn cli_config(mirror: &Path, host: &str) -> String {
    let mirror = mirror.display().to_string().replace('\\', "/");
    let address = source_address(host);
    let pattern = hcl_string(&address);
    format!(
        "{CLI_CONFIG_MARKER}: {address} comes only from the\n\
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
    /// The registry host of the address to install under; asked of `terraform` when `None`.
    pub host: Option<String>,
    /// The Terraform (or OpenTofu) executable to ask for the registry host.
    pub terraform: String,
    pub version: Option<String>,
    /// Install this binary instead of running `cargo build --release`.
    pub binary: Option<PathBuf>,
    pub write_cli_config: Option<PathBuf>,
}

/// The implied local mirror directory Terraform reads for the user without any CLI
/// configuration: `~/.terraform.d/plugins` on Unix (macOS included), `%APPDATA%\terraform.d\plugins`
/// on Windows. A provider found there needs no CLI configuration.
fn home_plugins_dir() -> Option<PathBuf> {
    let base = if cfg!(windows) { "APPDATA" } else { "HOME" };
    let base = std::env::var_os(base).filter(|h| !h.is_empty())?;
    let dir = if cfg!(windows) {
        "terraform.d"
    } else {
        ".terraform.d"
    };
    std::fs::canonicalize(Path::new(&base).join(dir).join("plugins")).ok()
}

/// `xtask install`: build (unless given a binary), install into the mirror, write or print the
/// CLI configuration and the `required_providers` entry.
pub fn install_command(opts: &InstallOptions, out: &mut dyn Write) -> Result<Installed> {
    let host = match &opts.host {
        Some(h) => h.clone(),
        None => default_host(&opts.terraform)?,
    };
    check_host(&host)?;
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
    let installed = install_into(&mirror, &host, &version, target, &binary)?;
    let _ = writeln!(
        out,
        "Installed {} {version} ({}) into the filesystem mirror {}\n  {}\n  package hash {}",
        installed.source,
        target.name(),
        installed.mirror.display(),
        installed.binary.display(),
        installed.hash
    );
    // A host we asked Terraform for is the one the short source implies; a host given with
    // --host may not be, so then the entry spells it out.
    let source = match opts.host {
        Some(_) => installed.source.clone(),
        None => short_source(),
    };
    let implied = home_plugins_dir().is_some_and(|d| d == installed.mirror);
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
        None if implied => {
            let _ = writeln!(
                out,
                "\nThis is one of Terraform's implied local mirror directories: `terraform init` \
                 finds the provider there with no CLI configuration, unless yours has a \
                 provider_installation block (which turns those directories off; then add the \
                 filesystem_mirror below to it):\n\n{}",
                installed.cli_config
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
        "\nIn your configuration (the source stands for {}):\n\n\
         terraform {{\n  required_providers {{\n    alloy = {{\n      source  = \"{}\"\n      \
         version = \"{version}\"\n    }}\n  }}\n}}\n\n\
         then run `terraform init`, which records the package hash above in .terraform.lock.hcl. \
         After installing a rebuilt binary under the same version, delete .terraform.lock.hcl (or \
         its entry for this provider) and run `terraform init` again: the hash changes with every \
         build.",
        installed.source, source
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
            "registry.example.com",
        ] {
            assert!(check_host(ok).is_ok(), "{ok}");
        }
        for bad in [
            "local",
            ".local",
            "Terraform.local",
            "under_score.test",
            "-a.test",
            "a..test",
            "terraformlocal",
        ] {
            assert!(check_host(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_host_is_read_from_terraform_providers() {
        let out = "\nProviders required by configuration:\n.\n\
                   ├── provider[other.example.com/acme/thing]\n\
                   └── provider[registry.example.com/alloy-automation/alloy] ~> 0.1\n\n";
        assert_eq!(
            host_from_providers_output(out).as_deref(),
            Some("registry.example.com")
        );
        for none in [
            "",
            "provider[alloy-automation/alloy]",
            "provider[registry.example.com/alloy-automation/alloy",
            "provider[Bad_Host/alloy-automation/alloy]",
        ] {
            assert_eq!(host_from_providers_output(none), None, "{none}");
        }
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
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&expected).unwrap().permissions().mode() & 0o777,
                0o755
            );
        }
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
    fn cli_config_uses_the_mirror_only_for_this_provider() {
        let text = cli_config(Path::new("/some/dir \"q\""), "terraform.local");
        assert!(text.starts_with(CLI_CONFIG_MARKER));
        assert!(text.contains("path    = \"/some/dir \\\"q\\\"\""), "{text}");
        // Only this provider's address: every other provider of its host installs as usual.
        let ours = "[\"terraform.local/alloy-automation/alloy\"]";
        assert_eq!(text.matches(ours).count(), 2, "{text}");
        assert!(!text.contains('*'), "{text}");
        let fs = text.find("filesystem_mirror").unwrap();
        let direct = text.find("direct {").unwrap();
        assert!(fs < direct);
        assert!(text[direct..].contains(&format!("exclude = {ours}")));
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
