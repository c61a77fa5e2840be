//! The Alloy Embedded API as the emulator serves it: users, user tokens and integrations.
//!
//! Requests reach this router with any `/{YYYY-MM}` version segment and trailing slash already
//! removed (see `dispatch` in `mod.rs`), so every route is declared once. The [`gate`] middleware
//! wraps all of them: it applies the fault knobs, checks the version header and the API key,
//! marks lost responses and records the request log. Handlers only see authenticated requests
//! and an [`Environment`].
//!
//! The JSON types here are the emulator's own, written from the documented field names; they
//! are deliberately not shared with the API client, so a misreading of the API on either side
//! shows up as a failing test instead of hiding in a common struct.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, MatchedPath, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::catalogue::{IntegrationDef, catalogue, find_integration, icon_url};
use super::faults::{self, BadAnswer, Faults, Rejection};
use super::requests::{Entry, VersionSource};
use super::store::{Environment, StoreError, User};
use super::{App, CURRENT_API_VERSION, DropConnection, PathVersion};

/// Largest `POST /users/batch` Alloy accepts.
pub const MAX_BATCH: usize = 1000;

/// An error answer: a status and the documented `{"message": ...}` body.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::UserNotFound => ApiError::new(StatusCode::NOT_FOUND, "User not found"),
            StoreError::IntegrationNotFound => {
                ApiError::new(StatusCode::NOT_FOUND, "Integration not found")
            }
            StoreError::WorkflowNotFound => {
                ApiError::new(StatusCode::NOT_FOUND, "Workflow not found")
            }
            StoreError::DuplicateUsername(u) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("A user with username {u:?} already exists"),
            ),
            StoreError::Invalid(m) => ApiError::bad_request(m),
        }
    }
}

#[derive(Serialize)]
struct MessageBody<'a> {
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(
            self.status,
            &MessageBody {
                message: &self.message,
            },
        )
    }
}

/// Serialise `body` as the JSON answer. Serialising our own types cannot fail in practice, but
/// if it does the client gets a 500 with a message rather than a dropped connection.
pub(crate) fn json_response<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => json_bytes(status, bytes),
        Err(e) => json_bytes(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "{{\"message\":{:?}}}",
                format!("could not encode the response: {e}")
            )
            .into_bytes(),
        ),
    }
}

pub(crate) fn json_bytes(status: StatusCode, bytes: Vec<u8>) -> Response {
    let mut resp = (status, bytes).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Parse a JSON request body; an empty body counts as `{}` when `T` allows it.
pub(crate) fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    let text: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(text)
        .map_err(|e| ApiError::bad_request(format!("Invalid JSON body: {e}")))
}

/// Query parameter `name`, percent-decoded.
pub(crate) fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The API router (without the version prefix). `app` is also the middleware state.
pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/users", get(list_users).post(create_user))
        .route("/users/batch", axum::routing::post(batch_create))
        .route(
            "/users/{id}",
            get(get_user).put(update_user).delete(delete_user),
        )
        .route("/users/{id}/token", get(user_token))
        .route("/integrations", get(list_integrations))
        .route("/integrations/{id}", get(get_integration))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(app.clone(), gate))
        .with_state(app)
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "Not found")
}

pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")
}

/// `YYYY-MM` with a plausible month.
pub(crate) fn is_api_version(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 7
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..].iter().all(u8::is_ascii_digit)
        && matches!((b[5] - b'0') * 10 + (b[6] - b'0'), 1..=12)
}

fn is_write(m: &Method) -> bool {
    matches!(*m, Method::POST | Method::PUT | Method::DELETE)
}

fn rejection_response(r: Rejection) -> Response {
    match r {
        Rejection::RateLimited { retry_after_secs } => {
            let mut resp =
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded").into_response();
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            resp
        }
        Rejection::ServerError { status } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let message = if status == StatusCode::SERVICE_UNAVAILABLE {
                "Service temporarily unavailable (injected fault)"
            } else {
                "Internal server error (injected fault)"
            };
            ApiError::new(status, message).into_response()
        }
    }
}

