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
use super::faults::Rejection;
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

    let faults = app.faults.current();
    if let Some(delay) = app.faults.delay(&faults) {
        tokio::time::sleep(delay).await;
    }
    let mut environment = None;
    let mut lost = false;
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
    };
    if app.verbose {
        // Never the headers: they carry the API key.
        eprintln!(
            "alloy-emulator: {} {} -> {}{} in {} ms [{}]",
            entry.method,
            entry.path,
            entry.status,
            if lost { " (response dropped)" } else { "" },
            started.elapsed().as_millis(),
            entry.environment.unwrap_or("unauthenticated"),
        );
    }
    app.log.record(entry);
    response
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
}
