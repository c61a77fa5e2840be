//! `alloy_user_workflow`: one installed workflow of one tenant — whether it runs, and at which
//! version.
//!
//! Choices worth knowing:
//! - Create never installs (installing needs the end user, in Alloy's modal or headless): it
//!   adopts an installed workflow and sets its activation. A workflow that is not installed fails
//!   with an error that names the user and the workflow, and nothing is recorded.
//! - Reads go through the workflow snapshot (`workflow_snapshot.rs`): thousands of tenants of
//!   one workflow cost a few calls, not one each; writes go through it too, so it stays true.
//! - `auto_upgrade` plans `installed_version` up to `latest_version` (an in-place update) and
//!   apply upgrades; an incompatible upgrade fails that instance alone, with state unchanged.
//! - Destroy deactivates unless `uninstall_on_destroy` says to remove the workflow for the user
//!   (irreversible). A workflow already gone counts as destroyed.
//! - `username` and `installed_at` come from the workflow's list of users; a refresh of one or
//!   two instances reads each tenant on its own, which does not carry them, so they keep the
//!   last value read.

use async_trait::async_trait;

use super::AlloyData;
use super::missing_users::Ruling;
use super::repeats::Cause;
use super::snapshot::Key;
use super::validation::{check_object_id, check_user};
use super::workflow_snapshot::Install;
use alloy_client::Error;
use terraform_plugin::framework::{
    Attr, AttrPath, Attribute, Block, Diagnostics, IdentityAttribute, IdentitySchema, Model, Plan,
    Resource, Schema, Value,
};

pub struct UserWorkflowResource;

terraform_plugin::model! {
    /// `alloy_user_workflow` as Terraform holds it in plans and state.
    pub(crate) struct UserWorkflowModel {
        id: Attr<String>,
        user_id: Attr<String>,
        workflow_id: Attr<String>,
        active: Attr<bool>,
        auto_upgrade: Attr<bool>,
        uninstall_on_destroy: Attr<bool>,
        installed_version: Attr<i64>,
        latest_version: Attr<i64>,
        installed_at: Attr<String>,
        username: Attr<String>,
    }
}

fn id_of(user: &str, workflow: &str) -> String {
    format!("{user}/{workflow}")
}

/// The state for `install`, keeping what the read cannot tell from `prior`.
fn state_of(
    install: &Install,
    user_id: &Attr<String>,
    workflow_id: &str,
    prior: &UserWorkflowModel,
) -> UserWorkflowModel {
    let user = user_id.as_str().unwrap_or(&install.user_id).to_owned();
    UserWorkflowModel {
        id: id_of(&user, workflow_id).as_str().into(),
        user_id: user.as_str().into(),
        workflow_id: workflow_id.into(),
        active: Attr::Known(install.active),
        auto_upgrade: known_or(&prior.auto_upgrade, false),
        uninstall_on_destroy: known_or(&prior.uninstall_on_destroy, false),
        installed_version: install.installed_version.into(),
        latest_version: install
            .latest_version
            .or(prior.latest_version.get().copied())
            .into(),
        installed_at: install
            .installed_at
            .as_deref()
            .map_or_else(|| known_or_null(&prior.installed_at), Attr::from),
        username: install
            .username
            .as_deref()
            .map_or_else(|| known_or_null(&prior.username), Attr::from),
    }
}

/// The state an import of `install` records (also what the list resource returns): the userId,
/// and the defaults of what Alloy does not hold.
pub(crate) fn imported_state(install: &Install, workflow_id: &str) -> Value {
    let none = UserWorkflowModel {
        id: Attr::Null,
        user_id: Attr::Null,
        workflow_id: Attr::Null,
        active: Attr::Null,
        auto_upgrade: Attr::Null,
        uninstall_on_destroy: Attr::Null,
        installed_version: Attr::Null,
        latest_version: Attr::Null,
        installed_at: Attr::Null,
        username: Attr::Null,
    };
    state_of(
        install,
        &install.user_id.as_str().into(),
        workflow_id,
        &none,
    )
    .to_value()
}

/// What `a` knows, or null: a state never holds an unknown value.
fn known_or_null(a: &Attr<String>) -> Attr<String> {
    match a {
        Attr::Known(v) => Attr::Known(v.clone()),
        _ => Attr::Null,
    }
}

fn known_or(a: &Attr<bool>, default: bool) -> Attr<bool> {
    Attr::Known(a.get().copied().unwrap_or(default))
}

