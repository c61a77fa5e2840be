//! The provider executable Terraform launches (or a user runs with `--debug`).

use std::process::ExitCode;

use terraform_plugin::framework::Server;
use terraform_plugin::plugin::{self, PluginConfig};
use terraform_provider_alloy::AlloyProvider;

fn main() -> ExitCode {
    plugin::run(
        PluginConfig {
            binary_name: "terraform-provider-alloy",
            provider_address: "alloy-automation/alloy".to_owned(),
            env_prefix: "ALLOY_",
            log_targets: terraform_provider_alloy::LOG_TARGETS,
        },
        Server::new(AlloyProvider),
    )
}
