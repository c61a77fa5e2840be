//! The `alloy_user` data source: one existing end user, looked up by `id` or by `username`.
//!
//! For users that Terraform does not manage (created by your application's sign-up flow, say)
//! but that other configuration needs to reference.
//!
//! Alloy's `GET /users/{x}` accepts either a userId or a username in the same place, so a lookup
//! by one could silently match the other (a username that happens to look like someone else's
//! id). The answer is therefore checked against what was asked: an `id` lookup must return that
//! id, and a `username` lookup that landed on an id match falls back to scanning the user list
//! for the exact username.
//!
//! Both lookups go through the process's users snapshot (see `snapshot.rs`), so a plan that
//! reads many users costs one list rather than one request each.

use async_trait::async_trait;

use super::not_found::{self, Asked};
use super::snapshot::Key;
use super::validation::check_username;
use super::{AlloyData, provider_bug};
use alloy_client::User;
use terraform_plugin::framework::{
    Attr, AttrPath, Attribute, Block, DataSource, Diagnostics, Model, Schema, Value,
};

pub struct UserDataSource;

terraform_plugin::model! {
    /// The `alloy_user` data source's configuration and result.
    pub(crate) struct UserDataModel {
        id: Attr<String>,
        username: Attr<String>,
        full_name: Attr<String>,
    }
}

/// The result for a found user, looked up by `key` (the attribute of that name). `asked` fills
/// in a username the API left out.
fn state(user: &User, key: Key, asked: &str) -> UserDataModel {
    let username = match (&user.username, key) {
        (Some(u), _) => Attr::from(u.as_str()),
        (None, Key::Username) => Attr::from(asked),
        (None, Key::Id | Key::IdOrUsername) => Attr::Null,
    };
    UserDataModel {
        id: user.user_id.as_str().into(),
        username,
        full_name: user.full_name.as_deref().filter(|n| !n.is_empty()).into(),
    }
}

/// Whether an answer to `GET /users/{asked}` is the user that was asked for, by `key`.
fn answers(user: &User, key: Key, asked: &str) -> bool {
    match key {
        Key::Id => user.user_id == asked,
        // An answer without a username can only be trusted if it did not match by id.
        Key::Username => match &user.username {
            Some(u) => u == asked,
            None => user.user_id != asked,
        },
        // Either key was asked for: whichever matched, it is the user.
        Key::IdOrUsername => true,
    }
}

