//! The emulator as a process and a library: the --state file across restarts and kill -9,
//! refused addresses, SIGTERM, verbose logs, and the in-process API.

use super::*;

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
