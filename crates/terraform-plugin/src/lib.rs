//! Terraform's side of a provider; knows nothing of Alloy (DESIGN.md, "Layers").
//!
//! - [`plugin`]: how Terraform reaches us — go-plugin handshake, AutoMTLS, the gRPC server,
//!   shutdown, logs in Terraform's format. It serves any implementation of the generated
//!   `tfplugin6` Provider service (the provider's binary hands it a [`framework::Server`]) and
//!   imports nothing of the framework.
//! - [`proto`]: the generated protocol 6 and go-plugin types.
//! - [`framework`]: Terraform's data model (schemas, values with null/unknown, diagnostics) and
//!   the traits a provider implements.

#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod framework;
pub mod plugin;
pub mod proto;
