//! The portable Linux builds (`linux_amd64`, `linux_arm64`): linked against glibc 2.17,
//! reproducible, and checked.
//!
//! A binary linked on the build machine requires that machine's glibc (2.34 and later on current
//! distributions) and will not start on Amazon Linux 2, RHEL 8 or Ubuntu 20.04. So the release is
//! linked by `cargo-zigbuild`, with Zig as the C compiler and linker, against glibc 2.17 (the
//! oldest Rust's std supports). Both come from PyPI (`ziglang`, `cargo-zigbuild`), pinned in
//! `scripts/release-tools.txt`; `scripts/release-tools.sh` installs them into a virtualenv under
//! the target directory, which is where we look first. Nothing falls back to the host linker.
//!
//! Reproducible: build paths (the checkout, the target directory, `CARGO_HOME`, the Rust
//! toolchain) are remapped to fixed names, and aws-lc's C code remaps its own sources. The build
//! has its own target directory (`<target dir>/portable` by default), so its RUSTFLAGS never
//! invalidate the ordinary `target/release` cache.
//!
//! Checked: [`link_report`] reads the binary's dynamic section (NEEDED entries and the symbol
//! versions it requires, via the `object` crate) and [`LinkReport::check`] refuses anything a
//! glibc 2.17 system cannot satisfy. `xtask release` runs that check on every linux_amd64 binary
//! it packages, and a test runs it on the released artefact.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use object::read::elf::{Dyn as _, FileHeader as _};

use super::{BINARY, Error, Result, Target, io_err, run};

/// The Rust target the portable linux_amd64 build compiles for.
pub const RUST_TARGET: &str = "x86_64-unknown-linux-gnu";
/// The same, with the glibc version cargo-zigbuild links against.
pub const ZIG_TARGET: &str = "x86_64-unknown-linux-gnu.2.17";

/// A platform the portable build makes: its Rust target and cargo-zigbuild's target pinned to
/// glibc 2.17 (the oldest glibc Rust supports on both architectures, and the first with arm64).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortableTarget {
    pub rust: &'static str,
    pub zig: &'static str,
}

/// The portable build of a release platform: Linux on x86-64 and arm64; `None` elsewhere.
pub fn portable_target(t: Target) -> Option<PortableTarget> {
    match (t.os, t.arch) {
        ("linux", "amd64") => Some(PortableTarget {
            rust: RUST_TARGET,
            zig: ZIG_TARGET,
        }),
        ("linux", "arm64") => Some(PortableTarget {
            rust: "aarch64-unknown-linux-gnu",
            zig: "aarch64-unknown-linux-gnu.2.17",
        }),
        _ => None,
    }
}
/// The newest `GLIBC_x.y` symbol version the released binary may need.
pub const MAX_GLIBC: (u32, u32, u32) = (2, 17, 0);
/// The newest `GCC_x.y.z` (libgcc_s) symbol version: GCC 4.8's, which glibc 2.17 systems ship.
pub const MAX_GCC: (u32, u32, u32) = (4, 8, 0);

/// Shared libraries the released binary may need: glibc's own libraries (libc, libm, libpthread,
/// libdl, librt, libutil and the loader; librt and libutil are part of every glibc, so they can
/// never be missing where libc is) and libgcc_s, which Rust's std uses to unwind and which every
/// glibc system has. Anything else (OpenSSL, libstdc++, ...) may be absent or of another ABI.
pub const ALLOWED_LIBRARIES: [&str; 9] = [
    "libc.so.6",
    "libm.so.6",
    "libpthread.so.0",
    "libdl.so.2",
    "librt.so.1",
    "libutil.so.1",
    "ld-linux-x86-64.so.2",
    "ld-linux-aarch64.so.1",
    "libgcc_s.so.1",
];

/// What a binary asks of the dynamic loader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkReport {
    /// DT_NEEDED libraries, in file order.
    pub needed: Vec<String>,
    /// Required symbol versions (`GLIBC_2.17`, `GCC_3.0`, ...), sorted and deduplicated.
    pub versions: Vec<String>,
}

