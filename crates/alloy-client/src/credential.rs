//! A tenant's stored credentials, the account's credential types, and the purge of a tenant's
//! logs.
//!
//! `POST /headless/credentials` is not idempotent and its answer carries only the new id, so a
//! create follows the write protocol (`write.rs`) with its own read-back: before the first
//! attempt the tenant's credentials are listed once (the baseline); when an attempt's outcome is
//! unknown they are listed again, and exactly one credential of that type that was not in the
//! baseline is adopted. None means the attempt took no effect (it is sent again); more than one
//! is [`Error::Ambiguous`] naming them, and nothing is sent again: one create never makes two
//! credentials.
//!
//! The credential data is secret: every value is registered with `secrets` (so log lines and
//! API messages are scrubbed of it) before anything is sent, [`Debug`] of anything here never
//! shows it, and no error quotes the request body.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::attempt::{Call, Reply};
use super::classify::{check_id, decode};
use super::client::{AlloyClient, json_body};
use super::error::Error;
use super::model::{DeleteBody, ListBody};
use super::write::{Accepted, Checked, Own};

const OP_CREATE: &str = "create credential";
const OP_LIST: &str = "list credentials";
const OP_DELETE: &str = "delete credential";
const OP_TYPES: &str = "list credential types";
const OP_TYPE: &str = "get credential type";
const OP_PURGE: &str = "purge user logs";

/// A credential stored for a user, as `GET /credentials/users/{id}` lists it (never its data).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credential {
    pub credential_id: String,
    /// The connector's credential type, e.g. `netsuite`.
    #[serde(rename = "type")]
    pub credential_type: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

/// The result of [`AlloyClient::create_credential`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatedCredential {
    pub credential_id: String,
    /// `Some` when the create's answer was lost and the credential was found by listing the
    /// user's credentials afterwards (the one new credential of that type).
    pub adopted: Option<Credential>,
}

/// One property a credential type asks for.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialProperty {
    pub name: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// `None` when the API does not say.
    #[serde(default)]
    pub required: Option<bool>,
}

/// A connector's credential type from `GET /metadata/credentials`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialType {
    /// The `type` to create credentials with (older docs call the field `name`).
    #[serde(alias = "name")]
    pub connector: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub icon: Option<String>,
    /// OAuth types need the end user's consent in Alloy's modal.
    #[serde(default)]
    pub is_oauth: bool,
    #[serde(default)]
    pub properties: Vec<CredentialProperty>,
}

#[derive(Serialize)]
struct CreateBody<'a> {
    #[serde(rename = "userId")]
    user_id: &'a str,
    credential: CredentialBody<'a>,
}

#[derive(Serialize)]
struct CredentialBody<'a> {
    #[serde(rename = "type")]
    credential_type: &'a str,
    data: &'a BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreatedBody {
    credential_id: String,
    #[serde(default)]
    success: Option<bool>,
}

impl AlloyClient {
    /// `POST /headless/credentials` for `user` (an id or a username). See the module comment for
    /// how a lost answer is resolved; the data values are registered as secrets first.
    pub async fn create_credential(
        &self,
        user: &str,
        credential_type: &str,
        data: &BTreeMap<String, String>,
    ) -> Result<CreatedCredential, Error> {
        self.create_credential_after(user, credential_type, data, None)
            .await
    }

