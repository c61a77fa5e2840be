//! `list "alloy_user"` (Terraform ≥ 1.14, `terraform query`): the environment's end users that
//! are not in code yet, found the way the `alloy_users` data source finds them.
//!
//! - The same filters as `alloy_users` (`username_regex`, `workflow_id`), checked by the same
//!   code, and the same users: one list request for the whole query (the users snapshot's list,
//!   or the workflow's filtered list), never one per user.
//! - The same stable order: by `username`, then `id` (entries without a username first), so a
//!   `limit` always cuts at the same place and repeated queries agree.
//! - Each result is named by its username (`display_name`), carries its identity (`user_id`), and,
//!   when Terraform asks (`include_resource`, or `-generate-config-out`), the `alloy_user` state
//!   an import would produce, so generated configuration and imports agree.

use async_trait::async_trait;

use super::AlloyData;
use super::user_resource::user_state;
use super::users_data_source::{check_filters, selected};
use alloy_client::User;
use terraform_plugin::framework::{
    Attr, Attribute, Block, Diagnostics, ListResource, ListResults, Model, Schema, Value,
};

pub struct UserList;

terraform_plugin::model! {
    /// The `config` block of `list "alloy_user"`.
    pub(crate) struct UserListModel {
        username_regex: Attr<String>,
        workflow_id: Attr<String>,
    }
}

/// What a result is called in `terraform query`'s output: the username, else the id.
fn display_name(u: &User) -> &str {
    u.username.as_deref().unwrap_or(&u.user_id)
}

#[async_trait]
impl ListResource<AlloyData> for UserList {
    fn type_name(&self) -> &'static str {
        "alloy_user"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            0,
            Block::new(
                "Finds the end users of the provider's environment, for adopting them with `terraform \
                 query`: the users `alloy_users` lists, with the same filters, \
                 sorted by `username` and then `id`. One API request serves the whole list. Each result \
                 is named by its username and identified by its `user_id`.",
                vec![
                    Attribute::string("username_regex").optional().description(&format!(
                        "When set, only users whose `username` matches this regular expression are \
                         listed. {} Users without a username are skipped by this filter.",
                        super::validation::REGEX_SYNTAX
                    )),
                    Attribute::string("workflow_id").optional().description(
                        "When set, only the users of this workflow are listed (Alloy's \
                         `GET /users?parentWorkflowId=`). An unknown workflow gives no results. Must not be \
                         empty.",
                    ),
                ],
            ),
        )
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        if let Some(config) = UserListModel::decode(config, diags) {
            check_filters(&config.username_regex, &config.workflow_id, diags);
        }
    }

    async fn list(
        &self,
        data: &AlloyData,
        config: &Value,
        results: &mut ListResults,
        diags: &mut Diagnostics,
    ) {
        let Some(config) = UserListModel::decode(config, diags) else {
            return;
        };
        let Some(users) = selected(data, &config.username_regex, &config.workflow_id, diags).await
        else {
            return;
        };
        for user in &users {
            let state = user_state(user, &Attr::Null, data).to_value();
            if !results.send(&state, display_name(user)).await {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_matches_schema() {
        terraform_plugin::framework::model::assert_matches_schema::<UserListModel>(
            &UserList.schema(),
        );
    }

    #[test]
    fn a_user_without_username_is_shown_by_id() {
        let u = User {
            user_id: "65a1f0c2e4b0a1b2c3d4e5f6".into(),
            username: None,
            full_name: None,
        };
        assert_eq!(display_name(&u), "65a1f0c2e4b0a1b2c3d4e5f6");
    }
}