/// Parses `x.y[.z]` after a prefix such as `GLIBC_`.
fn version_after(name: &str, prefix: &str) -> Option<(u32, u32, u32)> {
    let mut parts = name.strip_prefix(prefix)?.split('.');
    let mut next = || parts.next().map(str::parse::<u32>);
    let major = next()?.ok()?;
    let minor = next().unwrap_or(Ok(0)).ok()?;
    let patch = next().unwrap_or(Ok(0)).ok()?;
    Some((major, minor, patch))
}

impl LinkReport {
    /// The highest `GLIBC_` version required, as written in the binary (`GLIBC_2.17`).
    pub fn max_glibc(&self) -> Option<&str> {
        self.versions
            .iter()
            .filter_map(|v| version_after(v, "GLIBC_").map(|n| (n, v.as_str())))
            .max()
            .map(|(_, v)| v)
    }

    /// Every reason the binary would not start on a glibc 2.17 system; empty when it would.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for lib in &self.needed {
            if !ALLOWED_LIBRARIES.contains(&lib.as_str()) {
                out.push(format!(
                    "needs {lib}, which is not part of glibc or libgcc_s"
                ));
            }
        }
        for v in &self.versions {
            let ok = match (version_after(v, "GLIBC_"), version_after(v, "GCC_")) {
                (Some(n), _) => n <= MAX_GLIBC,
                (_, Some(n)) => n <= MAX_GCC,
                // GLIBC_PRIVATE and any other namespace: not a stable ABI of glibc 2.17.
                _ => false,
            };
            if !ok {
                out.push(format!("requires symbol version {v}"));
            }
        }
        out
    }

    /// Refuses a binary that needs more than glibc 2.17 and libgcc_s provide.
    pub fn check(&self, binary: &Path) -> Result<()> {
        let problems = self.problems();
        if problems.is_empty() {
            return Ok(());
        }
        Err(Error::Invalid(format!(
            "{} would not start on glibc 2.17 systems: {}. Build it with `cargo run --bin xtask \
             -- release` (cargo-zigbuild against glibc 2.17), not with the host linker.",
            binary.display(),
            problems.join("; ")
        )))
    }
}

fn elf_err(binary: &Path) -> impl Fn(object::read::Error) -> Error + use<> {
    let path = binary.to_path_buf();
    move |e| {
        Error::Invalid(format!(
            "{} is not a readable ELF64 file: {e}",
            path.display()
        ))
    }
}

/// Reads the NEEDED entries and required symbol versions of an x86-64 (ELF64) binary.
pub fn link_report(binary: &Path) -> Result<LinkReport> {
    let data = std::fs::read(binary).map_err(io_err("read", binary))?;
    let bad = elf_err(binary);
    let header = object::elf::FileHeader64::<object::Endianness>::parse(&*data).map_err(&bad)?;
    let endian = header.endian().map_err(&bad)?;
    let sections = header.sections(endian, &*data).map_err(&bad)?;

    let mut needed = Vec::new();
    if let Some((dynamic, link)) = sections.dynamic(endian, &*data).map_err(&bad)? {
        let strings = sections.strings(endian, &*data, link).map_err(&bad)?;
        for d in dynamic {
            if d.tag32(endian) == Some(object::elf::DT_NEEDED) {
                let name = d.string(endian, strings).map_err(&bad)?;
                needed.push(String::from_utf8_lossy(name).into_owned());
            }
        }
    }
    let mut versions = Vec::new();
    if let Some((mut iter, link)) = sections.gnu_verneed(endian, &*data).map_err(&bad)? {
        let strings = sections.strings(endian, &*data, link).map_err(&bad)?;
        while let Some((_need, mut auxes)) = iter.next().map_err(&bad)? {
            while let Some(aux) = auxes.next().map_err(&bad)? {
                let name = aux.name(endian, strings).map_err(&bad)?;
                versions.push(String::from_utf8_lossy(name).into_owned());
            }
        }
    }
    versions.sort_by_key(|v| {
        let n = version_after(v, "GLIBC_").or_else(|| version_after(v, "GCC_"));
        (v.split('_').next().unwrap_or("").to_string(), n, v.clone())
    });
    versions.dedup();
    Ok(LinkReport { needed, versions })
}

