//! `alloy_user.deletion_protection`: a guard against deleting a user by accident.
//!
//! Deleting an Alloy user is irreversible (its stored credentials and workflows go with it), and
//! Terraform's `prevent_destroy` can neither come from a variable nor outlive the block it is in.
//! So the guard is an attribute of the user, recorded in state, and enforced by the provider:
//!
//! - the framework asks [`Resource::check_delete`](terraform_plugin::framework::Resource::check_delete) on
//!   every path that deletes — a planned destroy (the server advertises `plan_destroy`), a planned
//!   replacement (a `username` change) and, as a backstop, the delete call itself;
//! - [`check`] refuses when the **prior** state has protection on. Terraform plans against the
//!   prior state, so turning protection off and deleting in the same plan is refused too: the
//!   `false` has to be applied first;
//! - changing the attribute itself is a change of state only: no API call.
//!
//! A `removed { lifecycle { destroy = false } }` block is planned by Terraform as "forget" without
//! asking the provider, so it stays the way to stop managing a protected user and keep it.

use super::user_resource::UserModel;
use terraform_plugin::framework::{Attr, AttrPath, Attribute, Deletion, Diagnostics};

/// The attribute's name, as in configurations, state and diagnostics.
pub(crate) const ATTR: &str = "deletion_protection";

pub(crate) fn attribute() -> Attribute {
    Attribute::bool(ATTR).optional().computed().description(
        "When `true`, Terraform refuses to delete this user: `terraform destroy`, `plan -destroy`, \
         removing the `resource` block or its `for_each` key, and a `username` change (which replaces \
         the user) all fail **at plan time**, before anything is changed; a delete that reaches the \
         provider anyway (for example through `-replace`) fails too. Defaults to `false`; leaving the \
         attribute out means `false`. Changing it updates the state only and makes no API call. The \
         value in the *prior* state is the one that counts, so to delete a protected user, first apply \
         `deletion_protection = false`, then delete it. To stop managing a protected user while keeping \
         it in Alloy, use a `removed` block with `lifecycle { destroy = false }`. Use \
         `deletion_protection = var.environment == \"production\"` to protect production users only.",
    )
}

/// The planned value: what the configuration says, or `false` when it says nothing (so configs
/// that predate the attribute, imports and upgraded states plan no change).
pub(crate) fn planned(config: &Attr<bool>) -> Attr<bool> {
    match config {
        Attr::Null => Attr::Known(false),
        set => set.clone(),
    }
}

/// The value a refresh keeps: the one in state (Alloy does not know about it), `false` if none.
pub(crate) fn kept(state: &Attr<bool>) -> Attr<bool> {
    match state {
        Attr::Known(on) => Attr::Known(*on),
        Attr::Null | Attr::Unknown => Attr::Known(false),
    }
}

/// Refuses to delete a user whose prior state has protection on, naming it and the two ways
/// forward.
pub(crate) fn check(prior: &UserModel, why: Deletion, diags: &mut Diagnostics) {
    if prior.deletion_protection.value() != Some(true) {
        return;
    }
    let user = format!(
        "{} (id {})",
        prior.username.as_str().unwrap_or("?"),
        prior.id.as_str().unwrap_or("?")
    );
    let (what, delete, keep) = match why {
        Deletion::Destroy => (
            "This plan would delete it",
            "set `deletion_protection = false` on the resource, apply, then destroy it",
            "to stop managing it and keep it in Alloy, replace the resource block with",
        ),
        Deletion::Replace => (
            "This plan would replace it (its `username` changes, and a new username means a new user), \
             which deletes the current one",
            "set `deletion_protection = false` with the current username, apply, then change the username",
            "to keep the current user in Alloy and stop managing it, manage the new username in a \
             resource block of another name, and replace this one with",
        ),
        Deletion::Apply => (
            "This apply was about to delete it, from a plan that did not check protection (for example \
             `-replace`, a tainted instance, or a Terraform older than 1.3)",
            "set `deletion_protection = false` on the resource, apply, then delete it",
            "to stop managing it and keep it in Alloy, replace the resource block with",
        ),
    };
    diags.attr_error(
        AttrPath::attr(ATTR),
        "Alloy user is protected by deletion_protection",
        format!(
            "The Alloy user {user} has `deletion_protection = true` in state. {what}. Deleting an Alloy \
             user removes its stored credentials and workflows for good, so nothing was changed.\n\n\
             Protection is read from the state the plan starts from, so setting it to false in the same \
             plan that deletes the user is not enough. Two ways forward:\n\n\
             - to delete it: {delete};\n\
             - {keep} a `removed` block whose `from` is this resource's address (the one Terraform \
             names above, after \"with\") and whose `lifecycle` sets `destroy = false`."
        ),
    );
}

