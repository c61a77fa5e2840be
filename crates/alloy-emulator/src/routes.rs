//! The Alloy Embedded API as the emulator serves it: users, user tokens, integrations and the
//! workflows installed for each user.
//!
//! Requests reach this router with any `/{YYYY-MM}` version segment and trailing slash already
//! removed (see `dispatch` in `mod.rs`), so every route is declared once. The gate (`gate.rs`)
//! wraps all of them: it applies the fault knobs, checks the version header and the API key,
//! marks lost responses and records the request log. Handlers here only see authenticated
//! requests and an [`Environment`]; the JSON they read and write is in `wire.rs`, the emulator's
//! own types, shared with nothing in the client.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::Response;
use axum::routing::{get, put};

use super::App;
use super::catalogue::{IntegrationDef, catalogue, find_integration};
use super::gate::gate;
use super::store::{self, Environment, StoreError, WorkflowRef};
use super::wire::{
    ActivatedJson, ActivationBody, ApiError, BatchBody, BatchJson, CreateUserBody, CreatedJson,
    DataJson, DeletedJson, SuccessJson, TokenJson, UpdateUserBody, UserJson, WorkflowUserJson,
    json_response, parse_body, query_param, render_integration,
};

/// Largest `POST /users/batch` Alloy accepts.
pub const MAX_BATCH: usize = 1000;

/// The API router (without the version prefix). `app` is also the middleware state.
pub(crate) fn router(app: Arc<App>) -> Router {
    let routes = Router::new()
        .route("/users", get(list_users).post(create_user))
        .route("/users/batch", axum::routing::post(batch_create))
        .route(
            "/users/{id}",
            get(get_user).put(update_user).delete(delete_user),
        )
        .route("/users/{id}/token", get(user_token))
        .route("/integrations", get(list_integrations))
        .route("/integrations/{id}", get(get_integration))
        .route("/workflows/activate", put(activate))
        .route("/workflows/deactivate", put(deactivate))
        .route("/workflows/{id}", axum::routing::delete(delete_workflow))
        .route("/workflows/{id}/upgrade", put(upgrade_workflow))
        .route("/workflows/{id}/users", get(workflow_users));
    super::tenant_routes::api(routes)
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
    Ok(json_response(
        StatusCode::OK,
        &CreatedJson { user_id: &user.id },
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
    Ok(json_response(
        StatusCode::OK,
        &BatchJson {
            message: "success",
            invalid_users: outcome.invalid,
        },
    ))
}

/// `GET /users`, optionally `?parentWorkflowId=<workflow id>`: only the users who have that
/// workflow installed, an empty list for a workflow nobody has (or that does not exist). The
/// docs leave an empty `parentWorkflowId=` open; the emulator refuses it with a 400 rather than
/// read it as "no filter", so a caller that lost its workflow id is told instead of handed
/// every user.
async fn list_users(
    State(app): State<Arc<App>>,
    Extension(env): Env,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    match query_param(query.as_deref(), "parentWorkflowId") {
        Some(w) if w.is_empty() => Err(ApiError::bad_request(
            "parentWorkflowId must not be empty: give a workflow id, or leave the parameter out \
             to list every user",
        )),
        workflow => Ok(users_response(&app, env, workflow.as_deref())),
    }
}

/// `{"data": [user, ...]}` for one environment in creation order, all of them or the users of
/// one workflow. Serialised under the lock: copying thousands of users out first would cost
/// more than it saves.
pub(crate) fn users_response(app: &App, env: Environment, workflow: Option<&str>) -> Response {
    let store = app.lock_store();
    let env = store.env(env);
    let users: Vec<UserJson<'_>> = match workflow {
        None => env.users().map(UserJson::from).collect(),
        Some(w) => env.users_of_workflow(w).map(UserJson::from).collect(),
    };
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
            data: render_integration(def, installed, store.versions()),
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
        .map(|def| render_integration(def, installs.and_then(|i| i.get(def.id)), store.versions()))
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

/// `GET /workflows/{id}/users`: every user of the environment who installed the workflow, with
/// the install's state, in creation order. A workflow nobody installed gives an empty list; an
/// id that is not a workflow of the account is a 404.
async fn workflow_users(
    State(app): State<Arc<App>>,
    Extension(env): Env,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (i, w) = store::workflow(&id)?;
    let store = app.lock_store();
    let data: Vec<WorkflowUserJson<'_>> = store
        .env(env)
        .installs_of_workflow(i, w)
        .map(|(u, install)| WorkflowUserJson::new(u, install))
        .collect();
    Ok(json_response(StatusCode::OK, &DataJson { data }))
}

/// A required, non-empty value, or a 400 that names it.
fn required(value: Option<String>, what: &str) -> Result<String, ApiError> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request(format!("{what} is required")))
}

async fn set_active(
    app: &App,
    env: Environment,
    body: &Bytes,
    active: bool,
) -> Result<Response, ApiError> {
    let body: ActivationBody = parse_body(body)?;
    let user = required(body.user_id, "userId")?;
    // workflowId wins when both are given; an empty one counts as absent.
    let id = body.workflow_id.filter(|v| !v.trim().is_empty());
    let name = body.workflow_name.filter(|v| !v.trim().is_empty());
    let wf = match (&id, &name) {
        (Some(id), _) => WorkflowRef::Id(id),
        (None, Some(name)) => WorkflowRef::Name(name),
        (None, None) => {
            return Err(ApiError::bad_request(
                "workflowId (or workflowName) is required",
            ));
        }
    };
    let generation = app.lock_store().set_active(env, &user, wf, active)?;
    app.commit(generation).await?;
    Ok(json_response(
        StatusCode::OK,
        &ActivatedJson {
            activated: active,
            installed_version: None,
        },
    ))
}