/// Pinned tool versions, read from `scripts/release-tools.txt` (`name==version` lines).
pub fn pinned_tools(root: &Path) -> Result<Vec<(String, String)>> {
    let path = root.join("scripts/release-tools.txt");
    let text = std::fs::read_to_string(&path).map_err(io_err("read", &path))?;
    Ok(text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once("=="))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect())
}

/// Where `scripts/release-tools.sh` puts the tools: a virtualenv in the target directory.
pub fn tools_venv(target_dir: &Path) -> PathBuf {
    target_dir.join("release-tools")
}

/// cargo-zigbuild and Zig, found and their versions known.
#[derive(Clone, Debug)]
pub struct Tools {
    /// PATH for the build: the virtualenv's `bin` first (when it exists), then ours.
    pub path: OsString,
    pub zigbuild_version: String,
    pub zig_version: String,
}

/// Finds cargo-zigbuild and Zig (the virtualenv first, then PATH), or says how to get them.
pub fn find_tools(root: &Path, target_dir: &Path) -> Result<Tools> {
    let pinned = pinned_tools(root)?;
    let pin = |name: &str| {
        pinned
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let how = format!(
        "The Linux releases are linked against glibc 2.17 with cargo-zigbuild and Zig, \
         never with this machine's linker. Install them (pinned versions, from PyPI) with \
         `./scripts/release-tools.sh` (a virtualenv in {}), or `pip install ziglang=={} \
         cargo-zigbuild=={}` onto PATH",
        tools_venv(target_dir).display(),
        pin("ziglang"),
        pin("cargo-zigbuild")
    );
    let bin = tools_venv(target_dir).join("bin");
    let mut dirs = Vec::new();
    if bin.is_dir() {
        dirs.push(bin);
    }
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    let path = std::env::join_paths(dirs)
        .map_err(|e| Error::Invalid(format!("cannot build a PATH for the tools: {e}")))?;
    let version = |program: &str, args: &[&str]| -> Option<String> {
        let out = Command::new(program)
            .args(args)
            .env("PATH", &path)
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (out.status.success() && !text.is_empty()).then_some(text)
    };
    let zigbuild = version("cargo-zigbuild", &["--version"])
        .ok_or_else(|| Error::Invalid(format!("cargo-zigbuild is not installed. {how}.")))?;
    // cargo-zigbuild runs `zig`, or else `python3 -m ziglang` (the PyPI package), from PATH.
    let zig = version("zig", &["version"])
        .or_else(|| version("python3", &["-m", "ziglang", "version"]))
        .ok_or_else(|| Error::Invalid(format!("Zig is not installed. {how}.")))?;
    Ok(Tools {
        path,
        zigbuild_version: zigbuild
            .strip_prefix("cargo-zigbuild ")
            .unwrap_or(&zigbuild)
            .to_string(),
        zig_version: zig,
    })
}

/// Warnings for tool versions other than the pinned ones: the build still works, but its bytes
/// may differ from a release built with the pinned tools.
pub fn version_warnings(root: &Path, tools: &Tools) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (name, want) in pinned_tools(root)? {
        let have = match name.as_str() {
            "ziglang" => &tools.zig_version,
            "cargo-zigbuild" => &tools.zigbuild_version,
            _ => continue,
        };
        if *have != want {
            out.push(format!(
                "{name} {have} is installed, but releases are built with {want} \
                 (scripts/release-tools.txt); the bytes may differ from a release built with it"
            ));
        }
    }
    Ok(out)
}