/// State of schema version 0 (before this attribute existed) gets `deletion_protection = false`,
/// which is what the plan of a configuration without the attribute says, so nothing changes.
pub(crate) fn upgrade_v0(
    mut state: serde_json::Value,
    diags: &mut Diagnostics,
) -> Option<serde_json::Value> {
    let Some(obj) = state.as_object_mut() else {
        diags.error(
            "Unreadable stored state",
            "The stored state of this alloy_user (schema version 0) is not a JSON object. Remove it from \
             state (terraform state rm) and import the user again.",
        );
        return None;
    };
    obj.entry(ATTR).or_insert(serde_json::Value::Bool(false));
    Some(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(protected: Attr<bool>) -> UserModel {
        UserModel {
            id: "5f0c0c0c0c0c0c0c0c0c0c0c".into(),
            username: "jane@example.com".into(),
            deletion_protection: protected,
            ..Default::default()
        }
    }

    fn refusal(protected: Attr<bool>, why: Deletion) -> Option<String> {
        let mut d = Diagnostics::new();
        check(&user(protected), why, &mut d);
        assert!(d.0.len() <= 1);
        d.iter().next().map(|x| {
            assert_eq!(x.attribute, Some(AttrPath::attr(ATTR)));
            format!("{}\n{}", x.summary, x.detail)
        })
    }

    #[test]
    fn a_protected_user_is_refused_on_every_path_and_named() {
        for why in [Deletion::Destroy, Deletion::Replace, Deletion::Apply] {
            let text = refusal(Attr::Known(true), why).expect("refused");
            assert!(text.contains("deletion_protection"), "{text}");
            assert!(
                text.contains("jane@example.com (id 5f0c0c0c0c0c0c0c0c0c0c0c)"),
                "{text}"
            );
            assert!(text.contains("`deletion_protection = false`"), "{text}");
            assert!(text.contains("destroy = false"), "{text}");
        }
        assert!(
            refusal(Attr::Known(true), Deletion::Replace).is_some_and(|t| t.contains("username"))
        );
    }

    #[test]
    fn an_unprotected_user_may_go() {
        for why in [Deletion::Destroy, Deletion::Replace, Deletion::Apply] {
            assert_eq!(refusal(Attr::Known(false), why), None);
            assert_eq!(refusal(Attr::Null, why), None);
        }
    }

    #[test]
    fn unset_means_false_and_a_set_value_is_kept() {
        assert_eq!(planned(&Attr::Null), Attr::Known(false));
        assert_eq!(planned(&Attr::Known(true)), Attr::Known(true));
        assert_eq!(planned(&Attr::Unknown), Attr::Unknown);
        assert_eq!(kept(&Attr::Known(true)), Attr::Known(true));
        assert_eq!(kept(&Attr::Null), Attr::Known(false));
    }

    #[test]
    fn version_0_state_upgrades_to_unprotected() {
        let mut d = Diagnostics::new();
        let v0 = serde_json::json!({"id": "x", "username": "u", "full_name": null, "environment": "development"});
        let v1 = upgrade_v0(v0, &mut d).expect("upgraded");
        assert_eq!(v1["deletion_protection"], false);
        assert_eq!(v1["username"], "u");
        assert!(d.is_empty());
        assert!(upgrade_v0(serde_json::json!([1]), &mut d).is_none());
        assert!(d.has_errors());
    }
}
