//! `alloy_users`: the end users of the provider's environment, for adopting existing users in
//! bulk (`import { for_each = ... }`) and for configuration that iterates over them.
//!
//! - The full list is the process's users snapshot (see `snapshot.rs`): a plan that reads this
//!   data source and refreshes many `alloy_user`s makes one list request, and the imports and
//!   reads that follow are answered from it. With `workflow_id`, the API's filtered list is a
//!   request of its own (its entries are remembered too).
//! - `username_regex` is compiled at validate time (`validation::regex`, like `alloy_integrations`'
//!   `name_regex`, with the syntax `REGEX_SYNTAX` describes), so a typo fails before any API call;
//!   `workflow_id = ""` is refused there too.
//! - A stable order (username, then id; entries without a username first) so an unchanged list
//!   never shows a diff.
//! - The `alloy_user` list resource (`terraform query`) takes the same filters and the same
//!   users, through [`check_filters`] and [`selected`].

use std::cmp::Ordering;

use async_trait::async_trait;
use regex::Regex;

use super::AlloyData;
use super::validation::{self, REGEX_SYNTAX, check_workflow_id};
use alloy_client::User;
use terraform_plugin::framework::{
    Attr, Attribute, Block, DataSource, Diagnostics, Model, Nesting, Schema, Value,
};

pub struct UsersDataSource;

terraform_plugin::model! {
    /// The `alloy_users` data source's configuration and result.
    pub(crate) struct UsersModel {
        username_regex: Attr<String>,
        workflow_id: Attr<String>,
        users: Attr<Vec<UserEntryModel>>,
    }
}

terraform_plugin::model! {
    /// One entry of `users`.
    pub(crate) struct UserEntryModel {
        id: Attr<String>,
        username: Attr<String>,
        full_name: Attr<String>,
    }
}

fn entry(u: &User) -> UserEntryModel {
    UserEntryModel {
        id: u.user_id.as_str().into(),
        username: u.username.as_deref().into(),
        full_name: u.full_name.as_deref().filter(|n| !n.is_empty()).into(),
    }
}

fn by_username_then_id(a: &User, b: &User) -> Ordering {
    a.username
        .cmp(&b.username)
        .then_with(|| a.user_id.cmp(&b.user_id))
}

/// The users that pass `username_regex` (a missing username never matches), sorted.
fn select(users: &[User], username_regex: Option<&Regex>) -> Vec<User> {
    let mut out: Vec<User> = users
        .iter()
        .filter(|u| match username_regex {
            None => true,
            Some(re) => u.username.as_deref().is_some_and(|n| re.is_match(n)),
        })
        .cloned()
        .collect();
    out.sort_by(by_username_then_id);
    out
}

/// The way out of either filter: drop it.
const LIST_EVERY_USER: &str = "remove the attribute to list every user";

/// `username_regex`, compiled, or an error naming it.
fn username_regex(pattern: &str, diags: &mut Diagnostics) -> Option<Regex> {
    validation::regex(
        "username_regex",
        pattern,
        Some(&format!("Fix the pattern, or {LIST_EVERY_USER}.")),
        diags,
    )
}

#[async_trait]
impl DataSource<AlloyData> for UsersDataSource {
    fn type_name(&self) -> &'static str {
        "alloy_users"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            0,
            Block::new(
                "Lists the end users of the provider's environment (Alloy's `GET /users`), sorted by \
                 `username` and then `id`. Made for adopting existing users in bulk: use `users` in an \
                 `import` block's `for_each` and in an `alloy_user` resource with the same `for_each` \
                 (see the guide \"Adopting existing users\"). The list is the same request the provider \
                 uses to refresh many `alloy_user`s, so reading it adds no API call to such a plan, and \
                 the imports that follow are answered from it.",
                vec![
                    Attribute::string("username_regex").optional().description(&format!(
                        "When set, only users whose `username` matches this regular expression are \
                         listed. {REGEX_SYNTAX} Users without a username (the API may list some) are \
                         skipped by this filter."
                    )),
                    Attribute::string("workflow_id").optional().description(
                        "When set, only the users of this workflow are listed (Alloy's \
                         `GET /users?parentWorkflowId=`). An unknown workflow gives an empty list. Must not \
                         be empty.",
                    ),
                    Attribute::nested(
                        "users",
                        Nesting::List,
                        vec![
                            Attribute::string("id")
                                .computed()
                                .description("Alloy's `userId`."),
                            Attribute::string("username").computed().description(
                                "The user's username. Null for an entry the API lists without one.",
                            ),
                            Attribute::string("full_name")
                                .computed()
                                .description("The user's display name. Null when it has none."),
                        ],
                    )
                    .computed()
                    .description(
                        "The users that pass the filters, sorted by `username` (entries without one first) \
                         and then `id`.",
                    ),
                ],
            ),
        )
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        let Some(config) = UsersModel::decode(config, diags) else {
            return;
        };
        check_filters(&config.username_regex, &config.workflow_id, diags);
    }

    async fn read(
        &self,
        data: &AlloyData,
        config: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let mut config = UsersModel::decode(config, diags)?;
        let selected = selected(data, &config.username_regex, &config.workflow_id, diags).await?;
        config.users = Attr::Known(selected.iter().map(entry).collect());
        Some(config.to_value())
    }
}

