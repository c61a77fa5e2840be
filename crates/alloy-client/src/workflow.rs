//! A user's installed workflows: the read of one user's install and the three writes on it
//! (activation, upgrade, uninstall), each a [`Checked`] write of the protocol in
//! [`write`](super::write).
//!
//! All three are read back the same way, through `GET /integrations?userId=` (each workflow
//! there carries that user's `installed`, `active` and `installedVersion`, and `version`, the
//! latest published one): an activation is done when the workflow is in the wanted state, an
//! upgrade when the installed version is the latest (so an upgrade whose answer was lost is
//! never sent again), an uninstall when the workflow is no longer installed.
//!
//! A 2xx answer is taken at its word when it is JSON: its fields are used when present, since the
//! documentation does not show every answer. One that cannot be read, or that contradicts the
//! write (`"activated": false` after an activate, `"deleted": false`), is read back.

use reqwest::Method;

use super::attempt::{Call, Reply};
use super::classify::decode;
use super::client::{AlloyClient, OP_ACTIVATE, OP_DEACTIVATE, OP_UNINSTALL, OP_UPGRADE, json_body};
use super::error::Error;
use super::model::{
    ActivationBody, Integration, ListBody, UninstalledBody, UpgradeOutcome, Workflow,
    WorkflowWriteBody,
};
use super::write::{Accepted, Checked, Own};

/// `GET /integrations?userId=...` on behalf of `op`.
pub(super) fn integrations_call(
    client: &AlloyClient,
    op: &'static str,
    user: &str,
) -> Result<Call, Error> {
    let url = client.inner.endpoints.integrations(op, user)?;
    Ok(Call::new(op, Method::GET, "/integrations", url))
}

/// The workflow `workflow_id` from the answer to `GET /integrations?userId=`, when it is
/// installed for that user.
pub(super) fn installed_workflow(
    call: &Call,
    reply: &Reply,
    workflow_id: &str,
) -> Result<Option<Workflow>, Error> {
    let list: ListBody<Integration> = decode(call, reply)?;
    Ok(list
        .data
        .into_iter()
        .flat_map(|i| i.workflows)
        .find(|w| w.workflow_id == workflow_id && w.installed))
}

/// Refuses an empty workflow id before any request.
pub(super) fn check_workflow_id(op: &'static str, id: &str) -> Result<(), Error> {
    if id.trim().is_empty() {
        return Err(Error::InvalidArgument {
            op,
            message: "the workflow id is empty".to_owned(),
        });
    }
    Ok(())
}

const LOOK: &str = "reading the user's workflow back";

/// What every workflow write shares: who, which workflow, the request, and the read-back.
struct Target<'a> {
    client: &'a AlloyClient,
    user: &'a str,
    workflow_id: &'a str,
    call: Call,
}

impl Target<'_> {
    fn look(&self) -> Result<Call, Error> {
        integrations_call(self.client, self.call.op, self.user)
    }

    fn installed(&self, look: &Call, reply: &Reply) -> Result<Option<Workflow>, Error> {
        installed_workflow(look, reply, self.workflow_id)
    }
}

/// `PUT /workflows/activate` or `/deactivate`: done when the workflow is in the wanted state.
pub(super) struct SetActive<'a> {
    target: Target<'a>,
    active: bool,
}

impl<'a> SetActive<'a> {
    pub fn new(
        client: &'a AlloyClient,
        user: &'a str,
        workflow_id: &'a str,
        active: bool,
    ) -> Result<Self, Error> {
        let op = if active { OP_ACTIVATE } else { OP_DEACTIVATE };
        workflow_id_and_user(op, workflow_id, user)?;
        let body = json_body(
            op,
            &ActivationBody {
                user_id: user,
                workflow_id,
            },
        )?;
        let route = if active {
            "/workflows/activate"
        } else {
            "/workflows/deactivate"
        };
        let url = client.inner.endpoints.workflow_activation(active);
        let call = Call::new(op, Method::PUT, route, url)
            .with_body(body)
            .unprocessable_on_422();
        Ok(SetActive {
            target: Target {
                client,
                user,
                workflow_id,
                call,
            },
            active,
        })
    }
}

