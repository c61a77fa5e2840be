//! The provider executable Terraform launches (or a user runs with `--debug`).

use std::process::ExitCode;

use terraform_provider_alloy::framework::Server;
use terraform_provider_alloy::plugin::{self, PluginConfig};
use terraform_provider_alloy::provider::AlloyProvider;

fn main() -> ExitCode {
    plugin::run(
        PluginConfig {
            binary_name: "terraform-provider-alloy",
            provider_address: "alloy-automation/alloy".to_owned(),
            env_prefix: "ALLOY_",
        },
        Server::new(AlloyProvider),
    )
}