    /// [`create_credential`](Self::create_credential) when the caller already knows the user's
    /// credential ids (`Some(baseline)`: a user it has just created has none), which saves the
    /// baseline list; `None` lists them first.
    pub async fn create_credential_after(
        &self,
        user: &str,
        credential_type: &str,
        data: &BTreeMap<String, String>,
        baseline: Option<BTreeSet<String>>,
    ) -> Result<CreatedCredential, Error> {
        let invalid = |message: &str| Error::InvalidArgument {
            op: OP_CREATE,
            message: message.to_owned(),
        };
        if credential_type.trim().is_empty() {
            return Err(invalid("the credential type is empty"));
        }
        if data.is_empty() {
            return Err(invalid("the credential data is empty"));
        }
        for v in data.values() {
            secrets::register(v);
        }
        let body = json_body(
            OP_CREATE,
            &CreateBody {
                user_id: user,
                credential: CredentialBody {
                    credential_type,
                    data,
                },
            },
        )?;
        let call = Call::new(
            OP_CREATE,
            Method::POST,
            "/headless/credentials",
            self.inner.endpoints.credentials(),
        )
        .with_body(body);
        // The baseline: what a read-back after a lost answer compares with.
        let before: BTreeSet<String> = match baseline {
            Some(known) => known,
            None => self
                .list_credentials(user)
                .await?
                .into_iter()
                .map(|c| c.credential_id)
                .collect(),
        };
        self.write_op(&CreateCredential {
            call,
            user,
            credential_type,
            before,
            client: self,
        })
        .await
    }

    /// `GET /credentials/users/{user}`: the user's credentials, without their data.
    /// [`Error::NotFound`] when the user does not exist.
    pub async fn list_credentials(&self, user: &str) -> Result<Vec<Credential>, Error> {
        let ctx = self.ctx(OP_LIST);
        self.guard(&ctx, async {
            let call = list_call(self, OP_LIST, user)?;
            let reply = self.run(&ctx, &call).await?;
            decode_list(&call, &reply)
        })
        .await
    }

    /// `DELETE /users/{user}/credentials/{id}`. Repeats harmlessly, so it is simply sent again
    /// after an attempt whose outcome is unknown, and a 404 then means that attempt deleted it.
    pub async fn delete_credential(&self, user: &str, credential_id: &str) -> Result<(), Error> {
        let url = self
            .inner
            .endpoints
            .user_credential(OP_DELETE, user, credential_id)?;
        let call = Call::new(
            OP_DELETE,
            Method::DELETE,
            "/users/{id}/credentials/{credentialId}",
            url,
        );
        self.write_op(&DeleteCredential {
            call,
            user,
            credential_id,
            client: self,
        })
        .await
    }

    /// `GET /metadata/credentials`: every credential type of the account.
    pub async fn credential_types(&self) -> Result<Vec<CredentialType>, Error> {
        let ctx = self.ctx(OP_TYPES);
        self.guard(&ctx, async {
            let url = self.inner.endpoints.credential_metadata(OP_TYPES, None)?;
            let call = Call::new(OP_TYPES, Method::GET, "/metadata/credentials", url);
            let reply = self.run(&ctx, &call).await?;
            let list: ListBody<CredentialType> = decode(&call, &reply)?;
            Ok(list.data)
        })
        .await
    }

    /// `GET /metadata/credentials/{name}`: one credential type. The answer may be the list's
    /// shape with one entry or `{"data": type}`; [`Error::NotFound`] for an unknown type.
    pub async fn credential_type(&self, name: &str) -> Result<CredentialType, Error> {
        let ctx = self.ctx(OP_TYPE);
        self.guard(&ctx, async {
            let url = self
                .inner
                .endpoints
                .credential_metadata(OP_TYPE, Some(name))?;
            let call = Call::new(OP_TYPE, Method::GET, "/metadata/credentials/{name}", url);
            let reply = self.run(&ctx, &call).await?;
            let found = match decode::<ListBody<CredentialType>>(&call, &reply) {
                Ok(list) => list.data.into_iter().find(|t| t.connector == name),
                Err(_) => {
                    let one: super::model::OneBody<CredentialType> = decode(&call, &reply)?;
                    Some(one.data)
                }
            };
            found.ok_or(Error::NotFound {
                op: OP_TYPE,
                message: Some(format!("the answer lists no credential type {name:?}")),
            })
        })
        .await
    }

    /// `DELETE /users/{user}/logs`: every log of the user, irreversibly. Idempotent, so sent
    /// again after an attempt whose outcome is unknown; any 2xx is done.
    pub async fn purge_logs(&self, user: &str) -> Result<(), Error> {
        let url = self.inner.endpoints.user_logs(OP_PURGE, user)?;
        let call = Call::new(OP_PURGE, Method::DELETE, "/users/{id}/logs", url);
        self.write_op(&PurgeLogs { call }).await
    }
}