impl Checked for SetActive<'_> {
    type Output = ();
    const LOOK: &'static str = LOOK;
    const NO_EFFECT: &'static str = "the workflow was not in the wanted state afterwards";

    fn write(&self) -> &Call {
        &self.target.call
    }

    fn accepted(&self, reply: &Reply) -> Accepted<()> {
        match decode::<WorkflowWriteBody>(&self.target.call, reply) {
            Ok(body) if body.activated.is_some_and(|a| a != self.active) => {
                Accepted::Unreadable(contradiction(
                    &self.target.call,
                    reply,
                    format!("the API answered \"activated\": {}", !self.active),
                ))
            }
            Ok(_) => Accepted::Done(()),
            Err(e) => Accepted::Unreadable(e),
        }
    }

    fn look(&self) -> Result<Call, Error> {
        self.target.look()
    }

    fn effect(&self, look: &Call, answer: Result<Reply, Error>) -> Result<Option<()>, Error> {
        let found = self.target.installed(look, &answer?)?;
        Ok(found.filter(|w| w.active == self.active).map(|_| ()))
    }
}

/// `PUT /workflows/{id}/upgrade?userId=`: done when the installed version is the latest.
pub(super) struct Upgrade<'a> {
    target: Target<'a>,
}

impl<'a> Upgrade<'a> {
    pub fn new(
        client: &'a AlloyClient,
        user: &'a str,
        workflow_id: &'a str,
    ) -> Result<Self, Error> {
        workflow_id_and_user(OP_UPGRADE, workflow_id, user)?;
        let url = client
            .inner
            .endpoints
            .workflow_upgrade(OP_UPGRADE, workflow_id, user)?;
        let call = Call::new(OP_UPGRADE, Method::PUT, "/workflows/{id}/upgrade", url)
            .unprocessable_on_422();
        Ok(Upgrade {
            target: Target {
                client,
                user,
                workflow_id,
                call,
            },
        })
    }
}

impl Checked for Upgrade<'_> {
    type Output = UpgradeOutcome;
    const LOOK: &'static str = LOOK;
    const NO_EFFECT: &'static str =
        "the installed version was not the latest afterwards (or the workflow not installed)";

    fn write(&self) -> &Call {
        &self.target.call
    }

    fn accepted(&self, reply: &Reply) -> Accepted<UpgradeOutcome> {
        match decode::<WorkflowWriteBody>(&self.target.call, reply) {
            Ok(body) => Accepted::Done(UpgradeOutcome {
                installed_version: body.installed_version,
                active: body.activated,
                read_back: false,
            }),
            Err(e) => Accepted::Unreadable(e),
        }
    }

    fn look(&self) -> Result<Call, Error> {
        self.target.look()
    }

    fn effect(
        &self,
        look: &Call,
        answer: Result<Reply, Error>,
    ) -> Result<Option<UpgradeOutcome>, Error> {
        let found = self.target.installed(look, &answer?)?;
        Ok(found.and_then(|w| match (w.installed_version, w.version) {
            (Some(installed), Some(latest)) if installed >= latest => Some(UpgradeOutcome {
                installed_version: Some(installed),
                active: Some(w.active),
                read_back: true,
            }),
            _ => None,
        }))
    }
}

/// `DELETE /workflows/{id}?userId=`: done when the workflow is no longer installed for the
/// user; a 404 after an attempt with unknown outcome means that attempt removed it.
pub(super) struct Uninstall<'a> {
    target: Target<'a>,
}

