//! The Alloy provider: its configuration, then one file per resource, data source and ephemeral
//! resource. This file only lists what the provider offers and turns configuration into the
//! [`AlloyData`] every operation receives.

pub mod config;
mod integrations;
mod ip_addresses;
mod snapshot;
mod user;
mod user_data;
mod user_protect;
mod user_token;
mod users;

use async_trait::async_trait;

use crate::alloy::{self, AlloyClient};
use crate::framework::{
    ConfigureRequest, DataSource, Diagnostics, EphemeralResource, Provider, Resource, Schema, Value,
};

pub use config::Environment;

/// The provider's version, reported by `--version` and carried in the User-Agent.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What a configured provider hands every operation.
pub struct AlloyData {
    pub client: AlloyClient,
    pub environment: Environment,
    /// What this process learns of the environment's users (one list shared by every read).
    pub users: snapshot::UserSnapshot,
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
        crate::secrets::register(resolved.client.api_key.expose());
        let environment = resolved.environment;
        match AlloyClient::new(resolved.client) {
            Ok(client) => {
                tracing::debug!(environment = environment.as_str(), "provider configured");
                Some(AlloyData {
                    client,
                    environment,
                    users: snapshot::UserSnapshot::new(),
                })
            }
            Err(e) => {
                diags.error("Cannot set up the Alloy API client", e.to_string());
                None
            }
        }
    }

    fn resources(&self) -> Vec<Box<dyn Resource<AlloyData>>> {
        vec![Box::new(user::UserResource)]
    }

    fn data_sources(&self) -> Vec<Box<dyn DataSource<AlloyData>>> {
        vec![
            Box::new(user_data::UserDataSource),
            Box::new(users::UsersDataSource),
            Box::new(user_token::UserTokenDataSource),
            Box::new(integrations::IntegrationsDataSource),
            Box::new(ip_addresses::IpAddressesDataSource),
        ]
    }

    fn ephemeral_resources(&self) -> Vec<Box<dyn EphemeralResource<AlloyData>>> {
        vec![Box::new(user_token::UserTokenEphemeral)]
    }
}

/// Reports a failed API call, the one place where an API error becomes Terraform advice: the
/// summary says what we were doing, the detail is the client's sentence (which names the operation
/// and the API's message, never the key) followed by what to do about it here.
pub(crate) fn api_error(diags: &mut Diagnostics, summary: impl Into<String>, err: &alloy::Error) {
    let detail = match advice(err) {
        Some(advice) => format!("{err} {advice}"),
        None => err.to_string(),
    };
    diags.error(summary, detail);
}

/// What a Terraform user can do about `err`, in terms of this provider's settings.
fn advice(err: &alloy::Error) -> Option<&'static str> {
    use alloy::Error as E;
    Some(match err {
        E::Unauthorized { .. } => {
            "Check that `api_key` (or the ALLOY_*_API_KEY variable in use) is a current Alloy API key \
             and that `base_url` or `region` points at the API that issued it."
        }
        E::NotFound { .. } => "It may have been deleted outside Terraform.",
        E::Conflict { .. } => {
            "Usernames must be unique per environment: choose another username, or import the \
             existing user."
        }
        E::RateLimited { .. } => {
            "Lower terraform's -parallelism or raise the provider's `max_retries`, then try again."
        }
        E::Server { .. } => "This is usually temporary: try again later.",
        E::Transport { .. } => {
            "Check `base_url` (or ALLOY_BASE_URL) and that the API is reachable from this machine."
        }
        E::Decode { .. } => "Check that `base_url` (or ALLOY_BASE_URL) points at the Alloy API.",
        E::Deadline { .. } => {
            "The Alloy API may be slow or rate limiting; try again later, or allow more time with \
             `request_timeout` and `max_retries`."
        }
        _ => return None,
    })
}