/// Everything every API request goes through, in the order documented in `faults.rs`.
async fn gate(State(app): State<Arc<App>>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let path = req.uri().path().to_owned();
    let (api_version, versioned_by) = match req.extensions().get::<PathVersion>() {
        Some(PathVersion(v)) => (Ok(v.clone()), VersionSource::Path),
        None => match req.headers().get("x-api-version") {
            Some(h) => (
                h.to_str()
                    .ok()
                    .filter(|v| is_api_version(v))
                    .map(str::to_owned)
                    .ok_or_else(|| String::from_utf8_lossy(h.as_bytes()).into_owned()),
                VersionSource::Header,
            ),
            None => (Ok(CURRENT_API_VERSION.to_owned()), VersionSource::Default),
        },
    };

    let route_key = route.as_deref().map(|r| format!("{method} {r}"));
    let mut faults = app.faults.current();
    if !faults.applies_to(route_key.as_deref()) {
        faults = Faults::default();
    }
    if let Some(delay) = app.faults.delay(&faults) {
        tokio::time::sleep(delay).await;
    }
    let mut environment = None;
    let mut lost = false;
    let mut bad_answer = false;
    let response = if let Err(r) = app.faults.admit(&faults, Instant::now()) {
        rejection_response(r)
    } else if let Err(bad) = &api_version {
        ApiError::bad_request(format!(
            "Unsupported x-api-version {bad:?}: expected YYYY-MM"
        ))
        .into_response()
    } else if route.is_none() {
        next.run(req).await
    } else if let Some(env) = app.authenticate(req.headers()) {
        environment = Some(env);
        req.extensions_mut().insert(env);
        let mut resp = next.run(req).await;
        if is_write(&method) && resp.status().is_success() && app.faults.lose_response(&faults) {
            resp.extensions_mut().insert(DropConnection);
            lost = true;
        } else if resp.status().is_success() && app.faults.spoil_answer(&faults) {
            resp = spoilt(resp, faults.bad_answer).await;
            bad_answer = true;
        }
        resp
    } else {
        ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized").into_response()
    };

    let entry = Entry {
        at_ms: app.started.elapsed().as_millis() as u64,
        method: method.as_str().to_owned(),
        route: route.unwrap_or_else(|| "(unmatched)".to_owned()),
        path,
        status: response.status().as_u16(),
        environment: environment.map(Environment::as_str),
        api_version: api_version.unwrap_or_else(|bad| bad),
        versioned_by,
        lost,
        bad_answer,
    };
    if app.verbose {
        // Never the headers: they carry the API key.
        eprintln!(
            "alloy-emulator: {} {} -> {}{} in {} ms [{}]",
            entry.method,
            entry.path,
            entry.status,
            if lost {
                " (response dropped)"
            } else if bad_answer {
                " (bad answer)"
            } else {
                ""
            },
            started.elapsed().as_millis(),
            entry.environment.unwrap_or("unauthenticated"),
        );
    }
    app.log.record(entry);
    response
}

/// `resp` with its body replaced by a malformed answer of kind `kind` (see `faults::spoil`).
async fn spoilt(resp: Response, kind: BadAnswer) -> Response {
    let (parts, body) = resp.into_parts();
    // Our own answers are small and already in memory; the bound only guards against a bug.
    let bytes = axum::body::to_bytes(body, 64 << 20)
        .await
        .unwrap_or_default();
    let (status, content_type, spoilt) = faults::spoil(kind, parts.status.as_u16(), &bytes);
    let mut out = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
        spoilt,
    )
        .into_response();
    out.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    out
}

/// The `Authorization: Bearer <key>` check; the scheme is case-insensitive.
pub(crate) fn bearer_key(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| key.trim())
        .filter(|k| !k.is_empty())
}

// ---- Wire types -------------------------------------------------------------------------------

#[derive(Serialize)]
struct UserJson<'a> {
    #[serde(rename = "userId")]
    user_id: &'a str,
    username: &'a str,
    /// `null` when never set: the 2025-09 schema marks the field required, so it is always there.
    #[serde(rename = "fullName")]
    full_name: Option<&'a str>,
}

impl<'a> From<&'a User> for UserJson<'a> {
    fn from(u: &'a User) -> UserJson<'a> {
        UserJson {
            user_id: &u.id,
            username: &u.username,
            full_name: u.full_name.as_deref(),
        }
    }
}

#[derive(Serialize)]
struct DataJson<T> {
    data: T,
}

#[derive(Serialize)]
pub(crate) struct SuccessJson {
    pub success: bool,
}

