//! `alloy_user`: one Alloy end user (a tenant) per resource instance.
//!
//! Choices worth knowing:
//! - `username` forces a new user. Alloy's docs disagree on whether a username can be changed,
//!   and replacement is safe under either reading.
//! - `environment` records where the user was created. A workspace whose provider now points at
//!   the other environment fails at refresh/plan instead of "losing" every user (a 404 under the
//!   other key) and re-creating them all there.
//! - Create is one round trip: Alloy answers `POST /users` with the `userId` alone, and the rest
//!   of the state is what was sent. It never duplicates: the client resolves an ambiguous create
//!   by looking the username up, and that lookup's answer becomes the state.
//! - Its identity (Terraform ≥ 1.12) is the `userId` alone, `user_id`, read from `id`: what Alloy
//!   names a user by, fixed for the user's life. The environment stays out of it: it is checked
//!   on every plan already, and state written before `environment` existed holds none until a
//!   plan records it, so an identity holding it would change, which an identity may never do.
//! - `deletion_protection` lives in state only (Alloy has no such flag); the refusal, its
//!   messages and the state upgrade that introduced it are in `user_protect.rs`.
//! - Offboarding: `purge_logs_on_destroy` and `delete_credentials_on_destroy` live in state only
//!   too. Destroy runs, in this order, the purge of the tenant's logs, the deletion of each of its
//!   stored credentials (a fresh list), then the user's deletion; a step that fails stops there,
//!   so the user stays in state and the error says what was done. Schema version 2 added them
//!   (`upgrade_state` records `false`, what a configuration without them plans).

use async_trait::async_trait;

use super::missing_users::{self, StateUser};
use super::not_found::{self, Asked};
use super::repeats::Cause;
use super::snapshot::Key;
use super::validation::check_object_id;
use super::validation::check_username;
use super::{AlloyData, provider_bug, user_protect};
use alloy_client::{Error, User};
use terraform_plugin::framework::{
    Attr, AttrPath, Attribute, Block, Deletion, Diagnostics, IdentityAttribute, IdentitySchema,
    Model, Plan, Resource, Schema, Value,
};

pub struct UserResource;

terraform_plugin::model! {
    /// `alloy_user` as Terraform holds it in plans and state.
    pub(crate) struct UserModel {
        id: Attr<String>,
        username: Attr<String>,
        full_name: Attr<String>,
        environment: Attr<String>,
        deletion_protection: Attr<bool>,
        purge_logs_on_destroy: Attr<bool>,
        delete_credentials_on_destroy: Attr<bool>,
    }
}

/// The offboarding flags' names.
const PURGE_LOGS: &str = "purge_logs_on_destroy";
const DELETE_CREDENTIALS: &str = "delete_credentials_on_destroy";

/// The state of a user as Alloy reports it. An empty full name means "none"; a username Alloy
/// leaves out keeps `fallback_username`. Deletion protection is not Alloy's: it starts `false`,
/// and callers with a prior state or plan keep theirs (`user_protect::kept`).
pub(crate) fn user_state(
    user: &User,
    fallback_username: &Attr<String>,
    data: &AlloyData,
) -> UserModel {
    UserModel {
        id: user.user_id.as_str().into(),
        username: user
            .username
            .as_deref()
            .map_or_else(|| fallback_username.clone(), Attr::from),
        full_name: user.full_name.as_deref().filter(|n| !n.is_empty()).into(),
        environment: data.environment.as_str().into(),
        deletion_protection: Attr::Known(false),
        purge_logs_on_destroy: Attr::Known(false),
        delete_credentials_on_destroy: Attr::Known(false),
    }
}

/// Keeps the state-only settings (protection, offboarding) of `from` in `state`.
fn keep_settings(mut state: UserModel, from: &UserModel) -> UserModel {
    state.deletion_protection = user_protect::kept(&from.deletion_protection);
    state.purge_logs_on_destroy = user_protect::kept(&from.purge_logs_on_destroy);
    state.delete_credentials_on_destroy = user_protect::kept(&from.delete_credentials_on_destroy);
    state
}

