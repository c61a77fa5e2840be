//! The tfplugin6 `Provider` gRPC service, driving a [`Provider`] implementation.
//!
//! Each handler follows the same rhythm: decode what Terraform sent against the schema, call the
//! trait, encode the result, and turn every failure — undecodable input, an unknown type name, a
//! panic inside a handler — into an error diagnostic. The process keeps serving whatever happens.
//!
//! Generic plan rules live here so resources only state what is particular to them: computed
//! attributes left unset become unknown on create, `requires_replace` attributes are compared,
//! and write-only attributes are nulled in every plan and state (Terraform rejects them otherwise).

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, OnceLock, RwLock};

use futures::FutureExt;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::proto::tfplugin6 as pb;
use crate::proto::tfplugin6::provider_server::Provider as ProviderService;

use super::diag::{AttrPath, Diagnostics};
use super::resource::{ConfigureRequest, DataSource, EphemeralResource, Plan, Provider, Resource};
use super::schema::Schema;
use super::value::{Type, Value};
use super::wire;

/// A schema together with the value type derived from it (derived once, used on every call).
struct Typed<T: ?Sized> {
    imp: Box<T>,
    schema: Schema,
    ty: Type,
    /// Top-level write-only attributes, nulled in plans and states.
    write_only: Vec<String>,
    /// Top-level computed attributes, unknown on create when the configuration leaves them unset.
    computed: Vec<String>,
}

impl<T: ?Sized> Typed<T> {
    fn new(imp: Box<T>, schema: Schema) -> Self {
        let ty = schema.value_type();
        let attrs = &schema.block.attributes;
        let write_only = attrs
            .iter()
            .filter(|a| a.write_only)
            .map(|a| a.name.clone())
            .collect();
        let computed = attrs
            .iter()
            .filter(|a| a.computed)
            .map(|a| a.name.clone())
            .collect();
        Typed {
            imp,
            schema,
            ty,
            write_only,
            computed,
        }
    }

    fn null_write_only(&self, v: &mut Value) {
        for name in &self.write_only {
            if !v.attr(name).is_null() {
                v.set_attr(name, Value::Null);
            }
        }
    }
}

/// Serves one [`Provider`] over tfplugin6. One per provider process.
pub struct Server<P: Provider> {
    provider: P,
    provider_ty: Type,
    resources: HashMap<&'static str, Typed<dyn Resource<P::Data>>>,
    data_sources: HashMap<&'static str, Typed<dyn DataSource<P::Data>>>,
    ephemerals: HashMap<&'static str, Typed<dyn EphemeralResource<P::Data>>>,
    schema_response: OnceLock<pb::get_provider_schema::Response>,
    data: RwLock<Option<Arc<P::Data>>>,
    /// Cancelled by StopProvider; handed to the provider at configure time.
    stop: CancellationToken,
}

impl<P: Provider> Server<P> {
    pub fn new(provider: P) -> Self {
        let resources = provider
            .resources()
            .into_iter()
            .map(|r| {
                let s = r.schema();
                (r.type_name(), Typed::new(r, s))
            })
            .collect();
        let data_sources = provider
            .data_sources()
            .into_iter()
            .map(|d| {
                let s = d.schema();
                (d.type_name(), Typed::new(d, s))
            })
            .collect();
        let ephemerals = provider
            .ephemeral_resources()
            .into_iter()
            .map(|e| {
                let s = e.schema();
                (e.type_name(), Typed::new(e, s))
            })
            .collect();
        let provider_ty = provider.schema().value_type();
        Server {
            provider,
            provider_ty,
            resources,
            data_sources,
            ephemerals,
            schema_response: OnceLock::new(),
            data: RwLock::new(None),
            stop: CancellationToken::new(),
        }
    }

