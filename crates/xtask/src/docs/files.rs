//! Comparing the generated pages with `docs/` and bringing it up to date (`xtask docs`).

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Change, ChangeKind, GENERATED_DIRS, Generated, generate, read_optional};
use crate::{Result, io_err};

/// The `.md` files currently in the generated part of `docs_dir`, relative to it.
fn existing(docs_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if docs_dir.join("index.md").is_file() {
        out.push(PathBuf::from("index.md"));
    }
    for dir in GENERATED_DIRS {
        let d = docs_dir.join(dir);
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err("list", &d)(e)),
        };
        for e in entries {
            let e = e.map_err(io_err("list", &d))?;
            let p = e.path();
            if p.is_file() && p.extension().is_some_and(|x| x == "md") {
                out.push(Path::new(dir).join(e.file_name()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// What differs between `docs_dir` and the generated pages (empty when current).
pub fn check(generated: &Generated, docs_dir: &Path) -> Result<Vec<Change>> {
    let mut changes = Vec::new();
    for (rel, content) in &generated.files {
        let path = docs_dir.join(rel);
        match read_optional(&path)? {
            None => changes.push(Change {
                path: rel.clone(),
                kind: ChangeKind::Missing,
            }),
            Some(on_disk) if on_disk != *content => changes.push(Change {
                path: rel.clone(),
                kind: ChangeKind::Differs,
            }),
            Some(_) => {}
        }
    }
    for rel in existing(docs_dir)? {
        if !generated.files.contains_key(&rel) {
            changes.push(Change {
                path: rel,
                kind: ChangeKind::Stale,
            });
        }
    }
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(changes)
}

/// Brings `docs_dir` up to date: writes changed pages, removes stale ones, leaves everything
/// else (guides) alone. Returns what it changed.
pub fn write(generated: &Generated, docs_dir: &Path) -> Result<Vec<Change>> {
    let changes = check(generated, docs_dir)?;
    for c in &changes {
        let path = docs_dir.join(&c.path);
        match c.kind {
            ChangeKind::Stale => std::fs::remove_file(&path).map_err(io_err("remove", &path))?,
            ChangeKind::Missing | ChangeKind::Differs => {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(io_err("create", parent))?;
                }
                std::fs::write(&path, &generated.files[&c.path]).map_err(io_err("write", &path))?;
            }
        }
    }
    Ok(changes)
}

/// Options of `xtask docs`.
#[derive(Clone, Debug)]
pub struct DocsOptions {
    /// Where `examples/` lives (the checkout).
    pub root: PathBuf,
    /// The docs directory; `root/docs` by default.
    pub out: PathBuf,
    /// Only report what is out of date.
    pub check: bool,
}

/// `xtask docs [--check]`. Returns false when `--check` found out-of-date files.
pub fn docs_command(opts: &DocsOptions, out: &mut dyn Write) -> Result<bool> {
    let generated = generate(&opts.root.join("examples"))?;
    for w in &generated.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    if opts.check {
        let changes = check(&generated, &opts.out)?;
        if changes.is_empty() {
            let _ = writeln!(
                out,
                "{} is up to date ({} pages)",
                opts.out.display(),
                generated.files.len()
            );
            return Ok(true);
        }
        let _ = writeln!(out, "{} is out of date:", opts.out.display());
        for c in &changes {
            let _ = writeln!(out, "  {c}");
        }
        let _ = writeln!(
            out,
            "Run `cargo run --bin xtask -- docs` and commit the result."
        );
        return Ok(false);
    }
    let changes = write(&generated, &opts.out)?;
    for c in &changes {
        let verb = if c.kind == ChangeKind::Stale {
            "removed"
        } else {
            "wrote"
        };
        let _ = writeln!(out, "{verb} {}", opts.out.join(&c.path).display());
    }
    let _ = writeln!(
        out,
        "{} pages, {} changed",
        generated.files.len(),
        changes.len()
    );
    Ok(true)
}