fn not_installed(diags: &mut Diagnostics, user: &str, workflow_id: &str, env: &str) {
    diags.attr_error(
        AttrPath::attr("workflow_id"),
        "Workflow not installed for this user",
        format!(
            "The workflow {workflow_id} is not installed for the user {user:?} in the {env} environment \
             (or that user or workflow does not exist there). `alloy_user_workflow` manages a workflow \
             the end user has installed; it cannot install one, because installing needs the user's \
             own credentials. Have the user install it in Alloy's modal (or headless), then apply \
             again; `data.alloy_workflow_users` lists who has it installed, and feeding its `users` \
             to `for_each` manages exactly those."
        ),
    );
}

fn behind(m: &UserWorkflowModel) -> bool {
    matches!(
        (m.installed_version.get(), m.latest_version.get()),
        (Some(i), Some(l)) if i < l
    )
}

#[async_trait]
impl Resource<AlloyData> for UserWorkflowResource {
    fn type_name(&self) -> &'static str {
        "alloy_user_workflow"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            0,
            Block::new(
                "One installed workflow of one tenant: whether it runs, and at which version. The end user \
                 installs the workflow (in Alloy's modal, or headless); this resource adopts the \
                 installation, switches it on or off, and upgrades it to the workflow's latest version \
                 when asked. Creating it never installs anything.",
                vec![
                    Attribute::string("id").computed().description(
                        "`<user_id>/<workflow_id>`, the form `terraform import` also accepts.",
                    ),
                    Attribute::string("user_id").required().description(
                        "The tenant: Alloy's `userId` (for example `alloy_user.example.id`) or the user's \
                         username. Changing it manages another installation (a replacement).",
                    ),
                    Attribute::string("workflow_id").required().description(
                        "The parent workflow's id (24 hexadecimal characters), as `alloy_integrations` \
                         lists it. Changing it forces a replacement.",
                    ),
                    Attribute::bool("active").optional().computed().description(
                        "Whether the workflow runs for this tenant. Defaults to `true`. Changed in place \
                         (Alloy's activate and deactivate); a tenant who switches it off outside Terraform \
                         shows as a change in the next plan.",
                    ),
                    Attribute::bool("auto_upgrade").optional().computed().description(
                        "When `true`, a plan shows an in-place update whenever the tenant's \
                         `installed_version` is behind the workflow's `latest_version`, and apply upgrades \
                         it. Defaults to `false`. A version whose configurable fields changed cannot be \
                         upgraded to: the apply fails for that tenant, which must reinstall the workflow.",
                    ),
                    Attribute::bool("uninstall_on_destroy").optional().computed().description(
                        "What destroying this resource does. `false` (the default) deactivates the \
                         workflow and leaves it installed. `true` removes the workflow for this tenant, \
                         which cannot be undone: the end user must install it again. A `removed` block with \
                         `lifecycle { destroy = false }` forgets the resource and changes nothing.",
                    ),
                    Attribute::number("installed_version").computed().description(
                        "The version of the workflow the tenant runs.",
                    ),
                    Attribute::number("latest_version").computed().description(
                        "The workflow's latest published version.",
                    ),
                    Attribute::string("installed_at").computed().description(
                        "When the tenant installed the workflow, as Alloy reports it (RFC 3339).",
                    ),
                    Attribute::string("username").computed().description(
                        "The tenant's username.",
                    ),
                ],
            ),
        )
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        let Some(config) = UserWorkflowModel::decode(config, diags) else {
            return;
        };
        if let Some(u) = config.user_id.as_str() {
            check_user(u, diags);
        }
        if let Some(w) = config.workflow_id.as_str() {
            check_object_id(w, AttrPath::attr("workflow_id"), "workflow_id", diags);
        }
    }

    fn requires_replace(&self) -> &'static [&'static str] {
        &["user_id", "workflow_id"]
    }

    async fn modify_plan(&self, _data: &AlloyData, plan: &mut Plan<'_>, diags: &mut Diagnostics) {
        let (Some(mut planned), Some(config)) = (
            UserWorkflowModel::decode(&plan.planned, diags),
            UserWorkflowModel::decode(plan.config, diags),
        ) else {
            return;
        };
        planned.active = known_or(&config.active, true);
        planned.auto_upgrade = known_or(&config.auto_upgrade, false);
        planned.uninstall_on_destroy = known_or(&config.uninstall_on_destroy, false);
        if plan.prior.is_null() {
            if let (Some(u), Some(w)) = (config.user_id.as_str(), config.workflow_id.as_str()) {
                planned.id = id_of(u, w).as_str().into();
            }
        } else {
            let Some(prior) = UserWorkflowModel::decode(plan.prior, diags) else {
                return;
            };
            // What Alloy reports stays as read, except the version an upgrade will install.
            planned.installed_version = prior.installed_version.clone();
            planned.latest_version = prior.latest_version.clone();
            planned.installed_at = prior.installed_at.clone();
            planned.username = prior.username.clone();
            planned.id = prior.id.clone();
            if planned.auto_upgrade.get() == Some(&true) && behind(&prior) {
                planned.installed_version = prior.latest_version.clone();
                planned.installed_at = Attr::Unknown;
            }
        }
        plan.planned = planned.to_value();
    }

    async fn read(&self, data: &AlloyData, state: Value, diags: &mut Diagnostics) -> Option<Value> {
        let Some(prior) = UserWorkflowModel::decode(&state, diags) else {
            return Some(state);
        };
        let (Some(user), Some(workflow_id)) = (prior.user_id.as_str(), prior.workflow_id.as_str())
        else {
            super::provider_bug::report(
                "alloy_user_workflow state without user_id or workflow_id",
                diags,
            );
            return Some(state);
        };
        let _reading = data.missing_workflows.reading();
        let found = if data.missing_workflows.tally().tripped {
            // This run fails anyway: ask the API nothing more.
            Ok(None)
        } else {
            data.workflows.lookup(user, workflow_id).await
        };
        match found {
            Ok(Some(install)) => {
                data.missing_workflows.found();
                Some(state_of(&install, &prior.user_id, workflow_id, &prior).to_value())
            }
            Ok(None) => match data.missing_workflows.missing().await {
                Ruling::Tripped => {
                    self.tripped(data, diags);
                    Some(state)
                }
                Ruling::Gone | Ruling::Accepted => {
                    diags.warning(
                        "Workflow uninstalled outside Terraform",
                        format!(
                            "The workflow {workflow_id} is no longer installed for the user {user:?} in the \
                             {} environment (it was uninstalled, or the user was deleted, outside \
                             Terraform), so it has been removed from state. If the configuration still \
                             declares it, the next apply fails until the user installs it again; a \
                             configuration that builds these from `data.alloy_workflow_users` drops it \
                             instead.",
                            data.environment.as_str()
                        ),
                    );
                    None
                }
            },
            Err(e) => {
                data.api_error(diags, "Cannot read the tenant's workflow", &e);
                Some(state)
            }
        }
    }

    async fn create(
        &self,
        data: &AlloyData,
        planned: &Value,
        _config: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let planned = UserWorkflowModel::decode(planned, diags)?;
        let (Some(user), Some(workflow_id)) =
            (planned.user_id.as_str(), planned.workflow_id.as_str())
        else {
            super::provider_bug::report(
                "alloy_user_workflow plan without user_id or workflow_id",
                diags,
            );
            return None;
        };
        let install = match data.workflows.lookup_whole(user, workflow_id).await {
            Ok(Some(i)) => i,
            Ok(None) => {
                not_installed(diags, user, workflow_id, data.environment.as_str());
                return None;
            }
            Err(e) => {
                data.api_error(diags, "Cannot read the tenant's workflow", &e);
                return None;
            }
        };
        let state = state_of(&install, &planned.user_id, workflow_id, &planned);
        Some(self.converge(data, state, &planned, diags).await.to_value())
    }

    async fn update(
        &self,
        data: &AlloyData,
        prior: &Value,
        planned: &Value,
        _config: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let prior = UserWorkflowModel::decode(prior, diags)?;
        let planned = UserWorkflowModel::decode(planned, diags)?;
        let state = UserWorkflowModel {
            auto_upgrade: planned.auto_upgrade.clone(),
            uninstall_on_destroy: planned.uninstall_on_destroy.clone(),
            ..prior
        };
        Some(self.converge(data, state, &planned, diags).await.to_value())
    }

    async fn delete(&self, data: &AlloyData, prior: &Value, diags: &mut Diagnostics) {
        let Some(prior) = UserWorkflowModel::decode(prior, diags) else {
            return;
        };
        let (Some(user), Some(workflow_id)) = (prior.user_id.as_str(), prior.workflow_id.as_str())
        else {
            super::provider_bug::report(
                "alloy_user_workflow state without user_id or workflow_id",
                diags,
            );
            return;
        };
        let done = if prior.uninstall_on_destroy.get() == Some(&true) {
            data.workflows.uninstall(user, workflow_id).await
        } else {
            match data
                .workflows
                .set_active(None, user, workflow_id, false)
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if e.is_not_found() => Ok(()), // uninstalled already: nothing runs
                Err(e) => Err(e),
            }
        };
        if let Err(e) = done {
            data.api_error(diags, "Cannot destroy the tenant's workflow", &e);
        }
    }

    fn identity(&self) -> Option<IdentitySchema> {
        Some(IdentitySchema::new(
            0,
            vec![
                IdentityAttribute::string("user_id").required_for_import().description(
                    "The tenant, as the resource's `user_id` holds it: Alloy's `userId` (an import \
                     always records the userId, also when given a username).",
                ),
                IdentityAttribute::string("workflow_id")
                    .required_for_import()
                    .description("The parent workflow's `workflowId` (24 hexadecimal characters)."),
            ],
        ))
    }

    async fn import_identity(
        &self,
        data: &AlloyData,
        identity: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        // The same checks and lookups as the `<userId>/<workflowId>` import id.
        let part = |name| identity.attr(name).as_str().unwrap_or_default();
        let id = id_of(part("user_id"), part("workflow_id"));
        self.import(data, &id, diags).await
    }

    async fn import(&self, data: &AlloyData, id: &str, diags: &mut Diagnostics) -> Option<Value> {
        let parts: Vec<&str> = id.trim().split('/').collect();
        let [user, workflow_id] = parts[..] else {
            diags.error(
                "Invalid import id",
                format!(
                    "Import an alloy_user_workflow as `<userId>/<workflowId>` or `<username>/<workflowId>`, \
                     e.g. 65a1f0c2e4b0a1b2c3d4e5f6/66326849aa11bb22cc33dd44; {id:?} is not of that form."
                ),
            );
            return None;
        };
        let mut bad = Diagnostics::new();
        check_object_id(
            workflow_id,
            AttrPath::attr("workflow_id"),
            "workflow_id",
            &mut bad,
        );
        check_user(user, &mut bad);
        if bad.has_errors() {
            diags.error(
                "Invalid import id",
                format!(
                    "{id:?} is not `<userId>/<workflowId>` or `<username>/<workflowId>`: the user part \
                     must be a userId or username without \"/\", and the workflow part 24 hexadecimal \
                     characters."
                ),
            );
            return None;
        }
        // A username becomes the userId, so state names the user as `alloy_user.x.id` does.
        let user_id = match data.users.lookup(Key::IdOrUsername, user).await {
            Ok(u) => u.user_id,
            Err(e) if e.is_not_found() => {
                not_installed(diags, user, workflow_id, data.environment.as_str());
                return None;
            }
            Err(e) => {
                data.api_error(diags, "Cannot import the tenant's workflow", &e);
                return None;
            }
        };
        match data.workflows.lookup_whole(&user_id, workflow_id).await {
            Ok(Some(install)) => Some(imported_state(&install, workflow_id)),
            Ok(None) => {
                not_installed(diags, user, workflow_id, data.environment.as_str());
                None
            }
            Err(e) => {
                data.api_error(diags, "Cannot import the tenant's workflow", &e);
                None
            }
        }
    }
}