fn list_call(client: &AlloyClient, op: &'static str, user: &str) -> Result<Call, Error> {
    let url = client.inner.endpoints.user_credentials(op, user)?;
    Ok(Call::new(op, Method::GET, "/credentials/users/{id}", url))
}

fn decode_list(call: &Call, reply: &Reply) -> Result<Vec<Credential>, Error> {
    let list: ListBody<Credential> = decode(call, reply)?;
    for c in &list.data {
        check_id(call, reply, &c.credential_id, "credentialId")?;
    }
    Ok(list.data)
}

/// `POST /headless/credentials`, read back by listing the user's credentials.
struct CreateCredential<'a> {
    call: Call,
    user: &'a str,
    credential_type: &'a str,
    /// The user's credential ids before the first attempt.
    before: BTreeSet<String>,
    client: &'a AlloyClient,
}

impl Checked for CreateCredential<'_> {
    type Output = CreatedCredential;
    const LOOK: &'static str = "listing the user's credentials";
    const NO_EFFECT: &'static str = "no new credential of this type was found afterwards";

    fn write(&self) -> &Call {
        &self.call
    }

    fn accepted(&self, reply: &Reply) -> Accepted<CreatedCredential> {
        match decode::<CreatedBody>(&self.call, reply) {
            Ok(b) if b.success == Some(false) => Accepted::Refused(Error::Decode {
                op: OP_CREATE,
                status: reply.status.as_u16(),
                detail: "the API answered \"success\": false".to_owned(),
            }),
            Ok(b) if b.credential_id.trim().is_empty() => Accepted::Unreadable(Error::Decode {
                op: OP_CREATE,
                status: reply.status.as_u16(),
                detail: "\"credentialId\" is empty".to_owned(),
            }),
            Ok(b) => Accepted::Done(CreatedCredential {
                credential_id: b.credential_id,
                adopted: None,
            }),
            Err(e) => Accepted::Unreadable(e),
        }
    }

    fn own(&self, _refusal: &Error) -> Own<CreatedCredential> {
        // No refusal says "already made": a repeated create would simply make another one,
        // which the read-back before any resend prevents.
        Own::No
    }

    fn look(&self) -> Result<Call, Error> {
        list_call(self.client, OP_CREATE, self.user)
    }

    fn effect(
        &self,
        look: &Call,
        answer: Result<Reply, Error>,
    ) -> Result<Option<CreatedCredential>, Error> {
        let list = decode_list(look, &answer?)?;
        let mut new: Vec<Credential> = list
            .into_iter()
            .filter(|c| c.credential_type == self.credential_type)
            .filter(|c| !self.before.contains(&c.credential_id))
            .collect();
        match new.len() {
            0 => Ok(None),
            1 => {
                let c = new.remove(0);
                Ok(Some(CreatedCredential {
                    credential_id: c.credential_id.clone(),
                    adopted: Some(c),
                }))
            }
            n => {
                let candidates: Vec<String> = new.into_iter().map(|c| c.credential_id).collect();
                Err(Error::Ambiguous {
                    op: OP_CREATE,
                    detail: format!(
                        "{n} new credentials of type {:?} appeared for user {} since the attempt \
                         ({}); none was adopted. Keep the one that is yours (import it) and \
                         delete the others",
                        self.credential_type,
                        self.user,
                        candidates.join(", ")
                    ),
                    candidates,
                })
            }
        }
    }
}

/// `DELETE /users/{id}/credentials/{credentialId}`.
struct DeleteCredential<'a> {
    call: Call,
    user: &'a str,
    credential_id: &'a str,
    client: &'a AlloyClient,
}

