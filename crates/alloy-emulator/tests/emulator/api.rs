//! The API as a client sees it: URL styles, keys and environments, the user lifecycle, batches,
//! tokens, integrations and installs, the workflow filter, and the admin API. Over HTTP to the
//! library in this process (`TestEmulator`); the binary's own behaviour is in `process.rs`.

use super::*;

#[tokio::test]
async fn both_url_styles_and_trailing_slashes() {
    let p = TestEmulator::start();
    let api = Api::new(&p.url(), DEV);
    let http = Client::new();

    // Path-versioned create, no header.
    let r = http
        .post(format!("{}/2024-03/users/", p.url()))
        .bearer_auth(DEV)
        .json(&json!({"username": "path-style"}))
        .send()
        .await
        .unwrap();
    let (s, v) = decode(r).await;
    assert_eq!(s, StatusCode::OK);
    let id = v["userId"].as_str().unwrap().to_owned();
    assert!(is_object_id(&id), "{id}");

    // Header-versioned read, with and without a trailing slash.
    for path in [format!("/users/{id}"), format!("/users/{id}/")] {
        let (s, v) = api.get(&path).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["username"], "path-style");
    }
    // Unversioned without the header: the current version is assumed.
    let r = http
        .get(format!("{}/users/path-style", p.url()))
        .bearer_auth(DEV)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Older path versions work too, with trailing slash.
    let r = http
        .get(format!("{}/2023-12/users/", p.url()))
        .bearer_auth(DEV)
        .send()
        .await
        .unwrap();
    let (s, v) = decode(r).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    // A malformed version header is refused with a message.
    let r = http
        .get(format!("{}/users", p.url()))
        .bearer_auth(DEV)
        .header("x-api-version", "latest")
        .send()
        .await
        .unwrap();
    let (s, v) = decode(r).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(message(&v).contains("x-api-version"));

    // The request log strips the version and tells how it was given.
    let (_, log) = api.admin(Method::GET, "/_emulator/requests", None).await;
    let entries = log["log"].as_array().unwrap();
    assert_eq!(entries[0]["route"], "/users");
    assert_eq!(entries[0]["versioned_by"], "path");
    assert_eq!(entries[0]["api_version"], "2024-03");
    assert_eq!(entries[1]["versioned_by"], "header");
    assert_eq!(entries[3]["versioned_by"], "default");
    assert_eq!(entries[3]["api_version"], "2025-09");
    assert_eq!(log["by_route"]["GET /users/{id}"], 3);
}

