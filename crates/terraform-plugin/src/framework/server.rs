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

use std::sync::{Arc, OnceLock, RwLock};

use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::proto::tfplugin6 as pb;
use crate::proto::tfplugin6::provider_server::Provider as ProviderService;

use super::diag::Diagnostics;
use super::plan::{Change, Deletion};
use super::resource::{ConfigureRequest, Plan, Provider};
use super::value::{Type, Value};
use super::wire;

mod guard;
mod registry;

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
                    // says otherwise. A null state has nothing to read.
                    resp.new_state = req.current_state.clone();
                    (!state.is_null()).then_some(state)
                },
            );
            let Some(Ready {
                typed: r,
                input: state,
                data,
            }) = ready
            else {
                return (resp, diags);
            };
            tracing::debug!(type_name = %req.type_name, "ReadResource");
            match r.imp.read(&data, state, &mut diags).await {
                Some(mut v) => {
                    r.rules.null_write_only(&mut v);
                    if !diags.has_errors() {
                        resp.new_state = wire::encode(&v, &r.ty, &mut diags);
                    }
                }
                None if !diags.has_errors() => {
                    resp.new_state = wire::encode(&Value::Null, &r.ty, &mut diags)
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
                    Some((prior, planned, config))
                },
            );
            let Some(Ready {
                typed: r,
                input: (prior, planned, config),
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
                r.imp
                    .update(&data, &prior, &planned, &config, &mut diags)
                    .await
                    .unwrap_or(prior)
            };
            let mut new_state = new_state;
            r.rules.null_write_only(&mut new_state);
            resp.new_state = wire::encode(&new_state, &r.ty, &mut diags);
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
            if let Some(mut state) = r.imp.import(&data, &req.id, &mut diags).await {
                r.rules.null_write_only(&mut state);
                resp.imported_resources
                    .push(pb::import_resource_state::ImportedResource {
                        type_name: req.type_name.clone(),
                        state: wire::encode(&state, &r.ty, &mut diags),
                        private: Vec::new(),
                        identity: None,
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
mod tests;