impl<'a> Uninstall<'a> {
    pub fn new(
        client: &'a AlloyClient,
        user: &'a str,
        workflow_id: &'a str,
    ) -> Result<Self, Error> {
        workflow_id_and_user(OP_UNINSTALL, workflow_id, user)?;
        let url = client
            .inner
            .endpoints
            .user_workflow(OP_UNINSTALL, workflow_id, user)?;
        let call =
            Call::new(OP_UNINSTALL, Method::DELETE, "/workflows/{id}", url).unprocessable_on_422();
        Ok(Uninstall {
            target: Target {
                client,
                user,
                workflow_id,
                call,
            },
        })
    }
}

impl Checked for Uninstall<'_> {
    type Output = ();
    const LOOK: &'static str = LOOK;
    const NO_EFFECT: &'static str = "the workflow was still installed afterwards";

    fn write(&self) -> &Call {
        &self.target.call
    }

    fn accepted(&self, reply: &Reply) -> Accepted<()> {
        match decode::<UninstalledBody>(&self.target.call, reply) {
            Ok(body) if body.deleted == Some(false) => Accepted::Unreadable(contradiction(
                &self.target.call,
                reply,
                "the API answered \"deleted\": false".to_owned(),
            )),
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
        self.target.look()
    }

    fn effect(&self, look: &Call, answer: Result<Reply, Error>) -> Result<Option<()>, Error> {
        match answer {
            Ok(reply) => Ok(self.target.installed(look, &reply)?.is_none().then_some(())),
            // The user is gone, and its installs with it.
            Err(e) if e.is_not_found() => Ok(Some(())),
            Err(e) => Err(e),
        }
    }
}

fn workflow_id_and_user(op: &'static str, workflow: &str, user: &str) -> Result<(), Error> {
    check_workflow_id(op, workflow)?;
    if user.trim().is_empty() {
        return Err(Error::InvalidArgument {
            op,
            message: "the user id or name is empty".to_owned(),
        });
    }
    Ok(())
}