#[tokio::test]
async fn keys_authenticate_and_environments_are_disjoint() {
    let p = TestEmulator::start();
    let dev = Api::new(&p.url(), DEV);
    let prod = Api::new(&p.url(), PROD);
    let id = dev.create("shared-name").await;

    assert_eq!(
        prod.get(&format!("/users/{id}")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        prod.get("/users/shared-name").await.0,
        StatusCode::NOT_FOUND
    );
    let (_, v) = prod.get("/users").await;
    assert_eq!(v["data"], json!([]));
    // The same username may exist once per environment.
    let prod_id = prod.create("shared-name").await;
    assert_ne!(prod_id, id);
    assert_eq!(
        prod.delete(&format!("/users/{id}")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(dev.get(&format!("/users/{id}")).await.0, StatusCode::OK);

    // Missing, unknown and malformed keys.
    let anon = Api {
        key: None,
        ..dev.clone()
    };
    let wrong = Api::new(&p.url(), "not-a-key");
    for api in [&anon, &wrong] {
        let (s, v) = api.get("/users").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(v, json!({"message": "Unauthorized"}));
        let (s, _) = api.post("/users", json!({"username": "x"})).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    for header in [format!("Token {DEV}"), DEV.to_owned(), "Bearer".to_owned()] {
        let r = dev
            .http
            .get(format!("{}/users", p.url()))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    // The scheme is case-insensitive.
    let r = dev
        .http
        .get(format!("{}/users", p.url()))
        .header("authorization", format!("bearer {DEV}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Nothing was created by the refused requests.
    let (_, users) = dev
        .admin(
            Method::GET,
            "/_emulator/users?environment=development",
            None,
        )
        .await;
    assert_eq!(users["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn user_lifecycle_by_id_and_by_username() {
    let p = TestEmulator::start();
    let api = Api::new(&p.url(), DEV);

    let (s, v) = api
        .post(
            "/users",
            json!({"username": "jane@example.com", "fullName": "Jane Doe"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let obj = v.as_object().unwrap();
    assert_eq!(obj.keys().collect::<Vec<_>>(), ["userId"]);
    let id = v["userId"].as_str().unwrap().to_owned();
    assert!(is_object_id(&id));

    // GET by id and by username: exactly the documented fields.
    for key in [id.as_str(), "jane@example.com"] {
        let (s, v) = api.get(&format!("/users/{key}")).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            v,
            json!({"userId": id, "username": "jane@example.com", "fullName": "Jane Doe"})
        );
    }
    // fullName is null when never given.
    let bob = api.create("bob").await;
    let (_, v) = api.get(&format!("/users/{bob}")).await;
    assert_eq!(v["fullName"], Value::Null);
    assert!(v.as_object().unwrap().contains_key("fullName"));

    // Duplicate username: 422 naming the user.
    let (s, v) = api
        .post("/users", json!({"username": "jane@example.com"}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(message(&v).contains("jane@example.com"), "{v}");
    // Missing / empty username, wrong types, malformed JSON: 400 with a message.
    for body in [json!({}), json!({"username": ""}), json!({"fullName": "X"})] {
        let (s, v) = api.post("/users", body).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(!message(&v).is_empty());
    }
    let (s, v) = api.post("/users", json!({"username": 5})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(!message(&v).is_empty());
    let r = api
        .request(Method::POST, "/users")
        .header("content-type", "application/json")
        .body("{\"username\": ")
        .send()
        .await
        .unwrap();
    let (s, v) = decode(r).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(message(&v).contains("JSON"), "{v}");

    // List: creation order, documented wrapper.
    let (s, v) = api.get("/users").await;
    assert_eq!(s, StatusCode::OK);
    let names: Vec<_> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["jane@example.com", "bob"]);
    assert_eq!(v["data"][0]["userId"], id.as_str());
    assert_eq!(v["data"][0]["fullName"], "Jane Doe");

    // PUT by username: fullName only.
    let (s, v) = api
        .put(
            "/users/jane@example.com",
            json!({"fullName": "Jane Q. Doe"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v,
        json!({"userId": id, "username": "jane@example.com", "fullName": "Jane Q. Doe"})
    );
    // PUT by id: rename; the old name is gone, the new one resolves.
    let (s, v) = api
        .put(
            &format!("/users/{id}"),
            json!({"username": "jane2@example.com"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["username"], "jane2@example.com");
    assert_eq!(v["fullName"], "Jane Q. Doe");
    assert_eq!(
        api.get("/users/jane@example.com").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.get("/users/jane2@example.com").await.1["userId"],
        id.as_str()
    );
    // Rename onto an existing name: 422 naming it.
    let (s, v) = api
        .put(&format!("/users/{id}"), json!({"username": "bob"}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(message(&v).contains("bob"));
    // Explicit null clears fullName.
    let (_, v) = api
        .put(&format!("/users/{id}"), json!({"fullName": null}))
        .await;
    assert_eq!(v["fullName"], Value::Null);

    // DELETE by username, then every user route is 404 "User not found".
    let (s, v) = api.delete("/users/bob").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v, json!({"success": true}));
    let (s, v) = api.delete(&format!("/users/{id}")).await;
    assert_eq!((s, v), (StatusCode::OK, json!({"success": true})));
    let gone = [
        api.get(&format!("/users/{id}")).await,
        api.get("/users/bob").await,
        api.put(&format!("/users/{id}"), json!({"fullName": "x"}))
            .await,
        api.delete(&format!("/users/{id}")).await,
        api.get(&format!("/users/{id}/token")).await,
    ];
    for (s, v) in gone {
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert_eq!(v, json!({"message": "User not found"}));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_of_one_username_make_one_user() {
    let p = TestEmulator::start();
    let api = Api::new(&p.url(), DEV);
    let calls: Vec<_> = (0..16)
        .map(|_| {
            let api = api.clone();
            tokio::spawn(async move { api.post("/users", json!({"username": "race"})).await.0 })
        })
        .collect();
    let mut statuses = Vec::new();
    for c in calls {
        statuses.push(c.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1);
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::UNPROCESSABLE_ENTITY)
            .count(),
        15
    );
    assert_eq!(
        api.get("/users").await.1["data"].as_array().unwrap().len(),
        1
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let p = TestEmulator::start();
    let api = Api::new(&p.url(), DEV);
    for path in ["/nope", "/2025-09/nope", "/users/a/b/c", "/_emulator/nope"] {
        let (s, v) = api.get(path).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
        assert!(!message(&v).is_empty());
    }
    let (s, v) = api.send(Method::PATCH, "/users/x", Some(json!({}))).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert!(!message(&v).is_empty());
    let (s, _) = api.admin(Method::DELETE, "/_emulator/health", None).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn batch_create() {
    let p = TestEmulator::start();
    let api = Api::new(&p.url(), DEV);
    api.create("alreadyexists123").await;
    let (s, v) = api
        .post(
            "/users/batch",
            json!({"users": [
                {"username": "b1", "fullName": "B One"},
                {"fullName": "Missing Username"},
                {"username": "alreadyexists123"},
                {"username": "b2"}
            ]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v,
        json!({"message": "success", "invalidUsers": [
            {"fullName": "Missing Username"}, {"username": "alreadyexists123"}]})
    );
    let (_, b1) = api.get("/users/b1").await;
    assert_eq!(b1["fullName"], "B One");
    assert!(is_object_id(b1["userId"].as_str().unwrap()));
    assert_eq!(api.get("/users/b2").await.0, StatusCode::OK);

    let (s, v) = api
        .post(
            "/users/batch",
            json!({"users": [{"username": "b1"}, {"fullName": "x"}]}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v, json!({"message": "No valid users provided"}));
    let (s, _) = api.post("/users/batch", json!({"users": []})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    let too_many: Vec<Value> = (0..1001)
        .map(|i| json!({"username": format!("m{i}")}))
        .collect();
    let (s, v) = api.post("/users/batch", json!({"users": too_many})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(message(&v).contains("1000"));
    let exactly: Vec<Value> = (0..1000)
        .map(|i| json!({"username": format!("m{i}")}))
        .collect();
    let (s, v) = api.post("/users/batch", json!({"users": exactly})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["invalidUsers"], json!([]));
    let (_, all) = api.get("/users").await;
    assert_eq!(all["data"].as_array().unwrap().len(), 1003);
}

#[tokio::test]
async fn user_tokens_are_hs256_jwts_that_are_recorded() {
    let secret = "test-secret-for-jwt";
    // The secret through its flag: the binary.
    let p = spawn(&["--jwt-secret", secret]);
    let api = Api::new(&p.url, DEV);
    let id = api.create("tok").await;

    let (s, v) = api.get(&format!("/users/tok/token?userId={id}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v.as_object().unwrap().keys().collect::<Vec<_>>(), ["token"]);
    let token = v["token"].as_str().unwrap().to_owned();
    let data = jsonwebtoken::decode::<Value>(
        &token,
        &DecodingKey::from_secret(secret.as_bytes()),
        &Validation::new(Algorithm::HS256),
    )
    .expect("valid HS256 token");
    assert_eq!(data.claims["userId"], id.as_str());
    let iat = data.claims["iat"].as_u64().unwrap();
    let exp = data.claims["exp"].as_u64().unwrap();
    assert_eq!(exp - iat, 1800);
    assert_eq!(TOKEN_TTL_SECS, 1800);
    // Another secret does not verify it.
    assert!(
        jsonwebtoken::decode::<Value>(
            &token,
            &DecodingKey::from_secret(b"other"),
            &Validation::new(Algorithm::HS256),
        )
        .is_err()
    );
    // Every token is recorded, each one distinct.
    let (_, v2) = api.get(&format!("/2024-03/users/{id}/token")).await;
    let token2 = v2["token"].as_str().unwrap();
    assert_ne!(token, token2);
    let (_, tokens) = api.admin(Method::GET, "/_emulator/tokens", None).await;
    let list = tokens["tokens"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["token"], token.as_str());
    assert_eq!(list[0]["userId"], id.as_str());
    assert_eq!(list[0]["environment"], "development");
    assert_eq!(list[0]["exp"].as_u64(), Some(exp));
    assert_eq!(list[1]["token"], token2);
}

#[tokio::test]
async fn integrations_and_installs() {
    let p = TestEmulator::start();
    let api = Api::new(&p.url(), DEV);
    let id = api.create("shop-owner").await;

    let (s, v) = api.get("/integrations").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(message(&v).contains("userId"));
    let (s, v) = api.get("/integrations?userId=ghost").await;
    assert_eq!(
        (s, v),
        (StatusCode::NOT_FOUND, json!({"message": "User not found"}))
    );

    let (s, v) = api.get(&format!("/integrations?userId={id}")).await;
    assert_eq!(s, StatusCode::OK);
    let list = v["data"].as_array().unwrap();
    assert_eq!(list.len(), catalogue().len());
    assert!(list.len() >= 12);
    let apps: BTreeSet<_> = list.iter().map(|i| i["app"].as_str().unwrap()).collect();
    for app in [
        "Shopify",
        "Salesforce",
        "HubSpot",
        "Slack",
        "NetSuite",
        "Zendesk",
        "Stripe",
        "Magento",
    ] {
        assert!(apps.contains(app), "{app}");
    }
    for i in list {
        assert!(is_object_id(i["integrationId"].as_str().unwrap()));
        assert_eq!(i["installed"], false);
        assert!(i.get("installedVersion").is_none());
        for key in ["primaryConnector", "description", "icon", "credentials"] {
            assert!(i.get(key).is_some(), "{key}");
        }
        let wfs = i["workflows"].as_array().unwrap();
        assert!((1..=4).contains(&wfs.len()));
        for w in wfs {
            assert!(is_object_id(w["workflowId"].as_str().unwrap()));
            assert_eq!(w["installed"], false);
            assert_eq!(w["active"], false);
            assert!(w["version"].is_u64());
            assert!(w["name"].is_string());
            assert!(!w["connectors"].as_array().unwrap().is_empty());
        }
    }

    // Get one by id and by name (app), for a user given by username.
    let shopify = list.iter().find(|i| i["app"] == "Shopify").unwrap().clone();
    let sid = shopify["integrationId"].as_str().unwrap();
    let (s, by_id) = api
        .get(&format!("/integrations/{sid}?userId=shop-owner"))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(by_id["data"], shopify);
    let (_, by_name) = api.get(&format!("/integrations/Shopify?userId={id}")).await;
    assert_eq!(by_name["data"], shopify);
    let (s, v) = api.get(&format!("/integrations/Nope?userId={id}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(!message(&v).is_empty());

    // Install one workflow through the admin API.
    let wf = shopify["workflows"][1]["workflowId"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, v) = api
        .admin(
            Method::POST,
            "/_emulator/installs",
            Some(json!({"environment": "development", "userId": id,
                "integrationId": sid, "workflowId": wf})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, v) = api.get(&format!("/integrations/{sid}?userId={id}")).await;
    let got = &v["data"];
    assert_eq!(got["installed"], true);
    assert!(got["installedVersion"].is_u64());
    assert_eq!(got["workflows"][1]["installed"], true);
    assert_eq!(got["workflows"][1]["active"], true);
    assert_eq!(
        got["workflows"][1]["installedVersion"],
        got["workflows"][1]["version"]
    );
    assert_eq!(got["workflows"][0]["installed"], false);
    assert!(got["workflows"][0].get("installedVersion").is_none());

    // Installs are per user and per environment.
    let other = api.create("someone-else").await;
    let (_, v) = api
        .get(&format!("/integrations/{sid}?userId={other}"))
        .await;
    assert_eq!(v["data"]["installed"], false);
    let prod = Api::new(&p.url(), PROD);
    prod.create("shop-owner").await;
    let (_, v) = prod
        .get(&format!("/integrations/{sid}?userId=shop-owner"))
        .await;
    assert_eq!(v["data"]["installed"], false);

    // Whole integration by name, then uninstall.
    let (s, _) = api
        .admin(
            Method::POST,
            "/_emulator/installs",
            Some(json!({"environment": "development", "userId": "shop-owner", "integrationId": "Slack"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, v) = api.get(&format!("/integrations?userId={id}")).await;
    let installed: Vec<_> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["installed"] == true)
        .map(|i| i["app"].as_str().unwrap())
        .collect();
    assert_eq!(installed, ["Shopify", "Slack"]);
    let (s, _) = api
        .admin(
            Method::DELETE,
            "/_emulator/installs",
            Some(json!({"environment": "development", "userId": id, "integrationId": sid})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, v) = api.get(&format!("/integrations/{sid}?userId={id}")).await;
    assert_eq!(v["data"]["installed"], false);
    assert_eq!(v["data"]["workflows"][1]["installed"], false);

    // Admin install errors.
    let (s, _) = api
        .admin(
            Method::POST,
            "/_emulator/installs",
            Some(json!({"environment": "development", "userId": "ghost", "integrationId": sid})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = api
        .admin(
            Method::POST,
            "/_emulator/installs",
            Some(json!({"environment": "staging", "userId": id, "integrationId": sid})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

/// The usernames of a `{"data": [user, ...]}` answer, in order.
fn usernames(v: &Value) -> Vec<&str> {
    v["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data list in {v}"))
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn users_filtered_by_parent_workflow() {
    let p = TestEmulator::start();
    let api = Api::new(&p.url(), DEV);
    let shop = catalogue().iter().find(|i| i.app == "Shopify").unwrap();
    let slack = catalogue().iter().find(|i| i.app == "Slack").unwrap();
    let (wf0, wf1) = (shop.workflows[0].id, shop.workflows[1].id);
    let install = |env: &'static str, user: String, integration: &'static str, wf: Option<&str>| {
        let mut body = json!({"environment": env, "userId": user, "integrationId": integration});
        if let Some(w) = wf {
            body["workflowId"] = json!(w);
        }
        api.admin(Method::POST, "/_emulator/installs", Some(body))
    };

    let one = api.create("one-workflow").await;
    let (s, v) = api
        .post(
            "/users",
            json!({"username": "whole-shop", "fullName": "Whole Shop"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let whole = v["userId"].as_str().unwrap().to_owned();
    let other = api.create("slack-only").await;
    api.create("nothing").await;
    assert_eq!(
        install("development", one.clone(), shop.id, Some(wf1))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        install("development", whole.clone(), shop.id, None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        install("development", other, slack.id, None).await.0,
        StatusCode::OK
    );
    // The same workflow in production stays out of the development answer.
    let prod = Api::new(&p.url(), PROD);
    let prod_user = prod.create("prod-shop").await;
    assert_eq!(
        install("production", prod_user, shop.id, None).await.0,
        StatusCode::OK
    );

    // One workflow installed alone or with its whole integration: both users, in creation
    // order, as the same user objects the unfiltered list gives.
    let (s, v) = api.get(&format!("/users?parentWorkflowId={wf1}")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(usernames(&v), ["one-workflow", "whole-shop"]);
    assert_eq!(
        v["data"][1],
        json!({"userId": whole, "username": "whole-shop", "fullName": "Whole Shop"})
    );
    assert_eq!(v["data"][0]["fullName"], Value::Null);
    let (_, v) = api.get(&format!("/users?parentWorkflowId={wf0}")).await;
    assert_eq!(usernames(&v), ["whole-shop"]);
    let (_, v) = prod.get(&format!("/users?parentWorkflowId={wf0}")).await;
    assert_eq!(usernames(&v), ["prod-shop"]);
    // Versioned path and trailing slash behave as everywhere else.
    let (_, v) = api
        .get(&format!("/2025-09/users/?parentWorkflowId={wf1}"))
        .await;
    assert_eq!(usernames(&v), ["one-workflow", "whole-shop"]);

    // Without the parameter (or with another one) every user is listed.
    let (_, v) = api.get("/users").await;
    assert_eq!(
        usernames(&v),
        ["one-workflow", "whole-shop", "slack-only", "nothing"]
    );
    let (_, v) = api.get("/users?workflowId=x").await;
    assert_eq!(v["data"].as_array().unwrap().len(), 4);

    // An unknown workflow, a workflow nobody has and a workflow *name* (ids only) list nobody.
    for w in ["0123456789abcdef01234567", shop.workflows[2].name] {
        let (s, v) = api
            .get(&format!(
                "/users?parentWorkflowId={}",
                w.replace(' ', "%20")
            ))
            .await;
        assert_eq!((s, v), (StatusCode::OK, json!({"data": []})), "{w}");
    }
    let (_, v) = api
        .get(&format!(
            "/users?parentWorkflowId={}",
            slack.workflows[0].id
        ))
        .await;
    assert_eq!(usernames(&v), ["slack-only"]);

    // Uninstalling the workflow and deleting a user both take effect.
    let (s, _) = api
        .admin(
            Method::DELETE,
            "/_emulator/installs",
            Some(
                json!({"environment": "development", "userId": one, "integrationId": shop.id,
                "workflowId": wf1}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, v) = api.get(&format!("/users?parentWorkflowId={wf1}")).await;
    assert_eq!(usernames(&v), ["whole-shop"]);
    assert_eq!(
        api.delete(&format!("/users/{whole}")).await.0,
        StatusCode::OK
    );
    let (_, v) = api.get(&format!("/users?parentWorkflowId={wf1}")).await;
    assert_eq!(v, json!({"data": []}));

    // An empty parameter is refused rather than read as "every user".
    let (s, v) = api.get("/users?parentWorkflowId=").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(message(&v).contains("parentWorkflowId"), "{v}");

    // Each list above, in either environment, is one request on the one route.
    let (_, log) = api.admin(Method::GET, "/_emulator/requests", None).await;
    assert_eq!(log["by_route"]["GET /users"], 12, "{}", log["by_route"]);
}

#[tokio::test]
async fn admin_api_counts_resets_and_deletes_out_of_band() {
    let p = TestEmulator::start();
    let api = Api::new(&p.url(), DEV);
    let (s, _) = api.admin(Method::GET, "/_emulator/health", None).await;
    assert_eq!(s, StatusCode::OK);

    let id = api.create("counted").await;
    api.get(&format!("/users/{id}")).await;
    api.get("/users/counted").await;
    api.get("/users/nobody").await;
    let (_, v) = api.admin(Method::GET, "/_emulator/requests", None).await;
    assert_eq!(v["total"], 4);
    assert_eq!(
        v["by_route"],
        json!({"POST /users": 1, "GET /users/{id}": 3})
    );
    assert_eq!(v["by_status"], json!({"200": 3, "404": 1}));
    let log = v["log"].as_array().unwrap();
    assert_eq!(log.len(), 4);
    for e in log {
        for key in ["at_ms", "method", "route", "status", "environment"] {
            assert!(e.get(key).is_some(), "{key}");
        }
        assert_eq!(e["environment"], "development");
    }
    assert_eq!(log[0]["method"], "POST");
    assert_eq!(log[3]["status"], 404);
    assert!(log[0]["at_ms"].as_u64().unwrap() <= log[3]["at_ms"].as_u64().unwrap());
    // Admin calls are not counted.
    let (_, v) = api.admin(Method::GET, "/_emulator/requests", None).await;
    assert_eq!(v["total"], 4);
    // `tail` bounds the log, not the counters.
    let (_, v) = api
        .admin(Method::GET, "/_emulator/requests?tail=1", None)
        .await;
    assert_eq!(v["total"], 4);
    assert_eq!(v["log"].as_array().unwrap().len(), 1);
    assert_eq!(v["log"][0]["status"], 404);
    let (s, _) = api
        .admin(Method::GET, "/_emulator/requests?tail=x", None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Out-of-band delete, as a drift test would.
    let (s, v) = api
        .admin(
            Method::GET,
            "/_emulator/users?environment=development",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["data"][0]["username"], "counted");
    let (s, _) = api
        .admin(Method::DELETE, "/_emulator/users/development/counted", None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        api.get(&format!("/users/{id}")).await.0,
        StatusCode::NOT_FOUND
    );
    let (s, _) = api
        .admin(Method::DELETE, "/_emulator/users/development/counted", None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = api.admin(Method::GET, "/_emulator/users", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Clearing the log only.
    api.create("kept").await;
    api.admin(Method::DELETE, "/_emulator/requests", None).await;
    let (_, v) = api.admin(Method::GET, "/_emulator/requests", None).await;
    assert_eq!(v["total"], 0);
    assert_eq!(api.get("/users/kept").await.0, StatusCode::OK);

    // Reset clears users, tokens, the log and faults.
    api.get("/users/kept/token").await;
    api.admin(
        Method::PUT,
        "/_emulator/faults",
        Some(json!({"latency_ms": 1})),
    )
    .await;
    let (s, _) = api.admin(Method::POST, "/_emulator/reset", None).await;
    assert_eq!(s, StatusCode::OK);
    let (_, v) = api.admin(Method::GET, "/_emulator/tokens", None).await;
    assert_eq!(v["tokens"], json!([]));
    let (_, v) = api.admin(Method::GET, "/_emulator/faults", None).await;
    assert_eq!(v["latency_ms"], 0);
    let (_, v) = api.admin(Method::GET, "/_emulator/requests", None).await;
    assert_eq!(v["total"], 0);
    assert_eq!(api.get("/users").await.1["data"], json!([]));
}

/// `POST /_emulator/seed` creates many numbered users at once, all or none, without touching the
/// request log; the public API then lists them like any other user.
#[tokio::test]
async fn admin_seed_creates_many_users_at_once() {
    let p = TestEmulator::start();
    let dev = Api::new(&p.url(), DEV);
    let prod = Api::new(&p.url(), PROD);
    let body = json!({
        "environment": "development", "count": 250, "prefix": "tenant-",
        "suffix": "@example.com", "full_name_prefix": "Tenant "
    });
    let (s, v) = dev
        .admin(Method::POST, "/_emulator/seed", Some(body.clone()))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v,
        json!({"created": 250, "first": "tenant-1@example.com", "last": "tenant-250@example.com"})
    );

    let (s, list) = dev.get("/users").await;
    assert_eq!(s, StatusCode::OK);
    let users = list["data"].as_array().unwrap();
    assert_eq!(users.len(), 250);
    let names: BTreeSet<&str> = users
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    let expected: BTreeSet<String> = (1..=250)
        .map(|n| format!("tenant-{n}@example.com"))
        .collect();
    assert_eq!(names, expected.iter().map(String::as_str).collect());
    let (s, one) = dev.get("/users/tenant-7@example.com").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(one["fullName"], "Tenant 7");
    assert_eq!(
        prod.get("/users").await.1["data"],
        json!([]),
        "one environment only"
    );

    // All or none: a seed that overlaps existing usernames creates nothing.
    let overlap = json!({
        "environment": "development", "count": 10, "prefix": "tenant-",
        "suffix": "@example.com", "start": 245
    });
    let (s, v) = dev
        .admin(Method::POST, "/_emulator/seed", Some(overlap))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(message(&v).contains("tenant-245@example.com"), "{v}");
    let (s, v) = dev
        .admin(
            Method::POST,
            "/_emulator/seed",
            Some(
                json!({"environment": "development", "count": 3, "prefix": "tenant-",
                        "suffix": "@example.com", "start": 251}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        dev.get("/users").await.1["data"].as_array().unwrap().len(),
        253
    );

    // Without a prefix, usernames are user-1, user-2, ... and have no full name.
    let (s, v) = prod
        .admin(
            Method::POST,
            "/_emulator/seed",
            Some(json!({"environment": "production", "count": 2})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, list) = prod.get("/users").await;
    assert_eq!(list["data"][0]["username"], "user-1");
    assert!(
        list["data"][0].get("fullName").is_none_or(Value::is_null),
        "{list}"
    );

    for bad in [
        json!({"environment": "development", "count": 0}),
        json!({"environment": "development", "count": 100_001}),
        json!({"environment": "staging", "count": 1}),
        json!({"environment": "development"}),
        json!({"environment": "development", "count": 1, "colour": "blue"}),
    ] {
        let (s, v) = dev
            .admin(Method::POST, "/_emulator/seed", Some(bad.clone()))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }

    // Seeding is arrangement, not API traffic: only the lists above are logged.
    let (_, log) = dev.admin(Method::GET, "/_emulator/requests", None).await;
    assert_eq!(
        log["by_route"],
        json!({"GET /users": 4, "GET /users/{id}": 1})
    );
}
