//! The credential, credential-metadata and log routes (API and admin); the data is in
//! `tenant.rs`.
//!
//! Paths follow the 2025-09 docs; the other spellings Alloy's clients use for the same
//! operations are served too (`GET /users/{id}/credentials`,
//! `DELETE /credentials/{credentialId}/users/{id}`, `DELETE /workflows/logs?userId=`), so a
//! client pinned to either reading works. Where the docs give no status the emulator's choice
//! is tabled in the local emulator guide: a malformed body, an unknown credential type, an OAuth
//! type and a missing required property are 400s (checked in that order, before the user); an
//! unknown user and a credential that is not the user's are 404s.
//!
//! No answer, admin answer or error message carries a credential value: the create body is read
//! as loose JSON and checked field by field, so a parse error cannot quote a value back either.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{delete, get, post};
use serde::Serialize;
use serde_json::Value;

use super::App;
use super::store::{self, Environment};
use super::tenant::{
    Credential, CredentialTypeDef, LogEntry, credential_types, find_credential_type,
};
use super::wire::{ApiError, DataJson, json_response, parse_body, query_param};

type Env = Extension<Environment>;

/// The API routes of this file, added to the API router before its gate.
pub(crate) fn api(router: Router<Arc<App>>) -> Router<Arc<App>> {
    router
        .route("/headless/credentials", post(create_credential))
        .route("/credentials/users/{id}", get(list_credentials))
        .route("/users/{id}/credentials", get(list_credentials))
        .route(
            "/users/{id}/credentials/{credential}",
            delete(delete_credential),
        )
        .route(
            "/credentials/{credential}/users/{id}",
            delete(delete_credential_alt),
        )
        .route("/metadata/credentials", get(list_types))
        .route("/metadata/credentials/{name}", get(get_type))
        .route("/workflows/{id}/logs", get(workflow_logs))
        .route("/users/{id}/logs", delete(purge_logs))
        .route("/workflows/logs", delete(purge_logs_by_query))
}

/// The admin routes of this file.
pub(crate) fn admin(router: Router<Arc<App>>) -> Router<Arc<App>> {
    router
        .route("/_emulator/credentials", get(admin_credentials))
        .route("/_emulator/logs", get(admin_logs).post(admin_add_logs))
}

// ---- Wire ----------------------------------------------------------------------------------

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CredentialCreatedJson<'a> {
    success: bool,
    credential_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CredentialJson<'a> {
    credential_id: &'a str,
    #[serde(rename = "type")]
    connector: &'a str,
    name: &'a str,
    created_at: String,
    /// Credentials cannot be updated, so it is always the creation time.
    updated_at: String,
}