impl UserWorkflowResource {
    /// The guard against mass disappearance tripped: this instance fails and stays in state.
    fn tripped(&self, data: &AlloyData, diags: &mut Diagnostics) {
        data.explained.error(
            diags,
            Cause::WorkflowsMissing,
            None,
            "Alloy workflows missing en masse",
            || {
                let t = data.missing_workflows.tally();
                format!(
                    "{missing} of the {read} tenants' workflows this run has read so far are not \
                     installed in the {env} environment. Installations rarely disappear together: most \
                     likely the API key belongs to the other environment or to another Alloy account \
                     (the key in use came from {source}). Nothing has been removed from state, and \
                     this plan stops here.\n\nCheck the key and the provider's `environment`, then \
                     plan again. If these workflows really were uninstalled, accept it for one run with \
                     ALLOY_ACCEPT_MISSING_USERS=true (or `accept_missing_users = true` in the provider \
                     block). The guard follows the same rule as for users (see the environments \
                     guide).",
                    missing = t.missing,
                    read = t.found + t.missing,
                    env = data.environment.as_str(),
                    source = data.key_source,
                )
            },
            "Missing too, kept in state",
        );
    }

    /// Brings the installation described by `state` (what Alloy holds) to `planned`: activation,
    /// then the upgrade when `auto_upgrade` asks for it. Returns what Alloy holds afterwards, even
    /// when a step fails (with an error diagnostic), so state never disagrees with the API.
    async fn converge(
        &self,
        data: &AlloyData,
        mut state: UserWorkflowModel,
        planned: &UserWorkflowModel,
        diags: &mut Diagnostics,
    ) -> UserWorkflowModel {
        let (Some(user), Some(workflow_id)) = (
            state.user_id.as_str().map(str::to_owned),
            state.workflow_id.as_str().map(str::to_owned),
        ) else {
            super::provider_bug::report(
                "alloy_user_workflow without user_id or workflow_id",
                diags,
            );
            return state;
        };
        let mut install = Install {
            user_id: user.clone(),
            username: state.username.as_str().map(str::to_owned),
            active: state.active.get().copied().unwrap_or(true),
            installed_version: state.installed_version.get().copied(),
            installed_at: state.installed_at.as_str().map(str::to_owned),
            latest_version: state.latest_version.get().copied(),
        };
        let want_active = planned.active.get().copied().unwrap_or(true);
        if install.active != want_active {
            match data
                .workflows
                .set_active(Some(&install), &user, &workflow_id, want_active)
                .await
            {
                Ok(Some(now)) => install = now,
                Ok(None) => {}
                Err(e) if e.is_not_found() => {
                    not_installed(diags, &user, &workflow_id, data.environment.as_str());
                    return state;
                }
                Err(e) => {
                    let what = if want_active {
                        "Cannot activate the tenant's workflow"
                    } else {
                        "Cannot deactivate the tenant's workflow"
                    };
                    data.api_error(diags, what, &e);
                    return state;
                }
            }
            state.active = Attr::Known(install.active);
        }
        if planned.auto_upgrade.get() == Some(&true) && behind(&state) {
            match data.workflows.upgrade(&install, &user, &workflow_id).await {
                Ok(now) => {
                    state.installed_version = now.installed_version.into();
                    state.latest_version = now.latest_version.into();
                }
                Err(Error::Unprocessable { message, .. }) => {
                    diags.attr_error(
                        AttrPath::attr("auto_upgrade"),
                        "Workflow upgrade needs a reinstall",
                        format!(
                            "The workflow {workflow_id} of the user {user:?} cannot be upgraded from version \
                             {from} to {to}: Alloy says {message:?}. A version whose configurable fields \
                             changed cannot be upgraded to in place: the user must reinstall the workflow \
                             (in Alloy's modal, or headless). Nothing was changed; to stop this plan from \
                             retrying, set `auto_upgrade = false` for this tenant until it is reinstalled.",
                            from = fmt_version(&state.installed_version),
                            to = fmt_version(&state.latest_version),
                        ),
                    );
                }
                Err(e) => data.api_error(diags, "Cannot upgrade the tenant's workflow", &e),
            }
        }
        state
    }
}