impl Checked for DeleteCredential<'_> {
    type Output = ();
    const LOOK: &'static str = "listing the user's credentials";
    const NO_EFFECT: &'static str = "the credential was still listed afterwards";

    fn write(&self) -> &Call {
        &self.call
    }

    fn resend_blind(&self) -> bool {
        true
    }

    fn accepted(&self, reply: &Reply) -> Accepted<()> {
        if reply.body.iter().all(u8::is_ascii_whitespace) {
            return Accepted::Done(());
        }
        match decode::<DeleteBody>(&self.call, reply) {
            Ok(body) if body.success == Some(false) => Accepted::Refused(Error::Decode {
                op: OP_DELETE,
                status: reply.status.as_u16(),
                detail: "the API answered \"success\": false".to_owned(),
            }),
            Ok(_) => Accepted::Done(()),
            Err(e) => Accepted::Unreadable(e),
        }
    }

    fn own(&self, refusal: &Error) -> Own<()> {
        if refusal.is_not_found() {
            Own::Done(())
        } else {
            Own::No
        }
    }

    fn look(&self) -> Result<Call, Error> {
        list_call(self.client, OP_DELETE, self.user)
    }

    fn effect(&self, look: &Call, answer: Result<Reply, Error>) -> Result<Option<()>, Error> {
        let list = decode_list(look, &answer?)?;
        Ok((!list.iter().any(|c| c.credential_id == self.credential_id)).then_some(()))
    }
}

/// `DELETE /users/{id}/logs`: idempotent, and no read can tell that it is done, so a 2xx is.
struct PurgeLogs {
    call: Call,
}

impl Checked for PurgeLogs {
    type Output = ();
    const LOOK: &'static str = "checking the purge";
    const NO_EFFECT: &'static str = "the purge cannot be checked by reading";

    fn write(&self) -> &Call {
        &self.call
    }

    fn resend_blind(&self) -> bool {
        true
    }

    fn accepted(&self, _reply: &Reply) -> Accepted<()> {
        Accepted::Done(())
    }

    fn look(&self) -> Result<Call, Error> {
        Err(Error::InvalidArgument {
            op: OP_PURGE,
            message: "no API call tells whether a user's logs are gone".to_owned(),
        })
    }

    fn effect(&self, _look: &Call, answer: Result<Reply, Error>) -> Result<Option<()>, Error> {
        answer.map(|_| None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::*;
    use alloy_emulator::{Faults, RunningEmulator};
    use serde_json::Value;
    use tokio_util::sync::CancellationToken;

    const SECRET: &str = "pw-Zq81-never-shown";

    fn header_auth(value: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("fieldName".to_owned(), "X-Api-Key".to_owned()),
            ("value".to_owned(), value.to_owned()),
        ])
    }

    async fn admin(
        emu: &RunningEmulator,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let mut rb = reqwest::Client::new().request(method, format!("{}{path}", emu.url()));
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        rb.send().await.unwrap().json().await.unwrap()
    }

    async fn truth(emu: &RunningEmulator) -> Vec<Value> {
        admin(
            emu,
            reqwest::Method::GET,
            "/_emulator/credentials?environment=development",
            None,
        )
        .await["data"]
            .as_array()
            .unwrap()
            .clone()
    }

    async fn posts(emu: &RunningEmulator) -> u64 {
        admin(emu, reqwest::Method::GET, "/_emulator/requests", None).await["by_route"]
            ["POST /headless/credentials"]
            .as_u64()
            .unwrap_or(0)
    }

