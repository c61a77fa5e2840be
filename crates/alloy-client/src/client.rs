//! [`AlloyClient`]: its construction and its operations.
//!
//! Each operation builds its request ([`Call`]) and decodes the answer; how the request is sent
//! and retried lives in [`attempt`](super::attempt), what an answer means in
//! [`classify`](super::classify), and the protocol of the two writes that are not idempotent
//! (create and delete) in [`write`](super::write).
//!
//! Secrets: the key is only ever inside a sensitive `Authorization` header value built once
//! here; messages echoed from the API are scrubbed of it, token bodies are never quoted in
//! errors and no body is ever logged (see `classify`).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{self, HeaderMap, HeaderValue};
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::attempt::Call;
use super::classify::{chain, check_id, decode};
use super::config::{ApiKey, ClientConfig};
use super::endpoint::Endpoints;
use super::error::Error;
use super::model::{
    Created, Integration, ListBody, OneBody, TokenBody, UpdateUserBody, UpgradeOutcome, User,
    Workflow, WorkflowUser,
};
use super::reach::{Reach, Verdict};
use super::retry::Backoff;
use super::throttle::Throttle;
use super::workflow::{
    SetActive, Uninstall, Upgrade, check_workflow_id, installed_workflow, integrations_call,
};
use super::write::{CreateUser, DeleteUser};

pub(super) const OP_CREATE: &str = "create user";
const OP_GET: &str = "get user";
const OP_LIST: &str = "list users";
const OP_UPDATE: &str = "update user";
pub(super) const OP_DELETE: &str = "delete user";
const OP_TOKEN: &str = "get user token";
const OP_LIST_INTEGRATIONS: &str = "list integrations";
const OP_GET_INTEGRATION: &str = "get integration";
const OP_WORKFLOW_USERS: &str = "list workflow users";
const OP_USER_WORKFLOW: &str = "get user workflow";
pub(super) const OP_ACTIVATE: &str = "activate workflow";
pub(super) const OP_DEACTIVATE: &str = "deactivate workflow";
pub(super) const OP_UPGRADE: &str = "upgrade workflow";
pub(super) const OP_UNINSTALL: &str = "uninstall workflow";

/// A cheaply clonable client for the Alloy Embedded API. Clones share one connection pool, one
/// throttle and one configuration.
#[derive(Clone)]
pub struct AlloyClient {
    pub(super) inner: Arc<Inner>,
}

/// What the clones share; read by the sibling modules that hold the machinery.
pub(super) struct Inner {
    pub endpoints: Endpoints,
    pub api_version: String,
    pub key: ApiKey,
    pub request_timeout: Duration,
    pub max_retries: u32,
    pub deadline: Duration,
    pub stop: CancellationToken,
    pub backoff: Backoff,
    pub throttle: Throttle,
    pub reach: Reach,
    pub http: Http,
}

/// The pooled HTTP client. Plain-HTTP base URLs (the emulator) get one at once, built without
/// system roots, which is cheap. HTTPS base URLs build theirs on first use, because loading the
/// system root store costs milliseconds that a provider start-up (~4 per Terraform command)
/// should not pay when it makes no request.
pub(super) enum Http {
    Ready(reqwest::Client),
    Lazy {
        cell: OnceCell<reqwest::Client>,
        spec: Box<BuildSpec>,
    },
}

#[derive(Clone)]
pub(super) struct BuildSpec {
    headers: HeaderMap,
    user_agent: HeaderValue,
    request_timeout: Duration,
    no_proxy: bool,
    system_roots: bool,
}

