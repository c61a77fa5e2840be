//! Typed client for Alloy Automation's Embedded API, as used by the Terraform provider.
//!
//! The client knows nothing of Terraform: it turns operations ("create user", "get integration")
//! into HTTP calls and answers into typed values or an [`Error`] whose cause the provider can act
//! on (`is_not_found()` → drop from state, `is_conflict()` → suggest import, ...).
//!
//! Why it is shaped this way:
//! - One pooled `reqwest::Client` per [`AlloyClient`] (an `Arc` inside, so clones share the pool,
//!   the throttle and the configuration). Terraform starts the provider several times per command,
//!   so construction must stay cheap: system root certificates are loaded only for `https` base
//!   URLs, and then lazily on the first request.
//! - Every operation is bounded by a per-attempt timeout, a retry budget, an overall deadline and
//!   Terraform's stop signal, because a provider that hangs is worse than one that fails.
//! - Rate limiting is handled twice: each 429 is retried after `Retry-After`, and a shared
//!   [`throttle`] lowers the request rate of all concurrent operations so that Terraform's
//!   parallel walks stop provoking 429s.
//! - `POST /users` is not idempotent, so a create whose outcome is unknown is resolved by looking
//!   the username up instead of posting blindly again; a workflow upgrade, activation or
//!   uninstall whose outcome is unknown is resolved by reading the user's workflow back.
//! - Wire types are private to this module (and distinct from the emulator's) so that the
//!   documented field names are tested from the client's side.
//!
//! Files, each one concern: `client` (construction and the operations), `attempt` (sending one
//! attempt through throttle, timeout, stop signal and deadline; the retry loop for idempotent
//! requests), `classify` (an answer or transport error → done, retry or error; decoding),
//! `write` (the protocol of every write: never abandoned half-way, an unknown outcome read back
//! before anything is sent again), `workflow` (a user's installed workflow: its read and the
//! activation, upgrade and uninstall writes), `reach` (failures
//! decided once per process: first contact, an unreachable API, a rejected key), `retry` (backoff,
//! `Retry-After`), `throttle`, `endpoint` (URLs), `config`, `model` (wire types), `error`.

#![cfg_attr(not(test), warn(unused_crate_dependencies))]

/// The prefix of this crate's `tracing` targets, for a subscriber that filters by crate.
pub const LOG_TARGET: &str = env!("CARGO_CRATE_NAME");

mod attempt;
mod classify;
mod client;
mod config;
mod credential;
mod endpoint;
mod error;
mod model;
mod reach;
mod retry;
#[cfg(test)]
mod testkit;
mod throttle;
mod workflow;
mod write;

pub use client::AlloyClient;
pub use config::{
    ApiKey, ClientConfig, DEFAULT_DEADLINE, DEFAULT_MAX_RETRIES, DEFAULT_REQUEST_TIMEOUT,
};
pub use credential::{CreatedCredential, Credential, CredentialProperty, CredentialType};
pub use error::Error;
pub use model::{Created, Integration, UpgradeOutcome, User, Workflow, WorkflowUser};
pub use reach::Verdict;
