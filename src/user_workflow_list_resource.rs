//! `list "alloy_user_workflow"` (Terraform ≥ 1.14, `terraform query`): the tenants that have one
//! workflow installed, found the way the `alloy_workflow_users` data source finds them.
//!
//! - The same filters (`workflow_id`, `active`, `username_regex`), checked by the same code, and
//!   the same one request (`GET /workflows/{id}/users`, the workflow snapshot's list).
//! - The same stable order: by username, then userId.
//! - Each result is named `<username>/<workflowId>`, identified by `user_id` and `workflow_id`,
//!   and (when asked) carries the state an import would record; its `latest_version` is null
//!   unless this process already knows it, as the next refresh fills it in.

use async_trait::async_trait;

use super::AlloyData;
use super::user_workflow_resource::imported_state;
use super::workflow_users_data_source::{check_filters, selected};
use terraform_plugin::framework::{
    Attr, Attribute, Block, Diagnostics, ListResource, ListResults, Model, Schema, Value,
};

pub struct UserWorkflowList;

terraform_plugin::model! {
    /// The `config` block of `list "alloy_user_workflow"`.
    pub(crate) struct UserWorkflowListModel {
        workflow_id: Attr<String>,
        active: Attr<bool>,
        username_regex: Attr<String>,
    }
}

#[async_trait]
impl ListResource<AlloyData> for UserWorkflowList {
    fn type_name(&self) -> &'static str {
        "alloy_user_workflow"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            0,
            Block::new(
                "Finds the tenants that have one workflow installed, for adopting their \
                 `alloy_user_workflow` with `terraform query`: the tenants `alloy_workflow_users` lists, \
                 with the same filters, sorted by username and then `user_id`. One API request serves \
                 the whole list. Each result is named `<username>/<workflowId>`.",
                vec![
                    Attribute::string("workflow_id").required().description(
                        "The parent workflow's id (24 hexadecimal characters), as `alloy_integrations` \
                         lists it.",
                    ),
                    Attribute::bool("active").optional().description(
                        "When set, only tenants whose workflow is active (`true`) or inactive (`false`) \
                         are listed.",
                    ),
                    Attribute::string("username_regex").optional().description(&format!(
                        "When set, only tenants whose `username` matches this regular expression are \
                         listed. {}",
                        super::validation::REGEX_SYNTAX
                    )),
                ],
            ),
        )
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        if let Some(config) = UserWorkflowListModel::decode(config, diags) {
            check_filters(&config.workflow_id, &config.username_regex, diags);
        }
    }

    async fn list(
        &self,
        data: &AlloyData,
        config: &Value,
        results: &mut ListResults,
        diags: &mut Diagnostics,
    ) {
        let Some(config) = UserWorkflowListModel::decode(config, diags) else {
            return;
        };
        let Some(tenants) = selected(
            data,
            &config.workflow_id,
            &config.active,
            &config.username_regex,
            diags,
        )
        .await
        else {
            return;
        };
        let Some(workflow_id) = config.workflow_id.as_str() else {
            return;
        };
        for tenant in &tenants {
            let install = data.workflows.install_listed(tenant, workflow_id);
            let state = imported_state(&install, workflow_id);
            let name = format!("{}/{workflow_id}", tenant.username);
            if !results.send(&state, &name).await {
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
        terraform_plugin::framework::model::assert_matches_schema::<UserWorkflowListModel>(
            &UserWorkflowList.schema(),
        );
    }
}