    /// The full schema response (also what `terraform providers schema -json` shows, and what
    /// the docs generator reads). Built once per process.
    pub fn schema_response(&self) -> &pb::get_provider_schema::Response {
        self.schema_response
            .get_or_init(|| pb::get_provider_schema::Response {
                provider: Some(wire::schema(&self.provider.schema())),
                resource_schemas: self
                    .resources
                    .iter()
                    .map(|(k, t)| (k.to_string(), wire::schema(&t.schema)))
                    .collect(),
                data_source_schemas: self
                    .data_sources
                    .iter()
                    .map(|(k, t)| (k.to_string(), wire::schema(&t.schema)))
                    .collect(),
                ephemeral_resource_schemas: self
                    .ephemerals
                    .iter()
                    .map(|(k, t)| (k.to_string(), wire::schema(&t.schema)))
                    .collect(),
                server_capabilities: Some(pb::ServerCapabilities {
                    // Destroy plans need nothing from us; skipping them saves one RPC per instance.
                    plan_destroy: false,
                    // Terraform may reuse the schema instead of asking every provider process.
                    get_provider_schema_optional: true,
                    move_resource_state: false,
                }),
                ..Default::default()
            })
    }

    /// The provider's schemas by kind, for tools (docs generation) that run without Terraform.
    pub fn schemas(&self) -> Schemas<'_> {
        Schemas {
            provider: self.provider.schema(),
            resources: self
                .resources
                .iter()
                .map(|(k, t)| (*k, &t.schema))
                .collect(),
            data_sources: self
                .data_sources
                .iter()
                .map(|(k, t)| (*k, &t.schema))
                .collect(),
            ephemeral_resources: self
                .ephemerals
                .iter()
                .map(|(k, t)| (*k, &t.schema))
                .collect(),
        }
    }

    fn data(&self, diags: &mut Diagnostics) -> Option<Arc<P::Data>> {
        let guard = self.data.read().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            diags.error(
                "Provider not configured",
                "Terraform asked for an operation before configuring the provider, or the provider \
                 configuration failed. Check the errors reported for the provider block.",
            );
        }
        guard.clone()
    }
}

fn unknown_type(kind: &str, name: &str) -> Diagnostics {
    let mut d = Diagnostics::new();
    d.error(
        format!("Unknown {kind} type"),
        format!("This provider has no {kind} named {name:?}. Check the spelling, or upgrade the provider."),
    );
    d
}

/// Validates one configuration of a registered type: decode against its schema, then let the
/// implementation check it. Shared by resources, data sources and ephemeral resources.
fn validate_typed<T: ?Sized>(
    map: &HashMap<&'static str, Typed<T>>,
    kind: &str,
    type_name: &str,
    config: Option<&pb::DynamicValue>,
    validate: impl Fn(&T, &Value, &mut Diagnostics),
) -> Diagnostics {
    let Some(t) = map.get(type_name) else {
        return unknown_type(kind, type_name);
    };
    let mut diags = Diagnostics::new();
    if let Some(config) = wire::decode(config, &t.ty, &format!("{kind} configuration"), &mut diags)
    {
        validate(&t.imp, &config, &mut diags);
    }
    diags
}

/// Schemas by kind, borrowed from a [`Server`].
pub struct Schemas<'a> {
    pub provider: Schema,
    pub resources: Vec<(&'static str, &'a Schema)>,
    pub data_sources: Vec<(&'static str, &'a Schema)>,
    pub ephemeral_resources: Vec<(&'static str, &'a Schema)>,
}

/// Responses that can carry diagnostics, so a panic or a failure anywhere can be reported in the
/// response of whichever RPC it happened in.
trait WithDiagnostics: Default {
    fn set_diagnostics(&mut self, d: Vec<pb::Diagnostic>);
}

macro_rules! with_diagnostics {
    ($($m:ident),* $(,)?) => {$(
        impl WithDiagnostics for pb::$m::Response {
            fn set_diagnostics(&mut self, d: Vec<pb::Diagnostic>) {
                self.diagnostics = d;
            }
        }
    )*};
}

with_diagnostics!(
    validate_provider_config,
    validate_resource_config,
    validate_data_resource_config,
    validate_ephemeral_resource_config,
    upgrade_resource_state,
    configure_provider,
    read_resource,
    plan_resource_change,
    apply_resource_change,
    import_resource_state,
    read_data_source,
    open_ephemeral_resource,
    renew_ephemeral_resource,
    close_ephemeral_resource,
);

