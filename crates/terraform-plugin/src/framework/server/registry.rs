//! The registry: every type a provider serves, by kind, filled once by [`Provider::register`].
//!
//! This file is where the server lists the kinds (resource, data source, ephemeral resource,
//! list resource):
//! the [`Registry`]'s tables, [`Registry::schemas`] and the two answers that name every type
//! (`GetProviderSchema` and `GetMetadata`, built by [`describe`]). Everything else reaches a type
//! through its kind's [`Table`], which also answers an unknown name with one diagnostic.
//!
//! Adding a kind: a trait in `resource.rs`; here a [`Kind`] implementation, a table, a
//! registration method, a field of [`Schemas`] and its lines in `schemas` and `describe`; its RPCs
//! in `server.rs`.
//!
//! [`Provider::register`]: super::Provider::register

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::proto::tfplugin6 as pb;

use crate::framework::diag::Diagnostics;
use crate::framework::plan::Rules;
use crate::framework::resource::{DataSource, EphemeralResource, ListResource, Resource};
use crate::framework::schema::{IdentitySchema, Schema};
use crate::framework::value::{Type, Value};
use crate::framework::wire;

/// The types a provider serves, by kind. A provider fills it in [`Provider::register`], one
/// chained call per type: `types.resource(Thing).data_source(Lookup)`.
///
/// Registering two types of one kind under the same name is a provider bug, and panics when the
/// server is built (so any test that builds it fails).
///
/// [`Provider::register`]: super::Provider::register
pub struct Registry<D> {
    pub(super) resources: Table<dyn Resource<D>>,
    pub(super) data_sources: Table<dyn DataSource<D>>,
    pub(super) ephemerals: Table<dyn EphemeralResource<D>>,
    pub(super) lists: Table<dyn ListResource<D>>,
}

impl<D> Registry<D> {
    pub(super) fn new() -> Self {
        Registry {
            resources: Table::new(),
            data_sources: Table::new(),
            ephemerals: Table::new(),
            lists: Table::new(),
        }
    }

    /// Registers a resource (`resource "<type_name>"` in configurations).
    pub fn resource(&mut self, r: impl Resource<D> + 'static) -> &mut Self {
        self.resources.insert(Box::new(r));
        self
    }

    /// Registers a data source (`data "<type_name>"`).
    pub fn data_source(&mut self, d: impl DataSource<D> + 'static) -> &mut Self {
        self.data_sources.insert(Box::new(d));
        self
    }

    /// Registers an ephemeral resource (`ephemeral "<type_name>"`, Terraform 1.10+).
    pub fn ephemeral_resource(&mut self, e: impl EphemeralResource<D> + 'static) -> &mut Self {
        self.ephemerals.insert(Box::new(e));
        self
    }

    /// Registers a list resource (`list "<type_name>"` in a `.tfquery.hcl` file, Terraform
    /// 1.14+). A resource of the same name with an identity must be registered too; the server
    /// refuses to be built otherwise.
    pub fn list_resource(&mut self, l: impl ListResource<D> + 'static) -> &mut Self {
        self.lists.insert(Box::new(l));
        self
    }

    /// Every registered type's schema, by kind, next to the provider's own.
    pub(super) fn schemas(&self, provider: Schema) -> Schemas<'_> {
        Schemas {
            provider,
            resources: self.resources.schemas(),
            data_sources: self.data_sources.schemas(),
            ephemeral_resources: self.ephemerals.schemas(),
            list_resources: self.lists.schemas(),
            identities: self
                .resources
                .types
                .iter()
                .filter_map(|(k, t)| Some((*k, &t.identity.as_ref()?.schema)))
                .collect(),
        }
    }

    /// Checks what the protocol requires across kinds: Terraform decodes a list's results with
    /// the identity of the managed resource type of the same name.
    ///
    /// # Panics
    ///
    /// If a list resource has no such resource, or that resource no identity.
    pub(super) fn check(&self) {
        for name in self.lists.types.keys() {
            match self.resources.types.get(name) {
                Some(r) if r.identity.is_some() => {}
                _ => panic!(
                    "list resource {name:?} needs a resource of the same name with an identity"
                ),
            }
        }
    }
}

