//! The tokens the emulator issued, and checks that none of them leaked anywhere Terraform wrote.

use std::path::Path;

use super::Emulator;

/// An issued token and its `exp` claim as the emulator recorded them.
pub struct Issued {
    pub user_id: String,
    pub token: String,
    pub exp: i64,
}

pub fn issued(emu: &Emulator) -> Vec<Issued> {
    emu.admin_get("tokens")["tokens"]
        .as_array()
        .expect("tokens array")
        .iter()
        .map(|t| Issued {
            user_id: t["userId"].as_str().expect("userId").to_string(),
            token: t["token"].as_str().expect("token").to_string(),
            exp: t["exp"].as_i64().expect("exp"),
        })
        .collect()
}

pub fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .expect("timestamp")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format")
}

pub fn contains(haystack: &[u8], needle: &str) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
}

/// Panics if any token, or its signature on its own, occurs in `haystack`.
pub fn assert_no_token(haystack: &[u8], tokens: &[Issued], what: &str) {
    for t in tokens {
        let signature = t.token.rsplit('.').next().unwrap_or_default();
        assert!(
            !contains(haystack, &t.token) && !contains(haystack, signature),
            "a user token was found in {what}"
        );
    }
}

/// Every file under `dir`, recursively.
pub fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}
