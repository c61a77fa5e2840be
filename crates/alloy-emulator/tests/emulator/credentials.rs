//! A tenant's stored credentials, the credential-metadata catalogue and per-user logs: each route
//! and both spellings of the drifting ones, every status the project chose where Alloy's docs are
//! silent (with its body), the secret absent from every answer, admin output, request log and
//! state file, and a user delete that leaves credentials and logs behind.

use super::*;

/// Shopify's "Sync new orders".
const WF: &str = "a1f7fad397c0ac5b8339697b";
const SECRET: &str = "pw-Zq81-never-shown";

fn header_auth(value: &str) -> Value {
    json!({"type": "httpHeaderAuth", "data": {"fieldName": "X-Api-Key", "value": value}})
}

/// The digest the admin view promises: SHA-256 of the data as JSON with sorted keys.
fn sha256_of(data: &Value) -> String {
    let sorted: std::collections::BTreeMap<String, String> =
        serde_json::from_value(data.clone()).unwrap();
    alloy_emulator::tenant::data_sha256(&sorted)
}

impl Api {
    async fn add_credential(&self, user: &str, credential: Value) -> (StatusCode, Value) {
        self.post(
            "/headless/credentials",
            json!({"userId": user, "credential": credential}),
        )
        .await
    }

    async fn admin_credentials(&self, env: &str) -> Value {
        let (s, v) = self
            .admin(
                Method::GET,
                &format!("/_emulator/credentials?environment={env}"),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v
    }

    async fn add_logs(&self, user: &str, count: usize) {
        let (s, v) = self
            .admin(
                Method::POST,
                "/_emulator/logs",
                Some(
                    json!({"environment": "development", "userId": user, "workflowId": WF,
                    "count": count}),
                ),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }

    async fn log_count(&self, user: &str) -> u64 {
        let (s, v) = self
            .admin(
                Method::GET,
                &format!("/_emulator/logs?environment=development&userId={user}"),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["count"].as_u64().unwrap()
    }

    /// Everything the admin API shows, for a leak audit.
    async fn admin_dump(&self) -> String {
        let mut all = String::new();
        for path in [
            "/_emulator/requests",
            "/_emulator/credentials?environment=development",
            "/_emulator/credentials?environment=production",
            "/_emulator/logs?environment=development",
            "/_emulator/users?environment=development",
            "/_emulator/tokens",
            "/_emulator/faults",
        ] {
            all.push_str(&self.admin(Method::GET, path, None).await.1.to_string());
        }
        all
    }
}

#[tokio::test]
async fn credentials_are_created_listed_and_deleted_without_ever_showing_the_secret() {
    let p = spawn(&[]);
    let dev = Api::new(&p.url, DEV);
    let prod = Api::new(&p.url, PROD);
    let jane = dev.create("jane").await;
    let mut answers = String::new();

    let (s, v) = dev.add_credential(&jane, header_auth(SECRET)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["success"], true);
    let first = v["credentialId"].as_str().unwrap().to_owned();
    assert!(is_object_id(&first), "{first}");
    answers.push_str(&v.to_string());
    // By username too; a second credential of the same type gets its own id and name.
    let (s, v) = dev.add_credential("jane", header_auth("other-value")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let second = v["credentialId"].as_str().unwrap().to_owned();
    assert_ne!(first, second);

    for path in [
        format!("/credentials/users/{jane}"),
        "/users/jane/credentials".to_owned(),
    ] {
        let (s, v) = dev.get(&path).await;
        assert_eq!(s, StatusCode::OK, "{path}: {v}");
        answers.push_str(&v.to_string());
        let list = v["data"].as_array().unwrap();
        assert_eq!(list.len(), 2);
        let c = &list[0];
        let keys: BTreeSet<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            BTreeSet::from(["credentialId", "type", "name", "createdAt", "updatedAt"]),
            "no data field"
        );
        assert_eq!(c["credentialId"], first.as_str());
        assert_eq!(c["type"], "httpHeaderAuth");
        assert_eq!(c["name"], "HTTP Header Auth credential");
        assert_eq!(list[1]["name"], "HTTP Header Auth credential 2");
        assert_eq!(c["createdAt"], c["updatedAt"]);
    }
    // Environments stay apart.
    assert_eq!(
        prod.get(&format!("/credentials/users/{jane}")).await.0,
        StatusCode::NOT_FOUND
    );

    // The admin truth: ids, types, user ids and a digest in place of the data.
    let truth = dev.admin_credentials("development").await;
    let rows = truth["data"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["credentialId"], first.as_str());
    assert_eq!(rows[0]["userId"], jane.as_str());
    assert_eq!(rows[0]["userExists"], true);
    assert_eq!(rows[0]["properties"], json!(["fieldName", "value"]));
    assert_eq!(
        rows[0]["dataSha256"],
        sha256_of(&header_auth(SECRET)["data"]).as_str()
    );
    assert_ne!(rows[0]["dataSha256"], rows[1]["dataSha256"]);
    assert_eq!(
        dev.admin_credentials("production").await,
        json!({"data": []})
    );

    // Delete, in both spellings; a second delete is a 404.
    let (s, v) = dev
        .delete(&format!("/users/{jane}/credentials/{first}"))
        .await;
    assert_eq!((s, v), (StatusCode::OK, json!({"success": true})));
    let (s, v) = dev
        .delete(&format!("/credentials/{second}/users/jane"))
        .await;
    assert_eq!((s, v), (StatusCode::OK, json!({"success": true})));
    let (s, v) = dev
        .delete(&format!("/users/{jane}/credentials/{first}"))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(message(&v), format!("Credential {first} not found"));
    assert_eq!(
        dev.get(&format!("/credentials/users/{jane}")).await.1,
        json!({"data": []})
    );

    assert!(!answers.contains(SECRET), "{answers}");
    let dump = dev.admin_dump().await;
    assert!(!dump.contains(SECRET), "the admin API leaked the secret");
    assert!(!dump.contains("other-value"));
    // The creates are in the request log, by route, without their bodies.
    let log = dev.admin(Method::GET, "/_emulator/requests", None).await.1;
    assert_eq!(log["by_route"]["POST /headless/credentials"], 2);
}

#[tokio::test]
async fn every_chosen_status_has_its_body_and_none_quotes_a_value() {
    let p = spawn(&[]);
    let dev = Api::new(&p.url, DEV);
    let jane = dev.create("jane").await;
    let joe = dev.create("joe").await;
    let cases: Vec<(Value, StatusCode, &str)> = vec![
        (
            json!({"userId": jane, "credential": {"type": "nope", "data": {"a": SECRET}}}),
            StatusCode::BAD_REQUEST,
            "Unknown credential type \"nope\": GET /metadata/credentials lists the known types",
        ),
        (
            json!({"userId": jane, "credential": {"type": "slack", "data": {"token": SECRET}}}),
            StatusCode::BAD_REQUEST,
            "Credential type \"slack\" uses OAuth: it needs the end user's consent in the Alloy \
             modal and cannot be created through /headless/credentials",
        ),
        (
            json!({"userId": jane, "credential": {"type": "netsuite",
                "data": {"realm": "1", "consumerKey": SECRET, "tokenId": "t", "tokenSecret": ""}}}),
            StatusCode::BAD_REQUEST,
            "Credential type \"netsuite\" requires consumerSecret, tokenSecret: missing or empty \
             in credential.data",
        ),
        (
            json!({"userId": jane, "credential": {"type": "httpHeaderAuth",
                "data": {"fieldName": "X", "value": 12345678}}}),
            StatusCode::BAD_REQUEST,
            "credential.data.value must be a string",
        ),
        (
            json!({"userId": jane, "credential": {"type": "httpHeaderAuth", "data": SECRET}}),
            StatusCode::BAD_REQUEST,
            "credential.data is required: an object of strings",
        ),
        (
            json!({"userId": jane, "credential": {"data": {}}}),
            StatusCode::BAD_REQUEST,
            "credential.type is required (a string)",
        ),
        (
            json!({"credential": header_auth(SECRET)}),
            StatusCode::BAD_REQUEST,
            "userId is required (a string)",
        ),
        (
            json!({"userId": "nobody", "credential": header_auth(SECRET)}),
            StatusCode::NOT_FOUND,
            "User nobody not found",
        ),
    ];
    for (body, status, want) in cases {
        let (s, v) = dev.post("/headless/credentials", body.clone()).await;
        assert_eq!((s, message(&v)), (status, want), "{body}");
        assert!(!v.to_string().contains(SECRET), "{v}");
        assert!(!v.to_string().contains("12345678"), "{v}");
    }
    // A malformed body names no value either.
    let r = dev
        .request(Method::POST, "/headless/credentials")
        .body(format!(
            "{{\"userId\": \"{jane}\", \"credential\": \"{SECRET}"
        ))
        .send()
        .await
        .unwrap();
    let (s, v) = decode(r).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(!v.to_string().contains(SECRET), "{v}");
    assert!(
        dev.admin_credentials("development").await["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Unknown user and unknown credential on the other routes.
    let (_, v) = dev.add_credential(&jane, header_auth(SECRET)).await;
    let cid = v["credentialId"].as_str().unwrap().to_owned();
    let (s, v) = dev.get("/credentials/users/nobody").await;
    assert_eq!(
        (s, message(&v)),
        (StatusCode::NOT_FOUND, "User nobody not found")
    );
    let (s, v) = dev
        .delete(&format!("/users/nobody/credentials/{cid}"))
        .await;
    assert_eq!(
        (s, message(&v)),
        (StatusCode::NOT_FOUND, "User nobody not found")
    );
    // Another user's credential is not found for this one, and stays.
    let (s, v) = dev.delete(&format!("/users/{joe}/credentials/{cid}")).await;
    assert_eq!(
        (s, message(&v).to_owned()),
        (StatusCode::NOT_FOUND, format!("Credential {cid} not found"))
    );
    assert_eq!(
        dev.get("/credentials/users/jane").await.1["data"][0]["credentialId"],
        cid.as_str()
    );
    let (s, v) = dev.get("/metadata/credentials/nope").await;
    assert_eq!(
        (s, message(&v)),
        (StatusCode::NOT_FOUND, "Credential type \"nope\" not found")
    );
    let (s, v) = dev.delete("/users/nobody/logs").await;
    assert_eq!(
        (s, message(&v)),
        (StatusCode::NOT_FOUND, "User nobody not found")
    );
    let (s, v) = dev.delete("/workflows/logs").await;
    assert_eq!(
        (s, message(&v)),
        (
            StatusCode::BAD_REQUEST,
            "userId query parameter is required"
        )
    );
    let (s, _) = dev
        .get(&format!("/workflows/{WF}/logs?userId=nobody"))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = dev.get("/workflows/0123456789abcdef01234567/logs").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = dev.get(&format!("/workflows/{WF}/logs?limit=31")).await;
    assert_eq!(
        (s, message(&v)),
        (
            StatusCode::BAD_REQUEST,
            "limit must be a whole number from 1 to 30, got \"31\""
        )
    );
}

#[tokio::test]
async fn the_metadata_catalogue_has_oauth_and_non_oauth_types_with_their_properties() {
    let p = spawn(&[]);
    let dev = Api::new(&p.url, DEV);
    let (s, v) = dev.get("/metadata/credentials").await;
    assert_eq!(s, StatusCode::OK);
    let types = v["data"].as_array().unwrap();
    assert!(types.iter().any(|t| t["isOauth"] == true));
    assert!(types.iter().any(|t| t["isOauth"] == false));
    let pg = types
        .iter()
        .find(|t| t["connector"] == "postgresql")
        .unwrap();
    let ssl = pg["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "sslMode")
        .unwrap();
    assert_eq!(ssl["required"], false);
    assert!(ssl["description"].is_string());
    let (s, one) = dev.get("/metadata/credentials/netsuite").await;
    assert_eq!(s, StatusCode::OK);
    let ns = &one["data"][0];
    assert_eq!(ns["connector"], "netsuite");
    assert_eq!(ns["isOauth"], false);
    assert!(ns["icon"].is_string());
    let names: Vec<&str> = ns["properties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "realm",
            "consumerKey",
            "consumerSecret",
            "tokenId",
            "tokenSecret"
        ]
    );
    let p0 = &ns["properties"][0];
    assert_eq!(p0["displayName"], "Account ID");
    assert_eq!(p0["required"], true);
}

#[tokio::test]
async fn logs_are_listed_per_workflow_purged_per_user_and_outlive_a_user_delete() {
    let p = spawn(&[]);
    let dev = Api::new(&p.url, DEV);
    let jane = dev.create("jane").await;
    let joe = dev.create("joe").await;
    dev.add_logs(&jane, 12).await;
    dev.add_logs("joe", 2).await;

    let (s, v) = dev.get(&format!("/workflows/{WF}/logs?userId=jane")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["data"].as_array().unwrap().len(), 10, "default page size");
    assert_eq!(
        v["pagination"],
        json!({"totalItems": 12, "totalPages": 2, "currentPage": 1, "pageSize": 10})
    );
    let e = &v["data"][0];
    assert_eq!(e["userId"], jane.as_str());
    assert_eq!(e["workflowId"], WF);
    assert_eq!(e["status"], "success");
    let newest = e["startedAt"].as_str().unwrap().to_owned();
    let (_, asc) = dev
        .get(&format!(
            "/workflows/{WF}/logs?userId={jane}&order=asc&page=2&limit=5"
        ))
        .await;
    assert_eq!(asc["data"].as_array().unwrap().len(), 5);
    assert!(asc["data"][0]["startedAt"].as_str().unwrap() < newest.as_str());
    let (_, all) = dev.get(&format!("/workflows/{WF}/logs?limit=30")).await;
    assert_eq!(all["pagination"]["totalItems"], 14, "every user's");

    // A user delete keeps the logs and the credentials.
    let (_, v) = dev.add_credential(&joe, header_auth(SECRET)).await;
    let cid = v["credentialId"].as_str().unwrap().to_owned();
    assert_eq!(dev.delete("/users/joe").await.0, StatusCode::OK);
    assert_eq!(dev.log_count(&joe).await, 2);
    let (_, all) = dev.get(&format!("/workflows/{WF}/logs?limit=30")).await;
    assert_eq!(
        all["pagination"]["totalItems"], 14,
        "joe's runs still listed"
    );
    let truth = dev.admin_credentials("development").await;
    assert_eq!(truth["data"][0]["credentialId"], cid.as_str());
    assert_eq!(truth["data"][0]["userExists"], false);
    // ...and the API can no longer reach them through the user.
    assert_eq!(
        dev.delete(&format!("/users/{joe}/logs")).await.0,
        StatusCode::NOT_FOUND
    );

    // Purging, in both spellings: everything of that user, idempotent.
    let (s, v) = dev
        .delete(&format!("/users/{jane}/logs?userId={jane}"))
        .await;
    assert_eq!((s, v), (StatusCode::OK, json!({"message": "Success"})));
    assert_eq!(dev.log_count("jane").await, 0);
    dev.add_logs(&jane, 1).await;
    let (s, v) = dev.delete("/workflows/logs?userId=jane").await;
    assert_eq!((s, v), (StatusCode::OK, json!({"message": "Success"})));
    assert_eq!(dev.log_count(&jane).await, 0);
    let (s, _) = dev.delete(&format!("/users/{jane}/logs")).await;
    assert_eq!(s, StatusCode::OK, "nothing left to purge is no error");
    let (s, v) = dev
        .admin(Method::GET, "/_emulator/logs?environment=development", None)
        .await;
    assert_eq!(
        (s, v),
        (
            StatusCode::OK,
            json!({"data": [{"userId": joe, "count": 2}]})
        )
    );
}

#[tokio::test]
async fn faults_scoped_to_a_credential_route_and_a_lost_create_makes_one_credential() {
    let p = spawn(&[
        "--routes",
        "POST /headless/credentials",
        "--lost-response-rate",
        "1",
    ]);
    let dev = Api::new(&p.url, DEV);
    let jane = dev.create("jane").await;
    let r = dev
        .request(Method::POST, "/headless/credentials")
        .json(&json!({"userId": jane, "credential": header_auth(SECRET)}))
        .send()
        .await;
    assert!(r.is_err(), "the answer is lost: {r:?}");
    let truth = dev.admin_credentials("development").await;
    assert_eq!(truth["data"].as_array().unwrap().len(), 1, "made once");
    // Out of the scope: answered.
    assert_eq!(dev.get("/metadata/credentials").await.0, StatusCode::OK);
    assert_eq!(
        dev.get(&format!("/credentials/users/{jane}")).await.1["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let log = dev.admin(Method::GET, "/_emulator/requests", None).await.1;
    let create = log["log"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["route"] == "/headless/credentials")
        .unwrap()
        .clone();
    assert_eq!(create["lost"], true);
    assert!(!log.to_string().contains(SECRET));

    // Server errors on the logs purge only.
    let (s, _) = dev
        .admin(
            Method::PUT,
            "/_emulator/faults",
            Some(json!({"lost_response_rate": 0.0, "error_rate": 1.0,
                "routes": ["DELETE /users/{id}/logs"]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    dev.add_logs(&jane, 3).await;
    let (s, _) = dev.delete(&format!("/users/{jane}/logs")).await;
    assert!(s == 500 || s == 503, "{s}");
    assert_eq!(dev.log_count(&jane).await, 3, "a 5xx purged nothing");
    assert_eq!(
        dev.delete(&format!("/workflows/logs?userId={jane}"))
            .await
            .0,
        StatusCode::OK,
        "the other spelling is another route"
    );
}

#[tokio::test]
async fn credentials_and_logs_survive_a_restart_and_the_state_file_holds_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let state_arg = state.to_str().unwrap();
    let (before, jane) = {
        let p = spawn(&["--state", state_arg]);
        let dev = Api::new(&p.url, DEV);
        let jane = dev.create("jane").await;
        dev.add_credential(&jane, header_auth(SECRET)).await;
        dev.add_logs(&jane, 4).await;
        let before = dev.admin_credentials("development").await;
        let (status, _) = p.terminate();
        assert!(status.success(), "{status:?}");
        (before, jane)
    };
    let file = std::fs::read_to_string(&state).unwrap();
    assert!(!file.contains(SECRET), "the state file holds the secret");
    assert!(file.contains(before["data"][0]["dataSha256"].as_str().unwrap()));
    let p = spawn(&["--state", state_arg]);
    let dev = Api::new(&p.url, DEV);
    assert_eq!(dev.admin_credentials("development").await, before);
    assert_eq!(dev.log_count(&jane).await, 4);
    let (_, v) = dev.get(&format!("/credentials/users/{jane}")).await;
    assert_eq!(
        v["data"][0]["credentialId"],
        before["data"][0]["credentialId"]
    );
}
