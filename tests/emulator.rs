//! End-to-end tests of `alloy-emulator`: each test starts the real binary on a free loopback
//! port (or the library in-process) and talks HTTP to it, checking JSON field names against the
//! literal names Alloy documents.

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use terraform_provider_alloy::emulator::{
    EmulatorConfig, Faults, RunningEmulator, TOKEN_TTL_SECS, catalogue::catalogue,
};

const DEV: &str = "dev-emulator-key-0000000000";
const PROD: &str = "prod-emulator-key-0000000000";

/// A running `alloy-emulator` process, killed when dropped.
struct Proc {
    child: Child,
    url: String,
    stderr: Option<ChildStderr>,
}

fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_alloy-emulator"));
    cmd.arg("--listen")
        .arg("127.0.0.1:0")
        .args(args)
        .env_remove("ALLOY_EMULATOR_DEVELOPMENT_KEY")
        .env_remove("ALLOY_EMULATOR_PRODUCTION_KEY")
        .env_remove("ALLOY_EMULATOR_JWT_SECRET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Start the emulator and wait for its first stdout line, which must be exactly the
/// documented `alloy-emulator listening on http://127.0.0.1:PORT`.
fn start(mut cmd: Command) -> Proc {
    let mut child = cmd.spawn().expect("spawn alloy-emulator");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let url = line
        .trim_end_matches('\n')
        .strip_prefix("alloy-emulator listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    let port = url.strip_prefix("http://127.0.0.1:").expect("loopback URL");
    assert!(port.parse::<u16>().is_ok_and(|p| p > 0), "{url}");
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let stderr = child.stderr.take();
    Proc { child, url, stderr }
}

fn spawn(args: &[&str]) -> Proc {
    start(command(args))
}

impl Proc {
    fn signal(&self, sig: i32) {
        let pid = i32::try_from(self.child.id()).unwrap();
        // SAFETY: sending a signal to our own child process.
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
    }

    /// SIGTERM, then the exit status and everything written to stderr.
    fn terminate(mut self) -> (std::process::ExitStatus, String) {
        self.signal(libc::SIGTERM);
        let status = self.child.wait().unwrap();
        let mut err = String::new();
        if let Some(mut s) = self.stderr.take() {
            s.read_to_string(&mut err).unwrap();
        }
        (status, err)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A small HTTP helper bound to one emulator and one key.
#[derive(Clone)]
struct Api {
    http: Client,
    url: String,
    key: Option<String>,
}

impl Api {
    fn new(url: &str, key: &str) -> Api {
        Api {
            http: Client::new(),
            url: url.to_owned(),
            key: Some(key.to_owned()),
        }
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut rb = self
            .http
            .request(method, format!("{}{path}", self.url))
            .header("x-api-version", "2025-09");
        if let Some(k) = &self.key {
            rb = rb.bearer_auth(k);
        }
        rb
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut rb = self.request(method, path);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        decode(rb.send().await.expect("request")).await
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::POST, path, Some(body)).await
    }

    async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::PUT, path, Some(body)).await
    }

    async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::DELETE, path, None).await
    }

    async fn create(&self, username: &str) -> String {
        let (s, v) = self.post("/users", json!({"username": username})).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["userId"].as_str().unwrap().to_owned()
    }

    /// Admin call (no key, no version).
    async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut rb = self.http.request(method, format!("{}{path}", self.url));
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        decode(rb.send().await.expect("admin request")).await
    }
}

async fn decode(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = resp.bytes().await.unwrap();
    assert_eq!(
        ct.as_deref(),
        Some("application/json"),
        "{status}: {bytes:?}"
    );
    (status, serde_json::from_slice(&bytes).expect("JSON body"))
}

fn is_object_id(s: &str) -> bool {
    s.len() == 24
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn message(v: &Value) -> &str {
    v["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no message in {v}"))
}

