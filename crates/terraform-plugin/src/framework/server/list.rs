//! The streaming side of list resources (`ListResource`, Terraform ≥ 1.14).
//!
//! A list runs in a task of its own that feeds a bounded channel; the receiving half is the gRPC
//! response stream. Terraform reads until the `list` block's `limit`, then cancels the stream:
//! tonic drops the receiver, and the task stops at once, even inside an API call, because it
//! races the listing against the channel closing. Everything that goes wrong — a configuration
//! Terraform could not know, the provider's own diagnostics, a panic — reaches Terraform as an
//! event holding only diagnostics, never as a gRPC error (the rules are in Terraform's
//! `internal/plugin6/grpc_provider.go`, `ListResource`).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use tokio::sync::mpsc;
use tonic::Status;
use tonic::codegen::BoxStream;

use crate::framework::diag::Diagnostics;
use crate::framework::plan::Rules;
use crate::framework::resource::ListResource;
use crate::framework::value::{Type, Value};
use crate::framework::wire;
use crate::proto::tfplugin6 as pb;

use super::guard::panicked;
use super::registry::Identity;

type Event = Result<pb::list_resource::Event, Status>;

/// How many events wait in the channel before the listing waits for Terraform to read: enough to
/// keep the stream busy, few enough that a cancelled list has done little extra work.
const BUFFER: usize = 16;

/// Where a [`ListResource`] sends what it found. Each object is given as a state of the managed
/// resource type; the event carries its identity, and the state only when Terraform asked.
pub struct ListResults {
    tx: mpsc::Sender<Event>,
    identity: Arc<Identity>,
    ty: Type,
    rules: Arc<Rules>,
    include_object: bool,
    /// Results still wanted (Terraform's `limit`), if it set one.
    remaining: Option<u64>,
    type_name: String,
}

impl ListResults {
    /// Sends one object found. `false` means stop: Terraform has read all it wants (the limit is
    /// reached or the stream was cancelled).
    pub async fn send(&mut self, state: &Value, display_name: &str) -> bool {
        if self.remaining == Some(0) {
            return false;
        }
        let mut diags = Diagnostics::new();
        let mut event = pb::list_resource::Event {
            identity: self.identity.known(&self.type_name, state, &mut diags),
            display_name: display_name.to_owned(),
            ..Default::default()
        };
        if self.include_object {
            let mut object = state.clone();
            self.rules.null_write_only(&mut object);
            event.resource_object = wire::encode(&object, &self.ty, &mut diags);
        }
        if event.identity.is_none() && !diags.has_errors() {
            diags.error(
                "Provider bug: listed object without identity",
                format!(
                    "The provider listed a {} without a state. This is a bug in the provider; please \
                     report it to the provider developers.",
                    self.type_name
                ),
            );
        }
        event.diagnostic = wire::diagnostics(&diags);
        if self.tx.send(Ok(event)).await.is_err() {
            return false;
        }
        if let Some(n) = &mut self.remaining {
            *n -= 1;
        }
        self.remaining != Some(0) && !diags.has_errors()
    }

    /// Whether Terraform asked for whole objects (`include_resource`); a list that must fetch
    /// more per object to build a full state can skip that work otherwise.
    pub fn wants_objects(&self) -> bool {
        self.include_object
    }
}

/// What a list needs to run on its own once the handler has found and checked everything.
pub(super) struct Job<D> {
    pub list: Arc<dyn ListResource<D>>,
    pub data: Arc<D>,
    pub config: Value,
    pub identity: Arc<Identity>,
    pub ty: Type,
    pub rules: Arc<Rules>,
    pub include_object: bool,
    pub limit: i64,
    pub type_name: String,
}

/// A stream that holds one event with `diags` (an error before the list could start).
pub(super) fn failed(diags: &Diagnostics) -> BoxStream<pb::list_resource::Event> {
    let event = pb::list_resource::Event {
        diagnostic: wire::diagnostics(diags),
        ..Default::default()
    };
    Box::pin(futures::stream::iter([Ok(event)]))
}

/// Starts the list in its own task and returns the stream of its events.
pub(super) fn start<D: Send + Sync + 'static>(job: Job<D>) -> BoxStream<pb::list_resource::Event> {
    let (tx, mut rx) = mpsc::channel::<Event>(BUFFER);
    let mut results = ListResults {
        tx: tx.clone(),
        identity: job.identity,
        ty: job.ty,
        rules: job.rules,
        include_object: job.include_object,
        // Terraform sends its `limit` (100 unless the block says otherwise).
        remaining: u64::try_from(job.limit).ok().filter(|n| *n > 0),
        type_name: job.type_name.clone(),
    };
    tokio::spawn(async move {
        let run = async {
            let mut diags = Diagnostics::new();
            let listed =
                AssertUnwindSafe(
                    job.list
                        .list(&job.data, &job.config, &mut results, &mut diags),
                )
                .catch_unwind()
                .await;
            if let Err(panic) = listed {
                diags.extend(panicked("ListResource", panic.as_ref()));
            }
            if !diags.is_empty() {
                let event = pb::list_resource::Event {
                    diagnostic: wire::diagnostics(&diags),
                    ..Default::default()
                };
                let _ = results.tx.send(Ok(event)).await;
            }
        };
        tokio::select! {
            () = run => {}
            // Terraform cancelled the stream (it reached its limit, or was interrupted): drop
            // the listing wherever it is, API call included.
            () = tx.closed() => {
                tracing::debug!(type_name = %job.type_name, "ListResource: stream cancelled; listing stopped");
            }
        }
    });
    Box::pin(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}
