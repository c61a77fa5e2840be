//! The attempt pipeline: how one request is sent, and the retry loop for idempotent requests.
//!
//! An attempt waits for a slot from the shared [`Throttle`](super::throttle::Throttle), sends
//! the request bounded by the request timeout, reads the whole answer and reports it back to the
//! throttle. [`AlloyClient::guard`] runs a read-like operation under the overall deadline and
//! Terraform's stop signal, which interrupt it at any await point (throttle waits, backoff
//! sleeps, sends), so [`AlloyClient::run`] only decides *whether* to retry, from the
//! classification in [`classify`](super::classify). The writes that must not be interrupted
//! half-way use the same pieces differently: see [`write`](super::write).

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{self, HeaderValue};
use reqwest::{Method, StatusCode};
use url::Url;

use super::classify::{Step, chain};
use super::client::{AlloyClient, Http};
use super::error::Error;
use super::reach::{Lead, Verdict};
use super::retry::parse_retry_after;
use super::throttle::Answer;

/// One request as the retry loops see it.
pub(super) struct Call {
    pub op: &'static str,
    pub method: Method,
    /// Route template for logs, e.g. `/users/{id}`: never the actual id.
    pub route: &'static str,
    pub url: Url,
    pub body: Option<Vec<u8>>,
    /// The answer holds a secret (a user token): never quote it.
    pub secret_answer: bool,
    /// A 422 means the request cannot be carried out as asked ([`Error::Unprocessable`]), not a
    /// name that is taken ([`Error::Conflict`]): the workflow routes.
    pub unprocessable_422: bool,
}

impl Call {
    pub fn new(op: &'static str, method: Method, route: &'static str, url: Url) -> Self {
        Call {
            op,
            method,
            route,
            url,
            body: None,
            secret_answer: false,
            unprocessable_422: false,
        }
    }

    pub fn with_body(mut self, body: Vec<u8>) -> Self {
        self.body = Some(body);
        self
    }

    /// Marks a call whose 422 is [`Error::Unprocessable`].
    pub fn unprocessable_on_422(mut self) -> Self {
        self.unprocessable_422 = true;
        self
    }
}

/// A complete HTTP answer.
pub(super) struct Reply {
    pub status: StatusCode,
    pub retry_after: Option<Duration>,
    pub content_type: Option<String>,
    pub location: Option<String>,
    pub body: Vec<u8>,
}

/// What one attempt produced.
pub(super) enum Outcome {
    Reply(Reply),
    /// No complete answer.
    Failed(Failure),
}

/// A request that got no complete answer, as [`Failure::of`](super::classify) describes it.
pub(super) struct Failure {
    pub detail: String,
    /// The server may have received (and acted on) the request.
    pub maybe_sent: bool,
    pub retryable: bool,
    /// No connection could be made at all (refused, name resolution, TLS verification): every
    /// request would fail the same way.
    pub unreachable: bool,
}

/// Per-operation context shared by the guard and the loops.
pub(super) struct Ctx {
    pub op: &'static str,
    pub deadline_at: Instant,
    /// Summary of the last failure, reported if the deadline cuts the operation short.
    last: Mutex<Option<String>>,
    /// The last failure's detail when it was a failure to connect at all.
    last_unreachable: Mutex<Option<String>>,
    /// Held while this operation leads first contact (see [`reach`](super::reach)).
    pub lead: Lead,
}

