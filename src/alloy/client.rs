//! [`AlloyClient`]: the operations, and the attempt/retry machinery under them.
//!
//! Every read-like operation runs inside [`AlloyClient::guard`], which enforces the overall
//! deadline and Terraform's stop signal at every await point (throttle waits, backoff sleeps,
//! sends), so the inner loops only decide *whether* to retry. Each attempt goes through the
//! shared [`Throttle`](super::throttle::Throttle) and reports its answer back to it.
//!
//! Create and delete are the exception, because abandoning them half-way is how users get
//! orphaned: a stop or the deadline interrupts their waits (no new attempt starts), but never a
//! POST or DELETE already sent — that attempt is bounded by the request timeout anyway — and an
//! outcome still unknown at that point gets one bounded lookup, so the caller learns what
//! exists. The same goes for a success whose body cannot be read: the user is looked up rather
//! than forgotten.
//!
//! Secrets: the key is only ever inside a sensitive `Authorization` header value built once;
//! messages echoed from the API are scrubbed of it; token bodies are never quoted in errors and
//! no body is ever logged.

use std::error::Error as _;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::config::{ApiKey, ClientConfig};
use super::endpoint::Endpoints;
use super::error::Error;
use super::model::{
    self, CreateUserBody, Created, CreatedBody, DeleteBody, Integration, ListBody, OneBody,
    TokenBody, UpdateUserBody, User,
};
use super::retry::{Backoff, parse_retry_after};
use super::throttle::{Answer, Throttle};

const OP_CREATE: &str = "create user";
const OP_GET: &str = "get user";
const OP_LIST: &str = "list users";
const OP_UPDATE: &str = "update user";
const OP_DELETE: &str = "delete user";
const OP_TOKEN: &str = "get user token";
const OP_LIST_INTEGRATIONS: &str = "list integrations";
const OP_GET_INTEGRATION: &str = "get integration";

/// Longest API message kept in an error (an HTML error page is not a message).
const MAX_MESSAGE_CHARS: usize = 300;

/// A cheaply clonable client for the Alloy Embedded API. Clones share one connection pool, one
/// throttle and one configuration.
#[derive(Clone)]
pub struct AlloyClient {
    inner: Arc<Inner>,
}

struct Inner {
    endpoints: Endpoints,
    api_version: String,
    key: ApiKey,
    request_timeout: Duration,
    max_retries: u32,
    deadline: Duration,
    stop: CancellationToken,
    backoff: Backoff,
    throttle: Throttle,
    http: Http,
}

/// The pooled HTTP client. Plain-HTTP base URLs (the emulator) get one at once, built without
/// system roots, which is cheap. HTTPS base URLs build theirs on first use, because loading the
/// system root store costs milliseconds that a provider start-up (~4 per Terraform command)
/// should not pay when it makes no request.
enum Http {
    Ready(reqwest::Client),
    Lazy {
        cell: OnceCell<reqwest::Client>,
        spec: Box<BuildSpec>,
    },
}

#[derive(Clone)]
struct BuildSpec {
    headers: HeaderMap,
    user_agent: HeaderValue,
    request_timeout: Duration,
    no_proxy: bool,
    system_roots: bool,
}

impl BuildSpec {
    fn build(&self) -> Result<reqwest::Client, reqwest::Error> {
        let mut b = reqwest::Client::builder()
            .default_headers(self.headers.clone())
            .user_agent(self.user_agent.clone())
            .timeout(self.request_timeout)
            .connect_timeout(self.request_timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(32)
            .tcp_keepalive(Duration::from_secs(30))
            .tcp_nodelay(true)
            // A redirect would resend the request somewhere else; report it instead.
            .redirect(reqwest::redirect::Policy::none());
        if !self.system_roots {
            b = b.tls_certs_only(Vec::<reqwest::Certificate>::new());
        }
        if self.no_proxy {
            b = b.no_proxy();
        }
        b.build()
    }
}

impl fmt::Debug for AlloyClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("AlloyClient")
            .field("base_url", &i.endpoints.base().as_str())
            .field("api_version", &i.api_version)
            .field("api_key", &i.key)
            .field("request_timeout", &i.request_timeout)
            .field("max_retries", &i.max_retries)
            .field("deadline", &i.deadline)
            .field("throttle_rate", &i.throttle.rate())
            .finish_non_exhaustive()
    }
}

/// One request as the retry loops see it.
struct Call {
    op: &'static str,
    method: Method,
    /// Route template for logs, e.g. `/users/{id}`: never the actual id.
    route: &'static str,
    url: Url,
    body: Option<Vec<u8>>,
    /// The answer holds a secret (a user token): never quote it.
    secret_answer: bool,
}

/// A complete HTTP answer.
struct Reply {
    status: StatusCode,
    retry_after: Option<Duration>,
    content_type: Option<String>,
    location: Option<String>,
    body: Vec<u8>,
}

/// What one attempt produced.
enum Outcome {
    Reply(Reply),
    /// No complete answer. `maybe_sent`: the server may have received (and acted on) the request.
    Failed {
        detail: String,
        maybe_sent: bool,
        retryable: bool,
    },
}

/// What the retry loop should do with an attempt's outcome.
enum Step {
    Done(Reply),
    /// Worth another attempt; `error` is what to report if no attempt is left.
    Retry {
        error: Error,
        retry_after: Option<Duration>,
        /// The request may have taken effect (5xx, lost answer, timeout).
        ambiguous: bool,
    },
    Fail(Error),
}

/// Per-operation context shared by the guard and the loops.
struct Ctx {
    op: &'static str,
    deadline_at: Instant,
    /// Summary of the last failure, reported if the deadline cuts the operation short.
    last: Mutex<Option<String>>,
}

impl Ctx {
    fn note(&self, e: &Error) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        *last = Some(e.summary());
    }
}

