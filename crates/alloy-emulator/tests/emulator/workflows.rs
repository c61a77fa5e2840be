//! Installed workflows per user: `GET /workflows/{id}/users`, activate and deactivate, upgrade,
//! delete, what `GET /integrations` shows of them, and the admin calls that install, publish
//! versions, seed tenants with a workflow and read the truth back. Every status the project
//! chose where Alloy's documentation is silent is asserted here with its exact body.

use super::*;

/// Shopify's "Sync new orders" (also the name of a BigCommerce workflow) and its integration.
const WF: &str = "a1f7fad397c0ac5b8339697b";
const SHOPIFY: &str = "5ba9e7af0bfabd19f1a4495d";
/// Another Shopify workflow.
const WF2: &str = "61c6f35ec1e207cb6d97a79c";
/// Not a workflow of the account.
const GHOST: &str = "0123456789abcdef01234567";

fn wf_version() -> u64 {
    let (_, w) = alloy_emulator::catalogue::find_workflow(WF).unwrap();
    u64::from(w.version)
}

impl Api {
    async fn install(&self, env: &str, user: &str, workflow: &str) {
        let (s, v) = self
            .admin(
                Method::POST,
                "/_emulator/installs",
                Some(json!({"environment": env, "userId": user, "workflowId": workflow})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }

    async fn publish(&self, workflow: &str, incompatible: bool) -> (StatusCode, Value) {
        self.admin(
            Method::POST,
            &format!("/_emulator/workflows/{workflow}/versions"),
            Some(json!({"incompatible": incompatible})),
        )
        .await
    }

    /// The admin truth read for one workflow in one environment.
    async fn truth(&self, env: &str, workflow: &str) -> Value {
        let (s, v) = self
            .admin(
                Method::GET,
                &format!("/_emulator/workflows/{workflow}/installs?environment={env}"),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v
    }

    async fn activation(&self, which: &str, body: Value) -> (StatusCode, Value) {
        self.put(&format!("/workflows/{which}"), body).await
    }

    async fn by_route(&self) -> Value {
        self.admin(Method::GET, "/_emulator/requests", None).await.1["by_route"].clone()
    }
}

fn is_rfc3339_utc(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && s.ends_with('Z')
}

#[tokio::test]
async fn workflow_users_lists_every_install_with_its_state() {
    let p = spawn(&[]);
    let dev = Api::new(&p.url, DEV);
    let prod = Api::new(&p.url, PROD);
    let (s, v) = dev
        .post("/users", json!({"username": "jane", "fullName": "Jane"}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let jane = v["userId"].as_str().unwrap().to_owned();
    let joe = dev.create("joe").await;
    dev.create("nobody").await;
    prod.create("jane").await;

    // Installed by nobody yet: an empty list, not a 404.
    let (s, v) = dev.get(&format!("/workflows/{WF}/users")).await;
    assert_eq!((s, v), (StatusCode::OK, json!({"data": []})));

    dev.install("development", "jane", WF).await;
    dev.install("development", &joe, WF).await;
    prod.install("production", "jane", WF2).await;
    let (s, v) = dev.get(&format!("/workflows/{WF}/users")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    let first = data[0].as_object().unwrap();
    let mut keys: Vec<&str> = first.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "fullName",
            "installedAt",
            "installedVersion",
            "userId",
            "username",
            "workflowActive"
        ]
    );
    assert_eq!(data[0]["userId"], jane.as_str());
    assert_eq!(data[0]["username"], "jane");
    assert_eq!(data[0]["fullName"], "Jane");
    assert_eq!(data[0]["workflowActive"], true);
    assert_eq!(data[0]["installedVersion"], wf_version());
    assert!(
        is_rfc3339_utc(data[0]["installedAt"].as_str().unwrap()),
        "{v}"
    );
    assert_eq!(data[1]["fullName"], Value::Null);
    // The other environment has its own installs.
    let (_, v) = prod.get(&format!("/workflows/{WF}/users")).await;
    assert_eq!(v, json!({"data": []}));
    let (_, v) = prod.get(&format!("/workflows/{WF2}/users")).await;
    assert_eq!(v["data"][0]["username"], "jane");
    // CHOICE: an id that is no workflow of the account is a 404 naming it.
    let (s, v) = dev.get(&format!("/workflows/{GHOST}/users")).await;
    assert_eq!(
        (s, v),
        (
            StatusCode::NOT_FOUND,
            json!({"message": format!("Workflow {GHOST} not found")})
        )
    );
    // The parentWorkflowId filter still agrees.
    let (_, v) = dev.get(&format!("/users?parentWorkflowId={WF}")).await;
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    // Deleting a user drops its installs.
    assert_eq!(dev.delete(&format!("/users/{joe}")).await.0, StatusCode::OK);
    let (_, v) = dev.get(&format!("/workflows/{WF}/users")).await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    assert_eq!(dev.by_route().await["GET /workflows/{id}/users"], 6);
}

#[tokio::test]
async fn activate_and_deactivate_are_idempotent_and_answer_every_choice() {
    let p = spawn(&[]);
    let dev = Api::new(&p.url, DEV);
    let jane = dev.create("jane").await;
    dev.install("development", &jane, WF).await;

    let off = json!({"userId": jane, "workflowId": WF});
    for _ in 0..2 {
        let (s, v) = dev.activation("deactivate", off.clone()).await;
        assert_eq!((s, v), (StatusCode::OK, json!({"activated": false})));
    }
    let truth = dev.truth("development", WF).await;
    assert_eq!(truth["data"][0]["active"], false);
    let (_, v) = dev
        .get(&format!("/integrations/{SHOPIFY}?userId=jane"))
        .await;
    assert_eq!(v["data"]["workflows"][0]["installed"], true);
    assert_eq!(v["data"]["workflows"][0]["active"], false);
    let (_, v) = dev.get(&format!("/workflows/{WF}/users")).await;
    assert_eq!(v["data"][0]["workflowActive"], false);

    // By username and by workflow name, in any case.
    for _ in 0..2 {
        let (s, v) = dev
            .activation(
                "activate",
                json!({"userId": "jane", "workflowName": "sync NEW orders"}),
            )
            .await;
        assert_eq!((s, v), (StatusCode::OK, json!({"activated": true})));
    }
    assert_eq!(
        dev.truth("development", WF).await["data"][0]["active"],
        true
    );

    // CHOICE: unknown workflow, unknown user, not installed: 404 with the documented messages.
    let cases = [
        (
            json!({"userId": jane, "workflowId": GHOST}),
            format!("Workflow {GHOST} not found"),
        ),
        (
            json!({"userId": "jane", "workflowName": "No such workflow"}),
            "Workflow No such workflow not found".to_owned(),
        ),
        (
            json!({"userId": "ghost-user", "workflowId": WF}),
            "User ghost-user not found".to_owned(),
        ),
        (
            json!({"userId": "jane", "workflowId": WF2}),
            format!("Workflow {WF2} is not installed for user {jane}"),
        ),
    ];
    for which in ["activate", "deactivate"] {
        for (body, message) in &cases {
            let (s, v) = dev.activation(which, body.clone()).await;
            assert_eq!(
                (s, v),
                (StatusCode::NOT_FOUND, json!({"message": message})),
                "{which} {body}"
            );
        }
    }
    // Missing, empty or mistyped fields: a 400 that names what is wrong.
    for (body, names) in [
        (json!({"workflowId": WF}), "userId"),
        (json!({"userId": "", "workflowId": WF}), "userId"),
        (json!({"userId": "jane"}), "workflowId"),
        (json!({"userId": "jane", "workflowId": " "}), "workflowId"),
        (json!({"userId": 7, "workflowId": WF}), "Invalid JSON body"),
    ] {
        let (s, v) = dev.activation("activate", body.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert!(message(&v).contains(names), "{body}: {v}");
    }
    let r = dev
        .request(Method::PUT, "/workflows/activate")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // The user's other environment never sees this install.
    let prod = Api::new(&p.url, PROD);
    prod.create("jane").await;
    let (s, v) = prod
        .activation("activate", json!({"userId": "jane", "workflowId": WF}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert!(message(&v).contains("is not installed"), "{v}");

    let routes = dev.by_route().await;
    assert_eq!(routes["PUT /workflows/deactivate"], 2 + 4);
    assert_eq!(routes["PUT /workflows/activate"], 2 + 4 + 5 + 1 + 1);
}

#[tokio::test]
async fn upgrades_follow_published_versions_and_refuse_incompatible_ones() {
    let p = spawn(&[]);
    let dev = Api::new(&p.url, DEV);
    let jane = dev.create("jane").await;
    let joe = dev.create("joe").await;
    dev.install("development", &jane, WF).await;
    let v0 = wf_version();
    let upgrade = |user: &str| format!("/workflows/{WF}/upgrade?userId={user}");

    // CHOICE: at the latest version already, an upgrade is a 200 that changes nothing.
    let before = dev.truth("development", WF).await;
    let (s, v) = dev.put(&upgrade("jane"), Value::Null).await;
    assert_eq!(
        (s, v),
        (
            StatusCode::OK,
            json!({"activated": true, "installedVersion": v0})
        )
    );
    assert_eq!(dev.truth("development", WF).await, before);

    // A published version shows in GET /integrations as `version`, not `installedVersion`.
    let (s, v) = dev.publish(WF, false).await;
    assert_eq!(
        (s, v),
        (StatusCode::OK, json!({"workflowId": WF, "version": v0 + 1}))
    );
    let (_, v) = dev.get(&format!("/integrations?userId={jane}")).await;
    let shop = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["integrationId"] == SHOPIFY)
        .unwrap()
        .clone();
    assert_eq!(shop["workflows"][0]["version"], v0 + 1);
    assert_eq!(shop["workflows"][0]["installedVersion"], v0);

    // A deactivated install is upgraded and stays deactivated; its install time is kept.
    dev.activation("deactivate", json!({"userId": jane, "workflowId": WF}))
        .await;
    let (s, v) = dev.put(&upgrade(&jane), Value::Null).await;
    assert_eq!(
        (s, v),
        (
            StatusCode::OK,
            json!({"activated": false, "installedVersion": v0 + 1})
        )
    );
    let after = dev.truth("development", WF).await;
    assert_eq!(after["data"][0]["installedVersion"], v0 + 1);
    assert_eq!(
        after["data"][0]["installedAt"],
        before["data"][0]["installedAt"]
    );
    // A user installing now gets the latest version.
    dev.install("development", &joe, WF).await;
    let (_, v) = dev.get(&format!("/workflows/{WF}/users")).await;
    assert_eq!(v["data"][1]["installedVersion"], v0 + 1);

    // CHOICE: a version marked incompatible after the installed one refuses the upgrade with a
    // 422, whatever comes after it, and nothing changes.
    assert_eq!(dev.publish(WF, true).await.1["version"], v0 + 2);
    assert_eq!(dev.publish(WF, false).await.1["version"], v0 + 3);
    let before = dev.truth("development", WF).await;
    for user in [&jane, &joe] {
        let (s, v) = dev.put(&upgrade(user), Value::Null).await;
        assert_eq!(
            (s, v),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"message": format!(
                    "Workflow {WF} version {} changed its configurable fields: user {user} \
                     must reinstall it; nothing was upgraded", v0 + 2)})
            )
        );
    }
    assert_eq!(
        dev.truth("development", WF).await,
        before,
        "state unchanged"
    );
    // Reinstalling (what the user does in the modal) gets past it.
    dev.install("development", &joe, WF).await;
    let (s, v) = dev.put(&upgrade("joe"), Value::Null).await;
    assert_eq!(
        (s, v),
        (
            StatusCode::OK,
            json!({"activated": true, "installedVersion": v0 + 3})
        )
    );

    // Not installed, unknown user, unknown workflow: 404 as for activation; no userId: 400.
    let other = dev.create("other").await;
    for (path, status, msg) in [
        (
            upgrade(&other),
            StatusCode::NOT_FOUND,
            format!("Workflow {WF} is not installed for user {other}"),
        ),
        (
            upgrade("ghost"),
            StatusCode::NOT_FOUND,
            "User ghost not found".to_owned(),
        ),
        (
            format!("/workflows/{GHOST}/upgrade?userId=jane"),
            StatusCode::NOT_FOUND,
            format!("Workflow {GHOST} not found"),
        ),
        (
            format!("/workflows/{WF}/upgrade"),
            StatusCode::BAD_REQUEST,
            "userId query parameter is required".to_owned(),
        ),
        (
            format!("/workflows/{WF}/upgrade?userId="),
            StatusCode::BAD_REQUEST,
            "userId query parameter is required".to_owned(),
        ),
    ] {
        let (s, v) = dev.put(&path, Value::Null).await;
        assert_eq!((s, v), (status, json!({"message": msg})), "{path}");
    }

    // Publishing: unknown workflows, bad bodies; an empty body publishes a compatible version.
    let (s, v) = dev.publish(GHOST, false).await;
    assert_eq!(
        (s, v),
        (
            StatusCode::NOT_FOUND,
            json!({"message": format!("Workflow {GHOST} not found")})
        )
    );
    let (s, _) = dev
        .admin(
            Method::POST,
            &format!("/_emulator/workflows/{WF}/versions"),
            Some(json!({"incompatible": "yes"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, v) = dev
        .admin(
            Method::POST,
            &format!("/_emulator/workflows/{WF}/versions"),
            None,
        )
        .await;
    assert_eq!(
        (s, v),
        (StatusCode::OK, json!({"workflowId": WF, "version": v0 + 4}))
    );

    // Versions are account-wide: production sees the same latest version.
    let prod = Api::new(&p.url, PROD);
    let pid = prod.create("prod-user").await;
    let (_, v) = prod
        .get(&format!("/integrations/{SHOPIFY}?userId={pid}"))
        .await;
    assert_eq!(v["data"]["workflows"][0]["version"], v0 + 4);
    // A reset forgets the published versions.
    dev.admin(Method::POST, "/_emulator/reset", None).await;
    let pid = prod.create("prod-user").await;
    let (_, v) = prod
        .get(&format!("/integrations/{SHOPIFY}?userId={pid}"))
        .await;
    assert_eq!(v["data"]["workflows"][0]["version"], v0);
}

#[tokio::test]
async fn delete_removes_one_workflow_for_one_user() {
    let p = spawn(&[]);
    let dev = Api::new(&p.url, DEV);
    let jane = dev.create("jane").await;
    let joe = dev.create("joe").await;
    for user in [&jane, &joe] {
        dev.install("development", user, WF).await;
    }
    dev.install("development", &jane, WF2).await;

    let (s, v) = dev.delete(&format!("/workflows/{WF}?userId=jane")).await;
    assert_eq!((s, v), (StatusCode::OK, json!({"deleted": true})));
    let truth = dev.truth("development", WF).await;
    assert_eq!(truth["data"].as_array().unwrap().len(), 1);
    assert_eq!(truth["data"][0]["userId"], joe.as_str());
    // The integration stays installed while another of its workflows is.
    let (_, v) = dev
        .get(&format!("/integrations/{SHOPIFY}?userId={jane}"))
        .await;
    assert_eq!(v["data"]["installed"], true);
    assert_eq!(v["data"]["workflows"][0]["installed"], false);
    assert!(v["data"]["workflows"][0].get("installedVersion").is_none());
    assert_eq!(v["data"]["workflows"][1]["installed"], true);
    // Gone for good: a repeat is a 404, as are activation and upgrade.
    let gone = json!({"message": format!("Workflow {WF} is not installed for user {jane}")});
    let (s, v) = dev.delete(&format!("/workflows/{WF}?userId={jane}")).await;
    assert_eq!((s, &v), (StatusCode::NOT_FOUND, &gone));
    let (s, v) = dev
        .activation("activate", json!({"userId": jane, "workflowId": WF}))
        .await;
    assert_eq!((s, &v), (StatusCode::NOT_FOUND, &gone));
    // The last workflow takes the integration's install with it.
    let (s, _) = dev.delete(&format!("/workflows/{WF2}?userId={jane}")).await;
    assert_eq!(s, StatusCode::OK);
    let (_, v) = dev
        .get(&format!("/integrations/{SHOPIFY}?userId={jane}"))
        .await;
    assert_eq!(v["data"]["installed"], false);
    assert!(v["data"].get("installedVersion").is_none());

    for (path, status) in [
        (
            format!("/workflows/{WF}?userId=ghost"),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/workflows/{GHOST}?userId=joe"),
            StatusCode::NOT_FOUND,
        ),
        (format!("/workflows/{WF}"), StatusCode::BAD_REQUEST),
    ] {
        let (s, v) = dev.delete(&path).await;
        assert_eq!(s, status, "{path}: {v}");
    }
    assert_eq!(
        dev.truth("development", WF).await["data"][0]["userId"],
        joe.as_str()
    );
    assert_eq!(dev.by_route().await["DELETE /workflows/{id}"], 6);
}

/// Benchmarks arrange thousands of tenants with a workflow installed in one admin call, and
/// audits read the truth back without touching the API's request log.
#[tokio::test]
async fn seed_with_workflows_and_the_admin_truth_read() {
    let p = spawn(&[]);
    let dev = Api::new(&p.url, DEV);
    let (s, v) = dev
        .admin(
            Method::POST,
            "/_emulator/seed",
            Some(
                json!({"environment": "development", "count": 3000, "prefix": "tenant-",
                "workflows": [WF, WF2]}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["created"], 3000);
    let truth = dev.truth("development", WF).await;
    let data = truth["data"].as_array().unwrap();
    assert_eq!(data.len(), 3000);
    let ids: Vec<&str> = data.iter().map(|d| d["userId"].as_str().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "sorted by userId");
    for d in data {
        let mut keys: Vec<&str> = d.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "active",
                "installedAt",
                "installedVersion",
                "userId",
                "username"
            ]
        );
        assert_eq!(d["active"], true);
        assert_eq!(d["installedVersion"], wf_version());
        assert!(d["username"].as_str().unwrap().starts_with("tenant-"));
    }
    assert_eq!(
        dev.truth("development", WF2).await["data"]
            .as_array()
            .unwrap()
            .len(),
        3000
    );
    assert_eq!(dev.truth("production", WF).await, json!({"data": []}));
    let (_, v) = dev.get(&format!("/workflows/{WF}/users")).await;
    assert_eq!(v["data"].as_array().unwrap().len(), 3000);

    // All or none: an unknown workflow refuses the whole seed.
    let (s, v) = dev
        .admin(
            Method::POST,
            "/_emulator/seed",
            Some(
                json!({"environment": "development", "count": 5, "prefix": "more-",
                "workflows": [WF, GHOST]}),
            ),
        )
        .await;
    assert_eq!(
        (s, v),
        (
            StatusCode::NOT_FOUND,
            json!({"message": format!("Workflow {GHOST} not found")})
        )
    );
    assert!(dev.get("/users/more-1").await.0 == StatusCode::NOT_FOUND);
    for (path, status) in [
        (
            format!("/_emulator/workflows/{WF}/installs"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/_emulator/workflows/{WF}/installs?environment=staging"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/_emulator/workflows/{GHOST}/installs?environment=production"),
            StatusCode::NOT_FOUND,
        ),
    ] {
        assert_eq!(
            dev.admin(Method::GET, &path, None).await.0,
            status,
            "{path}"
        );
    }
    // Installing one workflow alone, by id (no integrationId), for one seeded user.
    let (s, v) = dev
        .admin(
            Method::POST,
            "/_emulator/installs",
            Some(json!({"environment": "development", "userId": "tenant-1",
                "workflowId": "7ac84a3ce47a43a7a92028e0"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["app"], "Slack");
    assert_eq!(v["data"]["workflows"][0]["installed"], true);
    let (s, v) = dev
        .admin(
            Method::POST,
            "/_emulator/installs",
            Some(json!({"environment": "development", "userId": "tenant-1"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    // Only the two API reads above were API traffic.
    assert_eq!(
        dev.by_route().await,
        json!({"GET /workflows/{id}/users": 1, "GET /users/{id}": 1})
    );
}

#[tokio::test]
async fn faults_scoped_to_one_workflow_route_leave_the_others_alone() {
    let p = spawn(&[
        "--routes",
        "PUT /workflows/{id}/upgrade",
        "--error-rate",
        "1",
    ]);
    let dev = Api::new(&p.url, DEV);
    let jane = dev.create("jane").await;
    dev.install("development", &jane, WF).await;
    dev.publish(WF, false).await;
    let (s, v) = dev
        .put(&format!("/workflows/{WF}/upgrade?userId=jane"), Value::Null)
        .await;
    assert!(s == 500 || s == 503, "{s}: {v}");
    assert_eq!(
        dev.truth("development", WF).await["data"][0]["installedVersion"],
        wf_version(),
        "a 5xx changed nothing"
    );
    let (s, _) = dev
        .activation("deactivate", json!({"userId": jane, "workflowId": WF}))
        .await;
    assert_eq!(s, StatusCode::OK, "another route is out of the scope");
    assert_eq!(
        dev.get(&format!("/workflows/{WF}/users")).await.0,
        StatusCode::OK
    );

    // A lost answer on activate: the change is committed, the client sees no response.
    dev.admin(
        Method::PUT,
        "/_emulator/faults",
        Some(json!({"error_rate": 0.0, "lost_response_rate": 1.0,
            "routes": ["PUT /workflows/activate"]})),
    )
    .await;
    let err = dev
        .request(Method::PUT, "/workflows/activate")
        .json(&json!({"userId": jane, "workflowId": WF}))
        .send()
        .await
        .expect_err("the answer is lost");
    assert!(!err.is_status(), "{err}");
    assert_eq!(
        dev.truth("development", WF).await["data"][0]["active"],
        true
    );
    let (s, v) = dev
        .put(&format!("/workflows/{WF}/upgrade?userId=jane"), Value::Null)
        .await;
    assert_eq!(
        (s, v["installedVersion"].as_u64()),
        (StatusCode::OK, Some(wf_version() + 1))
    );
    // Every new route name is accepted as a scope; a typo is not.
    let (s, _) = dev
        .admin(
            Method::PUT,
            "/_emulator/faults",
            Some(
                json!({"routes": ["GET /workflows/{id}/users", "PUT /workflows/deactivate",
                "DELETE /workflows/{id}"]}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = dev
        .admin(
            Method::PUT,
            "/_emulator/faults",
            Some(json!({"routes": ["PUT /workflows/{id}"]})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (_, log) = dev.admin(Method::GET, "/_emulator/requests", None).await;
    assert_eq!(log["lost_responses"], 1);
    assert_eq!(log["by_route"]["PUT /workflows/{id}/upgrade"], 2);
}

#[tokio::test]
async fn install_state_and_versions_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let state_arg = state.to_str().unwrap();
    let (jane, before) = {
        let p = spawn(&["--state", state_arg]);
        let dev = Api::new(&p.url, DEV);
        let jane = dev.create("jane").await;
        dev.install("development", &jane, WF).await;
        dev.install("development", &jane, WF2).await;
        dev.publish(WF, true).await;
        dev.publish(WF, false).await;
        dev.activation("deactivate", json!({"userId": jane, "workflowId": WF}))
            .await;
        dev.delete(&format!("/workflows/{WF2}?userId={jane}")).await;
        let before = dev.truth("development", WF).await;
        let (status, _) = p.terminate();
        assert!(status.success(), "{status:?}");
        (jane, before)
    };
    let p = spawn(&["--state", state_arg]);
    let dev = Api::new(&p.url, DEV);
    assert_eq!(dev.truth("development", WF).await, before);
    assert_eq!(dev.truth("development", WF2).await, json!({"data": []}));
    let (_, v) = dev
        .get(&format!("/integrations/{SHOPIFY}?userId={jane}"))
        .await;
    assert_eq!(v["data"]["workflows"][0]["version"], wf_version() + 2);
    assert_eq!(v["data"]["workflows"][0]["active"], false);
    // The incompatible version is remembered too.
    let (s, _) = dev
        .put(
            &format!("/workflows/{WF}/upgrade?userId={jane}"),
            Value::Null,
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(dev.publish(WF, false).await.1["version"], wf_version() + 3);
}