/// Refuses to touch a user recorded under another environment than the provider's. The first
/// such user of a run is explained in full; the rest point to it.
fn check_environment(state: &UserModel, data: &AlloyData, diags: &mut Diagnostics) -> bool {
    match state.environment.as_str() {
        Some(recorded) if recorded != data.environment.as_str() => {
            let (name, id) = (
                state.username.as_str().unwrap_or("?"),
                state.id.as_str().unwrap_or("?"),
            );
            let current = data.environment.as_str();
            data.explained.error(
                diags,
                Cause::EnvironmentMismatch,
                Some(AttrPath::attr("environment")),
                "Alloy environment mismatch",
                || {
                    format!(
                        "This user ({name}, id {id}) was created in the {recorded} environment, but the \
                         provider is configured for {current}. Development and production keys see \
                         different users, so going on would report it deleted and create a new user in \
                         {current}. Check the provider's `environment` and API key (ALLOY_ENVIRONMENT, \
                         ALLOY_{upper}_API_KEY, ALLOY_API_KEY): this workspace manages {recorded}. If you \
                         really mean to move it, remove it from state (terraform state rm) and import the \
                         user in the new environment.",
                        upper = recorded.to_uppercase(),
                    )
                },
                &format!("Recorded in {recorded}, provider set to {current}"),
            );
            false
        }
        _ => true,
    }
}

