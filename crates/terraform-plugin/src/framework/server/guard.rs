//! The guard around every RPC body: whatever a handler does, Terraform gets a response.
//!
//! A panic inside a handler (a bug, or input we failed to foresee) becomes an error diagnostic
//! in the response of the RPC it happened in, and the process lives on to serve the next call.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use tonic::{Response, Status};

use crate::framework::diag::Diagnostics;
use crate::framework::wire;
use crate::proto::tfplugin6 as pb;

/// Responses that can carry diagnostics, so a panic or a failure anywhere can be reported in the
/// response of whichever RPC it happened in.
pub(super) trait WithDiagnostics: Default {
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
    get_resource_identity_schemas,
    upgrade_resource_identity,
    validate_list_resource_config,
    generate_resource_config,
    validate_state_store,
    configure_state_store,
    write_state_bytes,
    lock_state,
    unlock_state,
    get_states,
    delete_state,
    plan_action,
    validate_action_config,
);

/// Runs one RPC body; a panic inside it becomes an error diagnostic and the process lives on.
pub(super) async fn guarded<R, F>(rpc: &'static str, body: F) -> Result<Response<R>, Status>
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
            let mut resp = R::default();
            resp.set_diagnostics(wire::diagnostics(&panicked(rpc, panic.as_ref())));
            Ok(Response::new(resp))
        }
    }
}

/// The error diagnostic (and log line) for a panic caught while handling `rpc`; also used by the
/// streaming RPCs, which report it as an event.
pub(super) fn panicked(rpc: &'static str, panic: &(dyn std::any::Any + Send)) -> Diagnostics {
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
    d
}
