//! The users snapshot: one `GET /users` per provider process, shared by every `alloy_user` read
//! that would otherwise cost a `GET /users/{id}` of its own, and the one door through which the
//! provider creates, updates or deletes a user.
//!
//! Terraform starts the provider afresh for every command, so what this module learns lives
//! exactly as long as one plan, apply or import: nothing stale can leak into the next run.
//!
//! It lives in the provider, not in the API client, because when a list pays off depends on how
//! Terraform reads (many `ReadResource` calls in parallel, a read after every import), and
//! because the client's operations stay one request each, as their callers expect.
//!
//! # The rule (also in the provider's documentation)
//!
//! Reads are counted in the order they are asked for, and only those that what this process
//! already knows cannot answer:
//! - the first [`PER_ITEM_READS`](super::demand::PER_ITEM_READS) reads are one `GET /users/{id}` each;
//! - the next one waits up to [`DEMAND_WINDOW`](super::demand::DEMAND_WINDOW) for another read to be asked for. If one comes
//!   (a refresh of many users: Terraform sends up to ten at once), the whole list is fetched and
//!   answers both; if none comes, it is a `GET /users/{id}` too, so three users never cost a list;
//! - every later read, and every read once the list has been asked for (by the `alloy_users` data
//!   source, say), is answered from the list.
//!
//! So N users cost N calls for N ≤ 3, and 2 GETs + 1 list for N ≥ 4 when reads come in parallel
//! (at most 3 GETs + 1 list when they come one at a time), never more than N + 1.
//!
//! # Never wrong, only slower
//! - A user absent from the list is confirmed with `GET /users/{id}` before it is reported gone.
//! - List entries without a `username` never match a lookup by username; two entries with the
//!   same username make that username a question for the API.
//! - A failed list (after the client's retries) falls back to per-user reads, never to "every user
//!   is gone".
//! - Writes by this process record what they wrote; a write whose outcome is unknown, and a
//!   delete, drop the entry so the next read asks the API.
//!
//! # The one door for writes
//! That last promise holds only if every write goes through here, so the snapshot owns the
//! client's user writes: [`UserSnapshot::create`], [`UserSnapshot::update`] and
//! [`UserSnapshot::delete`] mark the entry untrusted before the call and record the answer after
//! it, and nothing else in the provider can reach `create_user`, `update_user` or `delete_user`.
//! The snapshot holds its own clone of the API client (clones share one connection pool), given
//! to it in `AlloyData::new`; what the provider's kinds reach instead is `crate::api::Api`, which
//! offers only calls that no snapshot owns. A write that bypasses the snapshot does not compile.
//!
//! A snapshot of another kind (workflows, credentials) takes the same shape: its own module, a
//! clone of the client given to it in `AlloyData::new`, the client's writes of that kind as its
//! methods (bracketed by its own private `writing`/`wrote`), and a field of `AlloyData`; `Api`
//! never offers those writes.
//! - What the API answered to a `GET` (and the entries of a workflow's list) is remembered too, so
//!   the read Terraform sends after an import costs nothing.

use std::collections::HashMap;

use super::demand::{Demand, Strategy};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::OnceCell;

use alloy_client::{AlloyClient, Error, User};

/// Which key a lookup matches (the `alloy_user` data source's two attributes, an import id).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Key {
    Id,
    Username,
    /// Either, id first: what `GET /users/{x}` resolves (an import id).
    IdOrUsername,
}

impl Key {
    /// How messages name the key; for [`Key::Id`] and [`Key::Username`] it is also the name of
    /// the `alloy_user` data source's attribute that asks by it.
    pub fn noun(self) -> &'static str {
        match self {
            Key::Id => "id",
            Key::Username => "username",
            Key::IdOrUsername => "userId or username",
        }
    }
}

/// What this process knows of the environment's users.
#[derive(Default)]
struct Facts {
    /// By userId; `None`: ask the API (a write touched it, or it was reported gone).
    by_id: HashMap<String, Option<User>>,
    /// Username to userId; `None`: more than one entry claimed it, ask the API.
    by_username: HashMap<String, Option<String>>,
}

