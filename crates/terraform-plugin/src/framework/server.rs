//! The tfplugin6 `Provider` gRPC service, driving a [`Provider`] implementation.
//!
//! Each handler follows the same rhythm: decode what Terraform sent against the schema, call the
//! trait, encode the result, and turn every failure — undecodable input, an unknown type name, a
//! panic inside a handler — into an error diagnostic. The process keeps serving whatever happens.
//!
//! The types the provider serves live in one [`Registry`] (`server/registry.rs`), the only place
//! that lists the kinds; a handler here names its kind's table and nothing else. Every operation
//! on a registered type starts the same way — find the type by name in that table, decode what
//! Terraform sent, get the configured data — and that preamble is one helper, `prepare`.
//! The generic plan rules (computed attributes, `requires_replace`, write-only nulling) live in
//! [`super::plan`], the panic guard in `server/guard.rs`; the handlers here only apply them.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, OnceLock, RwLock};

use futures::FutureExt;

use tokio_util::sync::CancellationToken;
use tonic::codegen::BoxStream;
use tonic::{Request, Response, Status, Streaming};

use crate::proto::tfplugin6 as pb;
use crate::proto::tfplugin6::provider_server::Provider as ProviderService;

use super::diag::Diagnostics;
use super::plan::{Change, Deletion};
use super::resource::{ConfigureRequest, Plan, Provider};
use super::value::{Type, Value};
use super::wire;

mod guard;
mod identity;
mod list;
mod registry;

pub use list::ListResults;

use guard::guarded;
use registry::{Described, Kind, Table, Typed};
pub use registry::{Registry, Schemas};

/// What an operation on a registered type has in hand once its preamble succeeded.
struct Ready<'a, T: ?Sized, V, D> {
    typed: &'a Typed<T>,
    /// What the preamble's `decode` step produced.
    input: V,
    data: Arc<D>,
}

/// Serves one [`Provider`] over tfplugin6. One per provider process.
pub struct Server<P: Provider> {
    provider: P,
    provider_ty: Type,
    /// Every type the provider serves, by kind.
    registry: Registry<P::Data>,
    /// The answers to GetProviderSchema and GetMetadata, built on first use.
    described: OnceLock<Described>,
    data: RwLock<Option<Arc<P::Data>>>,
    /// Cancelled by StopProvider; handed to the provider at configure time.
    stop: CancellationToken,
}

impl<P: Provider> Server<P> {
    /// Builds the server and its registry (asking the provider for every type once).
    ///
    /// # Panics
    ///
    /// If the provider registers two types of one kind under the same name.
    pub fn new(provider: P) -> Self {
        let mut registry = Registry::new();
        provider.register(&mut registry);
        registry.check();
        let provider_ty = provider.schema().value_type();
        Server {
            provider,
            provider_ty,
            registry,
            described: OnceLock::new(),
            data: RwLock::new(None),
            stop: CancellationToken::new(),
        }
    }

    fn described(&self) -> &Described {
        self.described
            .get_or_init(|| registry::describe(&self.schemas()))
    }

    /// The full schema response (also what `terraform providers schema -json` shows, and what
    /// the docs generator reads). Built once per process.
    pub fn schema_response(&self) -> &pb::get_provider_schema::Response {
        &self.described().schema
    }

    /// The provider's schemas by kind, for tools (docs generation) that run without Terraform.
    pub fn schemas(&self) -> Schemas<'_> {
        self.registry.schemas(self.provider.schema())
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

