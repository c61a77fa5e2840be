//! The secrets this process holds (API keys, user tokens), and their redaction.
//!
//! A leaf module that every layer may use and that uses nothing of ours: the provider registers
//! a key or token the moment it holds one, and the log layer scrubs every line it writes of all
//! registered strings. That is a second line of defence behind "never log secrets", not a
//! licence to.

#![cfg_attr(not(test), warn(unused_crate_dependencies))]

use std::borrow::Cow;
use std::sync::RwLock;

/// Replacement written in place of a registered secret.
pub const REDACTED: &str = "[REDACTED]";

/// Registered secrets shorter than this are ignored: redacting short strings
/// would mangle ordinary words and ids while protecting nothing real.
pub const MIN_SECRET_LEN: usize = 8;

/// Longest first, so a secret that contains another is replaced as a whole.
static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Adds `secret` to the process-wide set of strings that are replaced by
/// `[REDACTED]` in every log line. Strings shorter than [`MIN_SECRET_LEN`]
/// characters are ignored. Registering the same string twice is harmless.
pub fn register(secret: &str) {
    if secret.chars().count() < MIN_SECRET_LEN {
        return;
    }
    // Lines are JSON, so a secret containing quotes, backslashes or control
    // characters appears there in escaped form; register that form too.
    let mut forms = vec![secret.to_owned()];
    let escaped = json_escape_inner(secret);
    if escaped != secret {
        forms.push(escaped);
    }
    let mut set = SECRETS
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for form in forms {
        if !set.contains(&form) {
            set.push(form);
        }
    }
    set.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// Returns `text` with every registered secret replaced by `[REDACTED]`.
/// Borrowed when nothing matched, which is the common case.
pub fn redact(text: &str) -> Cow<'_, str> {
    let set = SECRETS
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut out = Cow::Borrowed(text);
    for secret in set.iter() {
        if out.contains(secret.as_str()) {
            out = Cow::Owned(out.replace(secret.as_str(), REDACTED));
        }
    }
    out
}

/// The body of a JSON string literal for `s`, without the surrounding quotes.
fn json_escape_inner(s: &str) -> String {
    let quoted = serde_json::Value::String(s.to_owned()).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_strings_are_replaced_longest_first() {
        register("tok_0123456789abcdef");
        register("tok_0123456789abcdef_and_more");
        register("tiny"); // below the minimum: ignored
        register("with\"quote-and\\slash");
        assert_eq!(
            redact("a tok_0123456789abcdef_and_more b tok_0123456789abcdef c tiny"),
            format!("a {REDACTED} b {REDACTED} c tiny")
        );
        // The JSON-escaped form is registered too, since log lines are JSON.
        assert_eq!(
            redact(r#"{"k":"with\"quote-and\\slash"}"#),
            format!(r#"{{"k":"{REDACTED}"}}"#)
        );
        assert!(matches!(
            redact("nothing here"),
            Cow::Borrowed("nothing here")
        ));
    }
}
