//! Fault injection: latency, error rates, rate limiting and lost responses, over HTTP.

use super::*;

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