#[tokio::test]
async fn both_url_styles_and_trailing_slashes() {
    let p = spawn(&[]);
    let api = Api::new(&p.url, DEV);
    let http = Client::new();

    // Path-versioned create, no header.
    let r = http
        .post(format!("{}/2024-03/users/", p.url))
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
        .get(format!("{}/users/path-style", p.url))
        .bearer_auth(DEV)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Older path versions work too, with trailing slash.
    let r = http
        .get(format!("{}/2023-12/users/", p.url))
        .bearer_auth(DEV)
        .send()
        .await
        .unwrap();
    let (s, v) = decode(r).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    // A malformed version header is refused with a message.
    let r = http
        .get(format!("{}/users", p.url))
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
    let p = spawn(&[]);
    let dev = Api::new(&p.url, DEV);
    let prod = Api::new(&p.url, PROD);
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
    let wrong = Api::new(&p.url, "not-a-key");
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
            .get(format!("{}/users", p.url))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    // The scheme is case-insensitive.
    let r = dev
        .http
        .get(format!("{}/users", p.url))
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
    let p = spawn(&[]);
    let api = Api::new(&p.url, DEV);

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
    let p = spawn(&[]);
    let api = Api::new(&p.url, DEV);
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
    let p = spawn(&[]);
    let api = Api::new(&p.url, DEV);
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
    let p = spawn(&[]);
    let api = Api::new(&p.url, DEV);
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
    let p = spawn(&[]);
    let api = Api::new(&p.url, DEV);
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
    let prod = Api::new(&p.url, PROD);
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
    let p = spawn(&[]);
    let api = Api::new(&p.url, DEV);
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
    let prod = Api::new(&p.url, PROD);
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
    let p = spawn(&[]);
    let api = Api::new(&p.url, DEV);
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

#[tokio::test]
async fn faults_latency_and_admin_updates() {
    let p = spawn(&["--latency-ms", "150"]);
    let api = Api::new(&p.url, DEV);
    let (_, f) = api.admin(Method::GET, "/_emulator/faults", None).await;
    assert_eq!(
        f,
        json!({"latency_ms": 150, "jitter_ms": 0, "error_rate": 0.0, "rate_limit": 0,
            "lost_response_rate": 0.0, "bad_answer_rate": 0.0, "bad_answer": "html",
            "routes": []})
    );
    // Latency is a lower bound on the answer time (no upper bound: the machine is noisy).
    let t = Instant::now();
    assert_eq!(api.get("/users").await.0, StatusCode::OK);
    assert!(t.elapsed() >= Duration::from_millis(150));
    // Admin routes are never delayed... and partial updates keep the other fields.
    let (s, f) = api
        .admin(
            Method::PUT,
            "/_emulator/faults",
            Some(json!({"jitter_ms": 20})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(f["latency_ms"], 150);
    assert_eq!(f["jitter_ms"], 20);
    let (s, v) = api
        .admin(
            Method::PUT,
            "/_emulator/faults",
            Some(json!({"error_rate": 2})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(message(&v).contains("error_rate"));
    let (s, _) = api
        .admin(
            Method::PUT,
            "/_emulator/faults",
            Some(json!({"latency": 2})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (_, f) = api
        .admin(
            Method::PUT,
            "/_emulator/faults",
            Some(json!({"latency_ms": 0, "jitter_ms": 0})),
        )
        .await;
    assert_eq!(f["latency_ms"], 0);
}

#[tokio::test]
async fn faults_error_rate_is_roughly_right_and_skips_the_store() {
    let p = spawn(&["--seed", "7", "--error-rate", "0.25"]);
    let api = Api::new(&p.url, DEV);
    let n = 400;
    let mut by_status: HashMap<u16, u32> = HashMap::new();
    for i in 0..n {
        let (s, v) = api
            .post("/users", json!({"username": format!("e{i}")}))
            .await;
        if s != StatusCode::OK {
            assert!(!message(&v).is_empty());
        }
        *by_status.entry(s.as_u16()).or_default() += 1;
    }
    let errors =
        by_status.get(&500).copied().unwrap_or(0) + by_status.get(&503).copied().unwrap_or(0);
    assert!((60..=140).contains(&errors), "{by_status:?}");
    assert!(by_status.get(&500).copied().unwrap_or(0) > 0);
    assert!(by_status.get(&503).copied().unwrap_or(0) > 0);
    assert_eq!(errors + by_status[&200], n);
    // A failed request touched nothing: only the 200s exist.
    let (_, users) = api
        .admin(
            Method::GET,
            "/_emulator/users?environment=development",
            None,
        )
        .await;
    assert_eq!(
        users["data"].as_array().unwrap().len() as u32,
        by_status[&200]
    );
    // Admin routes are never faulted.
    api.admin(
        Method::PUT,
        "/_emulator/faults",
        Some(json!({"error_rate": 1.0})),
    )
    .await;
    for _ in 0..20 {
        assert_eq!(
            api.admin(Method::GET, "/_emulator/health", None).await.0,
            StatusCode::OK
        );
    }
    let (_, log) = api.admin(Method::GET, "/_emulator/requests", None).await;
    assert_eq!(
        log["by_status"]["500"].as_u64(),
        by_status.get(&500).map(|c| u64::from(*c))
    );
}

#[tokio::test]
async fn faults_rate_limit_answers_429_with_retry_after() {
    let p = spawn(&["--rate-limit", "1"]);
    let api = Api::new(&p.url, DEV);
    let calls = (0..20).map(|_| {
        let api = api.clone();
        tokio::spawn(async move { api.request(Method::GET, "/users").send().await.unwrap() })
    });
    let mut limited = 0;
    for c in calls {
        let r = c.await.unwrap();
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            limited += 1;
            let retry: u64 = r.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(retry >= 1);
            let (_, v) = decode(r).await;
            assert_eq!(v, json!({"message": "Rate limit exceeded"}));
        } else {
            assert_eq!(r.status(), StatusCode::OK);
        }
    }
    assert!(limited >= 1, "20 concurrent requests against 1 req/s");
    let (_, log) = api.admin(Method::GET, "/_emulator/requests", None).await;
    assert_eq!(log["by_status"]["429"], limited);
    // Admin routes are not limited.
    for _ in 0..10 {
        assert_eq!(
            api.admin(Method::GET, "/_emulator/health", None).await.0,
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn faults_lost_response_commits_the_write_but_never_answers() {
    let p = spawn(&["--lost-response-rate", "1"]);
    let api = Api::new(&p.url, DEV);
    // Reads are never dropped.
    assert_eq!(api.get("/users").await.0, StatusCode::OK);

    let err = api
        .request(Method::POST, "/users")
        .json(&json!({"username": "ghost-write"}))
        .send()
        .await
        .expect_err("no HTTP response may arrive");
    assert!(!err.is_status(), "{err}");
    // A refused write (422) is answered normally: only committed writes lose their answer.
    api.admin(
        Method::PUT,
        "/_emulator/faults",
        Some(json!({"lost_response_rate": 0.0})),
    )
    .await;
    let (s, v) = api.get("/users/ghost-write").await;
    assert_eq!(s, StatusCode::OK, "the write committed");
    assert!(is_object_id(v["userId"].as_str().unwrap()));
    api.admin(
        Method::PUT,
        "/_emulator/faults",
        Some(json!({"lost_response_rate": 1.0})),
    )
    .await;
    let (s, _) = api.post("/users", json!({"username": "ghost-write"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        api.request(Method::DELETE, "/users/ghost-write")
            .send()
            .await
            .is_err()
    );
    let (_, users) = api
        .admin(
            Method::GET,
            "/_emulator/users?environment=development",
            None,
        )
        .await;
    assert_eq!(users["data"], json!([]), "the delete committed too");
    let (_, log) = api.admin(Method::GET, "/_emulator/requests", None).await;
    assert_eq!(
        log["by_route"]["POST /users"], 2,
        "exactly one attempt per call"
    );
    assert_eq!(log["lost_responses"], 2);
    assert_eq!(log["log"][1]["lost"], true);
}

#[tokio::test]
async fn state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let state_arg = state.to_str().unwrap();
    let (alice, shopify) = {
        let p = spawn(&["--state", state_arg]);
        let dev = Api::new(&p.url, DEV);
        let prod = Api::new(&p.url, PROD);
        let alice = dev.create("alice").await;
        dev.post("/users", json!({"username": "bob", "fullName": "Bob"}))
            .await;
        prod.create("carol").await;
        dev.delete("/users/bob").await;
        let shopify = catalogue()[0].id;
        let (s, _) = dev
            .admin(
                Method::POST,
                "/_emulator/installs",
                Some(json!({"environment": "development", "userId": alice, "integrationId": shopify})),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let (status, _) = p.terminate();
        assert!(status.success(), "{status:?}");
        (alice, shopify)
    };
    let p = spawn(&["--state", state_arg]);
    let dev = Api::new(&p.url, DEV);
    let (_, v) = dev.get("/users").await;
    assert_eq!(
        v["data"],
        json!([{"userId": alice, "username": "alice", "fullName": null}])
    );
    let (_, v) = Api::new(&p.url, PROD).get("/users/carol").await;
    assert_eq!(v["username"], "carol");
    let (_, v) = dev
        .get(&format!("/integrations/{shopify}?userId=alice"))
        .await;
    assert_eq!(v["data"]["installed"], true);
    // Usernames stay unique after a reload.
    let (s, _) = dev.post("/users", json!({"username": "alice"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
}

/// Concurrent writers, then `kill -9` in the middle of their writes: the state file must still
/// parse and hold every user whose create was answered 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_file_survives_kill_9_mid_write() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let p = spawn(&["--state", state.to_str().unwrap()]);
    let api = Api::new(&p.url, DEV);
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let api = api.clone();
            let acked = acked.clone();
            tokio::spawn(async move {
                for i in 0.. {
                    let username = format!("w{w}-{i}");
                    let sent = api
                        .request(Method::POST, "/users")
                        .json(&json!({"username": username}))
                        .send()
                        .await;
                    let Ok(r) = sent else { return };
                    if r.status() != StatusCode::OK {
                        return;
                    }
                    let Ok(v) = r.json::<Value>().await else {
                        return;
                    };
                    let id = v["userId"].as_str().unwrap().to_owned();
                    acked.lock().unwrap().push((id, username));
                }
            })
        })
        .collect();
    while acked.lock().unwrap().len() < 200 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    p.signal(libc::SIGKILL);
    for w in writers {
        w.await.unwrap();
    }
    drop(p);

    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 200);
    let bytes = std::fs::read(&state).unwrap();
    let file: Value = serde_json::from_slice(&bytes).expect("the state file parses");
    let saved: HashMap<&str, &str> = file["development"]["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["userId"].as_str().unwrap(),
                u["username"].as_str().unwrap(),
            )
        })
        .collect();
    for (id, username) in &acked {
        assert_eq!(
            saved.get(id.as_str()),
            Some(&username.as_str()),
            "{username} was answered 200"
        );
    }

    // And the emulator starts from it.
    let p = spawn(&["--state", state.to_str().unwrap()]);
    let (_, v) = Api::new(&p.url, DEV).get("/users").await;
    assert_eq!(v["data"].as_array().unwrap().len(), saved.len());
}

#[tokio::test]
async fn a_corrupt_state_file_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    std::fs::write(&state, "{ not json").unwrap();
    let out = command(&["--state", state.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("state"));
    // The file is left as it was, for the user to inspect.
    assert_eq!(std::fs::read_to_string(&state).unwrap(), "{ not json");
}

#[test]
fn non_loopback_addresses_are_refused() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_alloy-emulator"));
    let out = cmd.args(["--listen", "0.0.0.0:0"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--allow-remote"), "{err}");
    assert!(out.stdout.is_empty());
}

#[tokio::test]
async fn sigterm_exits_cleanly_and_verbose_logs_never_show_keys() {
    let key = "custom-dev-key-that-must-stay-private";
    let mut cmd = command(&["--verbose"]);
    cmd.env("ALLOY_EMULATOR_DEVELOPMENT_KEY", key);
    let p = start(cmd);
    let api = Api::new(&p.url, key);
    api.create("logged").await;
    assert_eq!(
        Api::new(&p.url, DEV).get("/users").await.0,
        StatusCode::UNAUTHORIZED
    );
    let token = api.get("/users/logged/token").await.1["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, stderr) = p.terminate();
    assert!(status.success(), "{status:?}");
    assert!(stderr.contains("POST /users -> 200"), "{stderr}");
    assert!(stderr.contains("GET /users -> 401"), "{stderr}");
    assert!(!stderr.contains(key));
    assert!(!stderr.contains(&token));
    assert!(!stderr.to_lowercase().contains("authorization"));
}

#[tokio::test]
async fn library_api_runs_in_process() {
    let emu = RunningEmulator::start(
        EmulatorConfig {
            seed: Some(1),
            ..EmulatorConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(emu.url(), format!("http://{}", emu.addr()));
    assert!(emu.addr().ip().is_loopback());
    assert_eq!(emu.development_key(), DEV);
    let api = Api::new(&emu.url(), emu.development_key());
    let id = api.create("in-process").await;
    assert_eq!(api.get(&format!("/users/{id}")).await.0, StatusCode::OK);

    emu.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    })
    .unwrap();
    let (s, _) = api.get("/users").await;
    assert!(s == StatusCode::INTERNAL_SERVER_ERROR || s == StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        emu.set_faults(Faults {
            error_rate: -1.0,
            ..Faults::default()
        })
        .is_err()
    );
    assert_eq!(emu.faults().error_rate, 1.0);

    // Debug never shows the keys.
    assert!(!format!("{emu:?}").contains(DEV));
    let url = emu.url();
    emu.shutdown().await;
    assert!(
        Client::new()
            .get(format!("{url}/_emulator/health"))
            .send()
            .await
            .is_err()
    );

    // Non-loopback is refused unless allowed.
    let err = RunningEmulator::start(EmulatorConfig::default(), "0.0.0.0:0".parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied);
}

/// Persistence under stress: thousands of users created (and some deleted) by concurrent
/// clients across several `kill -9`s, each restart loading the file the last one left. Every
/// create answered 200 must survive, every delete answered 200 must stay deleted, and no user may
/// appear twice. Prints how long the rounds took (a figure, not an assertion).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_file_stress_across_repeated_kills() {
    const ROUNDS: usize = 3;
    const PER_ROUND: usize = 1000;
    const WRITERS: usize = 16;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let state_arg = state.to_str().unwrap().to_owned();
    // Acknowledged creates that were not deleted since (a delete in flight removes the user from
    // here first: if it is cut off by the kill, the user may or may not exist).
    let created: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let deleted: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let acked_creates = Arc::new(std::sync::atomic::AtomicUsize::new(0));

    for round in 0..ROUNDS {
        let p = spawn(&["--state", &state_arg]);
        let api = Api::new(&p.url, DEV);
        // Everything acknowledged so far is there after the restart.
        let (_, v) = api
            .admin(
                Method::GET,
                "/_emulator/users?environment=development",
                None,
            )
            .await;
        let present: HashMap<String, String> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| {
                (
                    u["userId"].as_str().unwrap().to_owned(),
                    u["username"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            present.len(),
            v["data"].as_array().unwrap().len(),
            "no duplicates"
        );
        for (id, name) in created.lock().unwrap().iter() {
            assert_eq!(present.get(id), Some(name), "round {round}: {name} lost");
        }
        for id in deleted.lock().unwrap().iter() {
            assert!(
                !present.contains_key(id),
                "round {round}: deleted {id} came back"
            );
        }

        let started = Instant::now();
        let target = (round + 1) * PER_ROUND;
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let api = api.clone();
                let created = created.clone();
                let deleted = deleted.clone();
                let acked_creates = acked_creates.clone();
                tokio::spawn(async move {
                    let mut mine = Vec::new();
                    for i in 0.. {
                        let username = format!("r{round}-w{w}-{i}");
                        let Ok(r) = api
                            .request(Method::POST, "/users")
                            .json(&json!({"username": username}))
                            .send()
                            .await
                        else {
                            return;
                        };
                        if r.status() != StatusCode::OK {
                            return;
                        }
                        let Ok(v) = r.json::<Value>().await else {
                            return;
                        };
                        let id = v["userId"].as_str().unwrap().to_owned();
                        created.lock().unwrap().insert(id.clone(), username);
                        acked_creates.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        mine.push(id);
                        // Every fourth create, delete an earlier user of this writer.
                        if i % 4 == 3 {
                            let victim = mine.remove(0);
                            created.lock().unwrap().remove(&victim);
                            let Ok(r) = api
                                .request(Method::DELETE, &format!("/users/{victim}"))
                                .send()
                                .await
                            else {
                                return;
                            };
                            if r.status() != StatusCode::OK {
                                return;
                            }
                            deleted.lock().unwrap().insert(victim);
                        }
                    }
                })
            })
            .collect();
        while acked_creates.load(std::sync::atomic::Ordering::SeqCst) < target {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        p.signal(libc::SIGKILL);
        for w in writers {
            w.await.unwrap();
        }
        eprintln!(
            "round {round}: {PER_ROUND}+ creates with --state by {WRITERS} clients in {:?}",
            started.elapsed()
        );
    }
    // The final file parses and holds exactly the surviving users.
    let file: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    let ids: BTreeSet<&str> = file["development"]["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userId"].as_str().unwrap())
        .collect();
    let created = created.lock().unwrap();
    let deleted = deleted.lock().unwrap();
    assert!(acked_creates.load(std::sync::atomic::Ordering::SeqCst) >= ROUNDS * PER_ROUND);
    assert!(!deleted.is_empty());
    for id in created.keys() {
        assert!(ids.contains(id.as_str()));
    }
    for id in deleted.iter() {
        assert!(!ids.contains(id.as_str()));
    }
}