impl BuildSpec {
    pub(super) fn build(&self) -> Result<reqwest::Client, reqwest::Error> {
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
                reach: Reach::default(),
                http,
            }),
        })
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &Url {
        self.inner.endpoints.base()
    }

    /// Why every request of this client now fails at once, if a process-wide failure was met
    /// (see [`Error::Halted`]).
    pub fn verdict(&self) -> Option<&Verdict> {
        self.inner.reach.verdict()
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
        self.write_op(&CreateUser::new(self, username, full_name)?)
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
        self.write_op(&DeleteUser::new(self, id_or_username)?).await
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

    /// `GET /workflows/{workflowId}/users`: every user of the key's environment that has the
    /// workflow installed, with that user's activation and installed version (one call, any
    /// order). An empty list when nobody has installed it; [`Error::NotFound`] when it is not a
    /// workflow of the account.
    pub async fn workflow_users(&self, workflow_id: &str) -> Result<Vec<WorkflowUser>, Error> {
        let ctx = self.ctx(OP_WORKFLOW_USERS);
        self.guard(&ctx, async {
            let url = self
                .inner
                .endpoints
                .workflow_users(OP_WORKFLOW_USERS, workflow_id)?;
            let call = Call::new(OP_WORKFLOW_USERS, Method::GET, "/workflows/{id}/users", url);
            let reply = self.run(&ctx, &call).await?;
            let list: ListBody<WorkflowUser> = decode(&call, &reply)?;
            for u in &list.data {
                check_id(&call, &reply, &u.user_id, "userId")?;
            }
            Ok(list.data)
        })
        .await
    }

    /// One user's install of a workflow, from `GET /integrations?userId=...`: its `active`,
    /// `installedVersion` and `version` (the latest published). `None` when that workflow is not
    /// installed for the user (or is no workflow of the account); [`Error::NotFound`] when the
    /// user does not exist.
    pub async fn user_workflow(
        &self,
        user: &str,
        workflow_id: &str,
    ) -> Result<Option<Workflow>, Error> {
        let ctx = self.ctx(OP_USER_WORKFLOW);
        self.guard(&ctx, async {
            check_workflow_id(OP_USER_WORKFLOW, workflow_id)?;
            let call = integrations_call(self, OP_USER_WORKFLOW, user)?;
            let reply = self.run(&ctx, &call).await?;
            installed_workflow(&call, &reply, workflow_id)
        })
        .await
    }

    /// `PUT /workflows/activate` (or `/deactivate` when `active` is false) for one user's
    /// installed workflow; repeating it is harmless. A write (see [`write`](super::write)):
    /// retried on 5xx and 429, and when an attempt's outcome is unknown the user's workflow is
    /// read back first, and a workflow found in the wanted state is not sent again.
    /// [`Error::NotFound`] when the user, the workflow or the install does not exist.
    pub async fn set_workflow_active(
        &self,
        user: &str,
        workflow_id: &str,
        active: bool,
    ) -> Result<(), Error> {
        self.write_op(&SetActive::new(self, user, workflow_id, active)?)
            .await
    }

    /// `PUT /workflows/{workflowId}/upgrade?userId=...`: upgrades one user's installed workflow
    /// to the latest published version (a no-op when it is already there). Never sent twice
    /// blind: when an attempt's outcome is unknown the user's workflow is read back, and one
    /// found at the latest version is done (`read_back` in the outcome). An upgrade the API
    /// refuses because the new version changed its configurable fields is
    /// [`Error::Unprocessable`]: the user must reinstall, and nothing changed.
    pub async fn upgrade_workflow(
        &self,
        user: &str,
        workflow_id: &str,
    ) -> Result<UpgradeOutcome, Error> {
        self.write_op(&Upgrade::new(self, user, workflow_id)?).await
    }

    /// `DELETE /workflows/{workflowId}?userId=...`: removes the workflow for that user only
    /// (irreversible: the user must install it again). When an attempt's outcome is unknown the
    /// user's workflow is read back first; a workflow no longer installed, or a 404 after such
    /// an attempt, means done.
    pub async fn uninstall_workflow(&self, user: &str, workflow_id: &str) -> Result<(), Error> {
        self.write_op(&Uninstall::new(self, user, workflow_id)?)
            .await
    }
}

/// Encodes a request body.
pub(super) fn json_body<T: serde::Serialize>(
    op: &'static str,
    value: &T,
) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|e| Error::InvalidArgument {
        op,
        message: format!("could not encode the request: {e}"),
    })
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
    use super::super::testkit::{KEY, client, html_server};
    use super::*;

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
        send(&c.workflow_users("w"));
        send(&c.user_workflow("a", "w"));
        send(&c.set_workflow_active("a", "w", true));
        send(&c.upgrade_workflow("a", "w"));
        send(&c.uninstall_workflow("a", "w"));
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
