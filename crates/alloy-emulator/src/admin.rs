//! The admin API under `/_emulator`: what tests use to arrange state and to observe the API
//! traffic, without going through the API (and so without faults, auth or request counting).
//!
//! It has no authentication, which is one reason the emulator refuses non-loopback listen
//! addresses unless told otherwise.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::{Deserialize, Serialize};

use super::App;
use super::faults::FaultsPatch;
use super::routes::{integration_response, method_not_allowed, not_found, users_response};
use super::store::{self, Environment};
use super::wire::{
    ApiError, DataJson, SuccessJson, json_bytes, json_response, parse_body, query_param,
};

pub(crate) fn router(app: Arc<App>) -> Router {
    let routes = Router::new()
        .route("/_emulator/health", get(health))
        .route("/_emulator/reset", axum::routing::post(reset))
        .route("/_emulator/faults", get(get_faults).put(put_faults))
        .route("/_emulator/users", get(list_users))
        .route("/_emulator/seed", axum::routing::post(seed))
        .route(
            "/_emulator/users/{environment}/{id}",
            axum::routing::delete(delete_user),
        )
        .route(
            "/_emulator/installs",
            axum::routing::post(install).delete(uninstall),
        )
        .route(
            "/_emulator/workflows/{id}/versions",
            axum::routing::post(publish_version),
        )
        .route("/_emulator/workflows/{id}/installs", get(workflow_installs))
        .route("/_emulator/requests", get(requests).delete(clear_requests))
        .route("/_emulator/tokens", get(tokens));
    super::tenant_routes::admin(routes)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(app)
}

fn environment(name: &str) -> Result<Environment, ApiError> {
    Environment::parse(name).ok_or_else(|| {
        ApiError::bad_request(format!(
            "unknown environment {name:?}: expected development or production"
        ))
    })
}

async fn health() -> Response {
    #[derive(Serialize)]
    struct Health {
        status: &'static str,
    }
    json_response(StatusCode::OK, &Health { status: "ok" })
}

async fn reset(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let generation = app.lock_store().clear();
    app.clear_tokens();
    app.log.clear();
    app.faults.set(Default::default());
    app.commit(generation).await?;
    Ok(json_response(
        StatusCode::OK,
        &SuccessJson { success: true },
    ))
}

async fn get_faults(State(app): State<Arc<App>>) -> Response {
    json_response(StatusCode::OK, &app.faults.current())
}

async fn put_faults(State(app): State<Arc<App>>, body: Bytes) -> Result<Response, ApiError> {
    let patch: FaultsPatch = parse_body(&body)?;
    let faults = patch.apply(&app.faults.current());
    faults.validate().map_err(ApiError::bad_request)?;
    app.faults.set(faults.clone());
    Ok(json_response(StatusCode::OK, &faults))
}

async fn list_users(
    State(app): State<Arc<App>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let name = query_param(query.as_deref(), "environment").ok_or_else(|| {
        ApiError::bad_request("environment query parameter is required (development or production)")
    })?;
    let env = environment(&name)?;
    Ok(users_response(&app, env, None))
}

/// Most users one `POST /_emulator/seed` creates: enough for scale tests, small enough that a
/// typo in `count` cannot exhaust the machine.
pub const MAX_SEED: u64 = 100_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedBody {
    environment: String,
    count: u64,
    /// Usernames are `{prefix}{n}{suffix}` for n = start, start + 1, ...
    #[serde(default = "default_prefix")]
    prefix: String,
    #[serde(default)]
    suffix: String,
    #[serde(default = "default_start")]
    start: u64,
    /// When set, each user's `fullName` is `{full_name_prefix}{n}`; otherwise it has none.
    #[serde(default)]
    full_name_prefix: Option<String>,
    /// Workflow ids installed for every seeded user, as `POST /_emulator/installs` would.
    #[serde(default)]
    workflows: Vec<String>,
}

fn default_prefix() -> String {
    "user-".into()
}

fn default_start() -> u64 {
    1
}

#[derive(Serialize)]
struct SeedJson {
    created: u64,
    first: String,
    last: String,
}

/// `POST /_emulator/seed`: creates `count` numbered users in one environment at once, all or
/// none (an existing username refuses the whole seed with 422, as `POST /users` would, and an
/// unknown workflow in `workflows` with 404), each with the `workflows` installed.
async fn seed(State(app): State<Arc<App>>, body: Bytes) -> Result<Response, ApiError> {
    let body: SeedBody = parse_body(&body)?;
    let env = environment(&body.environment)?;
    if body.count == 0 || body.count > MAX_SEED {
        return Err(ApiError::bad_request(format!(
            "count must be between 1 and {MAX_SEED}, got {}",
            body.count
        )));
    }
    let last_n = body.start.checked_add(body.count - 1).ok_or_else(|| {
        ApiError::bad_request("start + count - 1 does not fit in an unsigned 64-bit number")
    })?;
    let name = |n: u64| format!("{}{n}{}", body.prefix, body.suffix);
    let users: Vec<(String, Option<String>)> = (body.start..=last_n)
        .map(|n| {
            let full_name = body.full_name_prefix.as_ref().map(|p| format!("{p}{n}"));
            (name(n), full_name)
        })
        .collect();
    let generation = app.lock_store().seed_users(env, users, &body.workflows)?;
    app.commit(generation).await?;
    Ok(json_response(
        StatusCode::OK,
        &SeedJson {
            created: body.count,
            first: name(body.start),
            last: name(last_n),
        },
    ))
}

