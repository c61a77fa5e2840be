//! The emulator's side of the wire: the JSON bodies it reads and writes, and the error answer.
//!
//! These types are the emulator's own, written from the documented field names. They are
//! deliberately not shared with the API client in `crate::alloy`, so a misreading of the API on
//! either side shows up as a failing test instead of hiding in a common struct.

use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::catalogue::{IntegrationDef, icon_url};
use super::store::{IntegrationInstall, StoreError, User, Versions, WorkflowInstall};

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
            StoreError::UnknownUser(u) => {
                ApiError::new(StatusCode::NOT_FOUND, format!("User {u} not found"))
            }
            StoreError::UnknownWorkflow(w) => {
                ApiError::new(StatusCode::NOT_FOUND, format!("Workflow {w} not found"))
            }
            StoreError::NotInstalled { workflow, user_id } => ApiError::new(
                StatusCode::NOT_FOUND,
                format!("Workflow {workflow} is not installed for user {user_id}"),
            ),
            StoreError::UnknownCredential(c) => {
                ApiError::new(StatusCode::NOT_FOUND, format!("Credential {c} not found"))
            }
            StoreError::Incompatible {
                workflow,
                version,
                user_id,
            } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "Workflow {workflow} version {version} changed its configurable fields: user \
                     {user_id} must reinstall it; nothing was upgraded"
                ),
            ),
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

#[derive(Serialize)]
pub(crate) struct UserJson<'a> {
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
pub(crate) struct DataJson<T> {
    pub data: T,
}

#[derive(Serialize)]
pub(crate) struct SuccessJson {
    pub success: bool,
}

/// The answer to `POST /users`: only the new id.
#[derive(Serialize)]
pub(crate) struct CreatedJson<'a> {
    #[serde(rename = "userId")]
    pub user_id: &'a str,
}

/// The answer to `POST /users/batch`: no ids, only the items that were skipped.
#[derive(Serialize)]
pub(crate) struct BatchJson {
    pub message: &'static str,
    #[serde(rename = "invalidUsers")]
    pub invalid_users: Vec<Value>,
}

/// The answer to `GET /users/{id}/token`.
#[derive(Serialize)]
pub(crate) struct TokenJson<'a> {
    pub token: &'a str,
}

/// One user of a workflow in `GET /workflows/{id}/users`.
#[derive(Serialize)]
pub(crate) struct WorkflowUserJson<'a> {
    username: &'a str,
    #[serde(rename = "fullName")]
    full_name: Option<&'a str>,
    #[serde(rename = "userId")]
    user_id: &'a str,
    #[serde(rename = "workflowActive")]
    workflow_active: bool,
    #[serde(rename = "installedVersion")]
    installed_version: u32,
    #[serde(rename = "installedAt")]
    installed_at: String,
}

impl<'a> WorkflowUserJson<'a> {
    pub(crate) fn new(u: &'a User, i: &WorkflowInstall) -> WorkflowUserJson<'a> {
        WorkflowUserJson {
            username: &u.username,
            full_name: u.full_name.as_deref(),
            user_id: &u.id,
            workflow_active: i.active,
            installed_version: i.installed_version,
            installed_at: i.installed_at_rfc3339(),
        }
    }
}

/// The answer to `PUT /workflows/activate|deactivate`, and with `installedVersion` to
/// `PUT /workflows/{id}/upgrade`.
#[derive(Serialize)]
pub(crate) struct ActivatedJson {
    pub activated: bool,
    #[serde(rename = "installedVersion", skip_serializing_if = "Option::is_none")]
    pub installed_version: Option<u32>,
}

/// The answer to `DELETE /workflows/{id}?userId=`.
#[derive(Serialize)]
pub(crate) struct DeletedJson {
    pub deleted: bool,
}

/// The body of `PUT /workflows/activate|deactivate`. Non-string values are refused by parsing;
/// missing and empty ones by the handler, which names the field.
#[derive(Deserialize)]
pub(crate) struct ActivationBody {
    #[serde(rename = "userId")]
    pub user_id: Option<String>,
    #[serde(rename = "workflowId")]
    pub workflow_id: Option<String>,
    #[serde(rename = "workflowName")]
    pub workflow_name: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct CreateUserBody {
    pub username: Option<String>,
    #[serde(rename = "fullName")]
    pub full_name: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct BatchBody {
    pub users: Vec<Value>,
}

#[derive(Deserialize)]
pub(crate) struct UpdateUserBody {
    pub username: Option<String>,
    /// Absent: unchanged; `null`: cleared; a string: set.
    #[serde(rename = "fullName", default, deserialize_with = "present")]
    pub full_name: Option<Option<String>>,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IntegrationJson<'a> {
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

/// An integration as one user sees it: `installed`, and each workflow's `installed`, `active` and
/// `installedVersion`, from that user's installs; each workflow's `version` is its latest.
pub(crate) fn render_integration(
    def: &'static IntegrationDef,
    installed_workflows: Option<&IntegrationInstall>,
    versions: &Versions,
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
                let mine = installed_workflows.and_then(|s| s.get(w.id));
                WorkflowJson {
                    workflow_id: w.id,
                    name: w.name,
                    installed: mine.is_some(),
                    active: mine.is_some_and(|i| i.active),
                    version: versions.latest(w),
                    installed_version: mine.map(|i| i.installed_version),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::catalogue;

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
        let versions = Versions::default();
        let v = serde_json::to_value(render_integration(def, None, &versions)).unwrap();
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

        let install = WorkflowInstall {
            active: true,
            installed_version: def.workflows[0].version,
            installed_at: crate::store::now(),
        };
        let one: IntegrationInstall = [(def.workflows[0].id, install)].into();
        let v = serde_json::to_value(render_integration(def, Some(&one), &versions)).unwrap();
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
    fn workflow_user_json_field_names() {
        let u = User {
            id: "0123456789abcdef01234567".into(),
            username: "jane@example.com".into(),
            full_name: None,
        };
        let at = time::macros::datetime!(2025-09-01 12:00:00.125 UTC);
        let i = WorkflowInstall {
            active: false,
            installed_version: 4,
            installed_at: at,
        };
        let v = serde_json::to_value(WorkflowUserJson::new(&u, &i)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"username": "jane@example.com", "fullName": null,
                "userId": "0123456789abcdef01234567", "workflowActive": false,
                "installedVersion": 4, "installedAt": "2025-09-01T12:00:00.125Z"})
        );
        let v = serde_json::to_value(ActivatedJson {
            activated: true,
            installed_version: None,
        })
        .unwrap();
        assert_eq!(v, serde_json::json!({"activated": true}));
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