#[async_trait]
impl DataSource<AlloyData> for UserDataSource {
    fn type_name(&self) -> &'static str {
        "alloy_user"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            0,
            Block::new(
                "Looks up one existing Alloy end user, by `id` or by `username` (set exactly one), for \
                 configuration that needs a user Terraform does not manage. Fails when no such user exists \
                 in the provider's environment.",
                vec![
                    Attribute::string("id").optional().computed().description(
                        "Alloy's `userId` of the user to look up. Set this or `username`, not both. When \
                         looking up by `username`, this is the id found.",
                    ),
                    Attribute::string("username").optional().computed().description(
                        "The username of the user to look up, matched exactly. Set this or `id`, not both. \
                         When looking up by `id`, this is the user's username (null if Alloy returns none).",
                    ),
                    Attribute::string("full_name")
                        .computed()
                        .description("The user's display name. Null when it has none."),
                ],
            ),
        )
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        let Some(config) = UserDataModel::decode(config, diags) else {
            return;
        };
        let (id, username) = (&config.id, &config.username);
        match (id.is_null(), username.is_null()) {
            (true, true) => diags.error(
                "Missing user to look up",
                "Set either `id` or `username` in this alloy_user data source, to say which user to look up.",
            ),
            (false, false) => diags.attr_error(
                AttrPath::attr("username"),
                "Conflicting user lookup",
                "Both `id` and `username` are set in this alloy_user data source. Set only one of them: \
                 the user is looked up by that attribute and the other is filled in from Alloy.",
            ),
            _ => {}
        }
        if let Some(v) = id.as_str() {
            check_username("id", v, diags);
        }
        if let Some(v) = username.as_str() {
            check_username("username", v, diags);
        }
    }

    async fn read(
        &self,
        data: &AlloyData,
        config: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let config = UserDataModel::decode(config, diags)?;
        // The attribute set is the key, by the same name.
        let (key, asked) = match (config.id.as_str(), config.username.as_str()) {
            (Some(id), None) => (Key::Id, id),
            (None, Some(u)) => (Key::Username, u),
            // Validation rejects every other shape before Terraform reads.
            _ => {
                provider_bug::report(
                    "an alloy_user data source is read without exactly one of id and username",
                    diags,
                );
                return None;
            }
        };
        let user = match data.users.lookup(key, asked).await {
            Ok(u) if answers(&u, key, asked) => Some(u),
            Ok(_) => None,
            Err(e) if e.is_not_found() => None,
            Err(e) => {
                data.api_error(diags, "Cannot read Alloy user", &e);
                return None;
            }
        };
        let user = match (user, key) {
            (Some(u), _) => u,
            (None, Key::Id | Key::IdOrUsername) => {
                not_found::user(data, Asked::Lookup(key), asked, diags);
                return None;
            }
            (None, Key::Username) => {
                // The lookup may have hit another user's id, or the API may not resolve
                // usernames there: the full list settles it.
                match data.users.all().await {
                    Ok(all) => match all.iter().find(|u| u.username.as_deref() == Some(asked)) {
                        Some(u) => u.clone(),
                        None => {
                            not_found::user(data, Asked::Lookup(key), asked, diags);
                            return None;
                        }
                    },
                    Err(e) => {
                        data.api_error(diags, "Cannot list Alloy users", &e);
                        return None;
                    }
                }
            }
        };
        Some(state(&user, key, asked).to_value())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, username: Option<&str>, full: Option<&str>) -> User {
        serde_json::from_value(serde_json::json!({
            "userId": id, "username": username, "fullName": full
        }))
        .unwrap()
    }

    fn validate(id: Value, username: Value) -> Diagnostics {
        let mut d = Diagnostics::new();
        UserDataSource.validate(
            &Value::object([
                ("id", id),
                ("username", username),
                ("full_name", Value::Null),
            ]),
            &mut d,
        );
        d
    }

    #[test]
    fn exactly_one_of_id_and_username() {
        assert!(validate(Value::string("abc"), Value::Null).is_empty());
        assert!(validate(Value::Null, Value::string("jane")).is_empty());
        assert!(validate(Value::Unknown, Value::Null).is_empty());
        let neither = validate(Value::Null, Value::Null);
        assert!(neither.has_errors());
        assert!(neither.0[0].detail.contains("`id` or `username`"));
        let both = validate(Value::string("a"), Value::string("b"));
        assert!(both.has_errors());
        assert!(both.0[0].detail.contains("`id` and `username`"));
        // Both set, even if one is unknown yet, is already wrong.
        assert!(validate(Value::Unknown, Value::string("b")).has_errors());
    }

    #[test]
    fn values_are_checked_like_usernames() {
        let d = validate(Value::string(""), Value::Null);
        assert_eq!(d.0[0].attribute, Some(AttrPath::attr("id")));
        let d = validate(Value::Null, Value::string("jane "));
        assert_eq!(d.0[0].attribute, Some(AttrPath::attr("username")));
    }

    #[test]
    fn answers_must_match_what_was_asked() {
        let u = user("0123456789abcdef01234567", Some("jane"), None);
        assert!(answers(&u, Key::Id, "0123456789abcdef01234567"));
        assert!(!answers(&u, Key::Id, "jane"));
        assert!(answers(&u, Key::Username, "jane"));
        assert!(!answers(&u, Key::Username, "0123456789abcdef01234567"));
        let anon = user("id1", None, None);
        assert!(answers(&anon, Key::Username, "someone"));
        assert!(!answers(&anon, Key::Username, "id1"));
    }

    #[test]
    fn state_fills_in_and_nulls_what_is_missing() {
        let s = state(&user("i", None, Some("")), Key::Username, "jane");
        assert_eq!(s.username.as_str(), Some("jane"));
        assert!(s.full_name.is_null());
        let s = state(&user("i", None, Some("Jane")), Key::Id, "i");
        assert!(s.username.is_null());
        assert_eq!(s.full_name.as_str(), Some("Jane"));
    }

    #[test]
    fn model_matches_schema() {
        terraform_plugin::framework::model::assert_matches_schema::<UserDataModel>(
            &UserDataSource.schema(),
        );
    }
}
