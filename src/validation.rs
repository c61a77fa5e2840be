//! Checks of configuration values that several kinds share, run at validate time (and again by
//! a read, should Terraform skip validation). Each names the attribute and says how to fix it.
//!
//! - Usernames, and values that may be one: Alloy's `GET /users/{x}` takes a `userId` or a
//!   username in the same place, so an id (`alloy_user`'s data source `id`, every `user_id`) is
//!   checked by the username rules too ([`check_username`]).
//! - Workflow ids ([`check_workflow_id`], non-empty; [`check_object_id`], Alloy's 24 hexadecimal
//!   characters) and user references that must not hold a `/` ([`check_user`]).
//! - Regular expressions: every filter pattern is compiled by [`regex`], the one place patterns
//!   are compiled, with the syntax [`REGEX_SYNTAX`] describes to users: the Rust `regex` crate's,
//!   which is close to RE2 (Terraform's `regex` function), not Go's `regexp` nor PCRE.

use regex::Regex;
use terraform_plugin::framework::{AttrPath, Diagnostics};

/// Longest username we accept, in characters.
const MAX_USERNAME_CHARS: usize = 255;

/// Checks a username (or a value that may be one: a `userId` or username) the way Alloy needs
/// it. `attr` names the attribute, at the top level of the schema.
pub(crate) fn check_username(attr: &str, value: &str, diags: &mut Diagnostics) {
    let problem = if value.is_empty() {
        Some("must not be empty".to_string())
    } else if value.trim() != value {
        Some("must not start or end with whitespace".to_string())
    } else if let Some(c) = value.chars().find(|c| c.is_control()) {
        Some(format!(
            "must not contain control characters (found U+{:04X})",
            c as u32
        ))
    } else if value.chars().count() > MAX_USERNAME_CHARS {
        Some(format!(
            "must be at most {MAX_USERNAME_CHARS} characters (it has {})",
            value.chars().count()
        ))
    } else {
        None
    };
    if let Some(p) = problem {
        diags.attr_error(
            AttrPath::attr(attr),
            format!("Invalid {attr}"),
            format!("The {attr} {p}. Alloy usernames are typically an email address or your own customer id."),
        );
    }
}

/// Checks a workflow id: Alloy's `workflowId`, which must not be empty. `otherwise` ends the
/// advice with the way out of the attribute's own kind ("remove the attribute to list every
/// user"). True when the value passes.
pub(crate) fn check_workflow_id(
    attr: &str,
    value: &str,
    otherwise: &str,
    diags: &mut Diagnostics,
) -> bool {
    if !value.is_empty() {
        return true;
    }
    diags.attr_error(
        AttrPath::attr(attr),
        format!("Invalid {attr}"),
        format!(
            "`{attr}` is an empty string. Set it to the `workflowId` of an Alloy workflow (for example \
             from the `alloy_integrations` data source), or {otherwise}."
        ),
    );
    false
}

/// Checks an Alloy object id (a workflow's): 24 hexadecimal characters.
pub(crate) fn check_object_id(value: &str, path: AttrPath, what: &str, diags: &mut Diagnostics) {
    let ok = value.len() == 24 && value.bytes().all(|b| b.is_ascii_hexdigit());
    if !ok {
        let found = if value.is_empty() {
            "an empty string".to_owned()
        } else {
            format!("{value:?}")
        };
        diags.attr_error(
            path,
            format!("Invalid {what}"),
            format!(
                "`{what}` must be an Alloy id of 24 hexadecimal characters (the parent workflow's \
                 `workflowId`, as `alloy_integrations` lists it), but it is {found}."
            ),
        );
    }
}

/// Checks a user reference: Alloy's `userId` or the user's username (shared with
/// `alloy_credential`).
pub(crate) fn check_user(value: &str, diags: &mut Diagnostics) {
    check_username("user_id", value, diags);
    if value.contains('/') {
        diags.attr_error(
            AttrPath::attr("user_id"),
            "Invalid user_id",
            "`user_id` must not contain \"/\": use the user's `userId` (for example `alloy_user.example.id`).",
        );
    }
}

/// Compiled regexes are bounded so a pathological pattern fails validation instead of eating
/// the provider's memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// How every regular-expression filter of this provider reads its pattern, in one sentence that
/// `alloy_integrations.name_regex` and `alloy_users.username_regex` both use, so the two can
/// never describe the syntax differently. [`regex`] is the one place patterns are compiled.
pub(crate) const REGEX_SYNTAX: &str = "The pattern uses the syntax of the Rust `regex` crate, which is \
     close to RE2 (the syntax of Terraform's `regex` function) and, like it, has no look-around and \
     no backreferences; it matches anywhere in the value unless anchored with `^` and `$`, and a \
     leading `(?i)` makes it ignore case.";

fn compile(pattern: &str) -> Result<Regex, regex::Error> {
    regex::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
}

/// Compiles the pattern of the regular-expression filter `attr`, or reports why it is not one.
/// `advice`, when given, is a last paragraph saying what to do ("Fix the pattern, or …").
pub(crate) fn regex(
    attr: &str,
    pattern: &str,
    advice: Option<&str>,
    diags: &mut Diagnostics,
) -> Option<Regex> {
    match compile(pattern) {
        Ok(re) => Some(re),
        Err(e) => {
            let mut detail = format!("`{attr}` is not a valid regular expression:\n\n{e}");
            if let Some(advice) = advice {
                detail.push_str("\n\n");
                detail.push_str(advice);
            }
            diags.attr_error(AttrPath::attr(attr), format!("Invalid {attr}"), detail);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(u: &str) -> Vec<String> {
        let mut d = Diagnostics::new();
        check_username("username", u, &mut d);
        d.iter().map(|x| x.detail.clone()).collect()
    }

    #[test]
    fn usernames_are_checked() {
        assert!(problems("jane@example.com").is_empty());
        assert!(problems("Zoë Ünïcode").is_empty());
        assert!(problems("")[0].contains("must not be empty"));
        assert!(problems(" jane")[0].contains("whitespace"));
        assert!(problems("jane\n")[0].contains("whitespace"));
        assert!(problems("ja\u{7}ne")[0].contains("U+0007"));
        assert!(problems(&"é".repeat(255)).is_empty());
        assert!(problems(&"é".repeat(256))[0].contains("at most 255"));
    }

    #[test]
    fn a_bad_pattern_names_the_attribute_and_a_huge_one_is_refused() {
        let mut d = Diagnostics::new();
        assert!(regex("name_regex", "^ok$", None, &mut d).is_some());
        assert!(regex("name_regex", "(unclosed", Some("Fix it."), &mut d).is_none());
        assert_eq!(d.0[0].attribute, Some(AttrPath::attr("name_regex")));
        assert_eq!(d.0[0].summary, "Invalid name_regex");
        assert!(d.0[0].detail.contains("unclosed"), "{}", d.0[0].detail);
        assert!(d.0[0].detail.ends_with("\n\nFix it."), "{}", d.0[0].detail);
        assert!(regex("name_regex", "\\w{1000}{1000}", None, &mut d).is_none());
    }
}