#[derive(Deserialize)]
struct CreateUserBody {
    username: Option<String>,
    #[serde(rename = "fullName")]
    full_name: Option<String>,
}

#[derive(Deserialize)]
struct BatchBody {
    users: Vec<Value>,
}

#[derive(Deserialize)]
struct UpdateUserBody {
    username: Option<String>,
    /// Absent: unchanged; `null`: cleared; a string: set.
    #[serde(rename = "fullName", default, deserialize_with = "present")]
    full_name: Option<Option<String>>,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IntegrationJson<'a> {
    integration_id: &'a str,
    app: &'a str,
    primary_connector: &'a str,
    description: &'a str,
    installed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    installed_version: Option<u32>,
    icon: String,
    credentials: &'a [&'a str],
    workflows: Vec<WorkflowJson<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WorkflowJson<'a> {
    workflow_id: &'a str,
    name: &'a str,
    installed: bool,
    active: bool,
    version: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    installed_version: Option<u32>,
    connectors: Vec<ConnectorJson<'a>>,
}

#[derive(Serialize)]
struct ConnectorJson<'a> {
    name: &'a str,
    id: &'a str,
    connector: &'a str,
    icon: String,
    subtitle: &'a str,
}

/// An integration as one user sees it: `installed` from that user's installs.
fn render_integration(
    def: &'static IntegrationDef,
    installed_workflows: Option<&std::collections::BTreeSet<&'static str>>,
) -> IntegrationJson<'static> {
    let installed = installed_workflows.is_some();
    IntegrationJson {
        integration_id: def.id,
        app: def.app,
        primary_connector: def.primary_connector,
        description: def.description,
        installed,
        installed_version: installed.then_some(def.version),
        icon: icon_url(def.slug),
        credentials: def.credentials,
        workflows: def
            .workflows
            .iter()
            .map(|w| {
                let on = installed_workflows.is_some_and(|s| s.contains(w.id));
                WorkflowJson {
                    workflow_id: w.id,
                    name: w.name,
                    installed: on,
                    active: on,
                    version: w.version,
                    installed_version: on.then_some(w.version),
                    connectors: w
                        .connectors
                        .iter()
                        .map(|c| ConnectorJson {
                            name: c.name,
                            id: c.id,
                            connector: c.connector,
                            icon: icon_url(c.connector),
                            subtitle: c.subtitle,
                        })
                        .collect(),
                }
            })
            .collect(),
    }
}

// ---- Handlers ---------------------------------------------------------------------------------

type Env = Extension<Environment>;

async fn create_user(
    State(app): State<Arc<App>>,
    Extension(env): Env,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: CreateUserBody = parse_body(&body)?;
    let username = body
        .username
        .ok_or_else(|| ApiError::bad_request("username is required"))?;
    let (user, generation) = app
        .lock_store()
        .create_user(env, username, body.full_name)?;
    app.commit(generation).await?;
    #[derive(Serialize)]
    struct Created<'a> {
        #[serde(rename = "userId")]
        user_id: &'a str,
    }
    Ok(json_response(
        StatusCode::OK,
        &Created { user_id: &user.id },
    ))
}

async fn batch_create(
    State(app): State<Arc<App>>,
    Extension(env): Env,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: BatchBody = parse_body(&body)?;
    if body.users.len() > MAX_BATCH {
        return Err(ApiError::bad_request(format!(
            "A batch may hold at most {MAX_BATCH} users, got {}",
            body.users.len()
        )));
    }
    let (outcome, generation) = app.lock_store().create_batch(env, body.users)?;
    app.commit(generation).await?;
    #[derive(Serialize)]
    struct BatchJson {
        message: &'static str,
        #[serde(rename = "invalidUsers")]
        invalid_users: Vec<Value>,
    }
    Ok(json_response(
        StatusCode::OK,
        &BatchJson {
            message: "success",
            invalid_users: outcome.invalid,
        },
    ))
}

async fn list_users(State(app): State<Arc<App>>, Extension(env): Env) -> Response {
    users_response(&app, env)
}

/// `{"data": [user, ...]}` for one environment, in creation order. Serialised under the lock:
/// copying thousands of users out first would cost more than it saves.
pub(crate) fn users_response(app: &App, env: Environment) -> Response {
    let store = app.lock_store();
    let users: Vec<UserJson<'_>> = store.env(env).users().map(UserJson::from).collect();
    json_response(StatusCode::OK, &DataJson { data: users })
}