/// Runs one RPC body; a panic inside it becomes an error diagnostic and the process lives on.
async fn guarded<R, F>(rpc: &'static str, body: F) -> Result<Response<R>, Status>
where
    R: WithDiagnostics,
    F: Future<Output = (R, Diagnostics)>,
{
    match AssertUnwindSafe(body).catch_unwind().await {
        Ok((mut resp, diags)) => {
            resp.set_diagnostics(wire::diagnostics(&diags));
            Ok(Response::new(resp))
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown cause".into());
            tracing::error!(rpc, panic = %what, "provider panicked while handling a request");
            let mut d = Diagnostics::new();
            d.error(
                "The provider hit an internal error",
                format!(
                    "While handling {rpc} the provider failed unexpectedly ({what}). No further work was done \
                     for this operation. Please report this to the provider developers."
                ),
            );
            let mut resp = R::default();
            resp.set_diagnostics(wire::diagnostics(&d));
            Ok(Response::new(resp))
        }
    }
}

/// Marks unset computed attributes unknown: on create their value comes from the API.
fn mark_computed_unknown(planned: &mut Value, config: &Value, computed: &[String]) {
    for name in computed {
        if config.attr(name).is_null() && planned.attr(name).is_null() {
            planned.set_attr(name, Value::Unknown);
        }
    }
}

#[tonic::async_trait]
impl<P: Provider> ProviderService for Server<P> {
    async fn get_provider_schema(
        &self,
        _req: Request<pb::get_provider_schema::Request>,
    ) -> Result<Response<pb::get_provider_schema::Response>, Status> {
        tracing::debug!("GetProviderSchema");
        Ok(Response::new(self.schema_response().clone()))
    }

    async fn get_functions(
        &self,
        _req: Request<pb::get_functions::Request>,
    ) -> Result<Response<pb::get_functions::Response>, Status> {
        Ok(Response::new(pb::get_functions::Response::default()))
    }

    async fn get_metadata(
        &self,
        _req: Request<pb::get_metadata::Request>,
    ) -> Result<Response<pb::get_metadata::Response>, Status> {
        let name = |k: &&str| k.to_string();
        Ok(Response::new(pb::get_metadata::Response {
            server_capabilities: self.schema_response().server_capabilities,
            resources: self
                .resources
                .keys()
                .map(|k| pb::get_metadata::ResourceMetadata { type_name: name(k) })
                .collect(),
            data_sources: self
                .data_sources
                .keys()
                .map(|k| pb::get_metadata::DataSourceMetadata { type_name: name(k) })
                .collect(),
            ephemeral_resources: self
                .ephemerals
                .keys()
                .map(|k| pb::get_metadata::EphemeralMetadata { type_name: name(k) })
                .collect(),
            ..Default::default()
        }))
    }

    async fn validate_provider_config(
        &self,
        req: Request<pb::validate_provider_config::Request>,
    ) -> Result<Response<pb::validate_provider_config::Response>, Status> {
        let req = req.into_inner();
        guarded("ValidateProviderConfig", async {
            let mut diags = Diagnostics::new();
            if let Some(config) = wire::decode(
                req.config.as_ref(),
                &self.provider_ty,
                "provider configuration",
                &mut diags,
            ) {
                self.provider.validate(&config, &mut diags);
            }
            (Default::default(), diags)
        })
        .await
    }

    async fn validate_resource_config(
        &self,
        req: Request<pb::validate_resource_config::Request>,
    ) -> Result<Response<pb::validate_resource_config::Response>, Status> {
        let req = req.into_inner();
        guarded("ValidateResourceConfig", async {
            let diags = validate_typed(
                &self.resources,
                "resource",
                &req.type_name,
                req.config.as_ref(),
                |t, c, d| t.validate(c, d),
            );
            (Default::default(), diags)
        })
        .await
    }

    async fn validate_data_resource_config(
        &self,
        req: Request<pb::validate_data_resource_config::Request>,
    ) -> Result<Response<pb::validate_data_resource_config::Response>, Status> {
        let req = req.into_inner();
        guarded("ValidateDataResourceConfig", async {
            let diags = validate_typed(
                &self.data_sources,
                "data source",
                &req.type_name,
                req.config.as_ref(),
                |t, c, d| t.validate(c, d),
            );
            (Default::default(), diags)
        })
        .await
    }

    async fn validate_ephemeral_resource_config(
        &self,
        req: Request<pb::validate_ephemeral_resource_config::Request>,
    ) -> Result<Response<pb::validate_ephemeral_resource_config::Response>, Status> {
        let req = req.into_inner();
        guarded("ValidateEphemeralResourceConfig", async {
            let diags = validate_typed(
                &self.ephemerals,
                "ephemeral resource",
                &req.type_name,
                req.config.as_ref(),
                |t, c, d| t.validate(c, d),
            );
            (Default::default(), diags)
        })
        .await
    }

    async fn upgrade_resource_state(
        &self,
        req: Request<pb::upgrade_resource_state::Request>,
    ) -> Result<Response<pb::upgrade_resource_state::Response>, Status> {
        let req = req.into_inner();
        guarded("UpgradeResourceState", async {
            let mut diags = Diagnostics::new();
            let mut resp = pb::upgrade_resource_state::Response::default();
            let Some(r) = self.resources.get(req.type_name.as_str()) else {
                return (resp, unknown_type("resource", &req.type_name));
            };
            let raw = req.raw_state.unwrap_or_default();
            if raw.json.is_empty() {
                if !raw.flatmap.is_empty() {
                    diags.error(
                        "Unsupported legacy state",
                        "This state was written in the flat-map format of Terraform 0.11 and earlier, which \
                         this provider does not read. Remove the resource from state and import it again.",
                    );
                }
                return (resp, diags);
            }
            let mut json: serde_json::Value = match serde_json::from_slice(&raw.json) {
                Ok(j) => j,
                Err(e) => {
                    diags.error("Unreadable stored state", format!("The stored state is not valid JSON: {e}."));
                    return (resp, diags);
                }
            };
            let current = r.schema.version;
            if req.version > current {
                diags.error(
                    "State written by a newer provider",
                    format!(
                        "This {} was stored with schema version {}, newer than this provider's {current}. \
                         Upgrade the provider to at least the version that wrote the state.",
                        req.type_name, req.version
                    ),
                );
                return (resp, diags);
            }
            if req.version < current {
                match r.imp.upgrade_state(req.version, json, &mut diags) {
                    Some(j) => json = j,
                    None => return (resp, diags),
                }
            }
            match super::value::from_json(&json, &r.ty) {
                Ok(mut v) => {
                    r.null_write_only(&mut v);
                    resp.upgraded_state = wire::encode(&v, &r.ty);
                }
                Err(e) => diags.error(
                    "Unreadable stored state",
                    format!("The stored state of this {} does not match its schema: {e}.", req.type_name),
                ),
            }
            (resp, diags)
        })
        .await
    }

    async fn configure_provider(
        &self,
        req: Request<pb::configure_provider::Request>,
    ) -> Result<Response<pb::configure_provider::Response>, Status> {
        let req = req.into_inner();
        guarded("ConfigureProvider", async {
            let mut diags = Diagnostics::new();
            let Some(config) = wire::decode(
                req.config.as_ref(),
                &self.provider_ty,
                "provider configuration",
                &mut diags,
            ) else {
                return (Default::default(), diags);
            };
            let creq = ConfigureRequest {
                config,
                terraform_version: req.terraform_version,
                stop: self.stop.clone(),
            };
            if let Some(data) = self.provider.configure(creq, &mut diags).await
                && !diags.has_errors()
            {
                *self.data.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(data));
            }
            (Default::default(), diags)
        })
        .await
    }

    async fn read_resource(
        &self,
        req: Request<pb::read_resource::Request>,
    ) -> Result<Response<pb::read_resource::Response>, Status> {
        let req = req.into_inner();
        guarded("ReadResource", async {
            let mut diags = Diagnostics::new();
            let mut resp = pb::read_resource::Response {
                private: req.private.clone(),
                ..Default::default()
            };
            let Some(r) = self.resources.get(req.type_name.as_str()) else {
                return (resp, unknown_type("resource", &req.type_name));
            };
            let Some(state) = wire::decode(req.current_state.as_ref(), &r.ty, "state", &mut diags)
            else {
                return (resp, diags);
            };
            // Whatever happens, answer with a state: the current one unless the read says otherwise.
            resp.new_state = req.current_state.clone();
            if state.is_null() {
                return (resp, diags);
            }
            let Some(data) = self.data(&mut diags) else {
                return (resp, diags);
            };
            tracing::debug!(type_name = %req.type_name, "ReadResource");
            match r.imp.read(&data, state, &mut diags).await {
                Some(mut v) => {
                    r.null_write_only(&mut v);
                    if !diags.has_errors() {
                        resp.new_state = wire::encode(&v, &r.ty);
                    }
                }
                None if !diags.has_errors() => resp.new_state = wire::encode(&Value::Null, &r.ty),
                None => {}
            }
            (resp, diags)
        })
        .await
    }

    async fn plan_resource_change(
        &self,
        req: Request<pb::plan_resource_change::Request>,
    ) -> Result<Response<pb::plan_resource_change::Response>, Status> {
        let req = req.into_inner();
        guarded("PlanResourceChange", async {
            let mut diags = Diagnostics::new();
            let mut resp = pb::plan_resource_change::Response {
                planned_private: req.prior_private.clone(),
                ..Default::default()
            };
            let Some(r) = self.resources.get(req.type_name.as_str()) else {
                return (resp, unknown_type("resource", &req.type_name));
            };
            let decoded = (
                wire::decode(req.prior_state.as_ref(), &r.ty, "prior state", &mut diags),
                wire::decode(
                    req.proposed_new_state.as_ref(),
                    &r.ty,
                    "proposed state",
                    &mut diags,
                ),
                wire::decode(req.config.as_ref(), &r.ty, "configuration", &mut diags),
            );
            let (Some(prior), Some(proposed), Some(config)) = decoded else {
                return (resp, diags);
            };
            if proposed.is_null() {
                // Destroy: nothing to refine.
                resp.planned_state = wire::encode(&Value::Null, &r.ty);
                return (resp, diags);
            }
            let mut planned = proposed;
            if prior.is_null() {
                mark_computed_unknown(&mut planned, &config, &r.computed);
            }
            r.null_write_only(&mut planned);
            let mut requires_replace = Vec::new();
            if !prior.is_null() {
                for name in r.imp.requires_replace() {
                    if planned.attr(name) != prior.attr(name) {
                        requires_replace.push(AttrPath::attr(name));
                    }
                }
            }
            let mut plan = Plan {
                prior: &prior,
                config: &config,
                planned,
                requires_replace,
            };
            if let Some(data) = self.data(&mut diags) {
                r.imp.modify_plan(&data, &mut plan, &mut diags).await;
            }
            r.null_write_only(&mut plan.planned);
            resp.planned_state = wire::encode(&plan.planned, &r.ty);
            resp.requires_replace = plan.requires_replace.iter().map(wire::path).collect();
            (resp, diags)
        })
        .await
    }

    async fn apply_resource_change(
        &self,
        req: Request<pb::apply_resource_change::Request>,
    ) -> Result<Response<pb::apply_resource_change::Response>, Status> {
        let req = req.into_inner();
        guarded("ApplyResourceChange", async {
            let mut diags = Diagnostics::new();
            let mut resp = pb::apply_resource_change::Response {
                private: req.planned_private.clone(),
                ..Default::default()
            };
            let Some(r) = self.resources.get(req.type_name.as_str()) else {
                return (resp, unknown_type("resource", &req.type_name));
            };
            let decoded = (
                wire::decode(req.prior_state.as_ref(), &r.ty, "prior state", &mut diags),
                wire::decode(
                    req.planned_state.as_ref(),
                    &r.ty,
                    "planned state",
                    &mut diags,
                ),
                wire::decode(req.config.as_ref(), &r.ty, "configuration", &mut diags),
            );
            let (Some(prior), Some(planned), Some(config)) = decoded else {
                resp.new_state = req.prior_state.clone();
                return (resp, diags);
            };
            let Some(data) = self.data(&mut diags) else {
                resp.new_state = req.prior_state.clone();
                return (resp, diags);
            };
            tracing::debug!(type_name = %req.type_name, "ApplyResourceChange");
            let new_state = if planned.is_null() {
                r.imp.delete(&data, &prior, &mut diags).await;
                // A failed delete leaves the object, so it stays in state.
                if diags.has_errors() {
                    prior
                } else {
                    Value::Null
                }
            } else if prior.is_null() {
                r.imp
                    .create(&data, &planned, &config, &mut diags)
                    .await
                    .unwrap_or(Value::Null)
            } else {
                r.imp
                    .update(&data, &prior, &planned, &config, &mut diags)
                    .await
                    .unwrap_or(prior)
            };
            let mut new_state = new_state;
            r.null_write_only(&mut new_state);
            resp.new_state = wire::encode(&new_state, &r.ty);
            (resp, diags)
        })
        .await
    }

    async fn import_resource_state(
        &self,
        req: Request<pb::import_resource_state::Request>,
    ) -> Result<Response<pb::import_resource_state::Response>, Status> {
        let req = req.into_inner();
        guarded("ImportResourceState", async {
            let mut diags = Diagnostics::new();
            let mut resp = pb::import_resource_state::Response::default();
            let Some(r) = self.resources.get(req.type_name.as_str()) else {
                return (resp, unknown_type("resource", &req.type_name));
            };
            let Some(data) = self.data(&mut diags) else {
                return (resp, diags);
            };
            if let Some(mut state) = r.imp.import(&data, &req.id, &mut diags).await {
                r.null_write_only(&mut state);
                resp.imported_resources
                    .push(pb::import_resource_state::ImportedResource {
                        type_name: req.type_name.clone(),
                        state: wire::encode(&state, &r.ty),
                        private: Vec::new(),
                    });
            }
            (resp, diags)
        })
        .await
    }

    async fn read_data_source(
        &self,
        req: Request<pb::read_data_source::Request>,
    ) -> Result<Response<pb::read_data_source::Response>, Status> {
        let req = req.into_inner();
        guarded("ReadDataSource", async {
            let mut diags = Diagnostics::new();
            let mut resp = pb::read_data_source::Response::default();
            let Some(d) = self.data_sources.get(req.type_name.as_str()) else {
                return (resp, unknown_type("data source", &req.type_name));
            };
            let Some(config) =
                wire::decode(req.config.as_ref(), &d.ty, "configuration", &mut diags)
            else {
                return (resp, diags);
            };
            let Some(data) = self.data(&mut diags) else {
                return (resp, diags);
            };
            tracing::debug!(type_name = %req.type_name, "ReadDataSource");
            if let Some(state) = d.imp.read(&data, &config, &mut diags).await {
                resp.state = wire::encode(&state, &d.ty);
            }
            (resp, diags)
        })
        .await
    }

    async fn open_ephemeral_resource(
        &self,
        req: Request<pb::open_ephemeral_resource::Request>,
    ) -> Result<Response<pb::open_ephemeral_resource::Response>, Status> {
        let req = req.into_inner();
        guarded("OpenEphemeralResource", async {
            let mut diags = Diagnostics::new();
            let mut resp = pb::open_ephemeral_resource::Response::default();
            let Some(e) = self.ephemerals.get(req.type_name.as_str()) else {
                return (resp, unknown_type("ephemeral resource", &req.type_name));
            };
            let Some(config) =
                wire::decode(req.config.as_ref(), &e.ty, "configuration", &mut diags)
            else {
                return (resp, diags);
            };
            if !config.is_wholly_known() {
                // Inputs known only after apply: the result is unknown too, and nothing is fetched.
                let mut result = config;
                mark_computed_unknown(&mut result, &Value::Null, &e.computed);
                resp.result = wire::encode(&result, &e.ty);
                return (resp, diags);
            }
            let Some(data) = self.data(&mut diags) else {
                return (resp, diags);
            };
            tracing::debug!(type_name = %req.type_name, "OpenEphemeralResource");
            if let Some(opened) = e.imp.open(&data, &config, &mut diags).await {
                resp.result = wire::encode(&opened.result, &e.ty);
                resp.private = Some(opened.private);
                resp.renew_at = opened.renew_at.map(wire::timestamp);
            }
            (resp, diags)
        })
        .await
    }

    async fn renew_ephemeral_resource(
        &self,
        req: Request<pb::renew_ephemeral_resource::Request>,
    ) -> Result<Response<pb::renew_ephemeral_resource::Response>, Status> {
        let req = req.into_inner();
        guarded("RenewEphemeralResource", async {
            let mut diags = Diagnostics::new();
            let mut resp = pb::renew_ephemeral_resource::Response::default();
            let Some(e) = self.ephemerals.get(req.type_name.as_str()) else {
                return (resp, unknown_type("ephemeral resource", &req.type_name));
            };
            let Some(data) = self.data(&mut diags) else {
                return (resp, diags);
            };
            let private = req.private.unwrap_or_default();
            if let Some(renewed) = e.imp.renew(&data, &private, &mut diags).await {
                resp.private = Some(renewed.private);
                resp.renew_at = renewed.renew_at.map(wire::timestamp);
            }
            (resp, diags)
        })
        .await
    }

    async fn close_ephemeral_resource(
        &self,
        req: Request<pb::close_ephemeral_resource::Request>,
    ) -> Result<Response<pb::close_ephemeral_resource::Response>, Status> {
        let req = req.into_inner();
        guarded("CloseEphemeralResource", async {
            let mut diags = Diagnostics::new();
            let Some(e) = self.ephemerals.get(req.type_name.as_str()) else {
                return (
                    Default::default(),
                    unknown_type("ephemeral resource", &req.type_name),
                );
            };
            let Some(data) = self.data(&mut diags) else {
                return (Default::default(), diags);
            };
            e.imp
                .close(&data, &req.private.unwrap_or_default(), &mut diags)
                .await;
            (Default::default(), diags)
        })
        .await
    }

    async fn stop_provider(
        &self,
        _req: Request<pb::stop_provider::Request>,
    ) -> Result<Response<pb::stop_provider::Response>, Status> {
        // Cancel in-flight work; the process itself ends on GRPCController.Shutdown.
        tracing::info!("StopProvider: cancelling in-flight operations");
        self.stop.cancel();
        Ok(Response::new(pb::stop_provider::Response::default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::{Attribute, Block};
    use async_trait::async_trait;

    struct Fake;
    struct Thing;

    #[async_trait]
    impl Provider for Fake {
        type Data = ();
        fn type_name(&self) -> &'static str {
            "fake"
        }
        fn schema(&self) -> Schema {
            Schema::new(
                0,
                Block::new("p", vec![Attribute::string("key").optional().sensitive()]),
            )
        }
        async fn configure(&self, _req: ConfigureRequest, _diags: &mut Diagnostics) -> Option<()> {
            Some(())
        }
        fn resources(&self) -> Vec<Box<dyn Resource<()>>> {
            vec![Box::new(Thing)]
        }
        fn data_sources(&self) -> Vec<Box<dyn DataSource<()>>> {
            vec![]
        }
        fn ephemeral_resources(&self) -> Vec<Box<dyn EphemeralResource<()>>> {
            vec![]
        }
    }

    #[async_trait]
    impl Resource<()> for Thing {
        fn type_name(&self) -> &'static str {
            "fake_thing"
        }
        fn schema(&self) -> Schema {
            Schema::new(
                0,
                Block::new(
                    "t",
                    vec![
                        Attribute::string("id").computed(),
                        Attribute::string("name").required(),
                        Attribute::string("secret_wo").optional().write_only(),
                    ],
                ),
            )
        }
        fn requires_replace(&self) -> &'static [&'static str] {
            &["name"]
        }
        async fn read(&self, _: &(), state: Value, _: &mut Diagnostics) -> Option<Value> {
            if state.attr("name").as_str() == Some("panic") {
                panic!("boom");
            }
            Some(state)
        }
        async fn create(
            &self,
            _: &(),
            planned: &Value,
            _: &Value,
            _: &mut Diagnostics,
        ) -> Option<Value> {
            let mut s = planned.clone();
            s.set_attr("id", Value::string("x1"));
            Some(s)
        }
        async fn update(
            &self,
            _: &(),
            _: &Value,
            p: &Value,
            _: &Value,
            _: &mut Diagnostics,
        ) -> Option<Value> {
            Some(p.clone())
        }
        async fn delete(&self, _: &(), _: &Value, _: &mut Diagnostics) {}
        async fn import(&self, _: &(), _: &str, _: &mut Diagnostics) -> Option<Value> {
            None
        }
    }

    fn server() -> Server<Fake> {
        Server::new(Fake)
    }

    fn thing_ty() -> Type {
        Thing.schema().value_type()
    }

    fn dv(v: &Value) -> Option<pb::DynamicValue> {
        wire::encode(v, &thing_ty())
    }

    fn thing(id: Value, name: &str, secret: Value) -> Value {
        Value::object([
            ("id", id),
            ("name", Value::string(name)),
            ("secret_wo", secret),
        ])
    }

    async fn configure(s: &Server<Fake>) {
        let r = s
            .configure_provider(Request::new(pb::configure_provider::Request {
                config: wire::encode(&Value::object([("key", Value::Null)]), &s.provider_ty),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        assert!(r.diagnostics.is_empty());
    }

    async fn plan(
        s: &Server<Fake>,
        prior: &Value,
        proposed: &Value,
    ) -> pb::plan_resource_change::Response {
        s.plan_resource_change(Request::new(pb::plan_resource_change::Request {
            type_name: "fake_thing".into(),
            prior_state: dv(prior),
            proposed_new_state: dv(proposed),
            config: dv(proposed),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
    }

    #[tokio::test]
    async fn create_plans_unknown_ids_and_nulls_write_only_values() {
        let s = server();
        configure(&s).await;
        let r = plan(
            &s,
            &Value::Null,
            &thing(Value::Null, "a", Value::string("hush")),
        )
        .await;
        assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
        let planned =
            crate::framework::value::from_msgpack(&r.planned_state.unwrap().msgpack, &thing_ty())
                .unwrap();
        assert_eq!(planned, thing(Value::Unknown, "a", Value::Null));
        assert!(r.requires_replace.is_empty());
    }

    #[tokio::test]
    async fn changing_a_replace_attribute_reports_its_path() {
        let s = server();
        configure(&s).await;
        let prior = thing(Value::string("x1"), "a", Value::Null);
        let r = plan(&s, &prior, &thing(Value::string("x1"), "b", Value::Null)).await;
        assert_eq!(
            r.requires_replace,
            vec![wire::path(&AttrPath::attr("name"))]
        );
        let same = plan(&s, &prior, &prior).await;
        assert!(same.requires_replace.is_empty());
    }

    #[tokio::test]
    async fn a_panicking_handler_becomes_an_error_diagnostic() {
        let s = server();
        configure(&s).await;
        let state = thing(Value::string("x1"), "panic", Value::Null);
        let r = s
            .read_resource(Request::new(pb::read_resource::Request {
                type_name: "fake_thing".into(),
                current_state: dv(&state),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.diagnostics.len(), 1);
        assert!(r.diagnostics[0].detail.contains("boom"));
        // ...and the server still answers.
        let ok = plan(&s, &Value::Null, &thing(Value::Null, "a", Value::Null)).await;
        assert!(ok.diagnostics.is_empty());
    }

    #[tokio::test]
    async fn unknown_types_and_garbage_input_are_diagnostics() {
        let s = server();
        let r = s
            .validate_resource_config(Request::new(pb::validate_resource_config::Request {
                type_name: "fake_nope".into(),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        assert!(r.diagnostics[0].summary.contains("Unknown resource type"));
        let r = s
            .apply_resource_change(Request::new(pb::apply_resource_change::Request {
                type_name: "fake_thing".into(),
                planned_state: Some(pb::DynamicValue {
                    msgpack: vec![0x93, 0x01],
                    json: vec![],
                }),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            r.diagnostics[0].severity,
            pb::diagnostic::Severity::Error as i32
        );
    }

    #[tokio::test]
    async fn schema_lets_terraform_cache_it() {
        let s = server();
        let caps = s.schema_response().server_capabilities.unwrap();
        assert!(caps.get_provider_schema_optional);
        let p = s
            .schema_response()
            .provider
            .as_ref()
            .unwrap()
            .block
            .as_ref()
            .unwrap();
        assert!(p.attributes[0].sensitive);
    }
}
