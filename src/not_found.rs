//! "Alloy user not found": the one wording of the error every kind gives when the user it was
//! asked about does not exist in the provider's environment (a mistyped id, or the key of the
//! other environment or account).
//!
//! A user that was in state and is gone is another story, told by `missing_users`: a warning,
//! or the guard against mass disappearance.

use super::AlloyData;
use super::snapshot::Key;
use terraform_plugin::framework::{AttrPath, Diagnostics};

/// What the missing user was asked for, which decides where the error points and what it says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Asked {
    /// `terraform import` of an `alloy_user`, by userId or username.
    Import,
    /// The `alloy_user` data source, by the attribute its key names (`id` or `username`).
    Lookup(Key),
    /// A token for `user_id` (the `alloy_user_token` data source and ephemeral resource).
    Token,
    /// The integrations `user_id` sees (the `alloy_integrations` data source).
    Integrations,
    /// The credentials of `user_id` (the `alloy_user_credentials` data source).
    Credentials,
}

/// Reports that no user answers to `value`, asked for as `asked` says.
pub(crate) fn user(data: &AlloyData, asked: Asked, value: &str, diags: &mut Diagnostics) {
    // (attribute, key, what could not be done, what to check first)
    let (attr, key, so, check) = match asked {
        Asked::Import => (None, Key::IdOrUsername, "", "the id"),
        Asked::Lookup(key) => (Some(key.noun()), key, "", "the value"),
        Asked::Token => (
            Some("user_id"),
            Key::IdOrUsername,
            ", so no token could be issued",
            "`user_id`",
        ),
        Asked::Integrations => (
            Some("user_id"),
            Key::IdOrUsername,
            ", so its integrations cannot be listed",
            "`user_id`",
        ),
        Asked::Credentials => (
            Some("user_id"),
            Key::IdOrUsername,
            ", so its credentials cannot be listed",
            "`user_id`",
        ),
    };
    let detail = format!(
        "No user with {key} {value:?} exists in the {env} environment{so}. Check {check}, and that the \
         provider's environment and API key are the ones the user was created with.",
        key = key.noun(),
        env = data.environment.as_str(),
    );
    match attr {
        Some(attr) => diags.attr_error(AttrPath::attr(attr), SUMMARY, detail),
        None => diags.error(SUMMARY, detail),
    }
}

const SUMMARY: &str = "Alloy user not found";

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> AlloyData {
        use alloy_client::{AlloyClient, ApiKey, ClientConfig};
        let cfg = ClientConfig::new(
            url::Url::parse("http://127.0.0.1:9").unwrap(),
            "2025-09",
            ApiKey::new("unit-test-key"),
            "unit-test",
        );
        AlloyData::new(
            AlloyClient::new(cfg).unwrap(),
            crate::Environment::Production,
            crate::config::PRODUCTION_API_KEY_VAR.to_owned(),
            false,
        )
    }

    #[test]
    fn each_question_gets_its_words_and_its_attribute() {
        let data = data();
        let mut d = Diagnostics::new();
        for asked in [
            Asked::Import,
            Asked::Lookup(Key::Id),
            Asked::Lookup(Key::Username),
            Asked::Token,
            Asked::Integrations,
        ] {
            user(&data, asked, "nobody", &mut d);
        }
        let got: Vec<(Option<AttrPath>, String)> = d
            .iter()
            .map(|x| (x.attribute.clone(), x.detail.clone()))
            .collect();
        let tail = "and that the provider's environment and API key are the ones the user was \
                    created with.";
        let id_or_name = "No user with userId or username \"nobody\" exists in the production \
                          environment";
        let expected = [
            (None, format!("{id_or_name}. Check the id, {tail}")),
            (
                Some(AttrPath::attr("id")),
                format!(
                    "No user with id \"nobody\" exists in the production environment. Check the \
                     value, {tail}"
                ),
            ),
            (
                Some(AttrPath::attr("username")),
                format!(
                    "No user with username \"nobody\" exists in the production environment. Check \
                     the value, {tail}"
                ),
            ),
            (
                Some(AttrPath::attr("user_id")),
                format!("{id_or_name}, so no token could be issued. Check `user_id`, {tail}"),
            ),
            (
                Some(AttrPath::attr("user_id")),
                format!(
                    "{id_or_name}, so its integrations cannot be listed. Check `user_id`, {tail}"
                ),
            ),
        ];
        assert_eq!(got, expected);
        assert!(d.iter().all(|x| x.summary == "Alloy user not found"));
    }
}