/// `{"data": integration}` as the user `user_id` sees it.
pub(crate) fn integration_response(
    app: &App,
    env: Environment,
    user_id: &str,
    def: &'static IntegrationDef,
) -> Response {
    let store = app.lock_store();
    let installed = store
        .env(env)
        .installs_of(user_id)
        .and_then(|i| i.get(def.id));
    json_response(
        StatusCode::OK,
        &DataJson {
            data: render_integration(def, installed),
        },
    )
}

async fn get_user(
    State(app): State<Arc<App>>,
    Extension(env): Env,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let store = app.lock_store();
    let user = store.env(env).get(&id).ok_or(StoreError::UserNotFound)?;
    Ok(json_response(StatusCode::OK, &UserJson::from(user)))
}

async fn update_user(
    State(app): State<Arc<App>>,
    Extension(env): Env,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: UpdateUserBody = parse_body(&body)?;
    let (user, generation) =
        app.lock_store()
            .update_user(env, &id, body.username, body.full_name)?;
    app.commit(generation).await?;
    Ok(json_response(StatusCode::OK, &UserJson::from(&user)))
}

async fn delete_user(
    State(app): State<Arc<App>>,
    Extension(env): Env,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (_, generation) = app.lock_store().delete_user(env, &id)?;
    app.commit(generation).await?;
    Ok(json_response(
        StatusCode::OK,
        &SuccessJson { success: true },
    ))
}

async fn user_token(
    State(app): State<Arc<App>>,
    Extension(env): Env,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    // The 2025-09 docs also list a `userId` query parameter; the path value is what counts.
    let (user_id, jti) = {
        let mut store = app.lock_store();
        let user_id = store
            .env(env)
            .get(&id)
            .ok_or(StoreError::UserNotFound)?
            .id
            .clone();
        (user_id, store.random_hex(8))
    };
    let iat = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (token, exp) = app
        .signer
        .sign(&user_id, iat, &jti)
        .map_err(ApiError::internal)?;
    let body = json_response(StatusCode::OK, &TokenJson { token: &token });
    app.record_token(env, user_id, token, iat, exp);
    Ok(body)
}

#[derive(Serialize)]
struct TokenJson<'a> {
    token: &'a str,
}

/// The user named by the required `userId` query parameter (an id or a username).
fn integration_user(app: &App, env: Environment, query: Option<&str>) -> Result<String, ApiError> {
    let key = query_param(query, "userId")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::bad_request("userId query parameter is required"))?;
    let store = app.lock_store();
    Ok(store
        .env(env)
        .get(&key)
        .ok_or(StoreError::UserNotFound)?
        .id
        .clone())
}

async fn list_integrations(
    State(app): State<Arc<App>>,
    Extension(env): Env,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let user_id = integration_user(&app, env, query.as_deref())?;
    let store = app.lock_store();
    let installs = store.env(env).installs_of(&user_id);
    let data: Vec<_> = catalogue()
        .iter()
        .map(|def| render_integration(def, installs.and_then(|i| i.get(def.id))))
        .collect();
    Ok(json_response(StatusCode::OK, &DataJson { data }))
}