/// The `--remap-path-prefix` flags: every machine-specific path the build reads from, mapped to
/// a fixed name. rustc applies the last matching flag, so the target directory (usually inside
/// the checkout) comes after the checkout.
pub fn remap_flags(
    root: &Path,
    target_dir: &Path,
    cargo_home: &Path,
    sysroot: &Path,
) -> Result<Vec<String>> {
    let pairs = [
        (cargo_home, "/cargo"),
        (sysroot, "/rust"),
        (root, "/src"),
        (target_dir, "/target"),
    ];
    pairs
        .iter()
        .map(|(from, to)| match from.to_str() {
            Some(f) if !f.contains(char::is_whitespace) => {
                Ok(format!("--remap-path-prefix={f}={to}"))
            }
            _ => Err(Error::Invalid(format!(
                "the portable build remaps build paths with RUSTFLAGS, which cannot hold a path \
                 with spaces or non-UTF-8 bytes; build from a checkout, target directory, \
                 CARGO_HOME and Rust toolchain without them (not {})",
                from.display()
            ))),
        })
        .collect()
}

fn cargo_home() -> Result<PathBuf> {
    if let Some(h) = std::env::var_os("CARGO_HOME") {
        return Ok(PathBuf::from(h));
    }
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cargo"))
        .ok_or_else(|| Error::Invalid("neither CARGO_HOME nor HOME is set".to_string()))
}

fn sysroot() -> Result<PathBuf> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let out = run(Command::new(rustc).args(["--print", "sysroot"]))?;
    Ok(PathBuf::from(
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    ))
}

/// Environment that would make the build depend on the machine: replaced by our flags.
const CLEARED_ENV: [&str; 10] = [
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS",
    "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS",
    "CFLAGS",
    "CXXFLAGS",
    "LDFLAGS",
    "TARGET_CFLAGS",
    "CFLAGS_x86_64_unknown_linux_gnu",
    "CFLAGS_aarch64_unknown_linux_gnu",
];

