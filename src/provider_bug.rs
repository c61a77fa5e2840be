//! Loud internal errors. Where the provider relies on something that "cannot happen" (a required
//! attribute null after Terraform validated it, a state without the id every create records), it
//! does not return quietly when it happens anyway: a quiet return from a create or delete looks
//! like success to Terraform, and a delete that did nothing would leave the user in Alloy and
//! drop it from state. It stops with an error that names what was wrong and asks for a report.

use terraform_plugin::framework::Diagnostics;

/// Reports a provider bug: `what` names what was wrong, in a few words ("an alloy_user in state
/// has no id"). No value of the configuration or the API goes into it, so no secret can.
pub(crate) fn report(what: &str, diags: &mut Diagnostics) {
    tracing::error!(bug = what, "provider bug");
    diags.error(
        format!("Provider bug: {what}"),
        format!(
            "The provider met something it relies on never happening ({what}) and stopped this \
             operation there, changing nothing more. This is a bug in the provider, not in your \
             configuration: please report it to the provider's maintainers, with the Terraform \
             command that led to it."
        ),
    );
}

/// `value`, or, when it is `None`, a [`report`] that `what` was missing.
pub(crate) fn expect<T>(value: Option<T>, what: &str, diags: &mut Diagnostics) -> Option<T> {
    if value.is_none() {
        report(what, diags);
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_value_is_a_loud_error_asking_for_a_report() {
        let mut d = Diagnostics::new();
        assert_eq!(expect(Some(1), "a one", &mut d), Some(1));
        assert!(d.is_empty());
        assert_eq!(
            expect::<i32>(None, "a planned alloy_user has no username", &mut d),
            None
        );
        assert!(d.has_errors());
        assert_eq!(
            d.0[0].summary,
            "Provider bug: a planned alloy_user has no username"
        );
        assert!(
            d.0[0].detail.contains("please report it"),
            "{}",
            d.0[0].detail
        );
    }
}
