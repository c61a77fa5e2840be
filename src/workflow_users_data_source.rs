//! `alloy_workflow_users`: every tenant of one workflow, active or not, at which version (Alloy's
//! `GET /workflows/{id}/users`), in one request.
//!
//! - It is what feeds `for_each` for `alloy_user_workflow`, so that only installed workflows are
//!   managed; the list is the workflow snapshot's (`workflow_snapshot.rs`), so a plan that reads
//!   it and refreshes thousands of `alloy_user_workflow`s makes one list request.
//! - Filters (`active`, `username_regex`) apply locally; the regex is compiled at validate time.
//! - A stable order (username, then user id) so an unchanged fleet never shows a diff.
//! - The `alloy_user_workflow` list resource (`terraform query`) takes the same filters and the
//!   same tenants, through [`check_filters`] and [`selected`].

use async_trait::async_trait;
use regex::Regex;

use super::AlloyData;
use super::validation::check_object_id;
use super::validation::{REGEX_SYNTAX, regex};
use alloy_client::WorkflowUser;
use terraform_plugin::framework::{
    Attr, AttrPath, Attribute, Block, DataSource, Diagnostics, Model, Nesting, Schema, Value,
};

pub struct WorkflowUsersDataSource;

terraform_plugin::model! {
    /// The `alloy_workflow_users` data source's configuration and result.
    pub(crate) struct WorkflowUsersModel {
        workflow_id: Attr<String>,
        active: Attr<bool>,
        username_regex: Attr<String>,
        users: Attr<Vec<WorkflowUserModel>>,
    }
}

terraform_plugin::model! {
    /// One entry of `users`.
    pub(crate) struct WorkflowUserModel {
        user_id: Attr<String>,
        username: Attr<String>,
        full_name: Attr<String>,
        active: Attr<bool>,
        installed_version: Attr<i64>,
        installed_at: Attr<String>,
    }
}

fn entry(u: &WorkflowUser) -> WorkflowUserModel {
    WorkflowUserModel {
        user_id: u.user_id.as_str().into(),
        username: u.username.as_str().into(),
        full_name: u.full_name.as_deref().filter(|n| !n.is_empty()).into(),
        active: Attr::Known(u.active),
        installed_version: u.installed_version.into(),
        installed_at: u.installed_at.as_deref().into(),
    }
}

/// The tenants that pass the filters, sorted by username, then user id.
fn select(users: &[WorkflowUser], active: Option<bool>, re: Option<&Regex>) -> Vec<WorkflowUser> {
    let mut out: Vec<WorkflowUser> = users
        .iter()
        .filter(|u| active.is_none_or(|a| u.active == a))
        .filter(|u| re.is_none_or(|re| re.is_match(&u.username)))
        .cloned()
        .collect();
    out.sort_by(|a, b| {
        a.username
            .cmp(&b.username)
            .then_with(|| a.user_id.cmp(&b.user_id))
    });
    out
}

const REGEX_ADVICE: &str =
    "Fix the pattern, or remove the attribute to list every tenant of the workflow.";