    #[tokio::test]
    async fn create_list_delete_and_the_metadata() {
        let emu = emulator().await;
        let c = client_for(&emu, &CancellationToken::new());
        let jane = c.create_user("jane", None).await.unwrap().user_id;
        let made = c
            .create_credential(&jane, "httpHeaderAuth", &header_auth(SECRET))
            .await
            .unwrap();
        assert_eq!(made.adopted, None);
        assert!(!format!("{made:?}").contains(SECRET));
        let list = c.list_credentials("jane").await.unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].credential_id, made.credential_id);
        assert_eq!(list[0].credential_type, "httpHeaderAuth");
        assert!(list[0].name.is_some() && list[0].created_at.is_some());
        let t = truth(&emu).await;
        assert_eq!(
            t[0]["dataSha256"],
            alloy_emulator::tenant::data_sha256(&header_auth(SECRET)).as_str()
        );

        let types = c.credential_types().await.unwrap();
        assert!(types.iter().any(|t| t.is_oauth) && types.iter().any(|t| !t.is_oauth));
        let ns = c.credential_type("netsuite").await.unwrap();
        assert_eq!(ns.connector, "netsuite");
        assert_eq!(ns.properties[0].required, Some(true));
        assert!(c.credential_type("nope").await.unwrap_err().is_not_found());

        c.delete_credential(&jane, &made.credential_id)
            .await
            .unwrap();
        assert!(c.list_credentials(&jane).await.unwrap().is_empty());
        let e = c
            .delete_credential(&jane, &made.credential_id)
            .await
            .unwrap_err();
        assert!(e.is_not_found(), "{e}");
        c.purge_logs(&jane).await.unwrap();
    }

    #[tokio::test]
    async fn refusals_name_the_problem_and_never_the_secret() {
        let emu = emulator().await;
        let c = client_for(&emu, &CancellationToken::new());
        c.create_user("jane", None).await.unwrap();
        let mut data = header_auth(SECRET);
        data.remove("fieldName");
        let e = c
            .create_credential("jane", "httpHeaderAuth", &data)
            .await
            .unwrap_err();
        let text = format!("{e} {e:?}");
        assert_eq!(e.status(), Some(400), "{text}");
        assert!(text.contains("fieldName"), "{text}");
        assert!(!text.contains(SECRET), "{text}");
        let e = c
            .create_credential("jane", "slack", &header_auth(SECRET))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("OAuth"), "{e}");
        let e = c
            .create_credential("nobody", "httpHeaderAuth", &header_auth(SECRET))
            .await
            .unwrap_err();
        assert!(e.is_not_found(), "{e}");
        let e = c
            .create_credential("jane", "", &header_auth(SECRET))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
        let e = c
            .create_credential("jane", "httpHeaderAuth", &BTreeMap::new())
            .await
            .unwrap_err();
        assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
        assert!(truth(&emu).await.is_empty());
        // Registered: scrubbed from anything the process writes.
        assert_eq!(secrets::redact(&format!("x {SECRET} y")), "x [REDACTED] y");
    }

    #[tokio::test]
    async fn a_create_whose_answer_is_lost_is_adopted_once() {
        let emu = emulator().await;
        let c = client_for(&emu, &CancellationToken::new());
        let jane = c.create_user("jane", None).await.unwrap().user_id;
        // An older credential of the same type is no candidate.
        c.create_credential(&jane, "httpHeaderAuth", &header_auth("older-value-1"))
            .await
            .unwrap();
        emu.set_faults(Faults {
            lost_response_rate: 1.0,
            routes: vec!["POST /headless/credentials".into()],
            ..Faults::default()
        })
        .unwrap();
        let made = c
            .create_credential(&jane, "httpHeaderAuth", &header_auth(SECRET))
            .await
            .unwrap();
        let adopted = made.adopted.expect("adopted from the list");
        assert_eq!(adopted.credential_id, made.credential_id);
        assert_eq!(posts(&emu).await, 2, "one POST each, never resent");
        let t = truth(&emu).await;
        assert_eq!(t.len(), 2);
        assert_eq!(t[1]["credentialId"], made.credential_id.as_str());
    }

    #[tokio::test]
    async fn a_known_baseline_saves_the_list_and_still_resolves_a_lost_answer() {
        let emu = emulator().await;
        let c = client_for(&emu, &CancellationToken::new());
        let jane = c.create_user("jane", None).await.unwrap().user_id;
        emu.set_faults(Faults {
            lost_response_rate: 1.0,
            routes: vec!["POST /headless/credentials".into()],
            ..Faults::default()
        })
        .unwrap();
        let made = c
            .create_credential_after(
                &jane,
                "httpHeaderAuth",
                &header_auth(SECRET),
                Some(BTreeSet::new()),
            )
            .await
            .unwrap();
        assert!(made.adopted.is_some(), "found by the read-back");
        let log = admin(&emu, reqwest::Method::GET, "/_emulator/requests", None).await;
        assert_eq!(posts(&emu).await, 1);
        assert_eq!(
            log["by_route"]["GET /credentials/users/{id}"].as_u64(),
            Some(1),
            "the read-back alone: no baseline list"
        );
        assert_eq!(truth(&emu).await.len(), 1);
    }

    #[tokio::test]
    async fn several_new_candidates_are_an_error_that_names_them() {
        let (emu, relay, _stop, rc) = relayed().await;
        let c = client_for(&emu, &CancellationToken::new());
        let jane = c.create_user("jane", None).await.unwrap().user_id;
        emu.set_faults(Faults {
            lost_response_rate: 1.0,
            routes: vec!["POST /headless/credentials".into()],
            ..Faults::default()
        })
        .unwrap();
        // Another writer's credential of the same type lands between the baseline and the
        // read-back: the relay holds the lost answer until it has.
        relay.hold("POST");
        let create = tokio::spawn({
            let jane = jane.clone();
            async move {
                rc.create_credential(&jane, "httpHeaderAuth", &header_auth(SECRET))
                    .await
            }
        });
        relay.received("POST", 1).await;
        let other = reqwest::Client::new()
            .post(format!("{}/headless/credentials", emu.url()))
            .bearer_auth(emu.development_key())
            .json(&serde_json::json!({"userId": jane, "credential":
                {"type": "httpHeaderAuth", "data": header_auth("someone-else-1")}}))
            .send()
            .await;
        assert!(other.is_err(), "its answer is lost too, but it was made");
        let ids: Vec<String> = truth(&emu)
            .await
            .iter()
            .map(|r| r["credentialId"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids.len(), 2);
        relay.release();
        let e = create.await.unwrap().unwrap_err();
        assert!(e.is_ambiguous(), "{e}");
        let mut named = e.candidates().to_vec();
        named.sort();
        let mut want = ids.clone();
        want.sort();
        assert_eq!(named, want);
        for id in &ids {
            assert!(e.to_string().contains(id.as_str()), "{e}");
        }
        assert!(!e.to_string().contains(SECRET));
        assert_eq!(truth(&emu).await.len(), 2, "nothing sent again");
        assert_eq!(posts(&emu).await, 2);
    }

    #[tokio::test]
    async fn a_lost_delete_or_purge_is_done_after_one_resend() {
        let emu = emulator().await;
        let c = client_for(&emu, &CancellationToken::new());
        let jane = c.create_user("jane", None).await.unwrap().user_id;
        let made = c
            .create_credential(&jane, "httpHeaderAuth", &header_auth(SECRET))
            .await
            .unwrap();
        emu.set_faults(Faults {
            lost_response_rate: 1.0,
            routes: vec![
                "DELETE /users/{id}/credentials/{credential}".into(),
                "DELETE /users/{id}/logs".into(),
            ],
            ..Faults::default()
        })
        .unwrap();
        // The resend answers 404 (the lost attempt deleted it): done.
        c.delete_credential(&jane, &made.credential_id)
            .await
            .unwrap();
        assert!(truth(&emu).await.is_empty());
        assert_eq!(
            count(&emu, "DELETE /users/{id}/credentials/{credential}").await,
            2
        );
        admin(
            &emu,
            reqwest::Method::POST,
            "/_emulator/logs",
            Some(
                serde_json::json!({"environment": "development", "userId": jane,
                "workflowId": "a1f7fad397c0ac5b8339697b", "count": 3}),
            ),
        )
        .await;
        // Every purge answer is lost: the client keeps resending until its budget ends, and
        // says so; the logs are gone all the same.
        let e = c.purge_logs(&jane).await.unwrap_err();
        assert!(e.is_transport(), "{e}");
        let v = admin(
            &emu,
            reqwest::Method::GET,
            &format!("/_emulator/logs?environment=development&userId={jane}"),
            None,
        )
        .await;
        assert_eq!(v["count"], 0);
    }
}