#[async_trait]
impl Resource<AlloyData> for UserResource {
    fn type_name(&self) -> &'static str {
        "alloy_user"
    }

    fn schema(&self) -> Schema {
        // Version 1 added `deletion_protection`, version 2 the offboarding flags (see
        // `upgrade_state`).
        Schema::new(
            2,
            Block::new(
                "An Alloy Embedded end user: one tenant of your application, who can connect third-party apps \
                 through Alloy's modal. Other infrastructure can reference its `id` (Alloy's `userId`).",
                vec![
                    Attribute::string("id").computed().description(
                        "Alloy's `userId` for this user (24 hexadecimal characters). Stable for the life of \
                         the user.",
                    ),
                    Attribute::string("username").required().description(
                        "Unique name of the user within its environment, typically an email address or your \
                         own customer id. At most 255 characters, without leading or trailing whitespace or \
                         control characters. Changing it forces a new user: Alloy's documentation does not \
                         guarantee that a username can be renamed.",
                    ),
                    Attribute::string("full_name").optional().description(
                        "Display name of the user. Changed in place; removing it clears the name in Alloy.",
                    ),
                    Attribute::string("environment").computed().description(
                        "The environment (`development` or `production`) the user was created in, taken from \
                         the provider configuration. A plan fails if the provider's environment later differs, \
                         instead of re-creating the user in the other environment.",
                    ),
                    user_protect::attribute(),
                    Attribute::bool(PURGE_LOGS).optional().computed().description(
                        "When `true`, destroying this user first deletes every workflow log Alloy keeps \
                         for it (Alloy's `DELETE /users/{userId}/logs`, which cannot be undone and is meant \
                         for erasure requests); deleting a user alone leaves its logs. If the purge fails, \
                         the user is not deleted and stays in state, and the error says so. Defaults to \
                         `false`. Changing it updates the state only and makes no API call; \
                         `deletion_protection` still refuses the destroy.",
                    ),
                    Attribute::bool(DELETE_CREDENTIALS).optional().computed().description(
                        "When `true`, destroying this user first deletes every credential Alloy stores for \
                         it (a fresh list of them, then one delete each; after the log purge when \
                         `purge_logs_on_destroy` is set), so the outcome does not depend on whether \
                         Alloy's user delete removes them. If a deletion fails, the user is not deleted \
                         and stays in state. Defaults to `false`. Changing it updates the state only and \
                         makes no API call; `deletion_protection` still refuses the destroy.",
                    ),
                ],
            ),
        )
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        let Some(config) = UserModel::decode(config, diags) else {
            return;
        };
        if let Some(u) = config.username.as_str() {
            check_username("username", u, diags);
        }
        if config.full_name.as_str() == Some("") {
            diags.attr_error(
                AttrPath::attr("full_name"),
                "Invalid full_name",
                "`full_name` is an empty string. Omit the attribute to leave the user without a display name.",
            );
        }
    }

    fn requires_replace(&self) -> &'static [&'static str] {
        &["username"]
    }

    async fn modify_plan(&self, data: &AlloyData, plan: &mut Plan<'_>, diags: &mut Diagnostics) {
        let (Some(mut planned), Some(config)) = (
            UserModel::decode(&plan.planned, diags),
            UserModel::decode(plan.config, diags),
        ) else {
            return;
        };
        planned.deletion_protection = user_protect::planned(&config.deletion_protection);
        planned.purge_logs_on_destroy = user_protect::planned(&config.purge_logs_on_destroy);
        planned.delete_credentials_on_destroy =
            user_protect::planned(&config.delete_credentials_on_destroy);
        // Known at plan time: the provider's environment, for a new user or a state that predates
        // the attribute.
        let record_environment = if plan.prior.is_null() {
            true
        } else {
            let Some(prior) = UserModel::decode(plan.prior, diags) else {
                return;
            };
            check_environment(&prior, data, diags) && prior.environment.is_null()
        };
        if record_environment {
            planned.environment = data.environment.as_str().into();
        }
        plan.planned = planned.to_value();
    }

    fn check_delete(&self, prior: &Value, why: Deletion, diags: &mut Diagnostics) {
        if let Some(prior) = UserModel::decode(prior, diags) {
            user_protect::check(&prior, why, diags);
        }
    }

    async fn read(&self, data: &AlloyData, state: Value, diags: &mut Diagnostics) -> Option<Value> {
        let Some(prior) = UserModel::decode(&state, diags) else {
            return Some(state);
        };
        if !check_environment(&prior, data, diags) {
            return Some(state);
        }
        let Some(id) =
            provider_bug::expect(prior.id.as_str(), "an alloy_user in state has no id", diags)
        else {
            return Some(state);
        };
        let user = StateUser {
            username: prior.username.as_str().unwrap_or("?"),
            id,
            protected: prior.deletion_protection.get().copied().unwrap_or(false),
        };
        let _reading = data.missing.reading();
        let found = if data.missing.tally().tripped {
            // This run fails anyway: answer from what is known, and ask the API nothing more.
            match data.users.known_only(Key::Id, id) {
                Some(u) => Ok(u),
                None => {
                    missing_users::tripped(data, "Not checked, kept in state", diags);
                    return Some(state);
                }
            }
        } else {
            data.users.lookup(Key::Id, id).await
        };
        match found {
            Ok(found) => {
                data.missing.found();
                let state = user_state(&found, &prior.username, data);
                Some(keep_settings(state, &prior).to_value())
            }
            Err(e) if e.is_not_found() => {
                if missing_users::settle(data, &user, diags).await {
                    None
                } else {
                    Some(state)
                }
            }
            Err(e) => {
                data.api_error(diags, "Cannot read Alloy user", &e);
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
        let planned = UserModel::decode(planned, diags)?;
        let username = provider_bug::expect(
            planned.username.as_str(),
            "a planned alloy_user has no username",
            diags,
        )?;
        let full_name = planned.full_name.as_str();
        let user = match data.users.create(username, full_name).await {
            Ok(user) => user,
            Err(e @ Error::Conflict { .. }) => {
                diags.attr_error(
                    AttrPath::attr("username"),
                    "Alloy user already exists",
                    format!(
                        "A user named {username:?} already exists in the {env} environment ({e}).\n\nTo manage \
                         that user with Terraform, import it instead of creating it: add an `import` block \
                         whose `id` is {username:?} and whose `to` is this resource's address (the one \
                         Terraform names above, after \"with\"), or run `terraform import` with that \
                         address and {username:?}. Otherwise choose another username.",
                        env = data.environment.as_str(),
                    ),
                );
                return None;
            }
            Err(e) => {
                data.api_error(diags, "Cannot create Alloy user", &e);
                return None;
            }
        };
        // What was sent plus the `userId` (no read-back), or after a lost answer the user the
        // client's username lookup found (see `UserSnapshot::create`).
        let state = user_state(&user, &planned.username, data);
        Some(keep_settings(state, &planned).to_value())
    }

    async fn update(
        &self,
        data: &AlloyData,
        prior: &Value,
        planned: &Value,
        _config: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let prior = UserModel::decode(prior, diags)?;
        let planned = UserModel::decode(planned, diags)?;
        if !check_environment(&prior, data, diags) {
            return None;
        }
        if planned.full_name == prior.full_name {
            // Nothing Alloy stores changes (only the state-only settings, or the environment a
            // state that predates it records): no API call.
            let state = UserModel {
                environment: data.environment.as_str().into(),
                ..prior
            };
            return Some(keep_settings(state, &planned).to_value());
        }
        let id =
            provider_bug::expect(prior.id.as_str(), "an alloy_user in state has no id", diags)?;
        match data.users.update(id, planned.full_name.as_str()).await {
            Ok(user) => {
                let state = user_state(&user, &planned.username, data);
                Some(keep_settings(state, &planned).to_value())
            }
            Err(e) => {
                data.api_error(diags, "Cannot update Alloy user", &e);
                None
            }
        }
    }

    async fn delete(&self, data: &AlloyData, prior: &Value, diags: &mut Diagnostics) {
        let Some(prior) = UserModel::decode(prior, diags) else {
            return;
        };
        if !check_environment(&prior, data, diags) {
            return;
        }
        let Some(id) =
            provider_bug::expect(prior.id.as_str(), "an alloy_user in state has no id", diags)
        else {
            return;
        };
        if !offboard(data, &prior, id, diags).await {
            return;
        }
        match data.users.delete(id).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {} // already gone: the goal is reached
            Err(e) => data.api_error(diags, "Cannot delete Alloy user", &e),
        }
    }

    fn upgrade_state(
        &self,
        from_version: i64,
        state: serde_json::Value,
        diags: &mut Diagnostics,
    ) -> Option<serde_json::Value> {
        match from_version {
            0 => upgrade_v1(user_protect::upgrade_v0(state, diags)?, diags),
            1 => upgrade_v1(state, diags),
            v => {
                diags.error(
                    "Unsupported state version",
                    format!("This alloy_user state has schema version {v}, which no provider version wrote."),
                );
                None
            }
        }
    }

    fn identity(&self) -> Option<IdentitySchema> {
        Some(IdentitySchema::new(
            0,
            vec![
                IdentityAttribute::string("user_id")
                    .from_state("id")
                    .required_for_import()
                    .description(
                        "Alloy's `userId` of the user (24 hexadecimal characters), the same value as the \
                         resource's `id`.",
                    ),
            ],
        ))
    }

    async fn import_identity(
        &self,
        data: &AlloyData,
        identity: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let user_id = identity.attr("user_id").as_str().unwrap_or_default();
        // The identity is the userId; a username here would import a user whose identity is not
        // the one asked for.
        let mut bad = Diagnostics::new();
        check_object_id(user_id, AttrPath::attr("user_id"), "user_id", &mut bad);
        if bad.has_errors() {
            diags.error(
                "Invalid import identity",
                format!(
                    "`user_id` in an import block's identity must be Alloy's userId (24 hexadecimal \
                     characters), but it is {user_id:?}. To import by username, use `id = \"<username>\"` \
                     instead of `identity`."
                ),
            );
            return None;
        }
        self.import(data, user_id, diags).await
    }

    async fn import(&self, data: &AlloyData, id: &str, diags: &mut Diagnostics) -> Option<Value> {
        let id = id.trim();
        if id.is_empty() {
            diags.error(
                "Invalid import id",
                "Import an Alloy user by its userId or by its username, e.g. terraform import alloy_user.x \
                 jane@example.com",
            );
            return None;
        }
        // By id or by username, as `GET /users/{x}` resolves it; what is found is remembered, so
        // the read Terraform sends next costs nothing.
        match data.users.lookup(Key::IdOrUsername, id).await {
            Ok(user) => Some(user_state(&user, &id.into(), data).to_value()),
            Err(e) if e.is_not_found() => {
                not_found::user(data, Asked::Import, id, diags);
                None
            }
            Err(e) => {
                data.api_error(diags, "Cannot import Alloy user", &e);
                None
            }
        }
    }
}

