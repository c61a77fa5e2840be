//! The third-party licence notice that ships in every release zip, generated from the
//! dependency tree.
//!
//! `cargo metadata` (locked, filtered to the target being released) gives the resolved graph;
//! we walk it from the provider's package along normal dependencies only (build scripts' and
//! tests' dependencies do not end up in the binary, and neither do the emulator's or this
//! crate's), list the third-party crates reached (not this workspace's own), and, for each crate,
//! print its declared licence
//! and the licence files its published package carries (`LICENSE*`, `LICENCE*`, `COPYING*`,
//! `NOTICE*`, `UNLICENSE*`, `COPYRIGHT*` and the manifest's `license-file`). Many crates ship the
//! same text (the Apache-2.0 licence, mostly), so each distinct text is printed once with the
//! crates it covers. The output depends only on Cargo.lock and the packages' contents: no paths,
//! dates or machine names.
//!
//! Why not `cargo-about` or `cargo-deny`: either would have to be compiled on every fresh CI
//! machine (minutes on two cores) for what is a walk over `cargo metadata`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use super::{Error, Result, io_err, run};

/// File name of the notice inside the zip.
pub const NOTICE_FILE: &str = "THIRD-PARTY-LICENSES.txt";

/// One crate that ends up in the binary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Crate {
    pub name: String,
    pub version: String,
    /// SPDX expression from the manifest; `None` when the manifest declares none.
    pub license: Option<String>,
    pub repository: Option<String>,
    /// (file name, text) of each licence file in the package, sorted by name.
    pub files: Vec<(String, String)>,
}

fn is_licence_file(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "LICENSE",
        "LICENCE",
        "COPYING",
        "NOTICE",
        "UNLICENSE",
        "COPYRIGHT",
    ]
    .iter()
    .any(|p| upper.starts_with(p))
}

/// The third-party crates the provider's binary links for `target` (every platform's when
/// `None`), sorted by name and version.
pub fn crates(root: &Path, target: Option<&str>) -> Result<Vec<Crate>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(["metadata", "--format-version", "1", "--locked"]);
    if let Some(t) = target {
        cmd.args(["--filter-platform", t]);
    }
    let out = run(&mut cmd)?;
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| Error::Invalid(format!("cargo metadata printed invalid JSON: {e}")))?;
    let invalid = |what: &str| Error::Invalid(format!("cargo metadata has no {what}"));
    let ours: BTreeSet<&str> = meta["workspace_members"]
        .as_array()
        .ok_or_else(|| invalid("workspace_members"))?
        .iter()
        .filter_map(|id| id.as_str())
        .collect();
    let nodes: BTreeMap<&str, &serde_json::Value> = meta["resolve"]["nodes"]
        .as_array()
        .ok_or_else(|| invalid("resolve.nodes"))?
        .iter()
        .filter_map(|n| Some((n["id"].as_str()?, n)))
        .collect();
    let packages: BTreeMap<&str, &serde_json::Value> = meta["packages"]
        .as_array()
        .ok_or_else(|| invalid("packages"))?
        .iter()
        .filter_map(|p| Some((p["id"].as_str()?, p)))
        .collect();

    // The package that builds the shipped binary (named after it).
    let provider = ours
        .iter()
        .copied()
        .find(|id| packages.get(id).is_some_and(|p| p["name"] == super::BINARY))
        .ok_or_else(|| invalid(&format!("workspace package {}", super::BINARY)))?;

    // Everything reachable from it through normal (not dev, not build) dependencies.
    let mut seen = BTreeSet::new();
    let mut stack = vec![provider];
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        let deps = nodes.get(id).and_then(|n| n["deps"].as_array());
        for dep in deps.into_iter().flatten() {
            let normal = dep["dep_kinds"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k["kind"].is_null()));
            if let (true, Some(pkg)) = (normal, dep["pkg"].as_str()) {
                stack.push(pkg);
            }
        }
    }
    seen.retain(|id| !ours.contains(id));

    let mut out = Vec::new();
    for id in seen {
        let p = packages
            .get(id)
            .ok_or_else(|| invalid(&format!("package {id}")))?;
        let text = |k: &str| p[k].as_str().map(str::to_string);
        let manifest = text("manifest_path").ok_or_else(|| invalid("manifest_path"))?;
        let dir = Path::new(&manifest)
            .parent()
            .ok_or_else(|| invalid("package directory"))?;
        let mut names: BTreeSet<String> = std::fs::read_dir(dir)
            .map_err(io_err("list", dir))?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| is_licence_file(n))
            .collect();
        if let Some(f) = text("license_file") {
            names.insert(f);
        }
        let mut files = Vec::new();
        for name in names {
            let path = dir.join(&name);
            let bytes = std::fs::read(&path).map_err(io_err("read", &path))?;
            let body = String::from_utf8_lossy(&bytes).replace("\r\n", "\n");
            files.push((name, body.trim_end().to_string()));
        }
        out.push(Crate {
            name: text("name").ok_or_else(|| invalid("name"))?,
            version: text("version").ok_or_else(|| invalid("version"))?,
            license: text("license"),
            repository: text("repository"),
            files,
        });
    }
    out.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
    Ok(out)
}