impl Ctx {
    fn note(&self, e: &Error) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        *last = Some(e.summary());
        let mut unreachable = self
            .last_unreachable
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *unreachable = match e.verdict() {
            Some(Verdict::Unreachable { detail }) => Some(detail),
            _ => None,
        };
    }

    /// The last failure's detail, if it was a failure to connect at all.
    pub fn unreachable(&self) -> Option<String> {
        self.last_unreachable
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl AlloyClient {
    pub(super) fn ctx(&self, op: &'static str) -> Ctx {
        Ctx {
            op,
            deadline_at: Instant::now()
                + self.inner.deadline.min(Duration::from_secs(365 * 86_400)),
            last: Mutex::new(None),
            last_unreachable: Mutex::new(None),
            lead: Lead::default(),
        }
    }

    /// Runs an operation under the stop signal and the overall deadline.
    pub(super) async fn guard<T>(
        &self,
        ctx: &Ctx,
        work: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        let op = ctx.op;
        if self.inner.stop.is_cancelled() {
            return Err(Error::Cancelled { op });
        }
        let outcome = self.interruptible(ctx, work).await;
        if let Err(e) = &outcome {
            tracing::debug!(op, error = %e, "alloy api operation failed");
            self.inner.reach.judge(ctx, e);
        }
        outcome
    }

    /// Runs `work` until it ends, Terraform asks the provider to stop ([`Error::Cancelled`]) or
    /// the operation's deadline passes ([`Error::Deadline`]), whichever comes first.
    pub(super) async fn interruptible<T>(
        &self,
        ctx: &Ctx,
        work: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        let op = ctx.op;
        tokio::select! {
            biased;
            _ = self.inner.stop.cancelled() => Err(Error::Cancelled { op }),
            r = tokio::time::timeout_at(ctx.deadline_at.into(), work) => match r {
                Ok(result) => result,
                Err(_) => Err(Error::Deadline {
                    op,
                    after: self.inner.deadline,
                    last: ctx.last.lock().unwrap_or_else(|p| p.into_inner()).take(),
                }),
            },
        }
    }

    pub(super) async fn http(&self) -> Result<&reqwest::Client, Error> {
        match &self.inner.http {
            Http::Ready(c) => Ok(c),
            Http::Lazy { cell, spec } => {
                cell.get_or_try_init(|| async {
                    let spec = (**spec).clone();
                    // Reading the system root store is blocking file I/O.
                    let built = tokio::task::spawn_blocking(move || spec.build())
                        .await
                        .map_err(|e| format!("TLS set-up task failed: {e}"))?;
                    built.map_err(|e| chain(&e))
                })
                .await
                .map_err(|detail: String| Error::Config {
                    message: format!("could not set up HTTPS (system root certificates): {detail}"),
                })
            }
        }
    }

    /// One attempt: wait for a throttle slot, send, read the whole answer.
    async fn attempt(&self, ctx: &Ctx, call: &Call, attempt: u32) -> Result<Outcome, Error> {
        let http = self.ready_slot(ctx).await?;
        Ok(self.send(http, call, attempt).await)
    }

    /// The HTTP client, once the process-wide verdict (if any), first contact and then the
    /// throttle let the next request of `ctx`'s operation go.
    pub(super) async fn ready_slot(&self, ctx: &Ctx) -> Result<&reqwest::Client, Error> {
        self.inner.reach.admit(ctx).await?;
        let http = self.http().await?;
        while let Err(wait) = self.inner.throttle.take(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
        Ok(http)
    }

    /// Sends one request and reads the whole answer; bounded by the request timeout.
    pub(super) async fn send(&self, http: &reqwest::Client, call: &Call, attempt: u32) -> Outcome {
        let mut req = http
            .request(call.method.clone(), call.url.clone())
            .timeout(self.inner.request_timeout);
        if let Some(body) = &call.body {
            req = req
                .header(header::CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let sent_at = Instant::now();
        let result = async {
            let resp = req.send().await?;
            let status = resp.status();
            let headers = resp.headers();
            let text = |name| {
                headers
                    .get(name)
                    .and_then(|v: &HeaderValue| v.to_str().ok())
                    .map(str::to_owned)
            };
            let retry_after =
                text(header::RETRY_AFTER).and_then(|v| parse_retry_after(&v, SystemTime::now()));
            let content_type = text(header::CONTENT_TYPE);
            let location = text(header::LOCATION);
            let body = resp.bytes().await?.to_vec();
            Ok::<_, reqwest::Error>(Reply {
                status,
                retry_after,
                content_type,
                location,
                body,
            })
        }
        .await;
        let elapsed_ms = u64::try_from(sent_at.elapsed().as_millis()).unwrap_or(u64::MAX);
        match result {
            Ok(reply) => {
                self.inner.reach.answered();
                let answer = if reply.status == StatusCode::TOO_MANY_REQUESTS {
                    Answer::Limited(reply.retry_after)
                } else {
                    Answer::Accepted
                };
                self.inner
                    .throttle
                    .on_answer(sent_at, answer, Instant::now());
                tracing::debug!(
                    op = call.op,
                    method = %call.method,
                    route = call.route,
                    status = reply.status.as_u16(),
                    attempt,
                    elapsed_ms,
                    "alloy api request"
                );
                Outcome::Reply(reply)
            }
            Err(e) => {
                let failure = Failure::of(&e, self.inner.request_timeout);
                tracing::debug!(
                    op = call.op,
                    method = %call.method,
                    route = call.route,
                    attempt,
                    elapsed_ms,
                    error = %failure.detail,
                    "alloy api request failed"
                );
                Outcome::Failed(failure)
            }
        }
    }

    /// Waits before retry number `retry`, or returns `Err(error)` when no retry is left or the
    /// wait would end past the deadline (no point sleeping just to time out).
    pub(super) async fn before_retry(
        &self,
        ctx: &Ctx,
        retry: u32,
        retry_after: Option<Duration>,
        error: Error,
    ) -> Result<(), Error> {
        if retry > self.inner.max_retries {
            return Err(error);
        }
        let wait = self.inner.backoff.wait(retry - 1, retry_after);
        if Instant::now() + wait >= ctx.deadline_at {
            return Err(error);
        }
        ctx.note(&error);
        tracing::debug!(
            op = ctx.op,
            retry,
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            cause = %error.summary(),
            "alloy api retry"
        );
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// The retry loop for idempotent requests.
    pub(super) async fn run(&self, ctx: &Ctx, call: &Call) -> Result<Reply, Error> {
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let outcome = self.attempt(ctx, call, attempts).await?;
            let step = self.step(call, outcome, attempts);
            self.inner.reach.after_attempt(ctx, step.failure());
            match step {
                Step::Done(reply) => return Ok(reply),
                Step::Fail(e) => return Err(e),
                Step::Retry {
                    error, retry_after, ..
                } => self.before_retry(ctx, attempts, retry_after, error).await?,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::config::{ApiKey, ClientConfig};
    use super::super::testkit::{KEY, client};
    use super::*;

    #[tokio::test]
    async fn cancelled_before_start_returns_cancelled_without_network() {
        let c = client("http://127.0.0.1:1");
        c.inner.stop.cancel();
        let e = c.list_users().await.unwrap_err();
        assert!(e.is_cancelled(), "{e}");
        assert_eq!(e.operation(), Some("list users"));
    }

    #[tokio::test]
    async fn unreachable_api_is_a_transport_error_after_retries() {
        // Port 1 on loopback refuses connections: retried, then reported as transport.
        let mut cfg = ClientConfig::new(
            Url::parse("http://127.0.0.1:1").unwrap(),
            "2025-09",
            ApiKey::new(KEY),
            "ua",
        );
        cfg.max_retries = 2;
        let c = AlloyClient::new(cfg).unwrap();
        let e = c.get_user("x").await.unwrap_err();
        assert!(e.is_transport(), "{e}");
        let s = e.to_string();
        assert!(s.contains("after 3 attempts"), "{s}");
        assert!(!s.contains(KEY));
    }
}
