//! Process-wide verdicts: failures that will be the same for every request are decided once.
//!
//! Some failures say nothing about the request that met them and everything about the ones that
//! follow: the API cannot be reached (connection refused, a name that does not resolve, a
//! certificate that does not verify) or it rejects the key (401/403). Met tenant by tenant, they
//! cost a retry budget per tenant (an unreachable API: ~20 s each, ten at a time) or one failed
//! call per tenant (a bad key). So they are decided once per [`AlloyClient`](super::AlloyClient),
//! which lives as long as one provider process:
//!
//! - **First contact.** Until some request of this client has had an HTTP answer (any status),
//!   one operation at a time talks to the API: the first one *leads*, and the others wait for it.
//!   So an API that cannot be reached is tried by one operation, with that operation's retries,
//!   not by ten in parallel. The first answer opens the way for everyone; a leader that ends
//!   without an answer and without a verdict (stopped, say) hands the lead to the next.
//! - **The verdict.** An operation that fails for a process-wide cause (after its retries, where
//!   retries make sense) records it; every later attempt of every operation fails at once with
//!   [`Error::Halted`], which names the same cause and makes no request.
//!
//! Transient failures (5xx, 429, a timeout of one request once the API has answered) stay per
//! operation, as before. The one bounded look-up that settles a write interrupted half-way
//! (`write::last_look`) is not gated: it is the last chance to learn whether a user exists.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::OwnedMutexGuard;

use super::attempt::Ctx;
use super::error::Error;

/// Why every request of this process would fail the same way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No connection could be made (refused, name resolution, TLS verification).
    Unreachable { detail: String },
    /// The API rejected the key (HTTP 401 or 403).
    Rejected { status: u16 },
}

impl Verdict {
    /// A short sentence: what was decided, without the operation.
    pub fn reason(&self) -> String {
        match self {
            Verdict::Unreachable { detail } => {
                format!("the Alloy API could not be reached ({detail})")
            }
            Verdict::Rejected { status } => {
                format!("the Alloy API rejected the API key (HTTP {status})")
            }
        }
    }
}

/// What one client knows of the API's reachability. See the module documentation.
#[derive(Default)]
pub(super) struct Reach {
    /// Some request of this client has had an HTTP answer.
    answered: AtomicBool,
    verdict: OnceLock<Verdict>,
    /// Held by the operation that leads first contact.
    lead: Arc<tokio::sync::Mutex<()>>,
}

/// The lead an operation holds while it makes first contact; released when it is dropped.
#[derive(Default)]
pub(super) struct Lead(Mutex<Option<OwnedMutexGuard<()>>>);

impl Lead {
    fn slot(&self) -> std::sync::MutexGuard<'_, Option<OwnedMutexGuard<()>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn holds(&self) -> bool {
        self.slot().is_some()
    }

    fn release(&self) {
        self.slot().take();
    }
}

impl Reach {
    /// The verdict, once there is one.
    pub fn verdict(&self) -> Option<&Verdict> {
        self.verdict.get()
    }

    /// Lets an attempt of `ctx`'s operation go: at once after first contact, else after the
    /// operation leading it. Fails with [`Error::Halted`] once there is a verdict.
    pub async fn admit(&self, ctx: &Ctx) -> Result<(), Error> {
        self.halted(ctx.op)?;
        if self.answered.load(Ordering::SeqCst) || ctx.lead.holds() {
            return Ok(());
        }
        let guard = self.lead.clone().lock_owned().await;
        self.halted(ctx.op)?;
        if !self.answered.load(Ordering::SeqCst) {
            *ctx.lead.slot() = Some(guard);
        }
        Ok(())
    }

    fn halted(&self, op: &'static str) -> Result<(), Error> {
        match self.verdict.get() {
            Some(v) => Err(Error::Halted {
                op,
                verdict: v.clone(),
            }),
            None => Ok(()),
        }
    }

    /// An HTTP answer arrived: the API is reachable.
    pub fn answered(&self) {
        self.answered.store(true, Ordering::SeqCst);
    }

    /// After an attempt of `ctx`'s operation: records a verdict `failure` calls for, and hands
    /// the lead on once the API has answered (so the operations waiting for it go at once).
    pub fn after_attempt(&self, ctx: &Ctx, failure: Option<&Error>) {
        if let Some(e) = failure {
            self.judge(ctx, e);
        }
        if self.answered.load(Ordering::SeqCst) {
            ctx.lead.release();
        }
    }

    /// Records the verdict an operation's final error calls for, if any ([`Error::verdict`]).
    pub fn judge(&self, ctx: &Ctx, e: &Error) {
        let verdict = match (e.verdict(), e) {
            (Some(v), _) => v,
            // Out of time while every attempt failed to connect: as unreachable as it gets.
            (None, Error::Deadline { .. }) if !self.answered.load(Ordering::SeqCst) => {
                match ctx.unreachable() {
                    Some(detail) => Verdict::Unreachable { detail },
                    None => return,
                }
            }
            _ => return,
        };
        if self.verdict.set(verdict).is_ok() {
            tracing::debug!(
                op = ctx.op,
                cause = %self.verdict.get().map(Verdict::reason).unwrap_or_default(),
                "process-wide verdict: later requests fail at once"
            );
        }
    }
}