/// `cargo zigbuild --release` of the provider against glibc 2.17 in `build_dir`; returns the
/// binary's path. Progress goes to the terminal (a release build with LTO takes minutes).
pub fn build(
    root: &Path,
    build_dir: &Path,
    target: PortableTarget,
    tools: &Tools,
    source_date_epoch: i64,
    out: &mut dyn Write,
) -> Result<PathBuf> {
    std::fs::create_dir_all(build_dir).map_err(io_err("create", build_dir))?;
    let build_dir = build_dir
        .canonicalize()
        .map_err(io_err("resolve", build_dir))?;
    let root = root.canonicalize().map_err(io_err("resolve", root))?;
    let flags = remap_flags(&root, &build_dir, &cargo_home()?, &sysroot()?)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let args = [
        "zigbuild",
        "--release",
        "--locked",
        "--bin",
        BINARY,
        "--target",
        target.zig,
    ];
    let _ = writeln!(
        out,
        "==> cargo {} --target-dir {} (cargo-zigbuild {}, zig {})",
        args.join(" "),
        build_dir.display(),
        tools.zigbuild_version,
        tools.zig_version
    );
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(&root)
        .args(args)
        .arg("--target-dir")
        .arg(&build_dir)
        .env("PATH", &tools.path)
        .env("RUSTFLAGS", flags.join(" "))
        .env("SOURCE_DATE_EPOCH", source_date_epoch.to_string());
    for name in CLEARED_ENV {
        cmd.env_remove(name);
    }
    let shown = format!("cargo {}", args.join(" "));
    let status = cmd.status().map_err(|e| Error::Command {
        command: shown.clone(),
        detail: e.to_string(),
    })?;
    if !status.success() {
        return Err(Error::Command {
            command: shown,
            detail: status.to_string(),
        });
    }
    let binary = build_dir.join(target.rust).join("release").join(BINARY);
    if !binary.is_file() {
        return Err(Error::Invalid(format!(
            "cargo zigbuild succeeded but {} is missing",
            binary.display()
        )));
    }
    Ok(binary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(needed: &[&str], versions: &[&str]) -> LinkReport {
        LinkReport {
            needed: needed.iter().map(|s| s.to_string()).collect(),
            versions: versions.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn both_linux_platforms_and_only_they_have_a_portable_build() {
        for t in super::super::PLATFORMS {
            let p = portable_target(t);
            assert_eq!(p.is_some(), t.os == "linux", "{}", t.name());
            if let Some(p) = p {
                assert_eq!(Some(p.rust), t.rust_target());
                assert_eq!(p.zig, format!("{}.2.17", p.rust));
            }
        }
    }

    #[test]
    fn glibc_2_17_and_libgcc_s_pass() {
        let r = report(
            &["libgcc_s.so.1", "libc.so.6", "ld-linux-x86-64.so.2"],
            &[
                "GCC_3.0",
                "GCC_4.2.0",
                "GLIBC_2.14",
                "GLIBC_2.17",
                "GLIBC_2.2.5",
            ],
        );
        assert_eq!(r.problems(), Vec::<String>::new());
        assert_eq!(r.max_glibc(), Some("GLIBC_2.17"));
        r.check(Path::new("p")).unwrap();
    }

    #[test]
    fn newer_glibc_foreign_libraries_and_private_symbols_fail() {
        let r = report(
            &["libc.so.6", "libssl.so.3"],
            &[
                "GLIBC_2.17",
                "GLIBC_2.34",
                "GLIBC_2.18",
                "GLIBC_PRIVATE",
                "GCC_7.0.0",
                "OPENSSL_3.0.0",
            ],
        );
        assert_eq!(
            r.problems(),
            [
                "needs libssl.so.3, which is not part of glibc or libgcc_s",
                "requires symbol version GLIBC_2.34",
                "requires symbol version GLIBC_2.18",
                "requires symbol version GLIBC_PRIVATE",
                "requires symbol version GCC_7.0.0",
                "requires symbol version OPENSSL_3.0.0",
            ]
        );
        assert_eq!(r.max_glibc(), Some("GLIBC_2.34"));
        let e = r.check(Path::new("bin")).unwrap_err().to_string();
        assert!(
            e.contains("would not start on glibc 2.17") && e.contains("xtask"),
            "{e}"
        );
    }

    #[test]
    fn versions_compare_numerically() {
        assert_eq!(version_after("GLIBC_2.2.5", "GLIBC_"), Some((2, 2, 5)));
        assert!(version_after("GLIBC_2.9", "GLIBC_") < version_after("GLIBC_2.17", "GLIBC_"));
        assert_eq!(version_after("GLIBC_PRIVATE", "GLIBC_"), None);
    }

    #[test]
    fn reads_the_dynamic_section_of_a_real_binary() {
        // This test executable is linked against the build machine's glibc.
        let exe = std::env::current_exe().unwrap();
        let r = link_report(&exe).unwrap();
        assert!(r.needed.iter().any(|n| n == "libc.so.6"), "{r:?}");
        assert!(r.max_glibc().is_some(), "{r:?}");
        let e = link_report(Path::new("Cargo.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a readable ELF64 file"), "{e}");
    }

    #[test]
    fn remaps_put_the_target_dir_last_and_refuse_spaces() {
        let f = remap_flags(
            Path::new("/r"),
            Path::new("/r/target/portable"),
            Path::new("/h/.cargo"),
            Path::new("/t"),
        )
        .unwrap();
        assert_eq!(
            f,
            [
                "--remap-path-prefix=/h/.cargo=/cargo",
                "--remap-path-prefix=/t=/rust",
                "--remap-path-prefix=/r=/src",
                "--remap-path-prefix=/r/target/portable=/target",
            ]
        );
        let e = remap_flags(
            Path::new("/my repo"),
            Path::new("/t"),
            Path::new("/c"),
            Path::new("/s"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("spaces"), "{e}");
    }

    #[test]
    fn the_pinned_tools_are_listed() {
        let pins = pinned_tools(&super::super::repo_root()).unwrap();
        let names: Vec<&str> = pins.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["ziglang", "cargo-zigbuild"]);
        assert!(pins.iter().all(|(_, v)| !v.is_empty()));
    }
}
