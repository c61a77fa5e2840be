//! `docs/` must match what the generator makes from the provider's schema and `examples/`, and
//! the hand-written guides must stay true to the code they describe.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use terraform_provider_alloy::Environment;
use xtask::docs::{self, ChangeKind};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn xtask(args: &[&str]) -> (bool, String) {
    let out = Command::new(common::workspace_bin("xtask"))
        .args(args)
        .output()
        .expect("run xtask");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Every file below `dir`, relative to it, sorted.
fn tree(dir: &Path) -> Vec<PathBuf> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).expect("read dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).expect("under base").to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn committed_docs_match_a_fresh_generation() {
    let generated = docs::generate(&root().join("examples")).expect("generate");
    let tmp = tempfile::tempdir().expect("tempdir");
    docs::write(&generated, tmp.path()).expect("write into a temp dir");

    let committed = root().join("docs");
    let mut stale = Vec::new();
    for rel in tree(tmp.path()) {
        let fresh = std::fs::read_to_string(tmp.path().join(&rel)).expect("fresh page");
        match std::fs::read_to_string(committed.join(&rel)) {
            Ok(old) if old == fresh => {}
            Ok(_) => stale.push(format!("{} differs", rel.display())),
            Err(_) => stale.push(format!("{} is missing", rel.display())),
        }
    }
    for rel in tree(&committed) {
        let generated_dir =
            rel == Path::new("index.md") || docs::GENERATED_DIRS.iter().any(|d| rel.starts_with(d));
        if generated_dir && !tmp.path().join(&rel).exists() {
            stale.push(format!("{} is no longer generated", rel.display()));
        }
    }
    assert!(
        stale.is_empty(),
        "docs/ is out of date with the schema or examples/:\n  {}\nRun `cargo run --bin xtask -- docs` and commit the result.",
        stale.join("\n  ")
    );
}

#[test]
fn every_type_has_an_example() {
    let generated = docs::generate(&root().join("examples")).expect("generate");
    assert!(generated.warnings.is_empty(), "{:?}", generated.warnings);
}

#[test]
fn check_flag_fails_on_edited_or_stale_pages_and_regeneration_fixes_them() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("docs");
    let dir_s = dir.to_str().expect("utf-8 temp path");

    let (ok, out) = xtask(&["docs", "--check", "--out", dir_s]);
    assert!(!ok, "an empty docs dir is out of date:\n{out}");
    assert!(out.contains("index.md: missing"), "{out}");

    let (ok, out) = xtask(&["docs", "--out", dir_s]);
    assert!(ok, "{out}");
    std::fs::create_dir_all(dir.join("guides")).expect("guides");
    std::fs::write(dir.join("guides/mine.md"), "# Mine\n").expect("guide");
    let (ok, out) = xtask(&["docs", "--check", "--out", dir_s]);
    assert!(ok, "freshly generated docs are current:\n{out}");
    assert!(out.contains("up to date"), "{out}");

    let user = dir.join("resources/user.md");
    let edited = std::fs::read_to_string(&user)
        .expect("user page")
        .replace("(String)", "(Text)");
    std::fs::write(&user, edited).expect("edit");
    std::fs::create_dir_all(dir.join("data-sources")).expect("mkdir");
    std::fs::write(dir.join("data-sources/retired.md"), "old page\n").expect("stale");
    let (ok, out) = xtask(&["docs", "--check", "--out", dir_s]);
    assert!(!ok, "{out}");
    assert!(out.contains("resources/user.md: out of date"), "{out}");
    assert!(out.contains("data-sources/retired.md: stale"), "{out}");

    let (ok, out) = xtask(&["docs", "--out", dir_s]);
    assert!(ok, "{out}");
    assert!(out.contains("removed"), "{out}");
    let generated = docs::generate(&root().join("examples")).expect("generate");
    assert!(docs::check(&generated, &dir).expect("check").is_empty());
    assert_eq!(
        std::fs::read_to_string(dir.join("guides/mine.md")).expect("guide kept"),
        "# Mine\n"
    );
}

