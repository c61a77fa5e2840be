//! The artefact leak audit shared by the end-to-end and acceptance tests: everything Terraform
//! wrote or printed in a workspace, searched for secrets (API keys, the tokens the emulator
//! issued, or values a test saw handed over).
//!
//! A failure names the artefact and the kind of secret, never the secret itself.

use std::path::Path;
use std::sync::OnceLock;

use alloy_emulator::testing::IssuedToken;

use super::{DEV_KEY, PROD_KEY, Run, Workspace};

/// A value that must appear nowhere, with what to call it in a failure.
pub struct Secret {
    name: String,
    value: String,
}

impl Secret {
    pub fn new(name: &str, value: &str) -> Secret {
        Secret {
            name: name.to_string(),
            value: value.to_string(),
        }
    }
}

/// Both API keys the workspaces carry.
pub fn api_keys() -> Vec<Secret> {
    vec![
        Secret::new("the development key", DEV_KEY),
        Secret::new("the production key", PROD_KEY),
    ]
}

/// Every token in `tokens`, and its payload and signature on their own (either would leak it).
pub fn issued(tokens: &[IssuedToken]) -> Vec<Secret> {
    let mut out = Vec::new();
    for t in tokens {
        out.push(Secret::new("an issued token", &t.token));
        let mut parts = t.token.split('.').skip(1);
        if let (Some(payload), Some(signature)) = (parts.next(), parts.next()) {
            out.push(Secret::new("an issued token's payload", payload));
            out.push(Secret::new("an issued token's signature", signature));
        }
    }
    out
}

/// What Terraform wrote or printed, each piece named for a failure message.
#[derive(Default)]
pub struct Artefacts {
    items: Vec<(String, Vec<u8>)>,
}

impl Artefacts {
    /// What `runs` printed (stdout and stderr), each named `what`.
    pub fn printed<'a>(what: &str, runs: impl IntoIterator<Item = &'a Run>) -> Artefacts {
        let mut a = Artefacts::default();
        a.add_printed(what, runs);
        a
    }

    /// Every file under the workspace except those whose name starts with one of `except`
    /// (files a test wrote secrets into on purpose); each saved plan (`*.tfplan`) also inflated
    /// entry by entry and shown with `terraform show -json`; and what `runs` printed.
    pub fn of(ws: &Workspace, runs: &[Run], except: &[&str]) -> Artefacts {
        let mut a = Artefacts::default();
        let mut paths = Vec::new();
        files(ws.path(), &mut paths);
        paths.sort();
        for p in paths {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if except.iter().any(|e| name.starts_with(e)) {
                continue;
            }
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let what = p
                .strip_prefix(ws.path())
                .unwrap_or(&p)
                .display()
                .to_string();
            if name.ends_with(".tfplan") {
                let entries = unzip(&bytes);
                assert!(
                    entries.iter().any(|(n, _)| n == "tfplan"),
                    "{what} is a real plan file"
                );
                for (entry, data) in entries {
                    a.items.push((format!("{what}:{entry}"), data));
                }
                let shown = ws
                    .tf(&["show", "-json", what.as_str()])
                    .expect_ok("terraform show -json of a saved plan");
                a.add_printed(&format!("show -json {what}"), [&shown]);
            }
            a.items.push((what, bytes));
        }
        a.add_printed("terraform's output", runs);
        a
    }

    fn add_printed<'a>(&mut self, what: &str, runs: impl IntoIterator<Item = &'a Run>) {
        for r in runs {
            self.items.push((what.to_string(), r.all().into_bytes()));
        }
    }

    /// The artefact named `what`, as text (panics when there is none).
    pub fn text(&self, what: &str) -> String {
        let (_, data) = self
            .items
            .iter()
            .find(|(w, _)| w == what)
            .unwrap_or_else(|| panic!("no artefact named {what}"));
        String::from_utf8_lossy(data).into_owned()
    }

    pub fn names(&self) -> Vec<&str> {
        self.items.iter().map(|(w, _)| w.as_str()).collect()
    }

    /// Panics if any of `secrets` occurs in any artefact.
    pub fn assert_free_of(&self, secrets: &[Secret]) {
        for (what, data) in &self.items {
            for s in secrets {
                assert!(!contains(data, &s.value), "{} was found in {what}", s.name);
            }
        }
    }

    /// Panics if any artefact holds something shaped like a JWT (`eyJ...`.`eyJ...`.signature):
    /// for an API whose tokens the test cannot list.
    pub fn assert_no_jwt(&self) {
        static JWT: OnceLock<regex::Regex> = OnceLock::new();
        let jwt = JWT.get_or_init(|| {
            regex::Regex::new(r"eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{8,}")
                .expect("JWT pattern")
        });
        for (what, data) in &self.items {
            assert!(
                !jwt.is_match(&String::from_utf8_lossy(data)),
                "a JWT-shaped value is in {what}"
            );
        }
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
}

/// Every file under `dir`, recursively.
fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// The entries of a zip archive (a saved plan), inflated: stored or deflated entries, sizes
/// from the central directory, as Go's `archive/zip` writes them. Panics on anything else.
fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    use std::io::Read as _;
    let le16 = |o: usize| usize::from(u16::from_le_bytes([bytes[o], bytes[o + 1]]));
    let le32 = |o: usize| {
        u32::from_le_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize
    };
    let end = (0..bytes.len().saturating_sub(21))
        .rev()
        .find(|&o| bytes[o..o + 4] == *b"PK\x05\x06")
        .expect("a zip archive");
    let mut at = le32(end + 16);
    (0..le16(end + 10))
        .map(|_| {
            assert_eq!(&bytes[at..at + 4], b"PK\x01\x02", "central directory entry");
            let (method, size, local) = (le16(at + 10), le32(at + 20), le32(at + 42));
            let name_len = le16(at + 28);
            let name = String::from_utf8_lossy(&bytes[at + 46..at + 46 + name_len]).into_owned();
            at += 46 + name_len + le16(at + 30) + le16(at + 32);
            let start = local + 30 + le16(local + 26) + le16(local + 28);
            let raw = &bytes[start..start + size];
            let data = match method {
                0 => raw.to_vec(),
                8 => {
                    let mut v = Vec::new();
                    flate2::read::DeflateDecoder::new(raw)
                        .read_to_end(&mut v)
                        .expect("inflate");
                    v
                }
                m => panic!("{name}: zip method {m}"),
            };
            (name, data)
        })
        .collect()
}