/// Schemas by kind, borrowed from a [`Server`](super::Server), for tools (docs generation) that
/// run without Terraform.
pub struct Schemas<'a> {
    pub provider: Schema,
    pub resources: Vec<(&'static str, &'a Schema)>,
    pub data_sources: Vec<(&'static str, &'a Schema)>,
    pub ephemeral_resources: Vec<(&'static str, &'a Schema)>,
    pub list_resources: Vec<(&'static str, &'a Schema)>,
    /// The identity of each resource that has one.
    pub identities: Vec<(&'static str, &'a IdentitySchema)>,
}

/// What the server says of itself whatever it serves.
fn capabilities() -> pb::ServerCapabilities {
    pb::ServerCapabilities {
        // Terraform then plans every destroy through us, so `check_delete` can refuse one at plan
        // time (deletion protection) instead of mid-apply.
        plan_destroy: true,
        // Terraform may reuse the schema instead of asking every provider process.
        get_provider_schema_optional: true,
        move_resource_state: false,
        // Terraform ≥ 1.14 asks us for the body of each generated `resource` block, which then
        // holds only what a configuration may set (see `GenerateResourceConfig`).
        generate_resource_config: true,
    }
}

/// The answers to `GetProviderSchema`, `GetMetadata` and `GetResourceIdentitySchemas`: every
/// type by kind, in wire form.
pub(super) struct Described {
    pub schema: pb::get_provider_schema::Response,
    pub metadata: pb::get_metadata::Response,
    pub identities: pb::get_resource_identity_schemas::Response,
}

/// Builds both answers that name every type, from the schemas by kind.
pub(super) fn describe(s: &Schemas<'_>) -> Described {
    let mut schema = pb::get_provider_schema::Response {
        provider: Some(wire::schema(&s.provider)),
        server_capabilities: Some(capabilities()),
        ..Default::default()
    };
    let mut metadata = pb::get_metadata::Response {
        server_capabilities: Some(capabilities()),
        ..Default::default()
    };
    for &(name, t) in &s.resources {
        schema
            .resource_schemas
            .insert(name.to_owned(), wire::schema(t));
        let type_name = name.to_owned();
        metadata
            .resources
            .push(pb::get_metadata::ResourceMetadata { type_name });
    }
    for &(name, t) in &s.data_sources {
        schema
            .data_source_schemas
            .insert(name.to_owned(), wire::schema(t));
        let type_name = name.to_owned();
        metadata
            .data_sources
            .push(pb::get_metadata::DataSourceMetadata { type_name });
    }
    for &(name, t) in &s.ephemeral_resources {
        schema
            .ephemeral_resource_schemas
            .insert(name.to_owned(), wire::schema(t));
        let type_name = name.to_owned();
        metadata
            .ephemeral_resources
            .push(pb::get_metadata::EphemeralMetadata { type_name });
    }
    for &(name, t) in &s.list_resources {
        schema
            .list_resource_schemas
            .insert(name.to_owned(), wire::schema(t));
        let type_name = name.to_owned();
        metadata
            .list_resources
            .push(pb::get_metadata::ListResourceMetadata { type_name });
    }
    let identities = pb::get_resource_identity_schemas::Response {
        identity_schemas: s
            .identities
            .iter()
            .map(|&(name, i)| (name.to_owned(), wire::identity_schema(i)))
            .collect(),
        diagnostics: Vec::new(),
    };
    Described {
        schema,
        metadata,
        identities,
    }
}

/// What the server asks of every registered type, whatever its kind; implemented once per kind
/// by forwarding to that kind's trait.
pub(super) trait Kind {
    /// How diagnostics name the kind ("resource", "data source", …).
    const NOUN: &'static str;
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    fn validate(&self, config: &Value, diags: &mut Diagnostics);
    /// Only resources have one.
    fn identity(&self) -> Option<IdentitySchema> {
        None
    }
}