/// Static checks of the two filters (`username_regex`, `workflow_id`), each error on its
/// attribute; unknown values pass.
pub(crate) fn check_filters(
    regex: &Attr<String>,
    workflow_id: &Attr<String>,
    diags: &mut Diagnostics,
) {
    if let Some(p) = regex.as_str() {
        username_regex(p, diags);
    }
    if let Some(w) = workflow_id.as_str() {
        check_workflow_id("workflow_id", w, LIST_EVERY_USER, diags);
    }
}

/// The users that pass the filters, sorted: one request (the users snapshot's list, or the
/// workflow's filtered list). `None` after an error diagnostic.
pub(crate) async fn selected(
    data: &AlloyData,
    regex: &Attr<String>,
    workflow_id: &Attr<String>,
    diags: &mut Diagnostics,
) -> Option<Vec<User>> {
    // Validation runs first; these only guard against a Terraform that skipped it.
    let username_regex = match regex.as_str() {
        None => None,
        Some(p) => Some(username_regex(p, diags)?),
    };
    match workflow_id.as_str() {
        Some(w) if !check_workflow_id("workflow_id", w, LIST_EVERY_USER, diags) => None,
        Some(w) => match data.users.of_workflow(w).await {
            Ok(users) => Some(select(&users, username_regex.as_ref())),
            Err(e) => {
                data.api_error(
                    diags,
                    &format!("Cannot list the Alloy users of workflow {w:?}"),
                    &e,
                );
                None
            }
        },
        None => match data.users.all().await {
            Ok(users) => Some(select(&users, username_regex.as_ref())),
            Err(e) => {
                data.api_error(diags, "Cannot list Alloy users", &e);
                None
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use terraform_plugin::framework::AttrPath;

    fn user(id: &str, username: Option<&str>, full: Option<&str>) -> User {
        User {
            user_id: id.to_owned(),
            username: username.map(str::to_owned),
            full_name: full.map(str::to_owned),
        }
    }

    fn ids(users: Vec<User>) -> Vec<String> {
        users.into_iter().map(|u| u.user_id).collect()
    }

    #[test]
    fn sorted_by_username_then_id_without_username_first() {
        let list = vec![
            user("3", Some("bob"), None),
            user("2", Some("ann"), None),
            user("9", None, None),
            user("1", Some("bob"), None),
        ];
        assert_eq!(ids(select(&list, None)), ["9", "2", "1", "3"]);
        let mut reversed = list.clone();
        reversed.reverse();
        assert_eq!(select(&list, None), select(&reversed, None));
    }

    #[test]
    fn regex_skips_users_without_username() {
        let list = vec![
            user("1", Some("tenant-1@example.com"), None),
            user("2", Some("other@example.com"), None),
            user("3", None, None),
        ];
        let re = |p: &str| username_regex(p, &mut Diagnostics::new()).unwrap();
        assert_eq!(ids(select(&list, Some(&re("^tenant-")))), ["1"]);
        assert_eq!(ids(select(&list, Some(&re(".*")))), ["2", "1"]);
        assert_eq!(ids(select(&list, Some(&re("(?i)^OTHER")))), ["2"]);
    }

    #[test]
    fn entries_null_what_is_missing() {
        let e = entry(&user("1", None, Some("")));
        assert!(e.username.is_null());
        assert!(e.full_name.is_null());
        let e = entry(&user("1", Some("ann"), Some("Ann")));
        assert_eq!(e.username.as_str(), Some("ann"));
        assert_eq!(e.full_name.as_str(), Some("Ann"));
    }

    fn validate(regex: Value, workflow: Value) -> Diagnostics {
        let mut d = Diagnostics::new();
        UsersDataSource.validate(
            &Value::object([
                ("username_regex", regex),
                ("workflow_id", workflow),
                ("users", Value::Null),
            ]),
            &mut d,
        );
        d
    }

    #[test]
    fn bad_input_names_the_attribute() {
        assert!(validate(Value::string("^t"), Value::string("w")).is_empty());
        assert!(validate(Value::Unknown, Value::Unknown).is_empty());
        let d = validate(Value::string("(unclosed"), Value::Null);
        assert_eq!(d.0[0].attribute, Some(AttrPath::attr("username_regex")));
        let d = validate(Value::Null, Value::string(""));
        assert_eq!(d.0[0].attribute, Some(AttrPath::attr("workflow_id")));
        assert!(d.0[0].detail.contains("empty"));
    }

    #[test]
    fn model_matches_schema() {
        terraform_plugin::framework::model::assert_matches_schema::<UsersModel>(
            &UsersDataSource.schema(),
        );
    }
}