/// A 2xx answer whose body says the opposite of the write.
fn contradiction(call: &Call, reply: &Reply, detail: String) -> Error {
    Error::Decode {
        op: call.op,
        status: reply.status.as_u16(),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use serde_json::{Value, json};

    use tokio_util::sync::CancellationToken;

    use super::super::config::{ApiKey, ClientConfig};
    use super::super::testkit::{KEY, Relay, Say, Scripted, Seen, client};
    use super::*;

    /// What goes wrong with the next write the fake receives.
    enum Fault {
        /// Answers this status (with `Retry-After` when given) without doing anything.
        Refuse(u16, Option<&'static str>),
        /// Does the work, then drops the connection without answering.
        Lost,
        /// Does the work, then answers this status with an error body.
        ThenFail(u16),
        /// Does the work, then answers 200 with a gateway's HTML page.
        ThenHtml,
    }

    /// One user (`u1`, also known as `jane`) of a fake Alloy, with workflow `w1` installed at
    /// version 1 of 2, active, and `w2` not installed.
    struct Fake {
        installed: bool,
        active: bool,
        installed_version: i64,
        latest: i64,
        incompatible: bool,
        faults: VecDeque<Fault>,
    }

    type Shared = Arc<Mutex<Fake>>;

    fn not_found(message: String) -> Say {
        Say::json(404, json!({ "message": message }).to_string())
    }

    fn query_user(target: &str) -> Option<String> {
        let query = target.split_once('?')?.1;
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "userId")
            .map(|(_, v)| v.into_owned())
    }

    fn known(user: &str) -> bool {
        user == "u1" || user == "jane"
    }

    fn integrations(f: &Fake) -> Say {
        let mut w1 = json!({"workflowId": "w1", "name": "Sync", "installed": f.installed,
            "active": f.installed && f.active, "version": f.latest});
        if f.installed {
            w1["installedVersion"] = json!(f.installed_version);
        }
        let w2 = json!({"workflowId": "w2", "installed": false, "active": false, "version": 1});
        Say::json(
            200,
            json!({"data": [{"integrationId": "i1", "workflows": [w1, w2]}]}).to_string(),
        )
    }

    /// The API as the wire contract describes it, for `u1` and `w1`/`w2`.
    fn answer(fake: &Shared, req: &Seen) -> Say {
        let mut f = fake.lock().unwrap();
        let path = req.target.split('?').next().unwrap_or_default().to_owned();
        let user = query_user(&req.target);
        match (req.method.as_str(), path.as_str()) {
            ("GET", "/integrations") => {
                let user = user.unwrap_or_default();
                return if known(&user) {
                    integrations(&f)
                } else {
                    not_found(format!("User {user} not found"))
                };
            }
            ("GET", "/workflows/w1/users") => {
                let data = if f.installed {
                    json!([{"username": "jane", "fullName": null, "userId": "u1",
                        "workflowActive": f.active, "installedVersion": f.installed_version,
                        "installedAt": "2025-01-02T03:04:05Z"}])
                } else {
                    json!([])
                };
                return Say::json(200, json!({ "data": data }).to_string());
            }
            ("GET", p) => return not_found(format!("Workflow {p} not found")),
            _ => {}
        }
        // A write: which user and workflow, then the faults, then the work.
        let (user, workflow) = if path.starts_with("/workflows/")
            && req.method == "PUT"
            && !path.ends_with("/upgrade")
        {
            let body: Value = serde_json::from_str(&req.body).unwrap_or_default();
            (
                body["userId"].as_str().unwrap_or_default().to_owned(),
                body["workflowId"].as_str().unwrap_or_default().to_owned(),
            )
        } else {
            let id = path
                .trim_start_matches("/workflows/")
                .trim_end_matches("/upgrade");
            (user.unwrap_or_default(), id.to_owned())
        };
        let fault = f.faults.pop_front();
        if let Some(Fault::Refuse(status, retry_after)) = fault {
            let say = Say::json(status, r#"{"message":"Scripted refusal"}"#);
            return match retry_after {
                Some(s) => say.with_header("retry-after", s),
                None => say,
            };
        }
        if !known(&user) {
            return not_found(format!("User {user} not found"));
        }
        if workflow != "w1" && workflow != "w2" {
            return not_found(format!("Workflow {workflow} not found"));
        }
        if workflow == "w2" || !f.installed {
            return not_found(format!("Workflow {workflow} is not installed for user u1"));
        }
        let body = match (req.method.as_str(), path.as_str()) {
            ("PUT", "/workflows/activate") => {
                f.active = true;
                json!({"activated": true})
            }
            ("PUT", "/workflows/deactivate") => {
                f.active = false;
                json!({"activated": false})
            }
            ("PUT", _) if f.incompatible => {
                return Say::json(
                    422,
                    json!({"message": format!("Workflow w1 version {} changed its configurable \
                        fields: user u1 must reinstall it; nothing was upgraded", f.latest)})
                    .to_string(),
                );
            }
            ("PUT", _) => {
                f.installed_version = f.latest;
                json!({"activated": f.active, "installedVersion": f.installed_version})
            }
            _ => {
                f.installed = false;
                json!({"deleted": true})
            }
        };
        match fault {
            Some(Fault::Lost) => Say::Drop,
            Some(Fault::ThenFail(status)) => Say::json(status, r#"{"message":"Scripted"}"#),
            Some(Fault::ThenHtml) => Say::Json {
                status: 200,
                headers: vec![("content-type", "text/html".to_owned())],
                body: "<html><body>Bad gateway</body></html>".to_owned(),
            },
            _ => Say::json(200, body.to_string()),
        }
    }

    async fn fake(faults: Vec<Fault>) -> (Shared, Scripted, AlloyClient) {
        let shared = Arc::new(Mutex::new(Fake {
            installed: true,
            active: true,
            installed_version: 1,
            latest: 2,
            incompatible: false,
            faults: faults.into(),
        }));
        let state = shared.clone();
        let server = Scripted::start(move |req| answer(&state, req)).await;
        let c = client(server.url());
        (shared, server, c)
    }

    const UPGRADE: &str = "PUT /workflows/w1/upgrade";
    const READ_BACK: &str = "GET /integrations?userId=";

    #[tokio::test]
    async fn each_call_does_what_it_says() {
        let (state, server, c) = fake(vec![]).await;
        let users = c.workflow_users("w1").await.unwrap();
        assert_eq!(users.len(), 1);
        assert_eq!(users[0].user_id, "u1");
        assert_eq!(users[0].username, "jane");
        assert!(users[0].active && users[0].full_name.is_none());
        assert_eq!(users[0].installed_version, Some(1));
        let w = c.user_workflow("jane", "w1").await.unwrap().unwrap();
        assert!(w.installed && w.active);
        assert_eq!((w.installed_version, w.version), (Some(1), Some(2)));
        assert_eq!(
            c.user_workflow("u1", "w2").await.unwrap(),
            None,
            "not installed"
        );
        assert_eq!(
            c.user_workflow("u1", "w9").await.unwrap(),
            None,
            "no such workflow"
        );

        c.set_workflow_active("u1", "w1", false).await.unwrap();
        assert!(!state.lock().unwrap().active);
        c.set_workflow_active("jane", "w1", true).await.unwrap();
        assert!(state.lock().unwrap().active);
        let up = c.upgrade_workflow("u1", "w1").await.unwrap();
        assert_eq!(
            up,
            UpgradeOutcome {
                installed_version: Some(2),
                active: Some(true),
                read_back: false
            }
        );
        c.uninstall_workflow("u1", "w1").await.unwrap();
        assert!(!state.lock().unwrap().installed);
        assert_eq!(c.user_workflow("u1", "w1").await.unwrap(), None);
        assert!(c.workflow_users("w1").await.unwrap().is_empty());

        // One request per write, each on its documented route, and no read-back after a plain
        // success.
        let writes: Vec<String> = server
            .seen()
            .into_iter()
            .filter(|l| !l.starts_with("GET "))
            .collect();
        assert_eq!(
            writes,
            [
                "PUT /workflows/deactivate",
                "PUT /workflows/activate",
                "PUT /workflows/w1/upgrade?userId=u1",
                "DELETE /workflows/w1?userId=u1",
            ]
        );
        assert_eq!(server.count(READ_BACK), 4, "the four reads only");
    }

    #[tokio::test]
    async fn not_found_and_unprocessable_name_the_operation_and_the_api_message() {
        let (state, server, c) = fake(vec![]).await;
        state.lock().unwrap().incompatible = true;
        let e = c.upgrade_workflow("u1", "w1").await.unwrap_err();
        assert!(e.is_unprocessable() && !e.is_conflict(), "{e}");
        assert_eq!(e.operation(), Some("upgrade workflow"));
        assert_eq!(e.status(), Some(422));
        let s = e.to_string();
        assert!(
            s.starts_with("upgrade workflow: ") && s.contains("must reinstall"),
            "{s}"
        );
        assert_eq!(
            state.lock().unwrap().installed_version,
            1,
            "nothing upgraded"
        );
        assert_eq!(server.count(UPGRADE), 1, "a refusal is not retried");

        let cases = [
            (
                c.set_workflow_active("nobody", "w1", true).await,
                "activate workflow",
                "User nobody not found",
            ),
            (
                c.set_workflow_active("u1", "w2", false).await,
                "deactivate workflow",
                "not installed",
            ),
            (
                c.uninstall_workflow("u1", "w9").await,
                "uninstall workflow",
                "Workflow w9 not found",
            ),
        ];
        for (r, op, message) in cases {
            let e = r.unwrap_err();
            assert!(e.is_not_found(), "{e}");
            assert_eq!(e.operation(), Some(op));
            assert!(e.api_message().is_some_and(|m| m.contains(message)), "{e}");
        }
        let e = c.workflow_users("w9").await.unwrap_err();
        assert!(
            e.is_not_found() && e.operation() == Some("list workflow users"),
            "{e}"
        );
        let e = c.user_workflow("nobody", "w1").await.unwrap_err();
        assert!(
            e.is_not_found() && e.operation() == Some("get user workflow"),
            "{e}"
        );
        // Nothing reached the server for ids that cannot be sent.
        let before = server.seen().len();
        for e in [
            c.upgrade_workflow("u1", "").await.unwrap_err(),
            c.set_workflow_active("", "w1", true).await.unwrap_err(),
            c.uninstall_workflow("u1", "..").await.unwrap_err(),
            c.user_workflow("u1", " ").await.unwrap_err(),
        ] {
            assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
        }
        assert_eq!(server.seen().len(), before);
    }

    #[tokio::test]
    async fn a_lost_upgrade_answer_is_read_back_and_the_upgrade_never_sent_again() {
        let (state, server, c) = fake(vec![Fault::Lost]).await;
        let up = c.upgrade_workflow("u1", "w1").await.unwrap();
        assert_eq!(
            up,
            UpgradeOutcome {
                installed_version: Some(2),
                active: Some(true),
                read_back: true
            }
        );
        assert_eq!(state.lock().unwrap().installed_version, 2);
        assert_eq!(
            server.count(UPGRADE),
            1,
            "exactly one upgrade reached the server"
        );
        assert_eq!(server.count(READ_BACK), 1);
    }

    #[tokio::test]
    async fn an_unreadable_upgrade_answer_is_read_back_too() {
        let (_, server, c) = fake(vec![Fault::ThenHtml]).await;
        let up = c.upgrade_workflow("u1", "w1").await.unwrap();
        assert!(up.read_back && up.installed_version == Some(2), "{up:?}");
        assert_eq!(server.count(UPGRADE), 1);
    }

    #[tokio::test]
    async fn a_server_error_without_effect_is_read_back_then_sent_again() {
        let (state, server, c) = fake(vec![Fault::Refuse(503, None)]).await;
        let up = c.upgrade_workflow("u1", "w1").await.unwrap();
        assert!(!up.read_back && up.installed_version == Some(2), "{up:?}");
        assert_eq!(state.lock().unwrap().installed_version, 2);
        assert_eq!(
            server.seen(),
            [
                "PUT /workflows/w1/upgrade?userId=u1",
                "GET /integrations?userId=u1",
                "PUT /workflows/w1/upgrade?userId=u1",
            ],
            "read back before the retry"
        );
    }

    #[tokio::test]
    async fn a_server_error_after_the_change_is_read_back_as_done() {
        let (state, server, c) = fake(vec![Fault::ThenFail(500), Fault::Lost]).await;
        c.set_workflow_active("u1", "w1", false).await.unwrap();
        assert!(!state.lock().unwrap().active);
        assert_eq!(server.count("PUT /workflows/deactivate"), 1);
        c.uninstall_workflow("u1", "w1").await.unwrap();
        assert!(!state.lock().unwrap().installed);
        assert_eq!(server.count("DELETE /workflows/w1"), 1);
        assert_eq!(server.count(READ_BACK), 2);
    }

    #[tokio::test]
    async fn an_uninstall_refused_as_not_found_after_an_unknown_outcome_is_done() {
        // The first attempt fails ambiguously, the read-back still sees the install, and the
        // second attempt finds it gone (someone else removed it): the goal is reached.
        let (_, server, c) = fake(vec![Fault::Refuse(500, None), Fault::Refuse(404, None)]).await;
        c.uninstall_workflow("u1", "w1").await.unwrap();
        assert_eq!(server.count("DELETE /workflows/w1"), 2);
        assert_eq!(server.count(READ_BACK), 1);
    }

    #[tokio::test]
    async fn a_rate_limited_write_waits_for_retry_after_and_is_not_read_back() {
        let (state, server, c) = fake(vec![Fault::Refuse(429, Some("1"))]).await;
        let started = Instant::now();
        c.set_workflow_active("u1", "w1", false).await.unwrap();
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        assert!(!state.lock().unwrap().active);
        assert_eq!(server.count("PUT /workflows/deactivate"), 2);
        assert_eq!(
            server.count(READ_BACK),
            0,
            "a 429 did nothing: no read-back"
        );
    }

    #[tokio::test]
    async fn stopping_while_reading_back_a_lost_upgrade_still_learns_it_was_done() {
        let (_, server, _) = fake(vec![Fault::Lost]).await;
        let relay = Relay::start_to(server.addr()).await;
        let stop = CancellationToken::new();
        let mut cfg = ClientConfig::new(
            url::Url::parse(relay.url()).unwrap(),
            "2025-09",
            ApiKey::new(KEY),
            "ua",
        );
        cfg.stop = stop.clone();
        let c = AlloyClient::new(cfg).unwrap();
        // The upgrade's answer is lost; the read-back that follows is held until the client has
        // been stopped: one last bounded read-back then decides.
        let stopper = relay.stop_when_received("GET", &stop);
        let (up, ()) = tokio::join!(c.upgrade_workflow("u1", "w1"), stopper);
        let up = up.expect("an upgrade that was made is reported as made");
        assert!(up.read_back && up.installed_version == Some(2), "{up:?}");
        assert_eq!(server.count(UPGRADE), 1, "never sent again");
        let e = c.upgrade_workflow("u1", "w1").await.unwrap_err();
        assert!(e.is_cancelled(), "{e}");
    }

    /// A server that takes every workflow write of users `u0`, `u1`, ... and admits `limit`
    /// requests per fixed one-second window, opened by the first request after the last one
    /// closed (the emulator's limiter), answering the rest 429 with `Retry-After: 1`.
    async fn limited(limit: u32) -> Scripted {
        let window: Arc<Mutex<Option<(Instant, u32)>>> = Arc::default();
        Scripted::start(move |req| {
            let now = Instant::now();
            let mut w = window.lock().unwrap();
            let (opened, admitted) = match *w {
                Some((at, n)) if now.duration_since(at) < Duration::from_secs(1) => (at, n),
                _ => (now, 0),
            };
            if admitted >= limit {
                return Say::json(429, r#"{"message":"Rate limit exceeded"}"#)
                    .with_header("retry-after", "1");
            }
            *w = Some((opened, admitted + 1));
            let body = match req.method.as_str() {
                "DELETE" => json!({"deleted": true}),
                _ if req.target.contains("/upgrade") => {
                    json!({"activated": true, "installedVersion": 2})
                }
                _ => json!({"activated": !req.target.ends_with("/deactivate")}),
            };
            Say::json(200, body.to_string())
        })
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bursts_of_workflow_writes_run_at_the_limit() {
        const LIMIT: u32 = 10;
        const CALLERS: usize = 10;
        const WRITES: usize = 40;
        let server = limited(LIMIT).await;
        let c = client(server.url());
        let started = Instant::now();
        let mut tasks = Vec::new();
        for caller in 0..CALLERS {
            let c = c.clone();
            tasks.push(tokio::spawn(async move {
                for i in (caller..WRITES).step_by(CALLERS) {
                    let user = format!("u{i}");
                    match i % 4 {
                        0 | 1 => c.upgrade_workflow(&user, "w1").await.map(|_| ()),
                        2 => c.set_workflow_active(&user, "w1", i % 8 == 2).await,
                        _ => c.uninstall_workflow(&user, "w1").await,
                    }
                    .unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let took = started.elapsed();
        let seen = server.seen();
        let refused = seen.len() - WRITES;
        // The first window takes ten at once; then ten a second: three more seconds. (With the
        // pace set from the answers that had arrived when the first 429 did, which race, this
        // took 9.5 s in two runs of three.)
        assert!(
            took < Duration::from_secs(5),
            "{WRITES} writes took {took:?}"
        );
        assert!(
            took >= Duration::from_secs(3),
            "faster than the limit: {took:?}"
        );
        assert!(refused <= 2 * CALLERS, "{refused} requests answered 429");
        assert_eq!(
            server.count(READ_BACK),
            0,
            "a 429 did nothing: no read-back"
        );
    }
}