impl Facts {
    /// Records `user` as the API reported it. `overwrite: false` keeps what is already known
    /// (a list is never fresher than a write or a `GET` this process saw complete).
    fn learn(&mut self, user: &User, overwrite: bool) {
        if !overwrite && self.by_id.contains_key(&user.user_id) {
            return;
        }
        if let Some(name) = &user.username {
            match self.by_username.get(name) {
                Some(Some(other)) if *other != user.user_id => {
                    self.by_username.insert(name.clone(), None);
                }
                Some(None) => {}
                _ => {
                    self.by_username
                        .insert(name.clone(), Some(user.user_id.clone()));
                }
            }
        }
        self.by_id.insert(user.user_id.clone(), Some(user.clone()));
    }

    fn forget(&mut self, id: &str) {
        self.by_id.insert(id.to_owned(), None);
    }

    fn get(&self, key: Key, asked: &str) -> Lookup {
        let by_id = |id: &str| match self.by_id.get(id) {
            Some(Some(u)) => Lookup::Hit(u.clone()),
            Some(None) => Lookup::Ask,
            None => Lookup::Miss,
        };
        let by_username = || match self.by_username.get(asked) {
            Some(Some(id)) => match by_id(id) {
                // The entry may have been renamed since; only an exact match answers.
                Lookup::Hit(u) if u.username.as_deref() == Some(asked) => Lookup::Hit(u),
                Lookup::Miss => Lookup::Miss,
                _ => Lookup::Ask,
            },
            Some(None) => Lookup::Ask,
            None => Lookup::Miss,
        };
        match key {
            Key::Id => by_id(asked),
            Key::Username => by_username(),
            Key::IdOrUsername => match by_id(asked) {
                Lookup::Miss => by_username(),
                other => other,
            },
        }
    }
}

/// The answer of what is known.
#[derive(Debug)]
enum Lookup {
    Hit(User),
    /// Known to need the API.
    Ask,
    /// Not known.
    Miss,
}

/// The users snapshot of one provider process. See the module documentation.
pub struct UserSnapshot {
    /// The API client; private, so user writes cannot bypass [`UserSnapshot::writing`].
    client: AlloyClient,
    facts: Mutex<Facts>,
    /// When the list pays (the rule shared with the workflow snapshot).
    demand: Demand,
    /// The one list request: `Some(users)` as listed, `None` if it failed.
    list: OnceCell<Option<Arc<Vec<User>>>>,
    /// Writes begun by this process (a full listing taken before them is out of date).
    writes: AtomicUsize,
    /// Whether the strategy line has been logged.
    logged: AtomicBool,
    /// The users this process created (with a definite answer, not adopted after a lost one).
    created: Mutex<std::collections::HashSet<String>>,
}

impl UserSnapshot {
    /// The snapshot of a provider process, with its own clone of the process's API client.
    pub fn new(client: AlloyClient) -> Self {
        UserSnapshot {
            client,
            facts: Mutex::default(),
            demand: Demand::default(),
            list: OnceCell::new(),
            writes: AtomicUsize::default(),
            logged: AtomicBool::default(),
            created: Mutex::default(),
        }
    }

