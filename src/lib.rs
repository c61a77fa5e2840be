//! terraform-provider-alloy: the Alloy provider for Terraform (and OpenTofu), the one crate that
//! knows both sides. It implements [`terraform_plugin::framework`]'s traits on top of the
//! [`alloy_client`] API client, and its binary serves it through [`terraform_plugin::plugin`]
//! (DESIGN.md, "Layers").
//!
//! Its configuration, then one file per resource, data source and ephemeral resource, named by
//! its kind (`user_resource.rs`, `users_data_source.rs`, `user_token_ephemeral.rs`), and the
//! modules they share: `api` and `snapshot` (their only ways to the API), `validation`,
//! `not_found` and `provider_bug` (checks and diagnostics), `jwt`, `missing_users`, `repeats`.
//! This file only lists what the provider offers and turns configuration into the [`AlloyData`]
//! every operation receives.

#![cfg_attr(not(test), warn(unused_crate_dependencies))]

mod api;
pub mod config;
mod credential_resource;
mod credential_snapshot;
mod credential_types_data_source;
mod demand;
mod integrations_data_source;
mod ip_addresses_data_source;
mod jwt;
mod missing_users;
mod not_found;
mod provider_bug;
mod repeats;
mod snapshot;
mod user_credentials_data_source;
mod user_data_source;
mod user_list_resource;
mod user_protect;
mod user_resource;
mod user_token_data_source;
mod user_token_ephemeral;
mod user_workflow_list_resource;
mod user_workflow_resource;
mod users_data_source;
mod validation;
mod workflow_snapshot;
mod workflow_users_data_source;

use async_trait::async_trait;

use alloy_client::AlloyClient;
use terraform_plugin::framework::{
    ConfigureRequest, Diagnostics, Provider, Registry, Schema, Value,
};

pub use config::Environment;

/// The provider's version, reported by `--version` and carried in the User-Agent.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The `tracing` targets of the crates whose events are the provider's own (this one and the API
/// client): they log at the level `TF_LOG` asks for, dependencies at INFO at most.
pub const LOG_TARGETS: &[&str] = &[env!("CARGO_CRATE_NAME"), alloy_client::LOG_TARGET];

/// What a configured provider hands every operation.
pub struct AlloyData {
    /// The API calls no snapshot owns (see `api`: user writes are not among them).
    pub(crate) api: api::Api,
    pub environment: Environment,
    /// What this process learns of the environment's users (one list shared by every read), and
    /// the only way to create, update or delete one.
    pub users: snapshot::UserSnapshot,
    /// What this process learns of the tenants' workflows, and the door for changing them.
    pub(crate) workflows: workflow_snapshot::WorkflowSnapshot,
    /// What this process learns of the tenants' credentials and of the account's credential
    /// types, and the door for creating and deleting a credential.
    pub(crate) credentials: credential_snapshot::CredentialSnapshot,
    /// The guard against mass disappearance (see `missing_users`).
    pub(crate) missing: missing_users::MissingUsers,
    /// The same guard for the tenants' workflows (`alloy_user_workflow` reads).
    pub(crate) missing_workflows: missing_users::MissingUsers,
    /// The same guard for the tenants' credentials (`alloy_credential` reads).
    pub(crate) missing_credentials: missing_users::MissingUsers,
    /// Causes already explained in full in this run (see `repeats`).
    pub(crate) explained: repeats::Explained,
    /// Where the API key came from: `api_key` or the variable's name, for messages.
    pub key_source: String,
}

impl AlloyData {
    /// What one provider process hands its operations: nothing learnt yet.
    pub fn new(
        client: AlloyClient,
        environment: Environment,
        key_source: String,
        accept_missing_users: bool,
    ) -> Self {
        AlloyData {
            users: snapshot::UserSnapshot::new(client.clone()),
            workflows: workflow_snapshot::WorkflowSnapshot::new(client.clone()),
            credentials: credential_snapshot::CredentialSnapshot::new(client.clone()),
            api: api::Api::new(client),
            environment,
            missing: missing_users::MissingUsers::new(accept_missing_users),
            missing_workflows: missing_users::MissingUsers::new(accept_missing_users),
            missing_credentials: missing_users::MissingUsers::new(accept_missing_users),
            explained: repeats::Explained::default(),
            key_source,
        }
    }

    /// Reports a failed API call (see [`api_error`]). A failure that every call of this run
    /// meets (a rejected key, an API out of reach) is explained in full once; later ones are a
    /// line that points to it.
    pub(crate) fn api_error(
        &self,
        diags: &mut Diagnostics,
        summary: &str,
        err: &alloy_client::Error,
    ) {
        let Some(verdict) = err.verdict() else {
            return api_error(diags, summary, err);
        };
        let (cause, short, names_key) = match verdict {
            alloy_client::Verdict::Unreachable { .. } => (
                repeats::Cause::Unreachable,
                "API unreachable, nothing sent",
                false,
            ),
            alloy_client::Verdict::Rejected { .. } => (
                repeats::Cause::Rejected,
                "API key rejected, nothing sent",
                true,
            ),
        };
        let full = || {
            let detail = full_detail(err);
            if names_key {
                format!("{detail} The key in use came from {}.", self.key_source)
            } else {
                detail
            }
        };
        self.explained
            .error(diags, cause, None, summary, full, short);
    }
}

