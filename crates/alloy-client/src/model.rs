//! What the Alloy Embedded API sends and receives, with the documented field names.
//!
//! Decoding is tolerant on purpose: the public documentation shows several shapes of the same
//! objects across API versions, so unknown fields are ignored, and optional fields that are
//! absent or `null` become `None` (or `false` / empty for `installed`, `active`, `credentials`,
//! `workflows`). Only what the provider cannot work without is required: `userId`,
//! `integrationId`, `workflowId`, the `data` wrappers and the `token`. A value of the wrong JSON
//! type is a decode error rather than silently dropped, so a changed API is noticed.
//!
//! No `#[serde(flatten)]` or untagged enums: the crate's `serde_json` uses
//! `arbitrary_precision`, which those constructs break for numbers.

use serde::{Deserialize, Deserializer, Serialize};

/// The result of [`AlloyClient::create_user`](super::AlloyClient::create_user).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Created {
    pub user_id: String,
    /// `Some` when the create's outcome was unknown (lost answer, timeout, 5xx) and the user was
    /// then found by username; it holds the user as that lookup returned it. Most likely our own
    /// earlier attempt, but it could also be a user someone else created with the same username
    /// in the meantime. `None` after a plain success: Alloy then answers only the `userId`.
    pub adopted: Option<User>,
}

/// An Embedded user. `username` may be absent on list items; `fullName` when never set.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub user_id: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub full_name: Option<String>,
}

/// An integration as seen by one user, the union of the documented shapes.
///
/// `installed` is a plain `bool`: absent or `null` reads as `false`, because the provider can only
/// claim an installation the API reports. `installed_version` is set only when installed.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Integration {
    pub integration_id: String,
    /// Display name, e.g. "Magento" (also accepted in place of the id by the get endpoint).
    #[serde(default)]
    pub app: Option<String>,
    #[serde(default)]
    pub primary_connector: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub installed: bool,
    #[serde(default)]
    pub installed_version: Option<i64>,
    #[serde(default)]
    pub icon: Option<String>,
    /// Credential ids or app names the integration needs.
    #[serde(default, deserialize_with = "null_as_default")]
    pub credentials: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub workflows: Vec<Workflow>,
}

/// A workflow of an integration. Step details (`connectors`, `blocks`) are not kept.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Workflow {
    pub workflow_id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub installed: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub active: bool,
    #[serde(default)]
    pub version: Option<i64>,
    #[serde(default)]
    pub installed_version: Option<i64>,
}

/// One user of a workflow, an item of `GET /workflows/{workflowId}/users`: that user's install
/// of the workflow. Only `userId` is required; `username` reads as empty when absent or `null`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowUser {
    pub user_id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub username: String,
    #[serde(default)]
    pub full_name: Option<String>,
    /// `workflowActive`: whether the workflow runs for this user.
    #[serde(
        rename = "workflowActive",
        default,
        deserialize_with = "null_as_default"
    )]
    pub active: bool,
    #[serde(default)]
    pub installed_version: Option<i64>,
    /// When the user installed it, as the API wrote it (RFC 3339).
    #[serde(default)]
    pub installed_at: Option<String>,
}

/// The result of [`AlloyClient::upgrade_workflow`](super::AlloyClient::upgrade_workflow).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpgradeOutcome {
    /// The user's installed version after the call, when the answer or the read-back said it.
    pub installed_version: Option<i64>,
    /// Whether the workflow is active for the user, when the answer or the read-back said it.
    pub active: Option<bool>,
    /// `true` when the upgrade's outcome was unknown (lost answer, 5xx, unreadable body) and a
    /// read-back of the user's workflow showed it at the latest version: the upgrade is done and
    /// was not sent again.
    pub read_back: bool,
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

// ---- request bodies ----

/// `POST /users`. `fullName` is left out rather than sent as null when not given.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateUserBody<'a> {
    pub username: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_name: Option<&'a str>,
}

/// `PUT /users/{id}`. Always carries `fullName`: `null` clears it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdateUserBody<'a> {
    pub full_name: Option<&'a str>,
}

/// `PUT /workflows/activate` and `PUT /workflows/deactivate`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ActivationBody<'a> {
    pub user_id: &'a str,
    pub workflow_id: &'a str,
}

// ---- response bodies ----

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreatedBody {
    pub user_id: String,
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub(crate) struct ListBody<T> {
    #[serde(deserialize_with = "null_as_default")]
    pub data: Vec<T>,
}

#[derive(Deserialize)]
pub(crate) struct OneBody<T> {
    pub data: T,
}

#[derive(Deserialize)]
pub(crate) struct TokenBody {
    pub token: String,
}

#[derive(Deserialize)]
pub(crate) struct DeleteBody {
    #[serde(default)]
    pub success: Option<bool>,
}

/// The answer to activate, deactivate and upgrade. Every field is optional: what matters is the
/// status, and what the body says is used when it says it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WorkflowWriteBody {
    #[serde(default)]
    pub activated: Option<bool>,
    #[serde(default)]
    pub installed_version: Option<i64>,
}

