//! terraform-provider-alloy: a Terraform (and OpenTofu) provider for Alloy Automation's
//! Embedded iPaaS, and a local emulator of Alloy's API.
//!
//! How a request flows, one module per layer (arrows point one way):
//!
//! - [`plugin`]: how Terraform reaches us — go-plugin handshake, AutoMTLS, the gRPC server,
//!   shutdown, logs in Terraform's format.
//! - [`proto`]: the generated protocol 6 and go-plugin types.
//! - [`framework`]: Terraform's data model (schemas, values with null/unknown, diagnostics) and
//!   the traits a resource implements; knows nothing of Alloy.
//! - [`provider`]: the Alloy provider — its configuration, then one file per resource, data
//!   source and ephemeral resource.
//! - [`alloy`]: a typed client for Alloy's HTTP API; knows nothing of Terraform.
//! - [`emulator`]: the local Alloy API used by the examples, the demo and every test; it shares
//!   no types with [`alloy`], so a misreading of the API cannot hide in a shared struct.
//! - [`secrets`]: the keys and tokens this process holds, and their redaction; a leaf that every
//!   layer may use (the provider registers, the log layer scrubs).
//! - [`xtask`]: developer tasks (Registry docs from the schema, release artefacts, mirror
//!   install) behind the `xtask` binary; nothing at run time depends on it.

pub mod alloy;
pub mod emulator;
pub mod framework;
pub mod plugin;
pub mod proto;
pub mod provider;
pub mod secrets;
pub mod xtask;