#[async_trait]
impl DataSource<AlloyData> for WorkflowUsersDataSource {
    fn type_name(&self) -> &'static str {
        "alloy_workflow_users"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            0,
            Block::new(
                "Lists every tenant (end user) of the provider's environment that has one workflow \
                 installed, active or not, with the version each runs (Alloy's \
                 `GET /workflows/{workflowId}/users`, one request), sorted by `username` and then \
                 `user_id`. Feed `users` to `for_each` of `alloy_user_workflow` so that exactly the \
                 installed workflows are managed (see the guide \"Managing workflows across tenants\").",
                vec![
                    Attribute::string("workflow_id").required().description(
                        "The parent workflow's id (24 hexadecimal characters), as `alloy_integrations` \
                         lists it. A workflow that is not the account's fails with an error.",
                    ),
                    Attribute::bool("active").optional().description(
                        "When set, only tenants whose workflow is active (`true`) or inactive (`false`) \
                         are listed.",
                    ),
                    Attribute::string("username_regex").optional().description(&format!(
                        "When set, only tenants whose `username` matches this regular expression are \
                         listed. {REGEX_SYNTAX}"
                    )),
                    Attribute::nested(
                        "users",
                        Nesting::List,
                        vec![
                            Attribute::string("user_id")
                                .computed()
                                .description("Alloy's `userId` of the tenant."),
                            Attribute::string("username")
                                .computed()
                                .description("The tenant's username."),
                            Attribute::string("full_name")
                                .computed()
                                .description("The tenant's display name. Null when it has none."),
                            Attribute::bool("active")
                                .computed()
                                .description("Whether the workflow runs for this tenant."),
                            Attribute::number("installed_version")
                                .computed()
                                .description("The version of the workflow the tenant runs."),
                            Attribute::string("installed_at").computed().description(
                                "When the tenant installed the workflow, as Alloy reports it (RFC 3339).",
                            ),
                        ],
                    )
                    .computed()
                    .description(
                        "The tenants that pass the filters, sorted by `username` and then `user_id`.",
                    ),
                ],
            ),
        )
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        let Some(config) = WorkflowUsersModel::decode(config, diags) else {
            return;
        };
        check_filters(&config.workflow_id, &config.username_regex, diags);
    }

    async fn read(
        &self,
        data: &AlloyData,
        config: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let mut config = WorkflowUsersModel::decode(config, diags)?;
        let selected = selected(
            data,
            &config.workflow_id,
            &config.active,
            &config.username_regex,
            diags,
        )
        .await?;
        config.users = Attr::Known(selected.iter().map(entry).collect());
        Some(config.to_value())
    }
}

/// Static checks of `workflow_id` and `username_regex`, each error on its attribute; unknown
/// values pass.
pub(crate) fn check_filters(
    workflow_id: &Attr<String>,
    username_regex: &Attr<String>,
    diags: &mut Diagnostics,
) {
    if let Some(w) = workflow_id.as_str() {
        check_object_id(w, AttrPath::attr("workflow_id"), "workflow_id", diags);
    }
    if let Some(p) = username_regex.as_str() {
        regex("username_regex", p, Some(REGEX_ADVICE), diags);
    }
}

/// The tenants of the workflow that pass the filters, sorted: the workflow snapshot's one list.
/// `None` after an error diagnostic.
pub(crate) async fn selected(
    data: &AlloyData,
    workflow_id: &Attr<String>,
    active: &Attr<bool>,
    username_regex: &Attr<String>,
    diags: &mut Diagnostics,
) -> Option<Vec<WorkflowUser>> {
    let Some(workflow_id) = workflow_id.as_str().map(str::to_owned) else {
        super::provider_bug::report("a list of a workflow's tenants without workflow_id", diags);
        return None;
    };
    // Validation runs first; these only guard against a Terraform that skipped it.
    let mut bad = Diagnostics::new();
    check_object_id(
        &workflow_id,
        AttrPath::attr("workflow_id"),
        "workflow_id",
        &mut bad,
    );
    if bad.has_errors() {
        diags.extend(bad);
        return None;
    }
    let re = match username_regex.as_str() {
        None => None,
        Some(p) => Some(regex("username_regex", p, Some(REGEX_ADVICE), diags)?),
    };
    let users = match data.workflows.users_of(&workflow_id).await {
        Ok(users) => users,
        Err(e) => {
            data.api_error(
                diags,
                &format!("Cannot list the tenants of workflow {workflow_id}"),
                &e,
            );
            return None;
        }
    };
    Some(select(&users, active.get().copied(), re.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, name: &str, active: bool) -> WorkflowUser {
        WorkflowUser {
            user_id: id.into(),
            username: name.into(),
            full_name: None,
            active,
            installed_version: Some(3),
            installed_at: None,
        }
    }

    #[test]
    fn filters_and_order() {
        let all = [
            user("2", "bob", true),
            user("1", "ann", false),
            user("3", "ann", true),
        ];
        let ids = |v: Vec<WorkflowUser>| v.into_iter().map(|u| u.user_id).collect::<Vec<_>>();
        assert_eq!(ids(select(&all, None, None)), ["1", "3", "2"]);
        assert_eq!(ids(select(&all, Some(true), None)), ["3", "2"]);
        let re = regex("username_regex", "^an", None, &mut Diagnostics::new());
        assert_eq!(ids(select(&all, Some(false), re.as_ref())), ["1"]);
    }

    #[test]
    fn model_matches_schema() {
        terraform_plugin::framework::model::assert_matches_schema::<WorkflowUsersModel>(
            &WorkflowUsersDataSource.schema(),
        );
    }
}