impl<'a> From<&'a Credential> for CredentialJson<'a> {
    fn from(c: &'a Credential) -> Self {
        let at = rfc3339(c.created_at);
        CredentialJson {
            credential_id: &c.id,
            connector: c.connector,
            name: &c.name,
            created_at: at.clone(),
            updated_at: at,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PropertyJson {
    name: &'static str,
    display_name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'static str>,
    required: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CredentialTypeJson {
    connector: &'static str,
    display_name: &'static str,
    icon: String,
    is_oauth: bool,
    properties: Vec<PropertyJson>,
}

impl From<&'static CredentialTypeDef> for CredentialTypeJson {
    fn from(t: &'static CredentialTypeDef) -> Self {
        CredentialTypeJson {
            connector: t.connector,
            display_name: t.display_name,
            icon: super::catalogue::icon_url(t.connector),
            is_oauth: t.is_oauth,
            properties: t
                .properties
                .iter()
                .map(|p| PropertyJson {
                    name: p.name,
                    display_name: p.display_name,
                    description: p.description,
                    required: p.required,
                })
                .collect(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LogJson<'a> {
    execution_id: &'a str,
    workflow_id: &'a str,
    user_id: &'a str,
    status: &'a str,
    started_at: String,
}

impl<'a> From<&'a LogEntry> for LogJson<'a> {
    fn from(l: &'a LogEntry) -> Self {
        LogJson {
            execution_id: &l.execution_id,
            workflow_id: &l.workflow_id,
            user_id: &l.user_id,
            status: &l.status,
            started_at: rfc3339(l.started_at),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PaginationJson {
    total_items: usize,
    total_pages: usize,
    current_page: usize,
    page_size: usize,
}

#[derive(Serialize)]
struct LogsJson<'a> {
    data: Vec<LogJson<'a>>,
    pagination: PaginationJson,
}

#[derive(Serialize)]
struct MessageJson {
    message: &'static str,
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

// ---- API handlers --------------------------------------------------------------------------

/// The create body, checked field by field without ever quoting a value of `credential.data`.
fn read_create_body(body: &Bytes) -> Result<(String, String, BTreeMap<String, String>), ApiError> {
    let body: Value = parse_body(body)?;
    let user = body
        .get("userId")
        .and_then(Value::as_str)
        .filter(|u| !u.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("userId is required (a string)"))?;
    let credential = body
        .get("credential")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::bad_request("credential is required: an object {type, data}"))?;
    let connector = credential
        .get("type")
        .and_then(Value::as_str)
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("credential.type is required (a string)"))?;
    let raw = credential
        .get("data")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            ApiError::bad_request("credential.data is required: an object of strings")
        })?;
    let mut data = BTreeMap::new();
    for (k, v) in raw {
        let Some(v) = v.as_str() else {
            return Err(ApiError::bad_request(format!(
                "credential.data.{k} must be a string"
            )));
        };
        data.insert(k.clone(), v.to_owned());
    }
    Ok((user.to_owned(), connector.to_owned(), data))
}

/// `POST /headless/credentials`: `{"success": true, "credentialId": ...}`.
async fn create_credential(
    State(app): State<Arc<App>>,
    Extension(env): Env,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (user, connector, data) = read_create_body(&body)?;
    let (id, generation) = app
        .lock_store()
        .create_credential(env, &user, &connector, data)?;
    app.commit(generation).await?;
    Ok(json_response(
        StatusCode::OK,
        &CredentialCreatedJson {
            success: true,
            credential_id: &id,
        },
    ))
}

/// `GET /credentials/users/{id}` (and `GET /users/{id}/credentials`): the user's credentials in
/// creation order, without their data.
async fn list_credentials(
    State(app): State<Arc<App>>,
    Extension(env): Env,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let store = app.lock_store();
    let data: Vec<CredentialJson<'_>> = store
        .list_credentials(env, &id)?
        .iter()
        .map(CredentialJson::from)
        .collect();
    Ok(json_response(StatusCode::OK, &DataJson { data }))
}

async fn remove_credential(
    app: &App,
    env: Environment,
    user: &str,
    credential: &str,
) -> Result<Response, ApiError> {
    let generation = app.lock_store().delete_credential(env, user, credential)?;
    app.commit(generation).await?;
    Ok(json_response(
        StatusCode::OK,
        &super::wire::SuccessJson { success: true },
    ))
}

/// `DELETE /users/{id}/credentials/{credentialId}`: `{"success": true}`.
async fn delete_credential(
    State(app): State<Arc<App>>,
    Extension(env): Env,
    Path((user, credential)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    remove_credential(&app, env, &user, &credential).await
}

/// `DELETE /credentials/{credentialId}/users/{id}`: the same.
async fn delete_credential_alt(
    State(app): State<Arc<App>>,
    Extension(env): Env,
    Path((credential, user)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    remove_credential(&app, env, &user, &credential).await
}

/// `GET /metadata/credentials`: every credential type of the account.
async fn list_types() -> Response {
    let data: Vec<CredentialTypeJson> = credential_types().iter().map(Into::into).collect();
    json_response(StatusCode::OK, &DataJson { data })
}

/// `GET /metadata/credentials/{name}`: `{"data": [type]}` (the list's shape, one entry), or a
/// 404 for a type the account does not have.
async fn get_type(Path(name): Path<String>) -> Result<Response, ApiError> {
    let t = find_credential_type(&name).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("Credential type {name:?} not found"),
        )
    })?;
    Ok(json_response(
        StatusCode::OK,
        &DataJson {
            data: [CredentialTypeJson::from(t)],
        },
    ))
}

/// Most entries one page of logs holds, as documented.
const MAX_LOG_PAGE: usize = 30;
const DEFAULT_LOG_PAGE: usize = 10;

fn whole(query: Option<&str>, name: &str, default: usize, max: usize) -> Result<usize, ApiError> {
    match query_param(query, name) {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "{name} must be a whole number from 1 to {max}, got {v:?}"
                ))
            }),
    }
}

/// `GET /workflows/{id}/logs?userId=&page=&limit=&order=`: the workflow's runs, newest first
/// unless `order=asc`, of one user or (without `userId`) of every user, deleted users included.
/// 404 for a workflow of no integration or an unknown user.
async fn workflow_logs(
    State(app): State<Arc<App>>,
    Extension(env): Env,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let q = query.as_deref();
    let (_, w) = store::workflow(&id)?;
    let page = whole(q, "page", 1, usize::MAX)?;
    let limit = whole(q, "limit", DEFAULT_LOG_PAGE, MAX_LOG_PAGE)?;
    let descending = match query_param(q, "order").as_deref() {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "order must be asc or desc, got {other:?}"
            )));
        }
    };
    let user = query_param(q, "userId").filter(|u| !u.is_empty());
    let store = app.lock_store();
    let user_id = match &user {
        None => None,
        Some(u) => Some(
            store
                .env(env)
                .get(u)
                .ok_or_else(|| store::StoreError::UnknownUser(u.clone()))?
                .id
                .clone(),
        ),
    };
    let mut all = store
        .env(env)
        .tenant
        .logs_of_workflow(w.id, user_id.as_deref());
    if descending {
        all.reverse();
    }
    let total = all.len();
    let data = all
        .into_iter()
        .skip((page - 1).saturating_mul(limit))
        .take(limit)
        .map(LogJson::from)
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &LogsJson {
            data,
            pagination: PaginationJson {
                total_items: total,
                total_pages: total.div_ceil(limit),
                current_page: page,
                page_size: limit,
            },
        },
    ))
}

