//! The provider executable Terraform launches.
//!
//! TEMPORARY: until the framework layer (`src/framework/`) lands, this serves
//! a placeholder provider defined below, with an empty schema, so the process,
//! handshake and transport can be exercised end to end with real Terraform.

use std::process::ExitCode;

use terraform_provider_alloy::plugin::{self, PluginConfig};
use terraform_provider_alloy::proto::tfplugin6::{
    self, configure_provider, get_provider_schema, provider_server::Provider, stop_provider,
    validate_provider_config,
};
use tonic::{Request, Response, Status};

fn main() -> ExitCode {
    plugin::run(
        PluginConfig {
            binary_name: "terraform-provider-alloy",
            provider_address: "alloy-automation/alloy".to_owned(),
        },
        PlaceholderProvider,
    )
}

/// TEMPORARY stand-in for the real provider: an empty provider schema and
/// no-op configuration. Every other RPC answers UNIMPLEMENTED.
struct PlaceholderProvider;

#[tonic::async_trait]
impl Provider for PlaceholderProvider {
    async fn get_provider_schema(
        &self,
        _request: Request<get_provider_schema::Request>,
    ) -> Result<Response<get_provider_schema::Response>, Status> {
        Ok(Response::new(get_provider_schema::Response {
            provider: Some(tfplugin6::Schema {
                version: 0,
                block: Some(tfplugin6::schema::Block::default()),
            }),
            server_capabilities: Some(tfplugin6::ServerCapabilities {
                get_provider_schema_optional: true,
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    async fn validate_provider_config(
        &self,
        _request: Request<validate_provider_config::Request>,
    ) -> Result<Response<validate_provider_config::Response>, Status> {
        Ok(Response::new(validate_provider_config::Response::default()))
    }

    async fn configure_provider(
        &self,
        _request: Request<configure_provider::Request>,
    ) -> Result<Response<configure_provider::Response>, Status> {
        Ok(Response::new(configure_provider::Response::default()))
    }

    async fn stop_provider(
        &self,
        _request: Request<stop_provider::Request>,
    ) -> Result<Response<stop_provider::Response>, Status> {
        Ok(Response::new(stop_provider::Response::default()))
    }
}
