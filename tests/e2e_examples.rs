//! The examples are documentation users copy: each must validate, and the resource example and
//! its import commands must really work against the emulator.

mod common;

use std::path::{Path, PathBuf};

use common::{Admin, Development, Emulator, SOURCE, Workspace};

fn example_dirs(root: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    let mut has_tf = false;
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            example_dirs(&p, out);
        } else if p.extension().is_some_and(|x| x == "tf") {
            has_tf = true;
        }
    }
    if has_tf {
        out.push(root.to_path_buf());
    }
}

/// Copies an example into a workspace as it is: every example must be self-contained, with its
/// own `required_providers`, so that a reader can copy it into an empty directory and run it.
fn load(ws: &Workspace, dir: &Path) {
    let mut has_required = false;
    for e in std::fs::read_dir(dir).expect("example dir").flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "tf" || x == "sh") {
            let text = std::fs::read_to_string(&p).expect("read example");
            has_required |= text.contains("required_providers") && text.contains(SOURCE);
            ws.write(p.file_name().and_then(|n| n.to_str()).expect("name"), &text);
        }
    }
    assert!(
        has_required,
        "{} has no `required_providers` block with source {SOURCE:?}",
        dir.display()
    );
}

#[test]
fn every_example_validates() {
    let emu = Emulator::start();
    let mut dirs = Vec::new();
    example_dirs(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"),
        &mut dirs,
    );
    assert!(dirs.len() >= 3, "examples not found: {dirs:?}");
    for dir in dirs {
        let ws = Workspace::new(&emu);
        load(&ws, &dir);
        ws.tf(&["validate"])
            .expect_ok(&format!("terraform validate of {}", dir.display()));
    }
}

/// The data-source and ephemeral-resource examples run as written against an empty
/// environment: each creates the user it reads, applies, and destroys what it created.
#[test]
fn every_data_source_and_ephemeral_example_applies_on_an_empty_environment() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut dirs = Vec::new();
    example_dirs(&root.join("data-sources"), &mut dirs);
    example_dirs(&root.join("ephemeral-resources"), &mut dirs);
    dirs.sort();
    assert!(dirs.len() >= 6, "examples not found: {dirs:?}");
    for dir in dirs {
        let emu = Emulator::start();
        let ws = Workspace::new(&emu);
        load(&ws, &dir);
        ws.tf(&["apply", "-auto-approve", "-input=false"])
            .expect_ok(&format!("terraform apply of {}", dir.display()));
        ws.tf(&["destroy", "-auto-approve", "-input=false"])
            .expect_ok(&format!("terraform destroy of {}", dir.display()));
        assert!(
            emu.users(Development).is_empty(),
            "{}: destroy leaves nothing behind",
            dir.display()
        );
    }
}

#[test]
fn the_user_example_applies_and_its_import_commands_work() {
    let emu = Emulator::start();
    let ws = Workspace::new(&emu);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/resources/alloy_user");
    load(&ws, &dir);
    ws.apply();
    assert_eq!(emu.users(Development).len(), 3);
    let id = ws.resource("alloy_user.acme")["id"]
        .as_str()
        .expect("id")
        .to_string();

    let script = std::fs::read_to_string(dir.join("import.sh")).expect("import.sh");
    let commands: Vec<&str> = script
        .lines()
        .filter(|l| l.starts_with("terraform import "))
        .collect();
    assert_eq!(
        commands.len(),
        2,
        "import.sh shows import by id and by username"
    );
    for line in commands {
        ws.tf(&["state", "rm", "alloy_user.acme"])
            .expect_ok("state rm");
        let mut words: Vec<String> = line
            .split_whitespace()
            .skip(1)
            .map(str::to_string)
            .collect();
        // The example id is a placeholder; the username is real.
        if let Some(last) = words.last_mut()
            && last.len() == 24
            && last.bytes().all(|b| b.is_ascii_hexdigit())
        {
            *last = id.clone();
        }
        let args: Vec<&str> = words.iter().map(String::as_str).collect();
        ws.tf(&args).expect_ok(line);
        assert_eq!(ws.resource("alloy_user.acme")["id"], id.as_str(), "{line}");
        assert!(ws.plan_is_empty(), "plan after `{line}`");
    }
    ws.destroy();
    assert!(emu.users(Development).is_empty());
}