async fn get_integration(
    State(app): State<Arc<App>>,
    Extension(env): Env,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let user_id = integration_user(&app, env, query.as_deref())?;
    let def = find_integration(&id).ok_or(StoreError::IntegrationNotFound)?;
    Ok(integration_response(&app, env, &user_id, def))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions() {
        assert!(is_api_version("2025-09"));
        assert!(is_api_version("2023-12"));
        assert!(!is_api_version("2025-13"));
        assert!(!is_api_version("2025-00"));
        assert!(!is_api_version("v1"));
        assert!(!is_api_version("2025-9"));
        assert!(!is_api_version("users"));
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer_key(&h), None);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer abc"),
        );
        assert_eq!(bearer_key(&h), Some("abc"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("BEARER  abc "),
        );
        assert_eq!(bearer_key(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer_key(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("abc"));
        assert_eq!(bearer_key(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer_key(&h), None);
    }

    #[test]
    fn user_json_field_names() {
        let u = User {
            id: "0123456789abcdef01234567".into(),
            username: "jane@example.com".into(),
            full_name: None,
        };
        let v: Value = serde_json::to_value(UserJson::from(&u)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"userId": "0123456789abcdef01234567",
                "username": "jane@example.com", "fullName": null})
        );
    }

    #[test]
    fn integration_json_field_names_and_installed_version() {
        let def = &catalogue()[0];
        let v = serde_json::to_value(render_integration(def, None)).unwrap();
        for key in [
            "integrationId",
            "app",
            "primaryConnector",
            "description",
            "installed",
            "icon",
            "credentials",
            "workflows",
        ] {
            assert!(v.get(key).is_some(), "{key}");
        }
        assert!(v.get("installedVersion").is_none());
        assert_eq!(v["installed"], false);
        let wf = &v["workflows"][0];
        for key in [
            "workflowId",
            "name",
            "installed",
            "active",
            "version",
            "connectors",
        ] {
            assert!(wf.get(key).is_some(), "{key}");
        }
        for key in ["name", "id", "connector", "icon", "subtitle"] {
            assert!(wf["connectors"][0].get(key).is_some(), "{key}");
        }

        let one: std::collections::BTreeSet<_> = [def.workflows[0].id].into();
        let v = serde_json::to_value(render_integration(def, Some(&one))).unwrap();
        assert_eq!(v["installed"], true);
        assert_eq!(v["installedVersion"].as_u64(), Some(u64::from(def.version)));
        assert_eq!(v["workflows"][0]["installed"], true);
        assert_eq!(v["workflows"][0]["active"], true);
        assert_eq!(
            v["workflows"][0]["installedVersion"].as_u64(),
            Some(u64::from(def.workflows[0].version))
        );
        assert_eq!(v["workflows"][1]["installed"], false);
        assert!(v["workflows"][1].get("installedVersion").is_none());
    }

    #[test]
    fn bodies_parse_with_null_absent_and_empty() {
        let b: UpdateUserBody = parse_body(&Bytes::from_static(b"")).unwrap();
        assert!(b.username.is_none() && b.full_name.is_none());
        let b: UpdateUserBody = parse_body(&Bytes::from_static(b"{\"fullName\":null}")).unwrap();
        assert_eq!(b.full_name, Some(None));
        let b: UpdateUserBody = parse_body(&Bytes::from_static(b"{\"fullName\":\"X\"}")).unwrap();
        assert_eq!(b.full_name, Some(Some("X".into())));
        let Err(e) = parse_body::<CreateUserBody>(&Bytes::from_static(b"{nope")) else {
            panic!("malformed JSON must be refused")
        };
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.starts_with("Invalid JSON body"));
    }

    #[test]
    fn query_params_are_decoded() {
        assert_eq!(
            query_param(Some("a=1&userId=jane%40example.com"), "userId").as_deref(),
            Some("jane@example.com")
        );
        assert_eq!(query_param(Some("a=1"), "userId"), None);
        assert_eq!(query_param(None, "userId"), None);
    }

    /// A running emulator and a plain HTTP client for it.
    async fn served() -> (crate::emulator::RunningEmulator, reqwest::Client) {
        let emu = crate::emulator::RunningEmulator::start(
            crate::emulator::EmulatorConfig::default(),
            "127.0.0.1:0".parse().unwrap(),
        )
        .await
        .unwrap();
        (emu, reqwest::Client::new())
    }

    /// The admin request log of the emulator at `url`.
    async fn request_log(http: &reqwest::Client, url: &str) -> Value {
        http.get(format!("{url}/_emulator/requests"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn api_routes_list_matches_the_router() {
        let (emu, http) = served().await;
        let key = emu.development_key().to_owned();
        let url = emu.url();
        let r = http
            .post(format!("{url}/users"))
            .bearer_auth(&key)
            .body(r#"{"username":"r"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let id = "r";
        let integration = catalogue()[0].id;
        for (method, path, body) in [
            (Method::GET, "/users".to_string(), ""),
            (
                Method::POST,
                "/users/batch".to_string(),
                r#"{"users":[{"username":"b"}]}"#,
            ),
            (Method::GET, format!("/users/{id}"), ""),
            (Method::PUT, format!("/users/{id}"), r#"{"fullName":"R"}"#),
            (Method::GET, format!("/users/{id}/token"), ""),
            (Method::GET, format!("/integrations?userId={id}"), ""),
            (
                Method::GET,
                format!("/integrations/{integration}?userId={id}"),
                "",
            ),
            (Method::DELETE, format!("/users/{id}"), ""),
        ] {
            let r = http
                .request(method.clone(), format!("{url}{path}"))
                .bearer_auth(&key)
                .body(body)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{method} {path}: {}", r.status());
        }
        let log = request_log(&http, &url).await;
        let mut seen: Vec<&str> = log["by_route"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut all = faults::API_ROUTES.to_vec();
        seen.sort_unstable();
        all.sort_unstable();
        assert_eq!(
            seen, all,
            "API_ROUTES must list exactly the router's routes"
        );
    }

    #[tokio::test]
    async fn faults_scoped_to_a_route_leave_the_others_alone() {
        let (emu, http) = served().await;
        let key = emu.development_key().to_owned();
        let url = emu.url();
        emu.set_faults(Faults {
            error_rate: 1.0,
            routes: vec!["GET /users/{id}".into()],
            ..Faults::default()
        })
        .unwrap();
        let r = http
            .post(format!("{url}/users"))
            .bearer_auth(&key)
            .body(r#"{"username":"scoped"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "POST is not in the scope");
        let r = http
            .get(format!("{url}/users/scoped"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert!(
            r.status() == 500 || r.status() == 503,
            "GET /users/{{id}} is: {}",
            r.status()
        );
        let r = http
            .get(format!("{url}/users"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        // The admin API takes the scope and reports it back.
        let r = http
            .put(format!("{url}/_emulator/faults"))
            .body(r#"{"routes": ["GET /nope"]}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "an unknown route is refused");
        let f: Value = http
            .put(format!("{url}/_emulator/faults"))
            .body(r#"{"routes": ["POST /users", "GET /users"]}"#)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            f["routes"],
            serde_json::json!(["POST /users", "GET /users"])
        );
        assert_eq!(f["error_rate"], 1.0);
        let r = http
            .get(format!("{url}/users/scoped"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "no longer in the scope");
    }

    #[tokio::test]
    async fn bad_answers_replace_successful_answers_after_the_work_is_done() {
        let (emu, http) = served().await;
        let key = emu.development_key().to_owned();
        let url = emu.url();
        for (n, kind) in BadAnswer::ALL.into_iter().enumerate() {
            emu.set_faults(Faults {
                bad_answer_rate: 1.0,
                bad_answer: kind,
                routes: vec!["POST /users".into()],
                ..Faults::default()
            })
            .unwrap();
            let r = http
                .post(format!("{url}/users"))
                .bearer_auth(&key)
                .body(format!(r#"{{"username":"bad-{n}"}}"#))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let ct = r
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let body = r.bytes().await.unwrap();
            let parsed = serde_json::from_slice::<Value>(&body);
            match kind {
                BadAnswer::Html | BadAnswer::Html502 => {
                    assert_eq!(status, if kind == BadAnswer::Html { 200 } else { 502 });
                    assert!(ct.starts_with("text/html"), "{ct}");
                    assert!(body.starts_with(b"<!DOCTYPE html>"));
                }
                BadAnswer::Truncated => {
                    assert_eq!(status, 200);
                    assert!(parsed.is_err() && !body.is_empty());
                }
                BadAnswer::MissingField => {
                    assert_eq!(status, 200);
                    assert_eq!(parsed.unwrap(), serde_json::json!({}));
                }
                BadAnswer::Empty => {
                    assert_eq!(status, 200);
                    assert!(body.is_empty());
                }
            }
            // The user was created all the same, and a route out of scope answers normally.
            let r = http
                .get(format!("{url}/users/bad-{n}"))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{kind}");
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["username"], format!("bad-{n}"));
        }
        // An error answer is never spoilt: the fault is about successful answers.
        let r = http
            .post(format!("{url}/users"))
            .bearer_auth(&key)
            .body(r#"{"username":"bad-0"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422);
        let log = request_log(&http, &url).await;
        assert_eq!(log["bad_answers"], BadAnswer::ALL.len());
        let flagged = log["log"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["bad_answer"] == true)
            .count();
        assert_eq!(flagged, BadAnswer::ALL.len());
    }
}