async fn purge(app: &App, env: Environment, user: &str) -> Result<Response, ApiError> {
    let (_, generation) = app.lock_store().purge_logs(env, user)?;
    app.commit(generation).await?;
    Ok(json_response(
        StatusCode::OK,
        &MessageJson { message: "Success" },
    ))
}

/// `DELETE /users/{id}/logs`: every log of the user, irreversibly; `{"message": "Success"}`,
/// also when there was none. The docs also list a `userId` query parameter: the path wins.
async fn purge_logs(
    State(app): State<Arc<App>>,
    Extension(env): Env,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    purge(&app, env, &id).await
}

/// `DELETE /workflows/logs?userId=`: the same.
async fn purge_logs_by_query(
    State(app): State<Arc<App>>,
    Extension(env): Env,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let user = query_param(query.as_deref(), "userId")
        .filter(|u| !u.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("userId query parameter is required"))?;
    purge(&app, env, &user).await
}

// ---- Admin handlers ------------------------------------------------------------------------

fn admin_environment(query: Option<&str>) -> Result<Environment, ApiError> {
    let name = query_param(query, "environment").ok_or_else(|| {
        ApiError::bad_request("environment query parameter is required (development or production)")
    })?;
    Environment::parse(&name).ok_or_else(|| {
        ApiError::bad_request(format!(
            "unknown environment {name:?}: expected development or production"
        ))
    })
}

/// `GET /_emulator/credentials?environment=`: every stored credential, of deleted users too,
/// with a SHA-256 of its data (canonical JSON, keys sorted) in place of the data.
async fn admin_credentials(
    State(app): State<Arc<App>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Row<'a> {
        credential_id: &'a str,
        user_id: &'a str,
        user_exists: bool,
        #[serde(rename = "type")]
        connector: &'a str,
        name: &'a str,
        created_at: String,
        properties: Vec<String>,
        data_sha256: String,
    }
    let env = admin_environment(query.as_deref())?;
    let store = app.lock_store();
    let e = store.env(env);
    let data: Vec<Row<'_>> = e
        .tenant
        .all_credentials()
        .into_iter()
        .map(|c| Row {
            credential_id: &c.id,
            user_id: &c.user_id,
            user_exists: e.get(&c.user_id).is_some_and(|u| u.id == c.user_id),
            connector: c.connector,
            name: &c.name,
            created_at: rfc3339(c.created_at),
            properties: c.property_names(),
            data_sha256: c.data_sha256(),
        })
        .collect();
    Ok(json_response(StatusCode::OK, &DataJson { data }))
}

/// `GET /_emulator/logs?environment=[&userId=]`: log counts by user id (deleted users too), or
/// one user's count (0 when none; the user id need not exist any more).
async fn admin_logs(
    State(app): State<Arc<App>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Count<'a> {
        user_id: &'a str,
        count: usize,
    }
    let env = admin_environment(query.as_deref())?;
    let store = app.lock_store();
    let tenant = &store.env(env).tenant;
    match query_param(query.as_deref(), "userId") {
        Some(u) => {
            // A username of a live user is accepted too.
            let id = store.env(env).get(&u).map_or(u.clone(), |x| x.id.clone());
            let count = tenant.logs_of(&id).len();
            Ok(json_response(
                StatusCode::OK,
                &Count {
                    user_id: &id,
                    count,
                },
            ))
        }
        None => {
            let data: Vec<Count<'_>> = tenant
                .log_counts()
                .into_iter()
                .map(|(user_id, count)| Count { user_id, count })
                .collect();
            Ok(json_response(StatusCode::OK, &DataJson { data }))
        }
    }
}

/// Most entries one `POST /_emulator/logs` adds.
const MAX_ADD_LOGS: usize = 10_000;

/// `POST /_emulator/logs` `{environment, userId, workflowId, count?, status?}`: record runs of
/// a workflow for a live user, as Alloy does when it runs; the user need not have installed it.
async fn admin_add_logs(State(app): State<Arc<App>>, body: Bytes) -> Result<Response, ApiError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct AddBody {
        environment: String,
        user_id: String,
        workflow_id: String,
        #[serde(default = "one")]
        count: usize,
        #[serde(default = "success")]
        status: String,
    }
    fn one() -> usize {
        1
    }
    fn success() -> String {
        "success".into()
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Added {
        user_id: String,
        added: usize,
    }
    let body: AddBody = parse_body(&body)?;
    let env = Environment::parse(&body.environment).ok_or_else(|| {
        ApiError::bad_request(format!(
            "unknown environment {:?}: expected development or production",
            body.environment
        ))
    })?;
    if body.count == 0 || body.count > MAX_ADD_LOGS {
        return Err(ApiError::bad_request(format!(
            "count must be between 1 and {MAX_ADD_LOGS}, got {}",
            body.count
        )));
    }
    let (user_id, generation) = app.lock_store().add_logs(
        env,
        &body.user_id,
        &body.workflow_id,
        body.count,
        &body.status,
    )?;
    app.commit(generation).await?;
    Ok(json_response(
        StatusCode::OK,
        &Added {
            user_id,
            added: body.count,
        },
    ))
}