    fn facts(&self) -> MutexGuard<'_, Facts> {
        super::lock(&self.facts)
    }

    fn known(&self, key: Key, asked: &str) -> Lookup {
        self.facts().get(key, asked)
    }

    /// One user, by `key`. An answer from what is known, else from the snapshot when the rule
    /// says it pays, else `GET /users/{asked}`. The `GET`'s answer is returned as the API gave
    /// it (it may match the other key: callers that care check it).
    pub async fn lookup(&self, key: Key, asked: &str) -> Result<User, Error> {
        match self.known(key, asked) {
            Lookup::Hit(u) => return Ok(u),
            Lookup::Ask => return self.fetch(asked).await,
            Lookup::Miss => {}
        }
        if self.strategy().await.listed()
            && self.snapshot().await.is_some()
            && let Lookup::Hit(u) = self.known(key, asked)
        {
            return Ok(u);
        }
        // Not in the list (created since, or the list was partial), or the list failed.
        self.fetch(asked).await
    }

    /// One user from what this process already knows (the list included), without any API
    /// call: `None` when only the API could tell.
    pub fn known_only(&self, key: Key, asked: &str) -> Option<User> {
        match self.known(key, asked) {
            Lookup::Hit(u) => Some(u),
            Lookup::Ask | Lookup::Miss => None,
        }
    }

    /// How many users the environment's list held, if this process fetched it.
    pub fn listed(&self) -> Option<usize> {
        self.list.get().and_then(|l| l.as_ref().map(|u| u.len()))
    }

    /// Every user of the environment (for the `alloy_users` data source): the shared list when
    /// this process has written nothing, else a list of its own.
    pub async fn all(&self) -> Result<Arc<Vec<User>>, Error> {
        if self.writes.load(Ordering::SeqCst) == 0
            && let Some(users) = self.snapshot().await
            && self.writes.load(Ordering::SeqCst) == 0
        {
            return Ok(users);
        }
        // The shared list failed (this request gives the error its words) or may be stale.
        let users = self.client.list_users().await?;
        let mut facts = self.facts();
        for u in &users {
            facts.learn(u, true);
        }
        Ok(Arc::new(users))
    }

    /// The users of one workflow (a request of its own); what they are is remembered.
    pub async fn of_workflow(&self, workflow_id: &str) -> Result<Vec<User>, Error> {
        let users = self.client.list_users_of(Some(workflow_id)).await?;
        let mut facts = self.facts();
        for u in &users {
            facts.learn(u, false);
        }
        Ok(users)
    }

    // ---- The writes: the only way the provider changes a user (see "The one door for writes").

    /// `POST /users`: creates a user and returns it as the API now holds it. Alloy answers a
    /// plain create with the `userId` alone, so the rest is what was sent (no read-back: it would
    /// double the round trips of every create, and the next refresh compares the state with what
    /// Alloy stored anyway). After a lost answer, the user the client's username lookup found is
    /// returned as that lookup saw it.
    pub async fn create(&self, username: &str, full_name: Option<&str>) -> Result<User, Error> {
        self.writing(None);
        let created = self.client.create_user(username, full_name).await?;
        let user = match created.adopted {
            Some(found) => {
                tracing::info!(
                    user_id = %found.user_id,
                    "create answer was lost; adopted the user it created"
                );
                found
            }
            None => {
                super::lock(&self.created).insert(created.user_id.clone());
                User {
                    user_id: created.user_id,
                    username: Some(username.to_owned()),
                    full_name: full_name.map(str::to_owned),
                }
            }
        };
        self.wrote(&user);
        Ok(user)
    }

    /// `PUT /users/{id}`: sets (or with `None` clears) the user's full name; returns the user as
    /// the API answered.
    pub async fn update(&self, id: &str, full_name: Option<&str>) -> Result<User, Error> {
        self.writing(Some(id));
        let user = self.client.update_user(id, full_name).await?;
        self.wrote(&user);
        Ok(user)
    }

    /// `DELETE /users/{id}`. Whatever the outcome, the next read of `id` asks the API.
    pub async fn delete(&self, id: &str) -> Result<(), Error> {
        self.writing(Some(id));
        self.client.delete_user(id).await
    }

    /// Whether this process created the user `id` (so it holds nothing it did not add since:
    /// no credentials, say).
    pub fn created_here(&self, id: &str) -> bool {
        super::lock(&self.created).contains(id)
    }

    /// `DELETE /users/{id}/logs`: every log Alloy keeps for the user, irreversibly (offboarding).
    /// It changes nothing this snapshot holds, but it is a write of the user's, so it is here.
    pub async fn purge_logs(&self, id: &str) -> Result<(), Error> {
        self.client.purge_logs(id).await
    }

    /// Before a write to `id` (None for a create): until it reports, the entry is not trusted.
    fn writing(&self, id: Option<&str>) {
        self.writes.fetch_add(1, Ordering::SeqCst);
        if let Some(id) = id {
            self.facts().forget(id);
        }
    }

    /// A write succeeded and the API now holds `user`.
    fn wrote(&self, user: &User) {
        self.facts().learn(user, true);
    }

    async fn fetch(&self, asked: &str) -> Result<User, Error> {
        match self.client.get_user(asked).await {
            Ok(u) => {
                self.facts().learn(&u, true);
                Ok(u)
            }
            Err(e) => Err(e),
        }
    }

    /// Decides how the read being asked for is served (see [`demand`](super::demand)).
    async fn strategy(&self) -> Strategy {
        let strategy = self.demand.strategy().await;
        if strategy == Strategy::Few {
            self.log_once(|| {
                tracing::debug!(
                    strategy = "per-user",
                    reads = self.demand.requested(),
                    "alloy_user reads: one GET per user (too few reads for a list to pay)"
                );
            });
        }
        strategy
    }

    /// The one list of this process (single flight): `None` if it failed.
    async fn snapshot(&self) -> Option<Arc<Vec<User>>> {
        self.demand.listing();
        self.list
            .get_or_init(|| async {
                match self.client.list_users().await {
                    Ok(users) => {
                        let mut facts = self.facts();
                        for u in &users {
                            facts.learn(u, false);
                        }
                        drop(facts);
                        self.log_once(|| {
                            tracing::debug!(
                                strategy = "snapshot",
                                users = users.len(),
                                reads = self.demand.requested(),
                                "alloy_user reads: served from one list of the environment's users"
                            );
                        });
                        Some(Arc::new(users))
                    }
                    Err(e) => {
                        self.log_once(|| {
                            tracing::debug!(
                                strategy = "per-user",
                                error = %e,
                                "alloy_user reads: the list of users failed; reading users one by one"
                            );
                        });
                        None
                    }
                }
            })
            .await
            .clone()
    }

    fn log_once(&self, log: impl FnOnce()) {
        if !self.logged.swap(true, Ordering::SeqCst) {
            log();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, username: Option<&str>) -> User {
        User {
            user_id: id.to_owned(),
            username: username.map(str::to_owned),
            full_name: None,
        }
    }

    fn hit(l: Lookup) -> Option<String> {
        match l {
            Lookup::Hit(u) => Some(u.user_id),
            _ => None,
        }
    }

    #[test]
    fn lookups_by_key() {
        let mut f = Facts::default();
        f.learn(&user("a1", Some("ann")), false);
        f.learn(&user("b2", None), false);
        assert_eq!(hit(f.get(Key::Id, "a1")).as_deref(), Some("a1"));
        assert_eq!(hit(f.get(Key::Username, "ann")).as_deref(), Some("a1"));
        assert_eq!(hit(f.get(Key::IdOrUsername, "ann")).as_deref(), Some("a1"));
        assert_eq!(hit(f.get(Key::IdOrUsername, "b2")).as_deref(), Some("b2"));
        // An id is not a username, and an entry without a username matches no username.
        assert!(matches!(f.get(Key::Username, "a1"), Lookup::Miss));
        assert!(matches!(f.get(Key::Id, "ann"), Lookup::Miss));
        assert!(matches!(f.get(Key::Username, ""), Lookup::Miss));
    }

    #[test]
    fn duplicate_usernames_and_forgotten_entries_ask_the_api() {
        let mut f = Facts::default();
        f.learn(&user("a1", Some("ann")), false);
        f.learn(&user("a2", Some("ann")), false);
        assert!(matches!(f.get(Key::Username, "ann"), Lookup::Ask));
        assert_eq!(hit(f.get(Key::Id, "a2")).as_deref(), Some("a2"));
        f.forget("a2");
        assert!(matches!(f.get(Key::Id, "a2"), Lookup::Ask));
        assert!(matches!(f.get(Key::IdOrUsername, "a2"), Lookup::Ask));
    }

    #[test]
    fn a_list_does_not_overwrite_what_a_write_recorded() {
        let mut f = Facts::default();
        let mut written = user("a1", Some("ann"));
        written.full_name = Some("Ann New".into());
        f.learn(&written, true);
        f.learn(&user("a1", Some("ann")), false);
        match f.get(Key::Id, "a1") {
            Lookup::Hit(u) => assert_eq!(u.full_name.as_deref(), Some("Ann New")),
            other => panic!("{other:?}"),
        }
        // A forgotten entry stays forgotten when a list comes in.
        f.forget("a1");
        f.learn(&user("a1", Some("ann")), false);
        assert!(matches!(f.get(Key::Id, "a1"), Lookup::Ask));
    }

    // ---- against the in-process emulator, counting requests in its log

    struct Api {
        emu: alloy_emulator::RunningEmulator,
        client: AlloyClient,
        http: reqwest::Client,
    }

    impl Api {
        async fn start(users: usize) -> (Api, Vec<String>) {
            use alloy_client::{ApiKey, ClientConfig};
            let emu = alloy_emulator::RunningEmulator::start(
                alloy_emulator::EmulatorConfig::default(),
                "127.0.0.1:0".parse().unwrap(),
            )
            .await
            .unwrap();
            let cfg = ClientConfig::new(
                url::Url::parse(&emu.url()).unwrap(),
                "2025-09",
                ApiKey::new(emu.development_key()),
                "unit-test",
            );
            let api = Api {
                client: AlloyClient::new(cfg).unwrap(),
                emu,
                http: reqwest::Client::new(),
            };
            let mut ids = Vec::new();
            for i in 0..users {
                let c = api
                    .client
                    .create_user(&format!("u{i}@example.com"), None)
                    .await
                    .unwrap();
                ids.push(c.user_id);
            }
            api.clear().await;
            (api, ids)
        }

        /// A fresh snapshot of this emulator, as a new provider process has.
        fn snapshot(&self) -> UserSnapshot {
            UserSnapshot::new(self.client.clone())
        }

        async fn clear(&self) {
            let url = format!("{}/_emulator/requests", self.emu.url());
            self.http.delete(url).send().await.unwrap();
        }

        /// (GET /users/{id}, GET /users, total) from the request log.
        async fn counts(&self) -> (u64, u64, u64) {
            let url = format!("{}/_emulator/requests?tail=0", self.emu.url());
            let v: serde_json::Value = self
                .http
                .get(url)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let n = |route: &str| v["by_route"][route].as_u64().unwrap_or(0);
            (
                n("GET /users/{id}"),
                n("GET /users"),
                v["total"].as_u64().unwrap_or(0),
            )
        }
    }

    /// Reads every id through one snapshot, `parallel` at a time (Terraform's -parallelism).
    async fn read_all(snap: &Arc<UserSnapshot>, ids: &[String], parallel: usize) {
        let gate = Arc::new(tokio::sync::Semaphore::new(parallel));
        let mut tasks = Vec::new();
        for id in ids {
            let (snap, id) = (snap.clone(), id.clone());
            let permit = gate.clone().acquire_owned().await.unwrap();
            tasks.push(tokio::spawn(async move {
                let u = snap.lookup(Key::Id, &id).await.unwrap();
                drop(permit);
                assert_eq!(u.user_id, id);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    }

    #[tokio::test]
    async fn up_to_three_reads_never_list() {
        for n in 1..=3 {
            let (api, ids) = Api::start(n).await;
            let snap = Arc::new(api.snapshot());
            read_all(&snap, &ids, 10).await;
            assert_eq!(api.counts().await, (n as u64, 0, n as u64), "{n} users");
        }
    }

    #[tokio::test]
    async fn many_parallel_reads_cost_two_gets_and_one_list() {
        let (api, ids) = Api::start(40).await;
        let snap = Arc::new(api.snapshot());
        read_all(&snap, &ids, 10).await;
        assert_eq!(api.counts().await, (2, 1, 3));
        // Everything is known now: more reads cost nothing.
        read_all(&snap, &ids, 10).await;
        assert_eq!(api.counts().await, (2, 1, 3));
    }

    #[tokio::test]
    async fn reads_one_at_a_time_cost_at_most_n_plus_one() {
        for n in [4, 10] {
            let (api, ids) = Api::start(n).await;
            let snap = Arc::new(api.snapshot());
            read_all(&snap, &ids, 1).await;
            assert_eq!(api.counts().await, (3, 1, 4), "{n} users");
        }
    }

    #[tokio::test]
    async fn a_user_missing_from_the_list_is_asked_for_and_a_gone_one_reported() {
        let (api, ids) = Api::start(5).await;
        let snap = Arc::new(api.snapshot());
        let all = snap.all().await.unwrap();
        assert_eq!(all.len(), 5);
        // Created after the list, then deleted outside this process.
        let late = api.client.create_user("late", Some("L")).await.unwrap();
        api.client.delete_user(&ids[0]).await.unwrap();
        api.clear().await;
        let u = snap.lookup(Key::Id, &late.user_id).await.unwrap();
        assert_eq!(u.username.as_deref(), Some("late"));
        let u = snap.lookup(Key::Username, "late").await.unwrap();
        assert_eq!(u.user_id, late.user_id);
        assert_eq!(api.counts().await, (1, 0, 1), "the second lookup is known");
        // The list (stale) still holds ids[0]: a lookup by id answers from it, so the provider
        // only claims "gone" after the API said 404.
        let gone = api.snapshot();
        let e = gone.lookup(Key::Id, &ids[0]).await.unwrap_err();
        assert!(e.is_not_found(), "{e}");
    }

    #[tokio::test]
    async fn a_failed_list_falls_back_to_reading_users_one_by_one() {
        let (api, ids) = Api::start(12).await;
        let faults = serde_json::json!({"error_rate": 1.0, "routes": ["GET /users"]});
        let url = format!("{}/_emulator/faults", api.emu.url());
        api.http.put(url).json(&faults).send().await.unwrap();
        let snap = Arc::new(api.snapshot());
        read_all(&snap, &ids, 10).await;
        let (gets, lists, _) = api.counts().await;
        assert_eq!(gets, 12, "every user was read by itself");
        assert!(lists >= 1, "the list was tried");
        assert!(snap.all().await.is_err(), "and its error is reported");
    }

    #[tokio::test]
    async fn writes_keep_the_snapshot_true() {
        let (api, ids) = Api::start(6).await;
        let snap = api.snapshot();
        snap.all().await.unwrap();
        snap.update(&ids[1], Some("New")).await.unwrap();
        snap.delete(&ids[2]).await.unwrap();
        api.clear().await;
        let u = snap.lookup(Key::Id, &ids[1]).await.unwrap();
        assert_eq!(u.full_name.as_deref(), Some("New"));
        assert_eq!(api.counts().await.2, 0, "the update is known");
        let e = snap.lookup(Key::Id, &ids[2]).await.unwrap_err();
        assert!(e.is_not_found());
        assert_eq!(
            api.counts().await,
            (1, 0, 1),
            "the deleted user is asked for"
        );
        // A full listing after writes is a fresh request.
        assert_eq!(snap.all().await.unwrap().len(), 5);
        assert_eq!(api.counts().await.1, 1);
    }

    #[tokio::test]
    async fn a_created_user_is_known() {
        let (api, _) = Api::start(0).await;
        let snap = api.snapshot();
        let made = snap.create("made@example.com", Some("Made")).await.unwrap();
        assert_eq!(made.username.as_deref(), Some("made@example.com"));
        assert_eq!(api.counts().await, (0, 0, 1), "one POST");
        let u = snap
            .lookup(Key::Username, "made@example.com")
            .await
            .unwrap();
        assert_eq!(u.user_id, made.user_id);
        assert_eq!(u.full_name.as_deref(), Some("Made"));
        assert_eq!(api.counts().await.2, 1, "the create is known");
    }
}
