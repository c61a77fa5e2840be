//! Terraform's data model and the provider traits, knowing nothing of Alloy.
//!
//! - [`value`]: values with null/unknown, decoded from and encoded to msgpack and JSON;
//! - [`schema`]: attributes, nested attributes, blocks, descriptions;
//! - [`diag`]: diagnostics with attribute paths;
//! - [`model`]: typed models, one struct per schema, declared with [`model!`](crate::model);
//! - [`plan`]: the generic plan rules every resource follows (computed, replace, write-only);
//! - [`resource`]: the traits a provider, resource, data source or ephemeral resource implements;
//! - [`server`]: the tfplugin6 gRPC service that drives those traits, reaching each registered
//!   type through one [`Registry`].

pub mod diag;
pub mod model;
pub mod plan;
pub mod resource;
pub mod schema;
pub mod server;
pub mod value;
mod wire;

pub use diag::{AttrPath, Diagnostics};
pub use model::{Attr, Model};
pub use plan::Deletion;
pub use resource::{
    ConfigureRequest, DataSource, EphemeralResource, ListResource, Opened, Plan, Provider, Renewed,
    Resource,
};
pub use schema::{Attribute, Block, IdentityAttribute, IdentitySchema, Nesting, Schema};
pub use server::{ListResults, Registry, Server};
pub use value::{Number, Type, Value};
