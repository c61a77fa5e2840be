//! The traits an Alloy-agnostic provider implements, one per kind of thing Terraform manages.
//!
//! Each method receives decoded [`Value`]s and a [`Diagnostics`] to append to, and returns plain
//! values; the wire (msgpack, proto messages, RPC names) stays in `server.rs`. Methods that talk to
//! the API receive the provider's configured data `D` (for Alloy: the API client and environment).
//!
//! Return conventions, chosen so that nothing is lost on a partial failure:
//! - `create`/`update` return `Some(state)` whenever an object exists remotely, *even with an error
//!   diagnostic*, so Terraform records it instead of orphaning it; `None` only when nothing was made.
//! - `read` returns `None` when the object is gone (Terraform then plans to re-create it).

use std::time::SystemTime;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::diag::{AttrPath, Diagnostics};
use super::plan::Deletion;
use super::schema::{IdentitySchema, Schema};
use super::server::{ListResults, Registry};
use super::value::Value;

/// What `ConfigureProvider` hands the provider.
pub struct ConfigureRequest {
    pub config: Value,
    /// The Terraform CLI version, e.g. "1.11.4" (for the User-Agent).
    pub terraform_version: String,
    /// Cancelled when Terraform calls `StopProvider` (Ctrl-C): in-flight work should wind down.
    pub stop: CancellationToken,
}

#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// What `configure` produces and every operation then receives.
    type Data: Send + Sync + 'static;

    /// The provider's local name, e.g. `alloy` (resource type names start with it).
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    /// Static checks of the provider block (values may still be unknown here).
    fn validate(&self, _config: &Value, _diags: &mut Diagnostics) {}
    async fn configure(&self, req: ConfigureRequest, diags: &mut Diagnostics)
    -> Option<Self::Data>;

    /// Registers every type the provider serves, one call per type (see [`Registry`]). Called
    /// once, when the server is built.
    fn register(&self, types: &mut Registry<Self::Data>);
}

/// The plan being built for one resource instance; `modify_plan` may adjust it.
pub struct Plan<'a> {
    /// Null when the resource is being created.
    pub prior: &'a Value,
    pub config: &'a Value,
    /// Starts as Terraform's proposed state with unset computed attributes marked unknown on create.
    pub planned: Value,
    /// Attributes whose change needs a new object.
    pub requires_replace: Vec<AttrPath>,
}

#[async_trait]
pub trait Resource<D>: Send + Sync {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;

    /// Static checks, run at validate and plan time; unknown values must be let through.
    fn validate(&self, _config: &Value, _diags: &mut Diagnostics) {}