#[derive(Default)]
pub struct AlloyProvider;

#[async_trait]
impl Provider for AlloyProvider {
    type Data = AlloyData;

    fn type_name(&self) -> &'static str {
        "alloy"
    }

    fn schema(&self) -> Schema {
        config::schema()
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        config::validate(config, diags);
    }

    async fn configure(&self, req: ConfigureRequest, diags: &mut Diagnostics) -> Option<AlloyData> {
        let user_agent = format!(
            "terraform-provider-alloy/{VERSION} terraform/{}",
            req.terraform_version
        );
        let env = |k: &str| std::env::var(k).ok();
        let resolved = config::resolve(&req.config, &env, &user_agent, req.stop, diags)?;
        secrets::register(resolved.client.api_key.expose());
        let environment = resolved.environment;
        match AlloyClient::new(resolved.client) {
            Ok(client) => {
                tracing::debug!(environment = environment.as_str(), "provider configured");
                Some(AlloyData::new(
                    client,
                    environment,
                    resolved.key_source,
                    resolved.accept_missing_users,
                ))
            }
            Err(e) => {
                diags.error("Cannot set up the Alloy API client", e.to_string());
                None
            }
        }
    }

    fn register(&self, types: &mut Registry<AlloyData>) {
        types
            .resource(user_resource::UserResource)
            .resource(user_workflow_resource::UserWorkflowResource)
            .resource(credential_resource::CredentialResource)
            .data_source(user_data_source::UserDataSource)
            .data_source(users_data_source::UsersDataSource)
            .data_source(user_token_data_source::UserTokenDataSource)
            .data_source(integrations_data_source::IntegrationsDataSource)
            .data_source(ip_addresses_data_source::IpAddressesDataSource)
            .data_source(workflow_users_data_source::WorkflowUsersDataSource)
            .data_source(user_credentials_data_source::UserCredentialsDataSource)
            .data_source(credential_types_data_source::CredentialTypesDataSource)
            .ephemeral_resource(user_token_ephemeral::UserTokenEphemeral)
            .list_resource(user_list_resource::UserList)
            .list_resource(user_workflow_list_resource::UserWorkflowList);
    }
}

/// Reports a failed API call, the one place where an API error becomes Terraform advice: the
/// summary says what we were doing, the detail is the client's sentence (which names the operation
/// and the API's message, never the key) followed by what to do about it here.
fn api_error(diags: &mut Diagnostics, summary: impl Into<String>, err: &alloy_client::Error) {
    diags.error(summary, full_detail(err));
}

fn full_detail(err: &alloy_client::Error) -> String {
    match advice(err) {
        Some(advice) => format!("{err} {advice}"),
        None => err.to_string(),
    }
}

const REJECTED_ADVICE: &str = "Check that `api_key` (or the ALLOY_*_API_KEY variable in use) is a \
     current Alloy API key and that `base_url` or `region` points at the API that issued it.";

const UNREACHABLE_ADVICE: &str =
    "Check `base_url` (or ALLOY_BASE_URL) and that the API is reachable from this machine.";

/// What a Terraform user can do about `err`, in terms of this provider's settings.
fn advice(err: &alloy_client::Error) -> Option<&'static str> {
    use alloy_client::Error as E;
    Some(match err {
        E::Halted { verdict, .. } => match verdict {
            alloy_client::Verdict::Rejected { .. } => REJECTED_ADVICE,
            alloy_client::Verdict::Unreachable { .. } => UNREACHABLE_ADVICE,
        },
        E::Unauthorized { .. } => REJECTED_ADVICE,
        E::NotFound { .. } => "It may have been deleted outside Terraform.",
        E::Conflict { .. } => {
            "Usernames must be unique per environment: choose another username, or import the \
             existing user."
        }
        E::RateLimited { .. } => {
            "Lower terraform's -parallelism or raise the provider's `max_retries`, then try again."
        }
        E::Server { .. } => "This is usually temporary: try again later.",
        E::Transport { .. } => UNREACHABLE_ADVICE,
        E::Decode { .. } => "Check that `base_url` (or ALLOY_BASE_URL) points at the Alloy API.",
        E::Deadline { .. } => {
            "The Alloy API may be slow or rate limiting; try again later, or allow more time with \
             `request_timeout` and `max_retries`."
        }
        _ => return None,
    })
}

/// Locks one of the provider's in-memory caches (snapshots, tallies). A panic elsewhere cannot
/// leave them half-updated in a way that matters: each update is one insert or replace, so a
/// poisoned lock is taken as it is.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