impl AlloyClient {
    /// Validates the configuration and builds the client. Makes no network call.
    pub fn new(cfg: ClientConfig) -> Result<Self, Error> {
        let endpoints = Endpoints::new(&cfg.base_url)?;
        let config = |message: &str| Error::Config {
            message: message.to_owned(),
        };
        if cfg.api_key.is_empty() {
            return Err(config("the API key is empty"));
        }
        if cfg.request_timeout.is_zero() {
            return Err(config("the request timeout must be positive"));
        }
        if cfg.deadline.is_zero() {
            return Err(config("the operation deadline must be positive"));
        }
        let mut auth = HeaderValue::try_from(format!("Bearer {}", cfg.api_key.expose()))
            .map_err(|_| config("the API key contains characters not allowed in an HTTP header"))?;
        auth.set_sensitive(true);
        let version = HeaderValue::try_from(cfg.api_version.as_str()).map_err(|_| {
            config("the API version contains characters not allowed in an HTTP header")
        })?;
        let user_agent = if cfg.user_agent.trim().is_empty() {
            HeaderValue::from_static(concat!(
                "terraform-provider-alloy/",
                env!("CARGO_PKG_VERSION")
            ))
        } else {
            HeaderValue::try_from(cfg.user_agent.as_str()).map_err(|_| {
                config("the user agent contains characters not allowed in an HTTP header")
            })?
        };
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, auth);
        headers.insert("x-api-version", version);
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));

        let spec = BuildSpec {
            headers,
            user_agent,
            request_timeout: cfg.request_timeout,
            no_proxy: is_loopback(endpoints.base()),
            system_roots: endpoints.base().scheme() == "https",
        };
        let http = if spec.system_roots {
            Http::Lazy {
                cell: OnceCell::new(),
                spec: Box::new(spec),
            }
        } else {
            Http::Ready(spec.build().map_err(|e| Error::Config {
                message: format!("could not set up the HTTP client: {}", chain(&e)),
            })?)
        };
        Ok(AlloyClient {
            inner: Arc::new(Inner {
                endpoints,
                api_version: cfg.api_version,
                key: cfg.api_key,
                request_timeout: cfg.request_timeout,
                max_retries: cfg.max_retries,
                deadline: cfg.deadline,
                stop: cfg.stop,
                backoff: Backoff::default(),
                throttle: Throttle::new(),
                http,
            }),
        })
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &Url {
        self.inner.endpoints.base()
    }

    /// The adaptive throttle's current pace in requests per second; `None` while the API has
    /// not rate limited this client.
    pub fn throttle_rate(&self) -> Option<f64> {
        self.inner.throttle.rate()
    }

    // ---------------------------------------------------------------- operations

    /// `POST /users`. Never blindly re-posted: when an attempt's outcome is unknown (lost answer,
    /// timeout, 5xx), the username is looked up first; if it exists the result is
    /// `Created { adopted: Some(user) }`. A 422 answer means the username is taken
    /// ([`Error::Conflict`]), unless an earlier attempt may have created it, in which case it is
    /// adopted. A success whose body cannot be read (empty, truncated, no `userId`) is resolved
    /// the same way; if the user still cannot be found it is an [`Error::Decode`].
    ///
    /// Stopping (Terraform's StopProvider) or the deadline never abandons a POST that was sent:
    /// that attempt runs to its end (it is bounded by the request timeout), no further attempt
    /// starts, and an outcome still unknown then gets one last bounded lookup, so a user that
    /// exists is returned rather than orphaned.
    pub async fn create_user(
        &self,
        username: &str,
        full_name: Option<&str>,
    ) -> Result<Created, Error> {
        let ctx = self.ctx(OP_CREATE);
        if self.inner.stop.is_cancelled() {
            return Err(Error::Cancelled { op: OP_CREATE });
        }
        let outcome = self.create_inner(&ctx, username, full_name).await;
        if let Err(e) = &outcome {
            tracing::debug!(op = OP_CREATE, error = %e, "alloy api operation failed");
        }
        outcome
    }

    /// `GET /users/{id or username}`.
    pub async fn get_user(&self, id_or_username: &str) -> Result<User, Error> {
        let ctx = self.ctx(OP_GET);
        self.guard(&ctx, async {
            let url = self.inner.endpoints.user(OP_GET, id_or_username)?;
            let call = Call::new(OP_GET, Method::GET, "/users/{id}", url);
            let reply = self.run(&ctx, &call).await?;
            let user: User = decode(&call, &reply)?;
            check_id(&call, &reply, &user.user_id, "userId")?;
            Ok(user)
        })
        .await
    }

    /// `GET /users`: every user of the key's environment (the API does not paginate).
    pub async fn list_users(&self) -> Result<Vec<User>, Error> {
        self.list_users_of(None).await
    }

    /// `GET /users`, or with a workflow `GET /users?parentWorkflowId=...`: the users of that
    /// workflow only.
    pub async fn list_users_of(&self, workflow_id: Option<&str>) -> Result<Vec<User>, Error> {
        let ctx = self.ctx(OP_LIST);
        self.guard(&ctx, async {
            let mut url = self.inner.endpoints.users();
            if let Some(w) = workflow_id {
                url.query_pairs_mut().append_pair("parentWorkflowId", w);
            }
            let call = Call::new(OP_LIST, Method::GET, "/users", url);
            let reply = self.run(&ctx, &call).await?;
            let list: ListBody<User> = decode(&call, &reply)?;
            for u in &list.data {
                check_id(&call, &reply, &u.user_id, "userId")?;
            }
            Ok(list.data)
        })
        .await
    }

    /// `PUT /users/{id or username}` with `{"fullName": ...}`; `None` sends `null` (clears it).
    pub async fn update_user(
        &self,
        id_or_username: &str,
        full_name: Option<&str>,
    ) -> Result<User, Error> {
        let ctx = self.ctx(OP_UPDATE);
        self.guard(&ctx, async {
            let url = self.inner.endpoints.user(OP_UPDATE, id_or_username)?;
            let body = json_body(OP_UPDATE, &UpdateUserBody { full_name })?;
            let call = Call::new(OP_UPDATE, Method::PUT, "/users/{id}", url).with_body(body);
            let reply = self.run(&ctx, &call).await?;
            let user: User = decode(&call, &reply)?;
            check_id(&call, &reply, &user.user_id, "userId")?;
            Ok(user)
        })
        .await
    }

    /// `DELETE /users/{id or username}`. A 404 after an attempt whose outcome was unknown means
    /// that attempt deleted the user, and counts as success. Like a create, a DELETE that was sent
    /// is never abandoned half-way by a stop or the deadline; if its outcome is still unknown
    /// then, one bounded `GET` tells whether the user is gone (success) or not (the error).
    pub async fn delete_user(&self, id_or_username: &str) -> Result<(), Error> {
        let ctx = self.ctx(OP_DELETE);
        if self.inner.stop.is_cancelled() {
            return Err(Error::Cancelled { op: OP_DELETE });
        }
        let outcome = self.delete_inner(&ctx, id_or_username).await;
        if let Err(e) = &outcome {
            tracing::debug!(op = OP_DELETE, error = %e, "alloy api operation failed");
        }
        outcome
    }

    /// `GET /users/{id or username}/token`: a short-lived JWT for the frontend. The token is
    /// never logged nor quoted in errors.
    pub async fn user_token(&self, id_or_username: &str) -> Result<String, Error> {
        let ctx = self.ctx(OP_TOKEN);
        self.guard(&ctx, async {
            let url = self.inner.endpoints.user_token(OP_TOKEN, id_or_username)?;
            let mut call = Call::new(OP_TOKEN, Method::GET, "/users/{id}/token", url);
            call.secret_answer = true;
            let reply = self.run(&ctx, &call).await?;
            let body: TokenBody = decode(&call, &reply)?;
            if body.token.is_empty() {
                return Err(Error::Decode {
                    op: OP_TOKEN,
                    status: reply.status.as_u16(),
                    detail: "the token is empty".to_owned(),
                });
            }
            Ok(body.token)
        })
        .await
    }

    /// `GET /integrations?userId=...`: the account's integrations as seen by one user.
    pub async fn list_integrations(&self, user: &str) -> Result<Vec<Integration>, Error> {
        let ctx = self.ctx(OP_LIST_INTEGRATIONS);
        self.guard(&ctx, async {
            let url = self
                .inner
                .endpoints
                .integrations(OP_LIST_INTEGRATIONS, user)?;
            let call = Call::new(OP_LIST_INTEGRATIONS, Method::GET, "/integrations", url);
            let reply = self.run(&ctx, &call).await?;
            let list: ListBody<Integration> = decode(&call, &reply)?;
            Ok(list.data)
        })
        .await
    }

    /// `GET /integrations/{id or app name}?userId=...`.
    pub async fn get_integration(
        &self,
        integration: &str,
        user: &str,
    ) -> Result<Integration, Error> {
        let ctx = self.ctx(OP_GET_INTEGRATION);
        self.guard(&ctx, async {
            let url = self
                .inner
                .endpoints
                .integration(OP_GET_INTEGRATION, integration, user)?;
            let call = Call::new(OP_GET_INTEGRATION, Method::GET, "/integrations/{id}", url);
            let reply = self.run(&ctx, &call).await?;
            let one: OneBody<Integration> = decode(&call, &reply)?;
            Ok(one.data)
        })
        .await
    }

    // ---------------------------------------------------------------- machinery

    fn ctx(&self, op: &'static str) -> Ctx {
        Ctx {
            op,
            deadline_at: Instant::now()
                + self.inner.deadline.min(Duration::from_secs(365 * 86_400)),
            last: Mutex::new(None),
        }
    }

    /// Runs an operation under the stop signal and the overall deadline.
    async fn guard<T>(
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
        }
        outcome
    }

    /// Runs `work` until it ends, Terraform asks the provider to stop ([`Error::Cancelled`]) or
    /// the operation's deadline passes ([`Error::Deadline`]), whichever comes first.
    async fn interruptible<T>(
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

    async fn http(&self) -> Result<&reqwest::Client, Error> {
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
    async fn attempt(&self, call: &Call, attempt: u32) -> Result<Outcome, Error> {
        let http = self.ready_slot().await?;
        Ok(self.send(http, call, attempt).await)
    }

    /// The HTTP client, once the throttle lets the next request go.
    async fn ready_slot(&self) -> Result<&reqwest::Client, Error> {
        let http = self.http().await?;
        let wait = self.inner.throttle.reserve(Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        Ok(http)
    }

    /// Sends one request and reads the whole answer; bounded by the request timeout.
    async fn send(&self, http: &reqwest::Client, call: &Call, attempt: u32) -> Outcome {
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
                let (maybe_sent, retryable) = classify_transport(&e);
                let detail = if e.is_timeout() && !e.is_connect() {
                    format!(
                        "no answer within {} s (request timeout)",
                        self.inner.request_timeout.as_secs_f64()
                    )
                } else {
                    chain(&e)
                };
                tracing::debug!(
                    op = call.op,
                    method = %call.method,
                    route = call.route,
                    attempt,
                    elapsed_ms,
                    error = %detail,
                    "alloy api request failed"
                );
                Outcome::Failed {
                    detail,
                    maybe_sent,
                    retryable,
                }
            }
        }
    }

    /// Maps an outcome to the retry loop's next step.
    fn step(&self, call: &Call, outcome: Outcome, attempts: u32) -> Step {
        let op = call.op;
        match outcome {
            Outcome::Failed {
                detail,
                maybe_sent,
                retryable,
            } => {
                let error = Error::Transport {
                    op,
                    detail,
                    attempts,
                };
                if retryable {
                    Step::Retry {
                        error,
                        retry_after: None,
                        ambiguous: maybe_sent,
                    }
                } else {
                    Step::Fail(error)
                }
            }
            Outcome::Reply(reply) if reply.status.is_success() => Step::Done(reply),
            Outcome::Reply(reply) => {
                let status = reply.status.as_u16();
                let message = if reply.status.is_redirection() {
                    reply
                        .location
                        .as_deref()
                        .map(|l| format!("redirected to {l}; set base_url to the final address"))
                } else {
                    model::error_message(&reply.body)
                }
                .map(|m| self.scrub(&m));
                match status {
                    429 => Step::Retry {
                        error: Error::RateLimited {
                            op,
                            message,
                            attempts,
                        },
                        retry_after: reply.retry_after,
                        ambiguous: false,
                    },
                    500..=599 => Step::Retry {
                        error: Error::Server {
                            op,
                            status,
                            message,
                            attempts,
                        },
                        retry_after: if status == 503 {
                            reply.retry_after
                        } else {
                            None
                        },
                        ambiguous: true,
                    },
                    401 | 403 => Step::Fail(Error::Unauthorized {
                        op,
                        status,
                        message,
                    }),
                    // Only the API's own 404 (a JSON body) says "no such user": a web page from a
                    // proxy or another server must not make the provider drop users from state.
                    404 if is_json_object(&reply.body) => {
                        Step::Fail(Error::NotFound { op, message })
                    }
                    404 => Step::Fail(Error::Decode {
                        op,
                        status,
                        detail: format!(
                            "not the API's JSON error but {}; the base URL may be wrong",
                            describe_body(&reply)
                        ),
                    }),
                    409 | 422 => Step::Fail(Error::Conflict {
                        op,
                        status,
                        message,
                    }),
                    _ => Step::Fail(Error::Api {
                        op,
                        status,
                        message,
                    }),
                }
            }
        }
    }

    /// Waits before retry number `retry`, or returns `Err(error)` when no retry is left or the
    /// wait would end past the deadline (no point sleeping just to time out).
    async fn before_retry(
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
    async fn run(&self, ctx: &Ctx, call: &Call) -> Result<Reply, Error> {
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let outcome = self.attempt(call, attempts).await?;
            match self.step(call, outcome, attempts) {
                Step::Done(reply) => return Ok(reply),
                Step::Fail(e) => return Err(e),
                Step::Retry {
                    error, retry_after, ..
                } => self.before_retry(ctx, attempts, retry_after, error).await?,
            }
        }
    }

    async fn create_inner(
        &self,
        ctx: &Ctx,
        username: &str,
        full_name: Option<&str>,
    ) -> Result<Created, Error> {
        let body = json_body(
            OP_CREATE,
            &CreateUserBody {
                username,
                full_name,
            },
        )?;
        let call = Call::new(
            OP_CREATE,
            Method::POST,
            "/users",
            self.inner.endpoints.users(),
        )
        .with_body(body);
        // Set once an attempt may have created the user without us learning its id.
        let mut maybe_created = false;
        // The last attempt may have created the user and no lookup has answered since.
        let mut unresolved = false;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            // Waits may be interrupted; no attempt starts after a stop or past the deadline.
            let http = match self.interruptible(ctx, self.ready_slot()).await {
                Ok(http) => http,
                Err(e) => return self.settle_create(ctx, username, unresolved, e).await,
            };
            // The POST itself is not: once sent, its answer is the surest way to learn the id.
            let outcome = self.send(http, &call, attempts).await;
            match self.step(&call, outcome, attempts) {
                Step::Done(reply) => {
                    let created = decode::<CreatedBody>(&call, &reply).and_then(|c| {
                        check_id(&call, &reply, &c.user_id, "userId")?;
                        Ok(c)
                    });
                    return match created {
                        Ok(c) => Ok(Created {
                            user_id: c.user_id,
                            adopted: None,
                        }),
                        // The API took the create but its answer is unreadable: the user most
                        // likely exists, so find it rather than orphan it.
                        Err(unreadable) => self.resolve_unreadable(ctx, username, unreadable).await,
                    };
                }
                Step::Fail(e) if e.is_conflict() && maybe_created => {
                    // Most likely our own earlier attempt committed after all.
                    return match self.interruptible(ctx, self.lookup(ctx, username)).await {
                        Ok(user) => Ok(adopted(user)),
                        Err(lookup) if lookup.is_not_found() => Err(e),
                        Err(lookup) if is_interruption(&lookup) => {
                            self.settle_create(ctx, username, true, lookup).await
                        }
                        Err(lookup) => Err(lookup),
                    };
                }
                Step::Fail(e) => return Err(e),
                Step::Retry {
                    error,
                    retry_after,
                    ambiguous,
                } => {
                    unresolved = ambiguous;
                    if ambiguous {
                        maybe_created = true;
                        match self.interruptible(ctx, self.lookup(ctx, username)).await {
                            Ok(user) => return Ok(adopted(user)),
                            Err(lookup) if lookup.is_not_found() => {
                                unresolved = false;
                                tracing::debug!(
                                    op = OP_CREATE,
                                    "user not created by the failed attempt; posting again"
                                );
                            }
                            Err(lookup) if is_interruption(&lookup) => {
                                return self.settle_create(ctx, username, true, lookup).await;
                            }
                            Err(lookup) => return Err(lookup),
                        }
                    }
                    let wait = self.before_retry(ctx, attempts, retry_after, error);
                    match self.interruptible(ctx, wait).await {
                        Ok(()) => {}
                        Err(e) if is_interruption(&e) => {
                            return self.settle_create(ctx, username, unresolved, e).await;
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }

    /// A create was stopped (or ran out of time) between attempts. If the last attempt may have
    /// created the user, one bounded lookup decides: a user that exists is returned, so the
    /// provider records it instead of orphaning it.
    async fn settle_create(
        &self,
        ctx: &Ctx,
        username: &str,
        unresolved: bool,
        interruption: Error,
    ) -> Result<Created, Error> {
        if !unresolved {
            return Err(interruption);
        }
        match self.last_look(ctx.op, username).await {
            Some(Ok(user)) => Ok(adopted(user)),
            _ => {
                tracing::warn!(
                    op = ctx.op,
                    "stopped with the outcome of a create unknown; the user may exist in Alloy"
                );
                Err(interruption)
            }
        }
    }

    /// A 2xx answer to `POST /users` that cannot be read: look the username up.
    async fn resolve_unreadable(
        &self,
        ctx: &Ctx,
        username: &str,
        unreadable: Error,
    ) -> Result<Created, Error> {
        let found = match self.interruptible(ctx, self.lookup(ctx, username)).await {
            Ok(user) => Ok(user),
            Err(e) if is_interruption(&e) => match self.last_look(ctx.op, username).await {
                Some(Ok(user)) => Ok(user),
                _ => Err(e),
            },
            Err(e) => Err(e),
        };
        match (found, unreadable) {
            (Ok(user), _) => Ok(adopted(user)),
            (Err(lookup), Error::Decode { op, status, detail }) => {
                let after = if lookup.is_not_found() {
                    "no user with this username was found afterwards".to_owned()
                } else {
                    format!(
                        "looking the username up afterwards failed too: {}",
                        lookup.summary()
                    )
                };
                Err(Error::Decode {
                    op,
                    status,
                    detail: format!("{detail}; {after}"),
                })
            }
            (Err(_), other) => Err(other),
        }
    }

    async fn delete_inner(&self, ctx: &Ctx, id_or_username: &str) -> Result<(), Error> {
        let url = self.inner.endpoints.user(OP_DELETE, id_or_username)?;
        let call = Call::new(OP_DELETE, Method::DELETE, "/users/{id}", url);
        let mut ambiguous_before = false;
        let mut unresolved = false;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let http = match self.interruptible(ctx, self.ready_slot()).await {
                Ok(http) => http,
                Err(e) => return self.settle_delete(ctx, id_or_username, unresolved, e).await,
            };
            let outcome = self.send(http, &call, attempts).await;
            match self.step(&call, outcome, attempts) {
                Step::Done(reply) => return self.deleted(ctx, &call, id_or_username, &reply).await,
                Step::Fail(e) if e.is_not_found() && ambiguous_before => {
                    tracing::debug!(
                        op = OP_DELETE,
                        "user already gone after an attempt with unknown outcome"
                    );
                    return Ok(());
                }
                Step::Fail(e) => return Err(e),
                Step::Retry {
                    error,
                    retry_after,
                    ambiguous,
                } => {
                    ambiguous_before |= ambiguous;
                    unresolved = ambiguous;
                    let wait = self.before_retry(ctx, attempts, retry_after, error);
                    match self.interruptible(ctx, wait).await {
                        Ok(()) => {}
                        Err(e) if is_interruption(&e) => {
                            return self.settle_delete(ctx, id_or_username, unresolved, e).await;
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }

    /// A delete was stopped after an attempt whose outcome is unknown: one bounded `GET` tells
    /// whether that attempt deleted the user.
    async fn settle_delete(
        &self,
        ctx: &Ctx,
        id_or_username: &str,
        unresolved: bool,
        interruption: Error,
    ) -> Result<(), Error> {
        if unresolved
            && let Some(Err(gone)) = self.last_look(ctx.op, id_or_username).await
            && gone.is_not_found()
        {
            return Ok(());
        }
        Err(interruption)
    }

    /// The delete was accepted (2xx). An answer that cannot be read is checked with a `GET`:
    /// a user that is gone was deleted, whatever the answer looked like.
    async fn deleted(
        &self,
        ctx: &Ctx,
        call: &Call,
        id_or_username: &str,
        reply: &Reply,
    ) -> Result<(), Error> {
        if reply.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let unreadable = match decode::<DeleteBody>(call, reply) {
            Ok(body) if body.success == Some(false) => {
                return Err(Error::Decode {
                    op: OP_DELETE,
                    status: reply.status.as_u16(),
                    detail: "the API answered \"success\": false".to_owned(),
                });
            }
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        let check = async {
            let url = self.inner.endpoints.user(OP_DELETE, id_or_username)?;
            let get = Call::new(OP_DELETE, Method::GET, "/users/{id}", url);
            self.run(ctx, &get).await
        };
        match self.interruptible(ctx, check).await {
            Err(e) if e.is_not_found() => Ok(()),
            _ => Err(unreadable),
        }
    }

    /// `GET /users/{username}` on behalf of a create whose outcome is unknown (itself retried).
    async fn lookup(&self, ctx: &Ctx, username: &str) -> Result<User, Error> {
        let url = self.inner.endpoints.user(OP_CREATE, username)?;
        let call = Call::new(OP_CREATE, Method::GET, "/users/{id}", url);
        let reply = self.run(ctx, &call).await?;
        let user: User = decode(&call, &reply)?;
        check_id(&call, &reply, &user.user_id, "userId")?;
        Ok(user)
    }

    /// One `GET /users/{id or username}` after a stop or the deadline, to learn what a write
    /// whose outcome is unknown did: a single attempt, without throttle wait or retry, bounded
    /// by the request timeout. `None` when it got no usable answer.
    async fn last_look(
        &self,
        op: &'static str,
        id_or_username: &str,
    ) -> Option<Result<User, Error>> {
        let url = self.inner.endpoints.user(op, id_or_username).ok()?;
        let call = Call::new(op, Method::GET, "/users/{id}", url);
        let http = self.http().await.ok()?;
        let outcome = self.send(http, &call, 1).await;
        match self.step(&call, outcome, 1) {
            Step::Done(reply) => {
                let user: User = decode(&call, &reply).ok()?;
                check_id(&call, &reply, &user.user_id, "userId").ok()?;
                Some(Ok(user))
            }
            Step::Fail(e) if e.is_not_found() => Some(Err(e)),
            _ => None,
        }
    }

    /// Removes the API key from text echoed by the server and bounds its length.
    fn scrub(&self, message: &str) -> String {
        let key = self.inner.key.expose();
        let cleaned = message.replace(key, "<redacted>");
        let mut out: String = cleaned
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(MAX_MESSAGE_CHARS)
            .collect();
        if cleaned.chars().count() > MAX_MESSAGE_CHARS {
            out.push('…');
        }
        out.trim().to_owned()
    }
}

impl Call {
    fn new(op: &'static str, method: Method, route: &'static str, url: Url) -> Self {
        Call {
            op,
            method,
            route,
            url,
            body: None,
            secret_answer: false,
        }
    }

    fn with_body(mut self, body: Vec<u8>) -> Self {
        self.body = Some(body);
        self
    }
}

fn adopted(user: User) -> Created {
    tracing::debug!(
        op = OP_CREATE,
        "user found after an attempt with unknown outcome; adopting it"
    );
    Created {
        user_id: user.user_id.clone(),
        adopted: Some(user),
    }
}

fn json_body<T: serde::Serialize>(op: &'static str, value: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|e| Error::InvalidArgument {
        op,
        message: format!("could not encode the request: {e}"),
    })
}

/// Decodes a success body, naming the operation and never quoting a secret answer.
fn decode<T: DeserializeOwned>(call: &Call, reply: &Reply) -> Result<T, Error> {
    let fail = |detail: String| Error::Decode {
        op: call.op,
        status: reply.status.as_u16(),
        detail,
    };
    if reply.body.iter().all(u8::is_ascii_whitespace) {
        return Err(fail("the body is empty".to_owned()));
    }
    serde_json::from_slice(&reply.body).map_err(|e| {
        let is_json = reply
            .content_type
            .as_deref()
            .is_some_and(|ct| ct.to_ascii_lowercase().contains("json"));
        let looks_like_json = reply
            .body
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| matches!(b, b'{' | b'['));
        if !is_json && !looks_like_json {
            let ct = reply.content_type.as_deref().unwrap_or("no content type");
            fail(format!("expected JSON, got {ct}"))
        } else if call.secret_answer {
            fail("the JSON is not the documented shape".to_owned())
        } else {
            let mut detail = e.to_string();
            detail.truncate(200);
            fail(format!("unexpected JSON: {detail}"))
        }
    })
}

/// Whether an error is the stop signal or the deadline rather than an answer.
fn is_interruption(e: &Error) -> bool {
    e.is_cancelled() || e.is_deadline()
}

/// Whether a body is a JSON object, as every answer of the API is.
fn is_json_object(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| v.is_object())
}

/// A short description of a body that is not what the API sends, for error messages.
fn describe_body(reply: &Reply) -> String {
    if reply.body.iter().all(u8::is_ascii_whitespace) {
        "an empty body".to_owned()
    } else {
        match reply.content_type.as_deref() {
            Some(ct) => format!("a body of type {ct}"),
            None => "a body without content type".to_owned(),
        }
    }
}

fn check_id(call: &Call, reply: &Reply, id: &str, field: &str) -> Result<(), Error> {
    if id.trim().is_empty() {
        return Err(Error::Decode {
            op: call.op,
            status: reply.status.as_u16(),
            detail: format!("\"{field}\" is empty"),
        });
    }
    Ok(())
}

/// `(maybe_sent, retryable)` for a request that got no complete answer.
fn classify_transport(e: &reqwest::Error) -> (bool, bool) {
    if is_tls_failure(e) {
        // A certificate problem does not fix itself by retrying.
        return (false, false);
    }
    if e.is_builder() {
        return (false, false);
    }
    if e.is_connect() {
        // No connection, so the request was never sent.
        return (false, true);
    }
    // Timeouts, resets and connections closed mid-answer: the server may have acted.
    (true, true)
}

fn is_tls_failure(e: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = e.source();
    while let Some(s) = source {
        if is_rustls(s) {
            return true;
        }
        source = s.source();
    }
    false
}

/// `io::Error::source` skips the error it wraps, so wrapped errors are unwrapped by hand
/// (hyper-util nests a rustls error two `io::Error`s deep).
fn is_rustls(e: &(dyn std::error::Error + 'static)) -> bool {
    if e.downcast_ref::<rustls::Error>().is_some() {
        return true;
    }
    match e
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
    {
        Some(inner) => is_rustls(inner),
        None => false,
    }
}

/// The error and its causes as one line, without repeating identical messages.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if parts.last().is_none_or(|p| !p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk-test-SECRET-0123456789";

    fn client(base: &str) -> AlloyClient {
        let cfg = ClientConfig::new(
            Url::parse(base).unwrap(),
            "2025-09",
            ApiKey::new(KEY),
            "terraform-provider-alloy/0.1.0 terraform/1.9.0",
        );
        AlloyClient::new(cfg).unwrap()
    }

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status: StatusCode::from_u16(status).unwrap(),
            retry_after: None,
            content_type: Some("application/json".into()),
            location: None,
            body: body.as_bytes().to_vec(),
        }
    }

    fn get_call(op: &'static str) -> Call {
        Call::new(
            op,
            Method::GET,
            "/users/{id}",
            Url::parse("http://127.0.0.1:1/users/x").unwrap(),
        )
    }

    fn step_err(c: &AlloyClient, status: u16, body: &str) -> (Error, bool) {
        match c.step(
            &get_call("get user"),
            Outcome::Reply(reply(status, body)),
            1,
        ) {
            Step::Fail(e) => (e, false),
            Step::Retry { error, .. } => (error, true),
            Step::Done(_) => panic!("{status} treated as success"),
        }
    }

    #[test]
    fn debug_of_client_redacts_key() {
        let c = client("http://127.0.0.1:8787/");
        let s = format!("{c:?} {c:#?}");
        assert!(!s.contains(KEY) && !s.contains("SECRET"), "{s}");
        assert!(
            s.contains("<redacted>") && s.contains("127.0.0.1:8787"),
            "{s}"
        );
    }

    #[test]
    fn construction_validates_configuration() {
        let base = Url::parse("http://127.0.0.1:1").unwrap();
        let mk = |f: &dyn Fn(&mut ClientConfig)| {
            let mut cfg = ClientConfig::new(base.clone(), "2025-09", ApiKey::new(KEY), "ua");
            f(&mut cfg);
            AlloyClient::new(cfg)
        };
        assert!(mk(&|_| {}).is_ok());
        assert!(mk(&|c| c.api_key = ApiKey::new("")).is_err());
        assert!(mk(&|c| c.api_key = ApiKey::new("bad\nkey")).is_err());
        assert!(mk(&|c| c.api_version = "2025\r\n09".into()).is_err());
        assert!(mk(&|c| c.user_agent = "ua\n".into()).is_err());
        assert!(mk(&|c| c.deadline = Duration::ZERO).is_err());
        assert!(mk(&|c| c.request_timeout = Duration::ZERO).is_err());
        assert!(mk(&|c| c.user_agent = String::new()).is_ok());
        let e = mk(&|c| c.api_key = ApiKey::new("bad\nkey")).unwrap_err();
        assert!(!e.to_string().contains("bad\nkey"));
        // https is accepted without touching the system root store yet.
        let https = mk(&|c| c.base_url = Url::parse("https://host.test/2024-03").unwrap());
        assert!(matches!(https.unwrap().inner.http, Http::Lazy { .. }));
    }

    #[test]
    fn status_mapping() {
        let c = client("http://127.0.0.1:1");
        let (e, retry) = step_err(&c, 401, r#"{"message":"Unauthorized"}"#);
        assert!(e.is_unauthorized() && !retry);
        assert_eq!(e.api_message(), Some("Unauthorized"));
        let (e, retry) = step_err(&c, 403, "");
        assert!(e.is_unauthorized() && !retry && e.api_message().is_none());
        let (e, retry) = step_err(&c, 404, r#"{"message":"User not found"}"#);
        assert!(e.is_not_found() && !retry);
        assert_eq!(e.api_message(), Some("User not found"));
        let (e, retry) = step_err(&c, 422, r#"{"message":"Username bob already exists"}"#);
        assert!(e.is_conflict() && !retry);
        assert!(e.to_string().contains("Username bob already exists"));
        let (e, retry) = step_err(&c, 409, "{}");
        assert!(e.is_conflict() && !retry);
        let (e, retry) = step_err(&c, 400, r#"{"message":"username is required"}"#);
        assert!(matches!(e, Error::Api { status: 400, .. }) && !retry);
        let (e, retry) = step_err(&c, 429, r#"{"message":"Rate limit exceeded"}"#);
        assert!(e.is_rate_limited() && retry);
        for s in [500, 502, 503, 504] {
            let (e, retry) = step_err(&c, s, "<html>oops</html>");
            assert!(matches!(e, Error::Server { status, .. } if status == s) && retry);
            assert_eq!(e.api_message(), None);
        }
    }

    #[test]
    fn server_errors_are_ambiguous_and_429_is_not() {
        let c = client("http://127.0.0.1:1");
        let call = get_call("create user");
        let mut r = reply(429, "{}");
        r.retry_after = Some(Duration::from_secs(2));
        match c.step(&call, Outcome::Reply(r), 1) {
            Step::Retry {
                ambiguous,
                retry_after,
                ..
            } => {
                assert!(!ambiguous);
                assert_eq!(retry_after, Some(Duration::from_secs(2)));
            }
            _ => panic!("429 must be retried"),
        }
        let mut r = reply(500, "{}");
        r.retry_after = Some(Duration::from_secs(2));
        match c.step(&call, Outcome::Reply(r), 1) {
            Step::Retry {
                ambiguous,
                retry_after,
                ..
            } => {
                assert!(ambiguous);
                assert_eq!(retry_after, None, "Retry-After is honoured on 429/503 only");
            }
            _ => panic!("500 must be retried"),
        }
    }

    #[test]
    fn redirect_is_reported_with_location() {
        let c = client("http://127.0.0.1:1");
        let mut r = reply(301, "");
        r.location = Some("https://elsewhere.test/users/x".into());
        match c.step(&get_call("get user"), Outcome::Reply(r), 1) {
            Step::Fail(e) => {
                assert_eq!(e.status(), Some(301));
                assert!(
                    e.to_string().contains("https://elsewhere.test/users/x"),
                    "{e}"
                );
            }
            _ => panic!("a redirect is not followed nor retried"),
        }
    }

    #[test]
    fn api_messages_are_scrubbed_of_the_key_and_bounded() {
        let c = client("http://127.0.0.1:1");
        let body = format!(r#"{{"message":"invalid key {KEY}\n{}"}}"#, "x".repeat(1000));
        let (e, _) = step_err(&c, 401, &body);
        let s = e.to_string();
        assert!(!s.contains(KEY) && s.contains("<redacted>"), "{s}");
        assert!(!s.contains('\n'));
        assert!(e.api_message().unwrap().chars().count() <= MAX_MESSAGE_CHARS + 1);
    }

    #[test]
    fn malformed_success_bodies_are_decode_errors() {
        let call = get_call("get user");
        let cases = [
            ("", "empty"),
            ("   \n", "empty"),
            ("<!DOCTYPE html><html>gateway</html>", "expected JSON"),
            (r#"{"userId": "abc""#, "unexpected JSON"),
            (r#"{"username": "abc"}"#, "userId"),
            ("[1,2]", "unexpected JSON"),
        ];
        for (body, needle) in cases {
            let mut r = reply(200, body);
            if body.starts_with('<') {
                r.content_type = Some("text/html; charset=utf-8".into());
            }
            let e = decode::<User>(&call, &r).unwrap_err();
            assert!(e.is_decode(), "{body}: {e}");
            let s = e.to_string();
            assert!(s.starts_with("get user: "), "{s}");
            assert!(s.contains(needle), "{body}: {s}");
        }
    }

    #[test]
    fn secret_answers_are_never_quoted() {
        let mut call = get_call("get user token");
        call.secret_answer = true;
        let r = reply(
            200,
            r#"{"token": ["eyJhbGciOiJIUzI1NiJ9.SECRETPAYLOAD.sig"]}"#,
        );
        // TokenBody has no Debug on purpose (it holds a secret), so no unwrap_err here.
        let Err(e) = decode::<TokenBody>(&call, &r) else {
            panic!("a list is not a token");
        };
        assert!(!e.to_string().contains("SECRETPAYLOAD"), "{e}");
    }

    #[test]
    fn loopback_detection() {
        for (u, want) in [
            ("http://127.0.0.1:1", true),
            ("http://[::1]:1", true),
            ("http://localhost:1", true),
            ("http://127.3.4.5", true),
            ("https://host.test", false),
            ("http://10.0.0.1", false),
        ] {
            assert_eq!(is_loopback(&Url::parse(u).unwrap()), want, "{u}");
        }
    }

    #[test]
    fn futures_are_send() {
        fn send<T: Send>(_: &T) {}
        let c = client("http://127.0.0.1:1");
        send(&c.create_user("a", None));
        send(&c.get_user("a"));
        send(&c.list_users());
        send(&c.update_user("a", Some("b")));
        send(&c.delete_user("a"));
        send(&c.user_token("a"));
        send(&c.list_integrations("a"));
        send(&c.get_integration("a", "b"));
    }

    #[tokio::test]
    async fn cancelled_before_start_returns_cancelled_without_network() {
        let c = client("http://127.0.0.1:1");
        c.inner.stop.cancel();
        let e = c.list_users().await.unwrap_err();
        assert!(e.is_cancelled(), "{e}");
        assert_eq!(e.operation(), Some("list users"));
    }

    #[tokio::test]
    async fn invalid_arguments_fail_before_any_request() {
        let c = client("http://127.0.0.1:1");
        let e = c.get_user("..").await.unwrap_err();
        assert!(
            matches!(e, Error::InvalidArgument { op: "get user", .. }),
            "{e}"
        );
        let e = c.list_integrations("").await.unwrap_err();
        assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
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

    #[test]
    fn only_a_json_404_means_not_found() {
        let c = client("http://127.0.0.1:1");
        let (e, retry) = step_err(&c, 404, "{}");
        assert!(e.is_not_found() && !retry);
        let mut html = reply(404, "<html><body>404 Not Found</body></html>");
        html.content_type = Some("text/html".into());
        for r in [
            html,
            reply(404, ""),
            reply(404, "[]"),
            reply(404, "Not Found"),
        ] {
            match c.step(&get_call("get user"), Outcome::Reply(r), 1) {
                Step::Fail(e) => {
                    assert!(!e.is_not_found(), "{e}");
                    assert!(e.is_decode() && e.status() == Some(404), "{e}");
                    let s = e.to_string();
                    assert!(s.starts_with("get user: "), "{s}");
                    assert!(s.contains("base URL may be wrong"), "{s}");
                }
                _ => panic!("a 404 page is not retried"),
            }
        }
    }

    // ---- against the emulator (in-process, loopback) ----

    use crate::emulator::{BadAnswer, EmulatorConfig, Faults, RunningEmulator};

    async fn emulator() -> RunningEmulator {
        RunningEmulator::start(EmulatorConfig::default(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap()
    }

    fn client_for(emu: &RunningEmulator, stop: &CancellationToken) -> AlloyClient {
        let mut cfg = ClientConfig::new(
            Url::parse(&emu.url()).unwrap(),
            "2025-09",
            ApiKey::new(emu.development_key()),
            "ua",
        );
        cfg.request_timeout = Duration::from_secs(10);
        cfg.deadline = Duration::from_secs(60);
        cfg.stop = stop.clone();
        AlloyClient::new(cfg).unwrap()
    }

    /// Request counts by route (`"POST /users"`) from the emulator's admin API.
    async fn count(emu: &RunningEmulator, route: &str) -> u64 {
        let v: serde_json::Value = reqwest::get(format!("{}/_emulator/requests", emu.url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["by_route"][route].as_u64().unwrap_or(0)
    }

    async fn usernames(emu: &RunningEmulator) -> Vec<String> {
        let v: serde_json::Value = reqwest::get(format!(
            "{}/_emulator/users?environment=development",
            emu.url()
        ))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap().to_owned())
            .collect()
    }

    fn scoped(routes: &[&str], f: Faults) -> Faults {
        Faults {
            routes: routes.iter().map(|r| r.to_string()).collect(),
            ..f
        }
    }

    fn bad(kind: BadAnswer) -> Faults {
        Faults {
            bad_answer_rate: 1.0,
            bad_answer: kind,
            ..Faults::default()
        }
    }

    #[tokio::test]
    async fn an_unreadable_create_answer_is_resolved_by_username() {
        let emu = emulator().await;
        let c = client_for(&emu, &CancellationToken::new());
        for kind in [
            BadAnswer::Html,
            BadAnswer::Truncated,
            BadAnswer::MissingField,
            BadAnswer::Empty,
        ] {
            emu.set_faults(scoped(&["POST /users"], bad(kind))).unwrap();
            let name = format!("unreadable-{kind}");
            let created = c.create_user(&name, None).await.unwrap();
            assert!(created.adopted.is_some(), "{kind}");
            emu.set_faults(Faults::default()).unwrap();
            let user = c.get_user(&created.user_id).await.unwrap();
            assert_eq!(user.username.as_deref(), Some(name.as_str()));
        }
        assert_eq!(count(&emu, "POST /users").await, 4, "never re-posted");
        assert_eq!(usernames(&emu).await.len(), 4, "no duplicate, no orphan");
    }

    #[tokio::test]
    async fn an_unreadable_create_answer_that_cannot_be_resolved_is_a_decode_error() {
        let emu = emulator().await;
        let c = client_for(&emu, &CancellationToken::new());
        // Every answer is unreadable, the lookup's too.
        emu.set_faults(bad(BadAnswer::Truncated)).unwrap();
        let e = c.create_user("lost-cause", None).await.unwrap_err();
        assert!(e.is_decode(), "{e}");
        assert_eq!(e.operation(), Some("create user"));
        let s = e.to_string();
        assert!(s.starts_with("create user: "), "{s}");
        assert!(
            s.contains("looking the username up afterwards failed"),
            "{s}"
        );
        assert_eq!(count(&emu, "POST /users").await, 1, "never re-posted");
    }

    #[tokio::test]
    async fn stopping_during_a_sent_create_returns_the_user() {
        let emu = emulator().await;
        let stop = CancellationToken::new();
        let c = client_for(&emu, &stop);
        emu.set_faults(Faults {
            latency_ms: 1_000,
            ..Faults::default()
        })
        .unwrap();
        let stopper = stop.clone();
        let (created, ()) = tokio::join!(c.create_user("in-flight", None), async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            stopper.cancel();
        });
        let created = created.expect("the POST was sent: its answer is waited for");
        assert!(created.adopted.is_none());
        assert_eq!(usernames(&emu).await, vec!["in-flight".to_string()]);
        // Once stopped, nothing new starts.
        let e = c.create_user("after-stop", None).await.unwrap_err();
        assert!(e.is_cancelled(), "{e}");
        assert_eq!(count(&emu, "POST /users").await, 1);
    }

    #[tokio::test]
    async fn stopping_during_the_lookup_after_a_lost_answer_still_finds_the_user() {
        let emu = emulator().await;
        let stop = CancellationToken::new();
        let c = client_for(&emu, &stop);
        // The POST commits and its answer is lost after 600 ms; the lookup is slow too.
        emu.set_faults(Faults {
            latency_ms: 600,
            lost_response_rate: 1.0,
            ..Faults::default()
        })
        .unwrap();
        let stopper = stop.clone();
        let (created, ()) = tokio::join!(c.create_user("lost-then-stopped", None), async move {
            tokio::time::sleep(Duration::from_millis(900)).await;
            stopper.cancel();
        });
        let created = created.expect("a user that exists is returned, not orphaned");
        assert!(created.adopted.is_some());
        assert_eq!(usernames(&emu).await, vec!["lost-then-stopped".to_string()]);
        assert_eq!(count(&emu, "POST /users").await, 1, "no new attempt");
    }

    #[tokio::test]
    async fn stopping_starts_no_new_attempt_and_reports_cancelled_when_nothing_was_made() {
        let emu = emulator().await;
        let stop = CancellationToken::new();
        let c = client_for(&emu, &stop);
        emu.set_faults(Faults {
            latency_ms: 500,
            error_rate: 1.0,
            ..Faults::default()
        })
        .unwrap();
        let stopper = stop.clone();
        let (r, ()) = tokio::join!(c.create_user("never", None), async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            stopper.cancel();
        });
        let e = r.unwrap_err();
        assert!(e.is_cancelled(), "{e}");
        assert_eq!(count(&emu, "POST /users").await, 1, "the sent POST only");
        assert!(usernames(&emu).await.is_empty());
    }

    #[tokio::test]
    async fn stopping_during_a_sent_delete_reports_what_happened() {
        let emu = emulator().await;
        let stop = CancellationToken::new();
        let c = client_for(&emu, &stop);
        let id = c.create_user("to-delete", None).await.unwrap().user_id;
        emu.set_faults(Faults {
            latency_ms: 800,
            ..Faults::default()
        })
        .unwrap();
        let stopper = stop.clone();
        let (r, ()) = tokio::join!(c.delete_user(&id), async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            stopper.cancel();
        });
        r.expect("the DELETE was sent: it is reported as done");
        assert!(usernames(&emu).await.is_empty());
    }

    #[tokio::test]
    async fn an_unreadable_delete_answer_is_checked_with_a_get() {
        let emu = emulator().await;
        let c = client_for(&emu, &CancellationToken::new());
        let id = c.create_user("del-html", None).await.unwrap().user_id;
        emu.set_faults(scoped(&["DELETE /users/{id}"], bad(BadAnswer::Html)))
            .unwrap();
        c.delete_user(&id).await.expect("the user is gone: deleted");
        assert!(usernames(&emu).await.is_empty());
        // A 200 page from something that is not the API, on every route: not a success.
        let proxy = client(&html_server(200).await);
        let e = proxy.delete_user(&id).await.unwrap_err();
        assert!(e.is_decode(), "{e}");
        assert!(e.to_string().starts_with("delete user: "), "{e}");
    }

    /// A web server that answers every request with `status` and an HTML page.
    async fn html_server(status: u16) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let _ = sock.read(&mut buf).await;
                    let body = "<html><body><h1>Not Found</h1></body></html>";
                    let answer = format!(
                        "HTTP/1.1 {status} Whatever\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(answer.as_bytes()).await;
                });
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn an_html_404_from_a_wrong_base_url_is_not_not_found() {
        let base = html_server(404).await;
        let c = client(&base);
        for e in [
            c.get_user("6323d7c9122ae69742a5d0a2").await.unwrap_err(),
            c.delete_user("6323d7c9122ae69742a5d0a2").await.unwrap_err(),
        ] {
            assert!(!e.is_not_found(), "{e}");
            assert!(e.is_decode(), "{e}");
            assert!(e.to_string().contains("base URL may be wrong"), "{e}");
        }
        // A create's lookup meets the same page: it must not conclude "not created".
        let e = c.create_user("x", None).await.unwrap_err();
        assert!(!e.is_not_found(), "{e}");
    }
}