    /// Top-level attributes whose change forces replacement (the framework compares prior and
    /// planned values and reports the paths).
    fn requires_replace(&self) -> &'static [&'static str] {
        &[]
    }

    /// A chance to refine a create or update plan (never called for destroy; see
    /// [`check_delete`](Self::check_delete)).
    async fn modify_plan(&self, _data: &D, _plan: &mut Plan<'_>, _diags: &mut Diagnostics) {}

    /// Whether the remote object that `prior` describes may be deleted; an error diagnostic
    /// refuses. The default allows every deletion.
    ///
    /// The server asks on every path that deletes: when a destroy is planned (it advertises
    /// `plan_destroy`, so Terraform ≥ 1.3 plans `terraform destroy`, `plan -destroy`, a deleted
    /// block or `for_each` key through the provider), when a plan replaces the object (after
    /// `modify_plan`, so its `requires_replace` counts), and once more in `ApplyResourceChange`
    /// just before [`delete`](Self::delete), which is then not called. An error at plan time
    /// fails the plan before anything is changed anywhere.
    ///
    /// The answer must come from `prior` alone: it is what Terraform plans against, so a
    /// configuration change in the same plan cannot lift a refusal, and no API call or configured
    /// provider is needed. Terraform plans a `removed { lifecycle { destroy = false } }` block as
    /// "forget" without asking the provider, so that way out always stays open.
    fn check_delete(&self, _prior: &Value, _why: Deletion, _diags: &mut Diagnostics) {}

    async fn read(&self, data: &D, state: Value, diags: &mut Diagnostics) -> Option<Value>;
    async fn create(
        &self,
        data: &D,
        planned: &Value,
        config: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value>;
    async fn update(
        &self,
        data: &D,
        prior: &Value,
        planned: &Value,
        config: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value>;
    async fn delete(&self, data: &D, prior: &Value, diags: &mut Diagnostics);

    /// Turns the id given to `terraform import` (or an `import {}` block) into a state.
    async fn import(&self, data: &D, id: &str, diags: &mut Diagnostics) -> Option<Value>;

    /// The type's identity (Terraform ≥ 1.12), if it has one. The server then reports the
    /// identity of every state it returns, computed from that state, refuses one that changes
    /// across an update, and answers `import { identity = {…} }` through
    /// [`import_identity`](Self::import_identity). A type with an identity may also be listed
    /// (a [`ListResource`] of the same name).
    fn identity(&self) -> Option<IdentitySchema> {
        None
    }

    /// Turns the identity given in an `import { identity = {…} }` block (decoded, its
    /// required attributes present) into a state. The default says the type cannot be imported
    /// that way; a type with an [`identity`](Self::identity) overrides it.
    async fn import_identity(
        &self,
        _data: &D,
        _identity: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        diags.error(
            "Import by identity not supported",
            format!(
                "The {} resource cannot be imported by identity. Use `import {{ id = \"…\" }}` instead.",
                self.type_name()
            ),
        );
        None
    }

    /// Rewrites an identity stored by an older identity version (as JSON) into the current
    /// shape. The default knows no older versions.
    fn upgrade_identity(
        &self,
        from_version: i64,
        identity: serde_json::Value,
        diags: &mut Diagnostics,
    ) -> Option<serde_json::Value> {
        diags.error(
            "Unsupported identity version",
            format!(
                "The identity of this {} was written with identity version {from_version}, which this \
                 provider version cannot upgrade. Use the provider version that wrote it, or remove the \
                 resource from state and import it again.",
                self.type_name()
            ),
        );
        let _ = identity;
        None
    }

    /// Rewrites state stored by an older schema version (as JSON) into the current shape.
    /// The default knows no older versions.
    fn upgrade_state(
        &self,
        from_version: i64,
        state: serde_json::Value,
        diags: &mut Diagnostics,
    ) -> Option<serde_json::Value> {
        diags.error(
            "Unsupported state version",
            format!(
                "The state of this {} was written with schema version {from_version}, which this provider \
                 version cannot upgrade. Use the provider version that wrote it, or remove the resource \
                 from state and import it again.",
                self.type_name()
            ),
        );
        let _ = state;
        None
    }
}

#[async_trait]
pub trait DataSource<D>: Send + Sync {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    fn validate(&self, _config: &Value, _diags: &mut Diagnostics) {}
    async fn read(&self, data: &D, config: &Value, diags: &mut Diagnostics) -> Option<Value>;
}

/// A list resource (Terraform ≥ 1.14: a `list` block in a `.tfquery.hcl` file, run by
/// `terraform query`): finds the remote objects of the managed resource type of the same name,
/// which must have an [identity](Resource::identity).
///
/// The schema is the list's own configuration (the filters inside the `list` block's `config`).
/// [`list`](Self::list) runs once per `list` block and hands each object found, as a state of
/// the managed type, to [`ListResults::send`]; the server turns it into an event with the
/// object's identity, and the state itself only when Terraform asked for it. Terraform stops
/// reading at the block's `limit`: `send` then answers `false` and `list` should return at once.
/// Diagnostics added to `diags` reach Terraform as one event after the results.
#[async_trait]
pub trait ListResource<D>: Send + Sync {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    /// Static checks of the configuration; unknown values must be let through.
    fn validate(&self, _config: &Value, _diags: &mut Diagnostics) {}
    /// Finds the objects; `config` is wholly known and validated.
    async fn list(
        &self,
        data: &D,
        config: &Value,
        results: &mut ListResults,
        diags: &mut Diagnostics,
    );
}

/// What opening an ephemeral resource produced.
pub struct Opened {
    pub result: Value,
    /// Opaque bytes Terraform hands back on renew and close (never shown, never stored).
    pub private: Vec<u8>,
    /// When Terraform should call renew, if the result goes stale.
    pub renew_at: Option<SystemTime>,
}

pub struct Renewed {
    pub private: Vec<u8>,
    pub renew_at: Option<SystemTime>,
}

#[async_trait]
pub trait EphemeralResource<D>: Send + Sync {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    fn validate(&self, _config: &Value, _diags: &mut Diagnostics) {}
    async fn open(&self, data: &D, config: &Value, diags: &mut Diagnostics) -> Option<Opened>;
    async fn renew(&self, _data: &D, private: &[u8], _diags: &mut Diagnostics) -> Option<Renewed> {
        Some(Renewed {
            private: private.to_vec(),
            renew_at: None,
        })
    }
    async fn close(&self, _data: &D, _private: &[u8], _diags: &mut Diagnostics) {}
}