    /// The preamble every operation that calls into a registered type shares, in this order:
    /// find the type by name (else say it is unknown), run `decode` on what Terraform sent (it
    /// returns `None` to stop, having said why in the diagnostics or set the answer itself), then
    /// get the configured data (else say the provider is not configured). `None` means stop and
    /// answer with the diagnostics as they are.
    fn prepare<'a, T: Kind + ?Sized, V>(
        &self,
        table: &'a Table<T>,
        name: &str,
        diags: &mut Diagnostics,
        decode: impl FnOnce(&'a Typed<T>, &mut Diagnostics) -> Option<V>,
    ) -> Option<Ready<'a, T, V, P::Data>> {
        let typed = match table.find(name) {
            Ok(t) => t,
            Err(unknown) => {
                diags.extend(unknown);
                return None;
            }
        };
        let input = decode(typed, diags)?;
        let data = self.data(diags)?;
        Some(Ready { typed, input, data })
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
        Ok(Response::new(self.described().metadata.clone()))
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
            let diags = self
                .registry
                .resources
                .validate(&req.type_name, req.config.as_ref());
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
            let diags = self
                .registry
                .data_sources
                .validate(&req.type_name, req.config.as_ref());
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
            let diags = self
                .registry
                .ephemerals
                .validate(&req.type_name, req.config.as_ref());
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
            // No configured data needed: upgrading is a pure rewrite of what was stored.
            let r = match self.registry.resources.find(&req.type_name) {
                Ok(r) => r,
                Err(unknown) => return (resp, unknown),
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
                    r.rules.null_write_only(&mut v);
                    resp.upgraded_state = wire::encode(&v, &r.ty, &mut diags);
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
            let ready = self.prepare(
                &self.registry.resources,
                &req.type_name,
                &mut diags,
                |r, diags| {
                    let state = wire::decode(req.current_state.as_ref(), &r.ty, "state", diags)?;
                    // Whatever happens, answer with a state: the current one unless the read
                    // says otherwise, and its identity (backfilled if Terraform holds none).
                    // A null state has nothing to read.
                    resp.new_state = req.current_state.clone();
                    let identity = match &r.identity {
                        Some(i) => {
                            let sent =
                                i.decode(req.current_identity.as_ref(), "identity", diags)?;
                            resp.new_identity = match sent.is_null() {
                                true => i.known(&req.type_name, &state, diags),
                                false => req.current_identity.clone(),
                            };
                            sent
                        }
                        None => Value::Null,
                    };
                    (!state.is_null()).then_some((state, identity))
                },
            );
            let Some(Ready {
                typed: r,
                input: (state, prior_identity),
                data,
            }) = ready
            else {
                return (resp, diags);
            };
            tracing::debug!(type_name = %req.type_name, "ReadResource");
            match r.imp.read(&data, state, &mut diags).await {
                Some(mut v) => {
                    r.rules.null_write_only(&mut v);
                    if let Some(i) = &r.identity {
                        i.check_unchanged(
                            &req.type_name,
                            &prior_identity,
                            &i.schema.of(&v),
                            &mut diags,
                        );
                    }
                    if !diags.has_errors() {
                        resp.new_state = wire::encode(&v, &r.ty, &mut diags);
                        if let Some(i) = &r.identity {
                            resp.new_identity = i.known(&req.type_name, &v, &mut diags);
                        }
                    }
                }
                None if !diags.has_errors() => {
                    // Gone: no object, so no identity (Terraform accepts a null one).
                    resp.new_state = wire::encode(&Value::Null, &r.ty, &mut diags);
                    resp.new_identity = None;
                }
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
            // Not `prepare`: the generic rules need no configured data, only `modify_plan` does.
            let r = match self.registry.resources.find(&req.type_name) {
                Ok(r) => r,
                Err(unknown) => return (resp, unknown),
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
            // What Terraform holds as the prior object's identity; for state written before
            // identity existed (or `-refresh=false` right after an upgrade), the prior state's.
            let prior_identity = match &r.identity {
                Some(i) => {
                    let Some(sent) =
                        i.decode(req.prior_identity.as_ref(), "prior identity", &mut diags)
                    else {
                        return (resp, diags);
                    };
                    match sent.is_null() {
                        true => i.schema.of(&prior),
                        false => sent,
                    }
                }
                None => Value::Null,
            };
            let proposal = r
                .rules
                .propose(&prior, proposed, &config, r.imp.requires_replace());
            if proposal.change == Change::Destroy {
                // Nothing to refine; only whether the deletion may happen. The planned state is
                // null either way: an error diagnostic is what stops Terraform.
                if let Some(why) = Deletion::of(proposal.change, &prior, &[]) {
                    r.imp.check_delete(&prior, why, &mut diags);
                }
                resp.planned_state = wire::encode(&proposal.planned, &r.ty, &mut diags);
                if let Some(i) = &r.identity {
                    resp.planned_identity = wire::identity(&prior_identity, &i.ty, &mut diags);
                }
                return (resp, diags);
            }
            let mut plan = Plan {
                prior: &prior,
                config: &config,
                planned: proposal.planned,
                requires_replace: proposal.requires_replace,
            };
            if let Some(data) = self.data(&mut diags) {
                r.imp.modify_plan(&data, &mut plan, &mut diags).await;
            }
            if let Some(why) = Deletion::of(proposal.change, &prior, &plan.requires_replace) {
                r.imp.check_delete(&prior, why, &mut diags);
            }
            r.rules.null_write_only(&mut plan.planned);
            if let Some(i) = &r.identity {
                resp.planned_identity = if prior.is_null() || !plan.requires_replace.is_empty() {
                    // A new object: its identity may still be unknown.
                    i.planned_new(&plan.planned, &mut diags)
                } else {
                    let planned = i.schema.of(&plan.planned);
                    i.check_unchanged(&req.type_name, &prior_identity, &planned, &mut diags);
                    wire::identity(&prior_identity, &i.ty, &mut diags)
                };
            }
            resp.planned_state = wire::encode(&plan.planned, &r.ty, &mut diags);
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
            let ready = self.prepare(
                &self.registry.resources,
                &req.type_name,
                &mut diags,
                |r, diags| {
                    // Until the change is made, the answer is the prior state.
                    resp.new_state = req.prior_state.clone();
                    let decoded = (
                        wire::decode(req.prior_state.as_ref(), &r.ty, "prior state", diags),
                        wire::decode(req.planned_state.as_ref(), &r.ty, "planned state", diags),
                        wire::decode(req.config.as_ref(), &r.ty, "configuration", diags),
                    );
                    let (Some(prior), Some(planned), Some(config)) = decoded else {
                        return None;
                    };
                    let planned_identity = match &r.identity {
                        Some(i) => {
                            let sent =
                                i.decode(req.planned_identity.as_ref(), "planned identity", diags)?;
                            resp.new_identity = i.known(&req.type_name, &prior, diags);
                            sent
                        }
                        None => Value::Null,
                    };
                    Some((prior, planned, config, planned_identity))
                },
            );
            let Some(Ready {
                typed: r,
                input: (prior, planned, config, planned_identity),
                data,
            }) = ready
            else {
                return (resp, diags);
            };
            tracing::debug!(type_name = %req.type_name, "ApplyResourceChange");
            let new_state = if planned.is_null() {
                r.imp.check_delete(&prior, Deletion::Apply, &mut diags);
                if !diags.has_errors() {
                    r.imp.delete(&data, &prior, &mut diags).await;
                }
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
                let new_state = r
                    .imp
                    .update(&data, &prior, &planned, &config, &mut diags)
                    .await
                    .unwrap_or(prior);
                if let Some(i) = &r.identity {
                    let after = i.schema.of(&new_state);
                    i.check_unchanged(&req.type_name, &planned_identity, &after, &mut diags);
                }
                new_state
            };
            let mut new_state = new_state;
            r.rules.null_write_only(&mut new_state);
            resp.new_state = wire::encode(&new_state, &r.ty, &mut diags);
            if let Some(i) = &r.identity {
                resp.new_identity = i.known(&req.type_name, &new_state, &mut diags);
            }
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
            let ready = self.prepare(
                &self.registry.resources,
                &req.type_name,
                &mut diags,
                |_, _| Some(()),
            );
            let Some(Ready { typed: r, data, .. }) = ready else {
                return (resp, diags);
            };
            // `import { identity = {…} }` (Terraform ≥ 1.12) sends the identity and no id.
            let imported = match (&req.identity, &r.identity) {
                (Some(sent), Some(i)) if req.id.is_empty() => {
                    let Some(identity) = i.decode(Some(sent), "import identity", &mut diags) else {
                        return (resp, diags);
                    };
                    if !i.check_import(&identity, &mut diags) {
                        return (resp, diags);
                    }
                    r.imp.import_identity(&data, &identity, &mut diags).await
                }
                (Some(_), None) if req.id.is_empty() => {
                    diags.error(
                        "Import by identity not supported",
                        format!(
                            "The {} resource has no identity. Import it with `import {{ id = \"…\" }}`.",
                            req.type_name
                        ),
                    );
                    None
                }
                _ => r.imp.import(&data, &req.id, &mut diags).await,
            };
            if let Some(mut state) = imported {
                r.rules.null_write_only(&mut state);
                let identity = match &r.identity {
                    Some(i) => i.known(&req.type_name, &state, &mut diags),
                    None => None,
                };
                resp.imported_resources
                    .push(pb::import_resource_state::ImportedResource {
                        type_name: req.type_name.clone(),
                        state: wire::encode(&state, &r.ty, &mut diags),
                        private: Vec::new(),
                        identity,
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
            let ready = self.prepare(
                &self.registry.data_sources,
                &req.type_name,
                &mut diags,
                |d, diags| wire::decode(req.config.as_ref(), &d.ty, "configuration", diags),
            );
            let Some(Ready {
                typed: d,
                input: config,
                data,
            }) = ready
            else {
                return (resp, diags);
            };
            tracing::debug!(type_name = %req.type_name, "ReadDataSource");
            if let Some(state) = d.imp.read(&data, &config, &mut diags).await {
                resp.state = wire::encode(&state, &d.ty, &mut diags);
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
            let ready = self.prepare(
                &self.registry.ephemerals,
                &req.type_name,
                &mut diags,
                |e, diags| {
                    let config = wire::decode(req.config.as_ref(), &e.ty, "configuration", diags)?;
                    if config.is_wholly_known() {
                        return Some(config);
                    }
                    // Inputs known only after apply: the result is unknown too, and nothing is
                    // fetched.
                    resp.result = wire::encode(&e.rules.unknown_result(config), &e.ty, diags);
                    None
                },
            );
            let Some(Ready {
                typed: e,
                input: config,
                data,
            }) = ready
            else {
                return (resp, diags);
            };
            tracing::debug!(type_name = %req.type_name, "OpenEphemeralResource");
            if let Some(opened) = e.imp.open(&data, &config, &mut diags).await {
                resp.result = wire::encode(&opened.result, &e.ty, &mut diags);
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
            let ready = self.prepare(
                &self.registry.ephemerals,
                &req.type_name,
                &mut diags,
                |_, _| Some(()),
            );
            let Some(Ready { typed: e, data, .. }) = ready else {
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
            let ready = self.prepare(
                &self.registry.ephemerals,
                &req.type_name,
                &mut diags,
                |_, _| Some(()),
            );
            let Some(Ready { typed: e, data, .. }) = ready else {
                return (Default::default(), diags);
            };
            e.imp
                .close(&data, &req.private.unwrap_or_default(), &mut diags)
                .await;
            (Default::default(), diags)
        })
        .await
    }

    async fn get_resource_identity_schemas(
        &self,
        _req: Request<pb::get_resource_identity_schemas::Request>,
    ) -> Result<Response<pb::get_resource_identity_schemas::Response>, Status> {
        // Never an error: Terraform fails its whole schema load on one. Built with the schema.
        Ok(Response::new(self.described().identities.clone()))
    }

    async fn upgrade_resource_identity(
        &self,
        req: Request<pb::upgrade_resource_identity::Request>,
    ) -> Result<Response<pb::upgrade_resource_identity::Response>, Status> {
        let req = req.into_inner();
        guarded("UpgradeResourceIdentity", async {
            let mut diags = Diagnostics::new();
            let mut resp = pb::upgrade_resource_identity::Response::default();
            // Like UpgradeResourceState: a pure rewrite, no configured data needed.
            let r = match self.registry.resources.find(&req.type_name) {
                Ok(r) => r,
                Err(unknown) => return (resp, unknown),
            };
            let Some(i) = &r.identity else {
                diags.error(
                    "Resource type has no identity",
                    format!(
                        "This provider version defines no identity for {}, so it cannot read a stored one. \
                         Use the provider version that wrote it.",
                        req.type_name
                    ),
                );
                return (resp, diags);
            };
            let raw = req.raw_identity.unwrap_or_default();
            let mut json: serde_json::Value = match serde_json::from_slice(&raw.json) {
                Ok(j) => j,
                Err(e) => {
                    diags.error("Unreadable stored identity", format!("The stored identity is not valid JSON: {e}."));
                    return (resp, diags);
                }
            };
            let current = i.schema.version;
            if req.version > current {
                diags.error(
                    "Identity written by a newer provider",
                    format!(
                        "This {} identity was stored with identity version {}, newer than this provider's \
                         {current}. Upgrade the provider to at least the version that wrote the state.",
                        req.type_name, req.version
                    ),
                );
                return (resp, diags);
            }
            if req.version < current {
                match r.imp.upgrade_identity(req.version, json, &mut diags) {
                    Some(j) => json = j,
                    None => return (resp, diags),
                }
            }
            match super::value::from_json(&json, &i.ty) {
                Ok(v) if v.is_wholly_known() && !v.is_null() => {
                    resp.upgraded_identity = wire::identity(&v, &i.ty, &mut diags);
                }
                Ok(_) => diags.error(
                    "Unreadable stored identity",
                    format!("The stored identity of this {} is empty.", req.type_name),
                ),
                Err(e) => diags.error(
                    "Unreadable stored identity",
                    format!(
                        "The stored identity of this {} does not match its identity schema: {e}.",
                        req.type_name
                    ),
                ),
            }
            (resp, diags)
        })
        .await
    }

    async fn generate_resource_config(
        &self,
        req: Request<pb::generate_resource_config::Request>,
    ) -> Result<Response<pb::generate_resource_config::Response>, Status> {
        let req = req.into_inner();
        guarded("GenerateResourceConfig", async {
            let mut diags = Diagnostics::new();
            let mut resp = pb::generate_resource_config::Response::default();
            let r = match self.registry.resources.find(&req.type_name) {
                Ok(r) => r,
                Err(unknown) => return (resp, unknown),
            };
            let Some(state) = wire::decode(req.state.as_ref(), &r.ty, "state", &mut diags) else {
                return (resp, diags);
            };
            if state.is_null() || !state.is_wholly_known() {
                diags.error(
                    "No state to generate configuration from",
                    format!(
                        "Terraform asked for the configuration of a {} without a known state. This is a \
                         bug in Terraform or the provider; please report it to the provider developers.",
                        req.type_name
                    ),
                );
                return (resp, diags);
            }
            resp.config = wire::encode(&r.rules.config_from_state(&state), &r.ty, &mut diags);
            (resp, diags)
        })
        .await
    }

    async fn validate_list_resource_config(
        &self,
        req: Request<pb::validate_list_resource_config::Request>,
    ) -> Result<Response<pb::validate_list_resource_config::Response>, Status> {
        let req = req.into_inner();
        guarded("ValidateListResourceConfig", async {
            let diags = self
                .registry
                .lists
                .validate(&req.type_name, req.config.as_ref());
            (Default::default(), diags)
        })
        .await
    }

    async fn list_resource(
        &self,
        req: Request<pb::list_resource::Request>,
    ) -> Result<Response<BoxStream<pb::list_resource::Event>>, Status> {
        let req = req.into_inner();
        let started = AssertUnwindSafe(async {
            let mut diags = Diagnostics::new();
            let ready = self.prepare(&self.registry.lists, &req.type_name, &mut diags, |l, diags| {
                let config = wire::decode(req.config.as_ref(), &l.ty, "list configuration", diags)?;
                if !config.is_wholly_known() {
                    diags.error(
                        "List configuration not known",
                        "The `config` block of this list holds a value Terraform cannot know before \
                         apply. A list runs at plan time: use values known then (variables, locals, \
                         literals).",
                    );
                    return None;
                }
                l.imp.validate(&config, diags);
                (!diags.has_errors()).then_some(config)
            });
            let Some(Ready { typed: l, input: config, data }) = ready else {
                return list::failed(&diags);
            };
            // `Registry::check` guarantees a managed type of the same name with an identity.
            let managed = self.registry.resources.find(&req.type_name).ok();
            let Some((r, identity)) = managed.and_then(|r| Some((r, r.identity.clone()?))) else {
                diags.error(
                    "Provider bug: list without identity",
                    format!("The list resource {} has no managed resource with an identity.", req.type_name),
                );
                return list::failed(&diags);
            };
            tracing::debug!(type_name = %req.type_name, limit = req.limit, "ListResource");
            list::start(list::Job {
                list: l.imp.clone(),
                data,
                config,
                identity,
                ty: r.ty.clone(),
                rules: r.rules.clone(),
                include_object: req.include_resource_object,
                limit: req.limit,
                type_name: req.type_name.clone(),
            })
        })
        .catch_unwind()
        .await;
        Ok(Response::new(started.unwrap_or_else(|panic| {
            list::failed(&guard::panicked("ListResource", panic.as_ref()))
        })))
    }

    // State stores and actions: this provider offers none (GetProviderSchema lists no such
    // type), so Terraform has no reason to call these; each answers with an error diagnostic
    // rather than a bare UNIMPLEMENTED.

    async fn validate_state_store_config(
        &self,
        req: Request<pb::validate_state_store::Request>,
    ) -> Result<Response<pb::validate_state_store::Response>, Status> {
        none("state store", &req.into_inner().type_name)
    }

    async fn configure_state_store(
        &self,
        req: Request<pb::configure_state_store::Request>,
    ) -> Result<Response<pb::configure_state_store::Response>, Status> {
        none("state store", &req.into_inner().type_name)
    }

    async fn read_state_bytes(
        &self,
        req: Request<pb::read_state_bytes::Request>,
    ) -> Result<Response<BoxStream<pb::read_state_bytes::Response>>, Status> {
        let resp = pb::read_state_bytes::Response {
            diagnostics: wire::diagnostics(&no_such("state store", &req.into_inner().type_name)),
            ..Default::default()
        };
        Ok(Response::new(Box::pin(futures::stream::iter([Ok(resp)]))))
    }

    async fn write_state_bytes(
        &self,
        req: Request<Streaming<pb::write_state_bytes::RequestChunk>>,
    ) -> Result<Response<pb::write_state_bytes::Response>, Status> {
        // The type name comes in the first chunk; nothing of the rest is read.
        let mut chunks = req.into_inner();
        let first = chunks.message().await.ok().flatten();
        let name = first
            .and_then(|c| c.meta)
            .map(|m| m.type_name)
            .unwrap_or_default();
        none("state store", &name)
    }

    async fn lock_state(
        &self,
        req: Request<pb::lock_state::Request>,
    ) -> Result<Response<pb::lock_state::Response>, Status> {
        none("state store", &req.into_inner().type_name)
    }

    async fn unlock_state(
        &self,
        req: Request<pb::unlock_state::Request>,
    ) -> Result<Response<pb::unlock_state::Response>, Status> {
        none("state store", &req.into_inner().type_name)
    }

    async fn get_states(
        &self,
        req: Request<pb::get_states::Request>,
    ) -> Result<Response<pb::get_states::Response>, Status> {
        none("state store", &req.into_inner().type_name)
    }

    async fn delete_state(
        &self,
        req: Request<pb::delete_state::Request>,
    ) -> Result<Response<pb::delete_state::Response>, Status> {
        none("state store", &req.into_inner().type_name)
    }

    async fn plan_action(
        &self,
        req: Request<pb::plan_action::Request>,
    ) -> Result<Response<pb::plan_action::Response>, Status> {
        none("action", &req.into_inner().action_type)
    }

    async fn invoke_action(
        &self,
        req: Request<pb::invoke_action::Request>,
    ) -> Result<Response<BoxStream<pb::invoke_action::Event>>, Status> {
        use pb::invoke_action::event;
        let diags = no_such("action", &req.into_inner().action_type);
        let event = pb::invoke_action::Event {
            r#type: Some(event::Type::Completed(event::Completed {
                diagnostics: wire::diagnostics(&diags),
            })),
        };
        Ok(Response::new(Box::pin(futures::stream::iter([Ok(event)]))))
    }

    async fn validate_action_config(
        &self,
        req: Request<pb::validate_action_config::Request>,
    ) -> Result<Response<pb::validate_action_config::Response>, Status> {
        none("action", &req.into_inner().type_name)
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

/// The error for a kind this provider has no type of (state stores, actions).
fn no_such(noun: &str, name: &str) -> Diagnostics {
    let mut d = Diagnostics::new();
    d.error(
        format!("Unknown {noun} type"),
        format!("This provider offers no {noun}s, so it has none named {name:?}."),
    );
    d
}

/// The answer to an RPC of a kind this provider has no type of.
fn none<R: guard::WithDiagnostics>(noun: &str, name: &str) -> Result<Response<R>, Status> {
    let mut resp = R::default();
    resp.set_diagnostics(wire::diagnostics(&no_such(noun, name)));
    Ok(Response::new(resp))
}

#[cfg(test)]
mod tests;