/// `PUT /workflows/activate`: `{"activated": true}`, also when it was active already.
async fn activate(
    State(app): State<Arc<App>>,
    Extension(env): Env,
    body: Bytes,
) -> Result<Response, ApiError> {
    set_active(&app, env, &body, true).await
}

/// `PUT /workflows/deactivate`: `{"activated": false}`, also when it was inactive already.
async fn deactivate(
    State(app): State<Arc<App>>,
    Extension(env): Env,
    body: Bytes,
) -> Result<Response, ApiError> {
    set_active(&app, env, &body, false).await
}

/// The required `userId` query parameter of the workflow routes (an id or a username).
fn workflow_user(query: Option<&str>) -> Result<String, ApiError> {
    required(query_param(query, "userId"), "userId query parameter")
}

/// `PUT /workflows/{id}/upgrade?userId=`: the install at the latest version (a no-op when it is
/// there already), or a 422 when a version in between is marked incompatible.
async fn upgrade_workflow(
    State(app): State<Arc<App>>,
    Extension(env): Env,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let user = workflow_user(query.as_deref())?;
    let (install, generation) = app.lock_store().upgrade(env, &user, &id)?;
    app.commit(generation).await?;
    Ok(json_response(
        StatusCode::OK,
        &ActivatedJson {
            activated: install.active,
            installed_version: Some(install.installed_version),
        },
    ))
}

/// `DELETE /workflows/{id}?userId=`: that user's install of the workflow goes, for good.
async fn delete_workflow(
    State(app): State<Arc<App>>,
    Extension(env): Env,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let user = workflow_user(query.as_deref())?;
    let generation = app.lock_store().remove_workflow(env, &user, &id)?;
    app.commit(generation).await?;
    Ok(json_response(
        StatusCode::OK,
        &DeletedJson { deleted: true },
    ))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use axum::http::Method;
    use serde_json::Value;

    use crate::faults;
    /// A running emulator and a plain HTTP client for it.
    pub(crate) async fn served() -> (crate::RunningEmulator, reqwest::Client) {
        let emu = crate::RunningEmulator::start(
            crate::EmulatorConfig::default(),
            "127.0.0.1:0".parse().unwrap(),
        )
        .await
        .unwrap();
        (emu, reqwest::Client::new())
    }

    /// The admin request log of the emulator at `url`.
    pub(crate) async fn request_log(http: &reqwest::Client, url: &str) -> Value {
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
        let workflow = catalogue()[0].workflows[0].id;
        emu.app
            .lock_store()
            .install(Environment::Development, id, None, Some(workflow))
            .unwrap();
        let activation = format!(r#"{{"userId":"{id}","workflowId":"{workflow}"}}"#);
        let secret = || {
            std::collections::BTreeMap::from([
                ("fieldName".to_owned(), "X-Key".to_owned()),
                ("value".to_owned(), "v".to_owned()),
            ])
        };
        let (c1, _) = emu
            .app
            .lock_store()
            .create_credential(Environment::Development, id, "httpHeaderAuth", secret())
            .unwrap();
        let (c2, _) = emu
            .app
            .lock_store()
            .create_credential(Environment::Development, id, "httpHeaderAuth", secret())
            .unwrap();
        let credential = format!(
            r#"{{"userId":"{id}","credential":{{"type":"httpHeaderAuth","data":{{"fieldName":"a","value":"b"}}}}}}"#
        );
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
            (Method::GET, format!("/workflows/{workflow}/users"), ""),
            (
                Method::PUT,
                "/workflows/deactivate".to_string(),
                activation.as_str(),
            ),
            (
                Method::PUT,
                "/workflows/activate".to_string(),
                activation.as_str(),
            ),
            (
                Method::PUT,
                format!("/workflows/{workflow}/upgrade?userId={id}"),
                "",
            ),
            (
                Method::DELETE,
                format!("/workflows/{workflow}?userId={id}"),
                "",
            ),
            (
                Method::POST,
                "/headless/credentials".to_string(),
                credential.as_str(),
            ),
            (Method::GET, format!("/credentials/users/{id}"), ""),
            (Method::GET, format!("/users/{id}/credentials"), ""),
            (Method::DELETE, format!("/users/{id}/credentials/{c1}"), ""),
            (Method::DELETE, format!("/credentials/{c2}/users/{id}"), ""),
            (Method::GET, "/metadata/credentials".to_string(), ""),
            (
                Method::GET,
                "/metadata/credentials/netsuite".to_string(),
                "",
            ),
            (
                Method::GET,
                format!("/workflows/{workflow}/logs?userId={id}"),
                "",
            ),
            (Method::DELETE, format!("/users/{id}/logs"), ""),
            (Method::DELETE, format!("/workflows/logs?userId={id}"), ""),
            (Method::DELETE, format!("/users/{id}"), ""),
        ] {
            let r = http
                .request(method.clone(), format!("{url}{path}"))
                .bearer_auth(&key)
                .body(body.to_owned())
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
}