#[test]
fn the_check_reports_a_changed_example() {
    // The docs follow the examples: an edited example makes the committed page stale.
    let tmp = tempfile::tempdir().expect("tempdir");
    let examples = tmp.path().join("examples");
    for rel in tree(&root().join("examples")) {
        let to = examples.join(&rel);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::copy(root().join("examples").join(&rel), &to).expect("copy");
    }
    let import = examples.join("resources/alloy_user/import.sh");
    let mut text = std::fs::read_to_string(&import).expect("import.sh");
    text.push_str("# one more line\n");
    std::fs::write(&import, text).expect("edit");
    let generated = docs::generate(&examples).expect("generate");
    let changes = docs::check(&generated, &root().join("docs")).expect("check");
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].path, Path::new("resources/user.md"));
    assert_eq!(changes[0].kind, ChangeKind::Differs);
}

fn guide(name: &str) -> String {
    std::fs::read_to_string(root().join("docs/guides").join(name))
        .unwrap_or_else(|e| panic!("docs/guides/{name}: {e}"))
}

#[test]
fn guides_have_front_matter() {
    for name in ["environments.md", "local-emulator.md"] {
        let text = guide(name);
        assert!(text.starts_with("---\npage_title: \""), "{name}");
        assert!(text.contains("\nsubcategory: \"\"\n"), "{name}");
        assert!(text.contains("\ndescription: |-\n"), "{name}");
    }
}

#[test]
fn the_environments_guide_names_the_real_variables() {
    let text = guide("environments.md");
    for env in [Environment::Development, Environment::Production] {
        assert!(text.contains(env.key_var()), "{}", env.key_var());
        assert!(text.contains(env.as_str()));
    }
    for word in [
        "ALLOY_ENVIRONMENT",
        "ALLOY_API_KEY",
        "Alloy environment mismatch",
        "terraform state rm",
        "terraform import",
    ] {
        assert!(text.contains(word), "{word}");
    }
}

#[test]
fn the_emulator_guide_covers_every_flag_and_admin_route() {
    let text = guide("local-emulator.md");
    let help = Command::new(common::workspace_bin("alloy-emulator"))
        .arg("--help")
        .output()
        .expect("alloy-emulator --help");
    let help = String::from_utf8_lossy(&help.stdout);
    let flags: Vec<&str> = help
        .split_whitespace()
        .filter(|w| w.starts_with("--"))
        .map(|w| w.trim_end_matches([',', '=', ')', '.']))
        .filter(|w| !matches!(*w, "--help" | "--version"))
        .collect();
    assert!(flags.len() >= 10, "flags from --help: {flags:?}");
    for flag in flags {
        assert!(
            text.contains(&format!("`{flag}")),
            "{flag} is not documented"
        );
    }
    for route in [
        "/_emulator/health",
        "/_emulator/reset",
        "/_emulator/faults",
        "/_emulator/users",
        "/_emulator/seed",
        "/_emulator/requests",
        "/_emulator/tokens",
        "/_emulator/installs",
    ] {
        assert!(text.contains(route), "{route}");
    }
    for value in [
        alloy_emulator::DEFAULT_DEVELOPMENT_KEY,
        alloy_emulator::DEFAULT_PRODUCTION_KEY,
        alloy_emulator::DEFAULT_LISTEN,
    ] {
        assert!(text.contains(value), "{value}");
    }
}

#[test]
fn relative_links_in_docs_resolve() {
    let docs = root().join("docs");
    for rel in tree(&docs) {
        let text = std::fs::read_to_string(docs.join(&rel)).expect("page");
        for part in text.split("](").skip(1) {
            let target = &part[..part.find(')').unwrap_or(part.len())];
            if target.starts_with('#') || target.contains("://") {
                continue;
            }
            let target = target.split('#').next().unwrap_or(target);
            let base = docs.join(&rel);
            let resolved = base.parent().expect("parent").join(target);
            assert!(resolved.exists(), "{}: broken link {target}", rel.display());
        }
    }
}

