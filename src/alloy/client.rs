//! [`AlloyClient`]: the operations, and the attempt/retry machinery under them.
//!
//! Every public operation runs inside [`AlloyClient::guard`], which enforces the overall deadline
//! and Terraform's stop signal at every await point (throttle waits, backoff sleeps, sends), so
//! the inner loops only decide *whether* to retry. Each attempt goes through the shared
//! [`Throttle`](super::throttle::Throttle) and reports its answer back to it.
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
    /// `Created { adopted: true }`. A 422 answer means the username is taken ([`Error::Conflict`]),
    /// unless an earlier attempt may have created it, in which case it is adopted.
    pub async fn create_user(
        &self,
        username: &str,
        full_name: Option<&str>,
    ) -> Result<Created, Error> {
        let ctx = self.ctx(OP_CREATE);
        self.guard(&ctx, self.create_inner(&ctx, username, full_name))
            .await
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
        let ctx = self.ctx(OP_LIST);
        self.guard(&ctx, async {
            let call = Call::new(OP_LIST, Method::GET, "/users", self.inner.endpoints.users());
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
    /// that attempt deleted the user, and counts as success.
    pub async fn delete_user(&self, id_or_username: &str) -> Result<(), Error> {
        let ctx = self.ctx(OP_DELETE);
        self.guard(&ctx, async {
            let url = self.inner.endpoints.user(OP_DELETE, id_or_username)?;
            let call = Call::new(OP_DELETE, Method::DELETE, "/users/{id}", url);
            let (result, ambiguous_before) = self.run_tracking(&ctx, &call).await;
            let reply = match result {
                Ok(reply) => reply,
                Err(e) if e.is_not_found() && ambiguous_before => {
                    tracing::debug!(
                        op = OP_DELETE,
                        "user already gone after an attempt with unknown outcome"
                    );
                    return Ok(());
                }
                Err(e) => return Err(e),
            };
            if reply.body.iter().all(u8::is_ascii_whitespace) {
                return Ok(());
            }
            let body: DeleteBody = decode(&call, &reply)?;
            if body.success == Some(false) {
                return Err(Error::Decode {
                    op: OP_DELETE,
                    status: reply.status.as_u16(),
                    detail: "the API answered \"success\": false".to_owned(),
                });
            }
            Ok(())
        })
        .await
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
        let outcome = tokio::select! {
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
        };
        if let Err(e) = &outcome {
            tracing::debug!(op, error = %e, "alloy api operation failed");
        }
        outcome
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
        let http = self.http().await?;
        let wait = self.inner.throttle.reserve(Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
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
                Ok(Outcome::Reply(reply))
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
                Ok(Outcome::Failed {
                    detail,
                    maybe_sent,
                    retryable,
                })
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
                    404 => Step::Fail(Error::NotFound { op, message }),
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
        self.run_tracking(ctx, call).await.0
    }

    /// Like [`Self::run`], also telling whether any failed attempt may have taken effect.
    async fn run_tracking(&self, ctx: &Ctx, call: &Call) -> (Result<Reply, Error>, bool) {
        let mut ambiguous_before = false;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let outcome = match self.attempt(call, attempts).await {
                Ok(o) => o,
                Err(e) => return (Err(e), ambiguous_before),
            };
            match self.step(call, outcome, attempts) {
                Step::Done(reply) => return (Ok(reply), ambiguous_before),
                Step::Fail(e) => return (Err(e), ambiguous_before),
                Step::Retry {
                    error,
                    retry_after,
                    ambiguous,
                } => {
                    ambiguous_before |= ambiguous;
                    if let Err(e) = self.before_retry(ctx, attempts, retry_after, error).await {
                        return (Err(e), ambiguous_before);
                    }
                }
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
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let outcome = self.attempt(&call, attempts).await?;
            match self.step(&call, outcome, attempts) {
                Step::Done(reply) => {
                    let created: CreatedBody = decode(&call, &reply)?;
                    check_id(&call, &reply, &created.user_id, "userId")?;
                    return Ok(Created {
                        user_id: created.user_id,
                        adopted: false,
                    });
                }
                Step::Fail(e) if e.is_conflict() && maybe_created => {
                    // Most likely our own earlier attempt committed after all.
                    return match self.lookup(ctx, username).await {
                        Ok(user) => Ok(adopted(user)),
                        Err(lookup) if lookup.is_not_found() => Err(e),
                        Err(lookup) => Err(lookup),
                    };
                }
                Step::Fail(e) => return Err(e),
                Step::Retry {
                    error,
                    retry_after,
                    ambiguous,
                } => {
                    if ambiguous {
                        maybe_created = true;
                        match self.lookup(ctx, username).await {
                            Ok(user) => return Ok(adopted(user)),
                            Err(lookup) if lookup.is_not_found() => {
                                tracing::debug!(
                                    op = OP_CREATE,
                                    "user not created by the failed attempt; posting again"
                                );
                            }
                            Err(lookup) => return Err(lookup),
                        }
                    }
                    self.before_retry(ctx, attempts, retry_after, error).await?;
                }
            }
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
        user_id: user.user_id,
        adopted: true,
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
}