/// What destroy does before deleting the user, as the offboarding flags of `prior` ask: the
/// logs purge, then each stored credential's deletion. False (with an error saying what was
/// done and that the user stays) when a step failed: the user must not be deleted then.
async fn offboard(data: &AlloyData, prior: &UserModel, id: &str, diags: &mut Diagnostics) -> bool {
    let user = format!("{} (id {id})", prior.username.as_str().unwrap_or("?"));
    let mut done: Vec<String> = Vec::new();
    if prior.purge_logs_on_destroy.value() == Some(true) {
        match data.users.purge_logs(id).await {
            Ok(()) => done.push("its logs were purged".to_owned()),
            Err(e) if e.is_not_found() => {
                // Deleted outside Terraform: the API purges no logs of a user it does not know.
                diags.warning(
                    "Tenant's logs not purged",
                    format!(
                        "The user {user} no longer exists in the {} environment (it was deleted outside \
                         Terraform), and Alloy's log purge takes only existing users, so its logs could \
                         not be purged; Alloy may still hold them (it keeps logs for at most 60 days). \
                         Ask Alloy's support to erase them if that matters.",
                        data.environment.as_str()
                    ),
                );
            }
            Err(e) => {
                data.api_error(
                    diags,
                    &format!(
                        "Cannot purge the tenant's logs: the user {user} was not deleted and stays in state"
                    ),
                    &e,
                );
                return false;
            }
        }
    }
    if prior.delete_credentials_on_destroy.value() == Some(true) {
        match data.credentials.delete_all(id).await {
            Ok(ids) => done.push(format!("{} stored credential(s) were deleted", ids.len())),
            Err(e) => {
                let so_far = if done.is_empty() {
                    String::new()
                } else {
                    format!(" ({} first)", done.join("; "))
                };
                data.api_error(
                    diags,
                    &format!(
                        "Cannot delete the tenant's credentials: the user {user} was not deleted and \
                         stays in state{so_far}"
                    ),
                    &e,
                );
                return false;
            }
        }
    }
    if !done.is_empty() {
        tracing::info!(
            user_id = id,
            "offboarding before the user's deletion: {}",
            done.join("; ")
        );
    }
    true
}