fn fmt_version(v: &Attr<i64>) -> String {
    v.get().map_or_else(|| "?".to_owned(), i64::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(f: impl Fn(&mut Diagnostics)) -> Vec<String> {
        let mut d = Diagnostics::new();
        f(&mut d);
        d.iter().map(|x| x.detail.clone()).collect()
    }

    #[test]
    fn workflow_ids_are_checked() {
        let check = |v: &str| {
            problems(|d| check_object_id(v, AttrPath::attr("workflow_id"), "workflow_id", d))
        };
        assert!(check("66326849aa11bb22cc33dd44").is_empty());
        assert!(check("")[0].contains("an empty string"));
        assert!(check("6632")[0].contains("24 hexadecimal"));
        assert!(check("66326849aa11bb22cc33dd4g")[0].contains("\"66326849aa11bb22cc33dd4g\""));
    }

    #[test]
    fn user_ids_are_checked() {
        assert!(problems(|d| check_user("65a1f0c2e4b0a1b2c3d4e5f6", d)).is_empty());
        assert!(problems(|d| check_user("jane@example.com", d)).is_empty());
        assert!(problems(|d| check_user("", d))[0].contains("must not be empty"));
        assert!(problems(|d| check_user("a/b", d))[0].contains("\"/\""));
    }

    #[test]
    fn model_matches_schema() {
        terraform_plugin::framework::model::assert_matches_schema::<UserWorkflowModel>(
            &UserWorkflowResource.schema(),
        );
    }
}