impl<D> Kind for dyn Resource<D> {
    const NOUN: &'static str = "resource";
    fn type_name(&self) -> &'static str {
        Resource::type_name(self)
    }
    fn schema(&self) -> Schema {
        Resource::schema(self)
    }
    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        Resource::validate(self, config, diags)
    }
    fn identity(&self) -> Option<IdentitySchema> {
        Resource::identity(self)
    }
}

impl<D> Kind for dyn DataSource<D> {
    const NOUN: &'static str = "data source";
    fn type_name(&self) -> &'static str {
        DataSource::type_name(self)
    }
    fn schema(&self) -> Schema {
        DataSource::schema(self)
    }
    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        DataSource::validate(self, config, diags)
    }
}

impl<D> Kind for dyn EphemeralResource<D> {
    const NOUN: &'static str = "ephemeral resource";
    fn type_name(&self) -> &'static str {
        EphemeralResource::type_name(self)
    }
    fn schema(&self) -> Schema {
        EphemeralResource::schema(self)
    }
    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        EphemeralResource::validate(self, config, diags)
    }
}

impl<D> Kind for dyn ListResource<D> {
    const NOUN: &'static str = "list resource";
    fn type_name(&self) -> &'static str {
        ListResource::type_name(self)
    }
    fn schema(&self) -> Schema {
        ListResource::schema(self)
    }
    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        ListResource::validate(self, config, diags)
    }
}

/// A registered type together with what is derived from its schema once and used on every call:
/// the value type and the plan rules. Shared (`Arc`) so a streaming RPC can outlive its call.
pub(super) struct Typed<T: ?Sized> {
    pub imp: Arc<T>,
    pub schema: Schema,
    pub ty: Type,
    pub rules: Arc<Rules>,
    pub identity: Option<Arc<Identity>>,
}

/// A resource type's identity and the value type derived from it.
pub(super) struct Identity {
    pub schema: IdentitySchema,
    pub ty: Type,
}

/// The registered types of one kind, by type name.
pub(super) struct Table<T: ?Sized> {
    types: BTreeMap<&'static str, Typed<T>>,
}

impl<T: Kind + ?Sized> Table<T> {
    fn new() -> Self {
        Table {
            types: BTreeMap::new(),
        }
    }

    fn insert(&mut self, imp: Box<T>) {
        let name = imp.type_name();
        let schema = imp.schema();
        let identity = imp.identity().map(|schema| {
            Arc::new(Identity {
                ty: schema.value_type(),
                schema,
            })
        });
        let typed = Typed {
            ty: schema.value_type(),
            rules: Arc::new(Rules::new(&schema)),
            schema,
            imp: Arc::from(imp),
            identity,
        };
        if self.types.insert(name, typed).is_some() {
            panic!("two {} types are registered as {name:?}", T::NOUN);
        }
    }

    fn schemas(&self) -> Vec<(&'static str, &Schema)> {
        self.types.iter().map(|(k, t)| (*k, &t.schema)).collect()
    }

    /// The registered type named `name`, or the diagnostic saying there is none.
    pub fn find(&self, name: &str) -> Result<&Typed<T>, Diagnostics> {
        self.types
            .get(name)
            .ok_or_else(|| unknown_type(T::NOUN, name))
    }

    /// Validates one configuration of the type named `name`: decode it against the type's schema,
    /// then let the implementation check it.
    pub fn validate(&self, name: &str, config: Option<&pb::DynamicValue>) -> Diagnostics {
        let t = match self.find(name) {
            Ok(t) => t,
            Err(unknown) => return unknown,
        };
        let mut diags = Diagnostics::new();
        let what = format!("{} configuration", T::NOUN);
        if let Some(config) = wire::decode(config, &t.ty, &what, &mut diags) {
            t.imp.validate(&config, &mut diags);
        }
        diags
    }
}

/// The answer to any RPC that names a type this provider does not have.
fn unknown_type(noun: &str, name: &str) -> Diagnostics {
    let mut d = Diagnostics::new();
    d.error(
        format!("Unknown {noun} type"),
        format!(
            "This provider has no {noun} named {name:?}. Check the spelling, or upgrade the provider."
        ),
    );
    d
}