/// The answer to `DELETE /workflows/{id}?userId=`.
#[derive(Deserialize)]
pub(crate) struct UninstalledBody {
    #[serde(default)]
    pub deleted: Option<bool>,
}

/// Extracts the human-readable message of an error body: `{"message": "..."}` as documented,
/// tolerating a list of messages or an `error` string instead. Anything else gives `None`.
pub(crate) fn error_message(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let obj = value.as_object()?;
    let text = |v: &serde_json::Value| -> Option<String> {
        match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Array(items) => {
                let parts: Vec<&str> = items.iter().filter_map(|i| i.as_str()).collect();
                (!parts.is_empty()).then(|| parts.join("; "))
            }
            _ => None,
        }
    };
    obj.get("message")
        .and_then(text)
        .or_else(|| obj.get("error").and_then(text))
        .filter(|m| !m.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_decodes_documented_sample() {
        let u: User = serde_json::from_str(
            r#"{"userId":"6323d7c9122ae69742a5d0a2","fullName":"Jane Doe","username":"jane@example.com"}"#,
        )
        .unwrap();
        assert_eq!(u.user_id, "6323d7c9122ae69742a5d0a2");
        assert_eq!(u.username.as_deref(), Some("jane@example.com"));
        assert_eq!(u.full_name.as_deref(), Some("Jane Doe"));
    }

    #[test]
    fn list_item_without_username_and_with_unknown_fields() {
        let l: ListBody<User> = serde_json::from_str(
            r#"{"data":[{"userId":"a","fullName":"A"},{"userId":"b","username":"bob","fullName":null,"createdAt":"2024-01-01","extra":{"n":1.5}}]}"#,
        )
        .unwrap();
        assert_eq!(l.data.len(), 2);
        assert_eq!(l.data[0].username, None);
        assert_eq!(l.data[1].full_name, None);
        assert_eq!(l.data[1].username.as_deref(), Some("bob"));
    }

    #[test]
    fn user_without_user_id_is_an_error() {
        let r: Result<User, _> = serde_json::from_str(r#"{"username":"x"}"#);
        let e = r.unwrap_err().to_string();
        assert!(e.contains("userId"), "{e}");
    }

    #[test]
    fn integration_decodes_2025_shape() {
        let body = r#"{"data": [{
          "integrationId": "64b7e0b1c2d3e4f5a6b7c8d9", "description": "", "primaryConnector": "Shopify",
          "installed": true, "installedVersion": 3, "icon": "https://icons.example/shopify.svg",
          "credentials": ["PA_Sn1sp8Of8p5JICNiJ", "shopify"],
          "workflows": [{"workflowId": "64b7e0b1c2d3e4f5a6b7c8da", "name": "Sync orders",
            "installed": true, "active": false, "version": 4, "installedVersion": 3,
            "connectors": [{"name": "Shopify", "id": "u-u-i-d", "connector": "shopify",
                            "icon": "https://icons.example/s.svg", "subtitle": "step"}]}]}]}"#;
        let l: ListBody<Integration> = serde_json::from_str(body).unwrap();
        let i = &l.data[0];
        assert_eq!(i.integration_id, "64b7e0b1c2d3e4f5a6b7c8d9");
        assert_eq!(i.app, None);
        assert_eq!(i.primary_connector.as_deref(), Some("Shopify"));
        assert_eq!(i.description.as_deref(), Some(""));
        assert!(i.installed);
        assert_eq!(i.installed_version, Some(3));
        assert_eq!(i.credentials, vec!["PA_Sn1sp8Of8p5JICNiJ", "shopify"]);
        let w = &i.workflows[0];
        assert_eq!(w.workflow_id, "64b7e0b1c2d3e4f5a6b7c8da");
        assert_eq!(w.name.as_deref(), Some("Sync orders"));
        assert!(w.installed && !w.active);
        assert_eq!(w.version, Some(4));
        assert_eq!(w.installed_version, Some(3));
    }

    #[test]
    fn integration_decodes_2024_shape_with_nulls_and_absences() {
        let body = r#"{"data": {"integrationId": "x1", "app": "Magento", "installed": null,
            "icon": null, "credentials": null,
            "workflows": [{"workflowId": "w1", "name": "Import", "installed": false,
              "active": null, "version": 1,
              "blocks": [{"name": "b", "id": "1", "type": "t", "icon": "i"}]}]}}"#;
        let o: OneBody<Integration> = serde_json::from_str(body).unwrap();
        let i = o.data;
        assert_eq!(i.app.as_deref(), Some("Magento"));
        assert!(!i.installed);
        assert_eq!(i.installed_version, None);
        assert_eq!(i.icon, None);
        assert!(i.credentials.is_empty());
        assert!(!i.workflows[0].active);
        assert_eq!(i.workflows[0].installed_version, None);
        assert_eq!(i.workflows[0].version, Some(1));

        let bare: Integration = serde_json::from_str(r#"{"integrationId":"y"}"#).unwrap();
        assert!(bare.workflows.is_empty() && !bare.installed && bare.app.is_none());
    }

    #[test]
    fn wrongly_typed_number_is_an_error_not_silence() {
        let r: Result<Integration, _> =
            serde_json::from_str(r#"{"integrationId":"y","installedVersion":"three"}"#);
        assert!(r.is_err());
    }

    #[test]
    fn request_bodies_use_documented_names() {
        let with = serde_json::to_string(&CreateUserBody {
            username: "jane@example.com",
            full_name: Some("Jane Doe"),
        })
        .unwrap();
        assert_eq!(
            with,
            r#"{"username":"jane@example.com","fullName":"Jane Doe"}"#
        );
        let without = serde_json::to_string(&CreateUserBody {
            username: "j",
            full_name: None,
        })
        .unwrap();
        assert_eq!(without, r#"{"username":"j"}"#);
        let upd = serde_json::to_string(&UpdateUserBody {
            full_name: Some("J"),
        })
        .unwrap();
        assert_eq!(upd, r#"{"fullName":"J"}"#);
        let clear = serde_json::to_string(&UpdateUserBody { full_name: None }).unwrap();
        assert_eq!(clear, r#"{"fullName":null}"#);
    }

    #[test]
    fn small_bodies() {
        let c: CreatedBody =
            serde_json::from_str(r#"{"userId":"68c3229752345278627ae373"}"#).unwrap();
        assert_eq!(c.user_id, "68c3229752345278627ae373");
        let t: TokenBody = serde_json::from_str(r#"{"token":"a.b.c"}"#).unwrap();
        assert_eq!(t.token, "a.b.c");
        let d: DeleteBody = serde_json::from_str(r#"{"success":true}"#).unwrap();
        assert_eq!(d.success, Some(true));
        let d: DeleteBody = serde_json::from_str(r#"{}"#).unwrap();
        assert_eq!(d.success, None);
        assert!(serde_json::from_str::<CreatedBody>(r#"{"id":"x"}"#).is_err());
        assert!(serde_json::from_str::<CreatedBody>(r#"{"userId":"x""#).is_err());
    }

    #[test]
    fn workflow_users_decode_the_contract_and_tolerate_gaps() {
        let body = r#"{"data":[
          {"username":"jane","fullName":"Jane","userId":"u1","workflowActive":true,
           "installedVersion":3,"installedAt":"2025-01-02T03:04:05Z","extra":1},
          {"userId":"u2","username":null,"fullName":null,"workflowActive":null},
          {"userId":"u3"}]}"#;
        let l: ListBody<WorkflowUser> = serde_json::from_str(body).unwrap();
        assert_eq!(
            l.data[0],
            WorkflowUser {
                user_id: "u1".into(),
                username: "jane".into(),
                full_name: Some("Jane".into()),
                active: true,
                installed_version: Some(3),
                installed_at: Some("2025-01-02T03:04:05Z".into()),
            }
        );
        for w in &l.data[1..] {
            assert!(w.username.is_empty() && w.full_name.is_none() && !w.active);
            assert_eq!(
                (w.installed_version, w.installed_at.as_deref()),
                (None, None)
            );
        }
        assert!(serde_json::from_str::<WorkflowUser>(r#"{"username":"x"}"#).is_err());
        assert!(
            serde_json::from_str::<WorkflowUser>(r#"{"userId":"x","workflowActive":"yes"}"#)
                .is_err()
        );
    }

    #[test]
    fn workflow_write_bodies() {
        let b = serde_json::to_string(&ActivationBody {
            user_id: "jane@x.com",
            workflow_id: "w1",
        })
        .unwrap();
        assert_eq!(b, r#"{"userId":"jane@x.com","workflowId":"w1"}"#);
        let w: WorkflowWriteBody =
            serde_json::from_str(r#"{"activated":true,"installedVersion":4}"#).unwrap();
        assert_eq!((w.activated, w.installed_version), (Some(true), Some(4)));
        let w: WorkflowWriteBody = serde_json::from_str(r#"{"activated":false}"#).unwrap();
        assert_eq!((w.activated, w.installed_version), (Some(false), None));
        let d: UninstalledBody = serde_json::from_str(r#"{"deleted":true}"#).unwrap();
        assert_eq!(d.deleted, Some(true));
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            error_message(br#"{"message":"User not found"}"#).as_deref(),
            Some("User not found")
        );
        assert_eq!(
            error_message(br#"{"message":["username must be a string","x"]}"#).as_deref(),
            Some("username must be a string; x")
        );
        assert_eq!(
            error_message(br#"{"error":"Bad Request"}"#).as_deref(),
            Some("Bad Request")
        );
        assert_eq!(error_message(b"<html>502 Bad Gateway</html>"), None);
        assert_eq!(error_message(b""), None);
        assert_eq!(error_message(br#"{"message":"  "}"#), None);
        assert_eq!(error_message(br#"{"message":42}"#), None);
    }
}