/// Renders the notice: the list of crates, then each distinct licence text once.
pub fn render(product: &str, crates: &[Crate]) -> String {
    // Distinct texts, numbered in order of first use.
    let mut numbers: BTreeMap<&str, usize> = BTreeMap::new();
    let mut texts: Vec<(&str, Vec<String>)> = Vec::new();
    let mut refs: Vec<Vec<usize>> = Vec::new();
    for c in crates {
        let mut mine = Vec::new();
        for (file, body) in &c.files {
            let n = *numbers.entry(body.as_str()).or_insert_with(|| {
                texts.push((body.as_str(), Vec::new()));
                texts.len()
            });
            texts[n - 1]
                .1
                .push(format!("{} {} ({file})", c.name, c.version));
            mine.push(n);
        }
        mine.dedup();
        refs.push(mine);
    }

    let mut s = String::new();
    let title = format!("Third-party software in {product}");
    s += &format!("{title}\n{}\n\n", "=".repeat(title.len()));
    s += "This program is built from its own source (Mozilla Public License 2.0, see LICENSE)\n\
          and the Rust crates listed below, which are compiled into it; aws-lc-sys includes\n\
          AWS-LC's C code. Each crate is listed with the licence its manifest declares and the\n\
          numbers of the licence texts its published package carries; the texts follow, each\n\
          printed once with the crates that ship it. The Rust standard library is compiled in\n\
          too (MIT OR Apache-2.0; its notices are in the Rust toolchain's\n\
          share/doc/rust/COPYRIGHT-library.html).\n\n";
    s += &format!("Crates ({})\n-----------\n\n", crates.len());
    for (c, mine) in crates.iter().zip(&refs) {
        let license = c.license.as_deref().unwrap_or("no licence declared");
        let texts = if mine.is_empty() {
            "the package carries no licence file".to_string()
        } else {
            let n: Vec<String> = mine.iter().map(|n| format!("[{n}]")).collect();
            format!("texts {}", n.join(" "))
        };
        s += &format!("{} {}: {license}; {texts}", c.name, c.version);
        if let Some(r) = &c.repository {
            s += &format!("; {r}");
        }
        s += "\n";
    }
    s += "\nLicence texts\n-------------\n";
    for (i, (body, users)) in texts.iter().enumerate() {
        s += &format!("\n[{}] shipped by: {}\n\n{body}\n", i + 1, users.join(", "));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn krate(name: &str, license: Option<&str>, files: &[(&str, &str)]) -> Crate {
        Crate {
            name: name.into(),
            version: "1.0.0".into(),
            license: license.map(str::to_string),
            repository: None,
            files: files
                .iter()
                .map(|(n, t)| (n.to_string(), t.to_string()))
                .collect(),
        }
    }

    #[test]
    fn identical_texts_are_printed_once() {
        let apache = "Apache License\nVersion 2.0";
        let s = render(
            "p 1.0",
            &[
                krate(
                    "a",
                    Some("MIT OR Apache-2.0"),
                    &[("LICENSE-APACHE", apache), ("LICENSE-MIT", "MIT a")],
                ),
                krate("b", Some("Apache-2.0"), &[("LICENSE", apache)]),
                krate("c", None, &[]),
            ],
        );
        assert_eq!(s.matches("Apache License\nVersion 2.0").count(), 1, "{s}");
        assert!(
            s.contains("a 1.0.0: MIT OR Apache-2.0; texts [1] [2]\n"),
            "{s}"
        );
        assert!(s.contains("b 1.0.0: Apache-2.0; texts [1]\n"), "{s}");
        assert!(
            s.contains("c 1.0.0: no licence declared; the package carries no licence file\n"),
            "{s}"
        );
        assert!(
            s.contains("[1] shipped by: a 1.0.0 (LICENSE-APACHE), b 1.0.0 (LICENSE)\n"),
            "{s}"
        );
        assert!(
            s.contains("[2] shipped by: a 1.0.0 (LICENSE-MIT)\n\nMIT a\n"),
            "{s}"
        );
    }

    #[test]
    fn licence_file_names() {
        for yes in [
            "LICENSE",
            "LICENSE-MIT",
            "license.txt",
            "LICENCE",
            "COPYING",
            "NOTICE",
            "UNLICENSE",
            "COPYRIGHT",
        ] {
            assert!(is_licence_file(yes), "{yes}");
        }
        for no in ["README.md", "Cargo.toml", "src"] {
            assert!(!is_licence_file(no), "{no}");
        }
    }

    #[test]
    fn the_real_tree_has_our_runtime_crates_and_not_dev_or_build_ones() {
        let crates = crates(
            &super::super::repo_root(),
            Some(super::super::portable::RUST_TARGET),
        )
        .unwrap();
        let names: Vec<&str> = crates.iter().map(|c| c.name.as_str()).collect();
        for runtime in ["tokio", "rustls", "aws-lc-sys", "tonic", "serde_json"] {
            assert!(names.contains(&runtime), "{runtime} missing from {names:?}");
        }
        // proptest is a dev-dependency and protox a build-dependency: neither is in the binary.
        for not in ["proptest", "protox", "terraform-provider-alloy"] {
            assert!(!names.contains(&not), "{not} listed");
        }
        // Nor this workspace's own crates, nor what only the emulator and the developer tasks
        // use (an HTTP framework, JWT signing, zip and ELF handling).
        for not in [
            "terraform-plugin",
            "alloy-client",
            "alloy-emulator",
            "xtask",
            "secrets",
            "axum",
            "jsonwebtoken",
            "flate2",
            "object",
        ] {
            assert!(!names.contains(&not), "{not} listed");
        }
        let aws = crates.iter().find(|c| c.name == "aws-lc-sys").unwrap();
        assert!(!aws.files.is_empty(), "aws-lc-sys ships its LICENSE");
        let text = render("x", &crates);
        assert!(
            !text.contains("/registry/"),
            "no machine paths in the notice"
        );
    }
}