/// State of schema version 1 (before the offboarding flags) gets both `false`, which is what
/// the plan of a configuration without them says, so nothing changes.
fn upgrade_v1(mut state: serde_json::Value, diags: &mut Diagnostics) -> Option<serde_json::Value> {
    let Some(obj) = state.as_object_mut() else {
        diags.error(
            "Unreadable stored state",
            "The stored state of this alloy_user (schema version 1) is not a JSON object. Remove it from \
             state (terraform state rm) and import the user again.",
        );
        return None;
    };
    for flag in [PURGE_LOGS, DELETE_CREDENTIALS] {
        obj.entry(flag).or_insert(serde_json::Value::Bool(false));
    }
    Some(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn older_states_upgrade_to_no_offboarding() {
        let mut d = Diagnostics::new();
        let v0 = serde_json::json!({"id": "x", "username": "u", "full_name": null, "environment": "development"});
        let v2 = UserResource.upgrade_state(0, v0, &mut d).expect("upgraded");
        assert_eq!(v2["deletion_protection"], false);
        assert_eq!(v2[PURGE_LOGS], false);
        assert_eq!(v2[DELETE_CREDENTIALS], false);
        let v1 = serde_json::json!({"id": "x", "username": "u", "deletion_protection": true});
        let v2 = UserResource.upgrade_state(1, v1, &mut d).expect("upgraded");
        assert_eq!(v2["deletion_protection"], true);
        assert_eq!(v2[PURGE_LOGS], false);
        assert!(d.is_empty());
        assert!(
            UserResource
                .upgrade_state(1, serde_json::json!(3), &mut d)
                .is_none()
        );
        assert!(d.has_errors());
    }

    #[test]
    fn model_matches_schema() {
        terraform_plugin::framework::model::assert_matches_schema::<UserModel>(
            &UserResource.schema(),
        );
    }
}