/// `alloy_users.username_regex` and `alloy_integrations.name_regex` use the same regex engine
/// and say so in the same words.
#[test]
fn both_regex_filters_describe_the_same_syntax() {
    let sentence = |page: &str| {
        let text =
            std::fs::read_to_string(root().join("docs/data-sources").join(page)).expect("page");
        let from = text.find("The pattern uses").expect("the syntax sentence");
        let len = text[from..].find("ignore case.").expect("its end") + "ignore case.".len();
        text[from..from + len].to_string()
    };
    let users = sentence("users.md");
    assert_eq!(users, sentence("integrations.md"));
    assert!(users.contains("Rust `regex` crate"), "{users}");
    assert!(
        users.contains("no look-around and no backreferences"),
        "{users}"
    );
}

/// Every `.md` file under `docs/` plus the README and the CHANGELOG, and every `.tf` file under
/// `examples/`, as (path relative to the checkout, text).
fn user_facing_texts() -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    for rel in ["README.md", "CHANGELOG.md"] {
        let text = std::fs::read_to_string(root().join(rel)).expect(rel);
        out.push((PathBuf::from(rel), text));
    }
    for (dir, ext) in [("docs", "md"), ("examples", "tf"), ("scripts", "sh")] {
        for rel in tree(&root().join(dir)) {
            if rel.extension().is_some_and(|x| x == ext) {
                let path = Path::new(dir).join(&rel);
                let text = std::fs::read_to_string(root().join(&path)).expect("read");
                out.push((path, text));
            }
        }
    }
    out
}

#[test]
fn one_minimum_terraform_version_everywhere() {
    use terraform_plugin::plugin::handshake::{
        FEATURE_TERRAFORM_VERSIONS, MINIMUM_OPENTOFU_VERSION, MINIMUM_TERRAFORM_VERSION,
        VersionMismatch,
    };
    // What an old client is told when it starts the provider.
    let message = VersionMismatch {
        offered: "5".into(),
    }
    .to_string();
    assert!(
        message.contains(&format!("Terraform {MINIMUM_TERRAFORM_VERSION} or later")),
        "{message}"
    );
    // Any statement of a minimum Terraform (or OpenTofu) version must name the same one.
    let stated = regex::Regex::new(
        r#"(?i)(terraform|opentofu)\)?\s*\(?(?:≥|>=)\s*([0-9]+\.[0-9]+)|(terraform|opentofu)\s+([0-9]+\.[0-9]+)(?:\+|\s+or\s+(?:later|newer))|required_version\s*=\s*">=\s*([0-9]+\.[0-9]+)"#,
    )
    .expect("regex");
    let mut found = 0;
    let mut wrong = Vec::new();
    for (path, text) in user_facing_texts() {
        for c in stated.captures_iter(&text) {
            found += 1;
            let tool = c.get(1).or(c.get(3)).map_or("terraform", |m| m.as_str());
            let version = c
                .get(2)
                .or(c.get(4))
                .or(c.get(5))
                .expect("a version")
                .as_str();
            let want = if tool.eq_ignore_ascii_case("opentofu") {
                MINIMUM_OPENTOFU_VERSION
            } else {
                MINIMUM_TERRAFORM_VERSION
            };
            // A feature newer than the minimum may state its own version (one per feature).
            let feature = FEATURE_TERRAFORM_VERSIONS
                .iter()
                .any(|(_, v)| *v == version);
            if version != want && !feature {
                wrong.push(format!("{}: {:?}", path.display(), &c[0]));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "other minimum versions stated:\n  {}",
        wrong.join("\n  ")
    );
    assert!(
        found >= 5,
        "the minimum version is stated in only {found} places"
    );
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README");
    let index = std::fs::read_to_string(root().join("docs/index.md")).expect("index");
    for (name, text) in [("README.md", readme), ("docs/index.md", index)] {
        assert!(
            text.contains(&format!("Terraform {MINIMUM_TERRAFORM_VERSION} or later")),
            "{name} states the minimum"
        );
    }
}
