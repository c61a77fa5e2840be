//! terraform-provider-alloy: a Terraform provider for Alloy Automation's Embedded iPaaS.

pub mod framework;
pub mod proto;