async fn delete_user(
    State(app): State<Arc<App>>,
    Path((env, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let env = environment(&env)?;
    let (_, generation) = app.lock_store().delete_user(env, &id)?;
    app.commit(generation).await?;
    Ok(json_response(
        StatusCode::OK,
        &SuccessJson { success: true },
    ))
}

/// What `POST` and `DELETE /_emulator/installs` act on: an integration with all its workflows
/// (`integrationId` alone), one of its workflows (both), or one workflow (`workflowId` alone).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InstallBody {
    environment: String,
    #[serde(rename = "userId")]
    user_id: String,
    #[serde(rename = "integrationId", default)]
    integration_id: Option<String>,
    #[serde(rename = "workflowId", default)]
    workflow_id: Option<String>,
}

async fn change_install(app: &App, body: &Bytes, install: bool) -> Result<Response, ApiError> {
    let body: InstallBody = parse_body(body)?;
    let env = environment(&body.environment)?;
    let (user_id, def, generation) = {
        let mut store = app.lock_store();
        let change = if install {
            store.install(
                env,
                &body.user_id,
                body.integration_id.as_deref(),
                body.workflow_id.as_deref(),
            )
        } else {
            store.uninstall(
                env,
                &body.user_id,
                body.integration_id.as_deref(),
                body.workflow_id.as_deref(),
            )
        };
        change?
    };
    app.commit(generation).await?;
    // Answer with the integration as that user now sees it.
    Ok(integration_response(app, env, &user_id, def))
}

async fn install(State(app): State<Arc<App>>, body: Bytes) -> Result<Response, ApiError> {
    change_install(&app, &body, true).await
}

async fn uninstall(State(app): State<Arc<App>>, body: Bytes) -> Result<Response, ApiError> {
    change_install(&app, &body, false).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishBody {
    /// Whether this version changes the workflow's configurable fields: upgrading across it is
    /// then refused and the user must reinstall.
    #[serde(default)]
    incompatible: bool,
}

/// `POST /_emulator/workflows/{id}/versions`: publish the workflow's next version, account-wide.
/// Users stay on the version they have; `GET /integrations` shows the new one as `version`.
async fn publish_version(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    #[derive(Serialize)]
    struct Published<'a> {
        #[serde(rename = "workflowId")]
        workflow_id: &'a str,
        version: u32,
    }
    let body: PublishBody = parse_body(&body)?;
    let (version, generation) = app.lock_store().publish_version(&id, body.incompatible)?;
    app.commit(generation).await?;
    Ok(json_response(
        StatusCode::OK,
        &Published {
            workflow_id: &id,
            version,
        },
    ))
}

/// `GET /_emulator/workflows/{id}/installs?environment=`: the truth an audit compares a
/// Terraform state with, sorted by user id, without going through the API.
async fn workflow_installs(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Install<'a> {
        user_id: &'a str,
        username: &'a str,
        active: bool,
        installed_version: u32,
        installed_at: String,
    }
    let name = query_param(query.as_deref(), "environment").ok_or_else(|| {
        ApiError::bad_request("environment query parameter is required (development or production)")
    })?;
    let env = environment(&name)?;
    let (i, w) = store::workflow(&id)?;
    let store = app.lock_store();
    let mut data: Vec<Install<'_>> = store
        .env(env)
        .installs_of_workflow(i, w)
        .map(|(u, install)| Install {
            user_id: &u.id,
            username: &u.username,
            active: install.active,
            installed_version: install.installed_version,
            installed_at: install.installed_at_rfc3339(),
        })
        .collect();
    data.sort_unstable_by(|a, b| a.user_id.cmp(b.user_id));
    Ok(json_response(StatusCode::OK, &DataJson { data }))
}

async fn requests(
    State(app): State<Arc<App>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let tail = match query_param(query.as_deref(), "tail") {
        None => None,
        Some(n) => Some(n.parse::<usize>().map_err(|_| {
            ApiError::bad_request(format!("tail must be a whole number, got {n:?}"))
        })?),
    };
    let bytes = app
        .log
        .to_json(tail)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(json_bytes(StatusCode::OK, bytes))
}

async fn clear_requests(State(app): State<Arc<App>>) -> Response {
    app.log.clear();
    json_response(StatusCode::OK, &SuccessJson { success: true })
}

async fn tokens(State(app): State<Arc<App>>) -> Response {
    let tokens = app.tokens_json();
    json_bytes(StatusCode::OK, tokens)
}
