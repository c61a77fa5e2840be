//! The emulator's data: users and installed integrations, kept apart per environment.
//!
//! Alloy isolates the users created with a development key from those created with a
//! production key, so the store holds two independent [`EnvStore`]s and every operation names
//! the environment. Users are kept in creation order (a `BTreeMap` keyed by a sequence number)
//! because `GET /users` must list them in a stable order, with two hash indexes so lookups by id
//! and by username stay O(1) for thousands of users.
//!
//! Every mutation bumps [`Store::generation`]; the persister (see `persist.rs`) compares
//! generations to know what is already on disk. The snapshot format written to `--state` files
//! is defined here too, next to the data it mirrors.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;

use rand::rngs::StdRng;
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::catalogue::{IntegrationDef, find_integration};

/// Which API key a request used. The two environments never see each other's users.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Environment {
    Development,
    Production,
}

impl Environment {
    pub const ALL: [Environment; 2] = [Environment::Development, Environment::Production];

    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Development => "development",
            Environment::Production => "production",
        }
    }

    pub fn parse(s: &str) -> Option<Environment> {
        match s {
            "development" => Some(Environment::Development),
            "production" => Some(Environment::Production),
            _ => None,
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An Embedded user. `full_name` is `None` when it was never given (rendered as JSON `null`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub username: String,
    pub full_name: Option<String>,
}

/// Why a store operation was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum StoreError {
    UserNotFound,
    DuplicateUsername(String),
    IntegrationNotFound,
    WorkflowNotFound,
    Invalid(String),
}

/// The outcome of a batch create: the items echoed back because they had no username or a
/// username that already exists.
#[derive(Debug)]
pub struct BatchOutcome {
    pub invalid: Vec<Value>,
}

/// Installed integrations of one user: integration id → installed workflow ids.
pub type UserInstalls = BTreeMap<&'static str, BTreeSet<&'static str>>;

#[derive(Default)]
pub struct EnvStore {
    next_seq: u64,
    users: BTreeMap<u64, User>,
    by_id: HashMap<String, u64>,
    by_username: HashMap<String, u64>,
    installs: HashMap<String, UserInstalls>,
}

impl EnvStore {
    /// Users in creation order.
    pub fn users(&self) -> impl Iterator<Item = &User> {
        self.users.values()
    }

    /// Resolve a path parameter that may hold a user id or a username. Ids win: a username that
    /// happens to equal another user's id cannot shadow that user.
    fn seq_of(&self, id_or_username: &str) -> Option<u64> {
        self.by_id
            .get(id_or_username)
            .or_else(|| self.by_username.get(id_or_username))
            .copied()
    }

    pub fn get(&self, id_or_username: &str) -> Option<&User> {
        self.seq_of(id_or_username).and_then(|s| self.users.get(&s))
    }

    /// The users who have the workflow `workflow_id` installed (by id, from any integration),
    /// in creation order: what `GET /users?parentWorkflowId=` lists.
    pub fn users_of_workflow<'a>(&'a self, workflow_id: &'a str) -> impl Iterator<Item = &'a User> {
        self.users().filter(move |u| {
            self.installs
                .get(&u.id)
                .is_some_and(|i| i.values().any(|wfs| wfs.contains(workflow_id)))
        })
    }

    /// The installs of a user (by id), empty when nothing is installed.
    pub fn installs_of(&self, user_id: &str) -> Option<&UserInstalls> {
        self.installs.get(user_id)
    }

    fn insert(&mut self, user: User) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.by_id.insert(user.id.clone(), seq);
        self.by_username.insert(user.username.clone(), seq);
        self.users.insert(seq, user);
    }

    fn remove(&mut self, id_or_username: &str) -> Option<User> {
        let seq = self.seq_of(id_or_username)?;
        let user = self.users.remove(&seq)?;
        self.by_id.remove(&user.id);
        self.by_username.remove(&user.username);
        self.installs.remove(&user.id);
        Some(user)
    }
}

/// Both environments plus the id generator and the write generation.
pub struct Store {
    development: EnvStore,
    production: EnvStore,
    generation: u64,
    rng: StdRng,
}

fn is_blank(s: &str) -> bool {
    s.trim().is_empty()
}

impl Store {
    pub fn new(rng: StdRng) -> Store {
        Store {
            development: EnvStore::default(),
            production: EnvStore::default(),
            generation: 0,
            rng,
        }
    }

    pub fn env(&self, env: Environment) -> &EnvStore {
        match env {
            Environment::Development => &self.development,
            Environment::Production => &self.production,
        }
    }

    fn env_mut(&mut self, env: Environment) -> &mut EnvStore {
        match env {
            Environment::Development => &mut self.development,
            Environment::Production => &mut self.production,
        }
    }

    /// Increases with every mutation; the persister writes a snapshot when this moves.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    fn bump(&mut self) -> u64 {
        self.generation += 1;
        self.generation
    }

    /// A fresh 24-hex id, unique across both environments (like a Mongo ObjectId in shape).
    fn new_id(&mut self) -> String {
        loop {
            let mut bytes = [0u8; 12];
            self.rng.fill_bytes(&mut bytes);
            let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            if !self.development.by_id.contains_key(&id) && !self.production.by_id.contains_key(&id)
            {
                return id;
            }
        }
    }

    /// A random hex string for token ids; drawn from the store's generator so `--seed` runs are
    /// reproducible.
    pub fn random_hex(&mut self, bytes: usize) -> String {
        (0..bytes)
            .map(|_| format!("{:02x}", self.rng.random::<u8>()))
            .collect()
    }

    /// Remove every user and install from both environments.
    pub fn clear(&mut self) -> u64 {
        self.development = EnvStore::default();
        self.production = EnvStore::default();
        self.bump()
    }

    pub fn create_user(
        &mut self,
        env: Environment,
        username: String,
        full_name: Option<String>,
    ) -> Result<(User, u64), StoreError> {
        if is_blank(&username) {
            return Err(StoreError::Invalid("username is required".into()));
        }
        if self.env(env).by_username.contains_key(&username) {
            return Err(StoreError::DuplicateUsername(username));
        }
        let user = User {
            id: self.new_id(),
            username,
            full_name,
        };
        self.env_mut(env).insert(user.clone());
        Ok((user, self.bump()))
    }

    /// Create every valid item; items without a (string, non-blank) username, with a non-string
    /// `fullName`, or whose username exists already (or earlier in the same batch) are echoed back.
    pub fn create_batch(
        &mut self,
        env: Environment,
        items: Vec<Value>,
    ) -> Result<(BatchOutcome, u64), StoreError> {
        let mut valid = Vec::new();
        let mut invalid = Vec::new();
        let mut seen = HashSet::new();
        for item in items {
            let username = item.get("username").and_then(Value::as_str);
            let full_name = match item.get("fullName") {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(()),
            };
            match (username, full_name) {
                (Some(u), Ok(full_name))
                    if !is_blank(u)
                        && !self.env(env).by_username.contains_key(u)
                        && seen.insert(u.to_owned()) =>
                {
                    valid.push((u.to_owned(), full_name));
                }
                _ => invalid.push(item),
            }
        }
        if valid.is_empty() {
            return Err(StoreError::Invalid("No valid users provided".into()));
        }
        for (username, full_name) in valid {
            let user = User {
                id: self.new_id(),
                username,
                full_name,
            };
            self.env_mut(env).insert(user);
        }
        Ok((BatchOutcome { invalid }, self.bump()))
    }

    /// Create all of `users` or none of them: a blank username, or one that exists already (or
    /// twice in `users`), refuses the whole seed. Unlike [`Store::create_batch`], which mimics
    /// Alloy's partial success, this serves the admin API, where half a seed would only confuse.
    pub fn seed_users(
        &mut self,
        env: Environment,
        users: Vec<(String, Option<String>)>,
    ) -> Result<u64, StoreError> {
        let mut seen = HashSet::new();
        for (username, _) in &users {
            if is_blank(username) {
                return Err(StoreError::Invalid("username is required".into()));
            }
            if self.env(env).by_username.contains_key(username) || !seen.insert(username.as_str()) {
                return Err(StoreError::DuplicateUsername(username.clone()));
            }
        }
        for (username, full_name) in users {
            let user = User {
                id: self.new_id(),
                username,
                full_name,
            };
            self.env_mut(env).insert(user);
        }
        Ok(self.bump())
    }

    /// Apply an update. `full_name`: `None` leaves it, `Some(None)` clears it.
    pub fn update_user(
        &mut self,
        env: Environment,
        id_or_username: &str,
        username: Option<String>,
        full_name: Option<Option<String>>,
    ) -> Result<(User, u64), StoreError> {
        let store = self.env_mut(env);
        let seq = store
            .seq_of(id_or_username)
            .ok_or(StoreError::UserNotFound)?;
        if let Some(new) = &username {
            if is_blank(new) {
                return Err(StoreError::Invalid("username must not be empty".into()));
            }
            if store.by_username.get(new).is_some_and(|s| *s != seq) {
                return Err(StoreError::DuplicateUsername(new.clone()));
            }
        }
        let user = store.users.get_mut(&seq).ok_or(StoreError::UserNotFound)?;
        if let Some(new) = username
            && new != user.username
        {
            let old = std::mem::replace(&mut user.username, new.clone());
            store.by_username.remove(&old);
            store.by_username.insert(new, seq);
        }
        if let Some(full_name) = full_name {
            user.full_name = full_name;
        }
        let user = user.clone();
        Ok((user, self.bump()))
    }

    pub fn delete_user(
        &mut self,
        env: Environment,
        id_or_username: &str,
    ) -> Result<(User, u64), StoreError> {
        let user = self
            .env_mut(env)
            .remove(id_or_username)
            .ok_or(StoreError::UserNotFound)?;
        Ok((user, self.bump()))
    }

    fn resolve_install(
        &self,
        env: Environment,
        user: &str,
        integration: &str,
        workflow: Option<&str>,
    ) -> Result<(String, &'static IntegrationDef, Option<&'static str>), StoreError> {
        let user_id = self
            .env(env)
            .get(user)
            .ok_or(StoreError::UserNotFound)?
            .id
            .clone();
        let def = find_integration(integration).ok_or(StoreError::IntegrationNotFound)?;
        let wf = match workflow {
            None => None,
            Some(w) => Some(def.find_workflow(w).ok_or(StoreError::WorkflowNotFound)?.id),
        };
        Ok((user_id, def, wf))
    }

    /// Mark an integration installed for a user: with a workflow, that workflow (and the
    /// integration); without, the integration and all its workflows.
    pub fn install(
        &mut self,
        env: Environment,
        user: &str,
        integration: &str,
        workflow: Option<&str>,
    ) -> Result<(String, &'static IntegrationDef, u64), StoreError> {
        let (user_id, def, wf) = self.resolve_install(env, user, integration, workflow)?;
        let installed = self
            .env_mut(env)
            .installs
            .entry(user_id.clone())
            .or_default()
            .entry(def.id)
            .or_default();
        match wf {
            Some(w) => {
                installed.insert(w);
            }
            None => installed.extend(def.workflows.iter().map(|w| w.id)),
        }
        Ok((user_id, def, self.bump()))
    }

    /// Undo [`Store::install`]: with a workflow, only that workflow (the integration stays
    /// installed); without, the whole integration. Uninstalling what is not installed is a no-op.
    pub fn uninstall(
        &mut self,
        env: Environment,
        user: &str,
        integration: &str,
        workflow: Option<&str>,
    ) -> Result<(String, &'static IntegrationDef, u64), StoreError> {
        let (user_id, def, wf) = self.resolve_install(env, user, integration, workflow)?;
        let store = self.env_mut(env);
        if let Some(installs) = store.installs.get_mut(&user_id) {
            match wf {
                Some(w) => {
                    if let Some(set) = installs.get_mut(def.id) {
                        set.remove(w);
                    }
                }
                None => {
                    installs.remove(def.id);
                }
            }
            if installs.is_empty() {
                store.installs.remove(&user_id);
            }
        }
        Ok((user_id, def, self.bump()))
    }

    /// The `--state` file content: both environments, users in creation order.
    pub fn snapshot_json(&self) -> serde_json::Result<Vec<u8>> {
        fn env(e: &EnvStore) -> EnvSnapshot<'_> {
            EnvSnapshot {
                users: e
                    .users()
                    .map(|u| UserRecord {
                        user_id: Cow::Borrowed(&u.id),
                        username: Cow::Borrowed(&u.username),
                        full_name: u.full_name.as_deref().map(Cow::Borrowed),
                    })
                    .collect(),
                installs: {
                    // Sorted so that the same state always writes the same bytes.
                    let mut rows: Vec<InstallRecord> = e
                        .installs
                        .iter()
                        .flat_map(|(user, ints)| {
                            ints.iter().map(move |(int, wfs)| InstallRecord {
                                user_id: Cow::Borrowed(user),
                                integration_id: Cow::Borrowed(int),
                                workflow_ids: wfs.iter().map(|w| Cow::Borrowed(*w)).collect(),
                            })
                        })
                        .collect();
                    rows.sort_by(|a, b| {
                        (&a.user_id, &a.integration_id).cmp(&(&b.user_id, &b.integration_id))
                    });
                    rows
                },
            }
        }
        serde_json::to_vec(&Snapshot {
            format: SNAPSHOT_FORMAT,
            development: env(&self.development),
            production: env(&self.production),
        })
    }

    /// Rebuild a store from a snapshot. Installs that name an integration or workflow the
    /// catalogue no longer has are dropped; anything else inconsistent is an error, because
    /// silently losing users from a state file would be worse than refusing to start.
    pub fn from_snapshot_json(bytes: &[u8], rng: StdRng) -> Result<Store, String> {
        let snap: Snapshot<'_> =
            serde_json::from_slice(bytes).map_err(|e| format!("not a valid state file: {e}"))?;
        if snap.format != SNAPSHOT_FORMAT {
            return Err(format!(
                "state file format {} is not supported (expected {SNAPSHOT_FORMAT})",
                snap.format
            ));
        }
        let mut store = Store::new(rng);
        for (env, data) in [
            (Environment::Development, snap.development),
            (Environment::Production, snap.production),
        ] {
            let target = store.env_mut(env);
            for u in data.users {
                if target.by_id.contains_key(u.user_id.as_ref())
                    || target.by_username.contains_key(u.username.as_ref())
                {
                    return Err(format!(
                        "state file repeats user {:?} in {env}",
                        u.username.as_ref()
                    ));
                }
                target.insert(User {
                    id: u.user_id.into_owned(),
                    username: u.username.into_owned(),
                    full_name: u.full_name.map(Cow::into_owned),
                });
            }
            for row in data.installs {
                if !target.by_id.contains_key(row.user_id.as_ref()) {
                    continue;
                }
                let Some(def) = find_integration(&row.integration_id) else {
                    continue;
                };
                let set = target
                    .installs
                    .entry(row.user_id.into_owned())
                    .or_default()
                    .entry(def.id)
                    .or_default();
                set.extend(
                    row.workflow_ids
                        .iter()
                        .filter_map(|w| def.workflows.iter().find(|d| d.id == w.as_ref()))
                        .map(|d| d.id),
                );
            }
        }
        Ok(store)
    }
}

const SNAPSHOT_FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Snapshot<'a> {
    format: u32,
    #[serde(borrow)]
    development: EnvSnapshot<'a>,
    #[serde(borrow)]
    production: EnvSnapshot<'a>,
}

#[derive(Serialize, Deserialize)]
struct EnvSnapshot<'a> {
    #[serde(borrow)]
    users: Vec<UserRecord<'a>>,
    #[serde(borrow, default)]
    installs: Vec<InstallRecord<'a>>,
}

#[derive(Serialize, Deserialize)]
struct UserRecord<'a> {
    #[serde(rename = "userId", borrow)]
    user_id: Cow<'a, str>,
    #[serde(borrow)]
    username: Cow<'a, str>,
    #[serde(rename = "fullName", borrow, default)]
    full_name: Option<Cow<'a, str>>,
}

#[derive(Serialize, Deserialize)]
struct InstallRecord<'a> {
    #[serde(rename = "userId", borrow)]
    user_id: Cow<'a, str>,
    #[serde(rename = "integrationId", borrow)]
    integration_id: Cow<'a, str>,
    #[serde(rename = "workflowIds", borrow, default)]
    workflow_ids: Vec<Cow<'a, str>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::catalogue;
    use rand::SeedableRng;
    use serde_json::json;

    const DEV: Environment = Environment::Development;
    const PROD: Environment = Environment::Production;

    fn store() -> Store {
        Store::new(StdRng::seed_from_u64(7))
    }

    #[test]
    fn ids_are_24_hex_and_unique() {
        let mut s = store();
        let mut ids = HashSet::new();
        for i in 0..500 {
            let (u, _) = s.create_user(DEV, format!("u{i}"), None).unwrap();
            assert_eq!(u.id.len(), 24);
            assert!(
                u.id.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            );
            assert!(ids.insert(u.id));
        }
    }

    #[test]
    fn environments_are_disjoint() {
        let mut s = store();
        let (u, _) = s.create_user(DEV, "jane".into(), None).unwrap();
        assert!(s.env(PROD).get("jane").is_none());
        assert!(s.env(PROD).get(&u.id).is_none());
        // The same username may exist once per environment.
        s.create_user(PROD, "jane".into(), None).unwrap();
        assert_eq!(
            s.create_user(DEV, "jane".into(), None),
            Err(StoreError::DuplicateUsername("jane".into()))
        );
    }

    #[test]
    fn lookup_by_id_or_username_and_creation_order() {
        let mut s = store();
        let (a, _) = s.create_user(DEV, "a".into(), Some("A".into())).unwrap();
        let (b, _) = s.create_user(DEV, "b".into(), None).unwrap();
        assert_eq!(s.env(DEV).get("a"), Some(&a));
        assert_eq!(s.env(DEV).get(&b.id), Some(&b));
        let names: Vec<_> = s.env(DEV).users().map(|u| u.username.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn blank_username_is_invalid() {
        let mut s = store();
        assert!(matches!(
            s.create_user(DEV, "  ".into(), None),
            Err(StoreError::Invalid(_))
        ));
        assert_eq!(s.generation(), 0, "a refused write changes nothing");
    }

    #[test]
    fn update_renames_clears_and_refuses_collisions() {
        let mut s = store();
        let (a, _) = s.create_user(DEV, "a".into(), Some("A".into())).unwrap();
        s.create_user(DEV, "b".into(), None).unwrap();
        assert_eq!(
            s.update_user(DEV, "a", Some("b".into()), None),
            Err(StoreError::DuplicateUsername("b".into()))
        );
        // Renaming to its own name is not a collision.
        s.update_user(DEV, "a", Some("a".into()), None).unwrap();
        let (u, _) = s
            .update_user(DEV, &a.id, Some("c".into()), Some(None))
            .unwrap();
        assert_eq!((u.username.as_str(), u.full_name), ("c", None));
        assert!(s.env(DEV).get("a").is_none());
        assert_eq!(s.env(DEV).get("c").map(|u| &u.id), Some(&a.id));
        assert_eq!(
            s.update_user(DEV, "zzz", None, None),
            Err(StoreError::UserNotFound)
        );
    }

    #[test]
    fn delete_frees_the_username_and_drops_installs() {
        let mut s = store();
        let (a, _) = s.create_user(DEV, "a".into(), None).unwrap();
        s.install(DEV, "a", "Shopify", None).unwrap();
        s.delete_user(DEV, "a").unwrap();
        assert!(s.env(DEV).installs_of(&a.id).is_none());
        assert_eq!(s.delete_user(DEV, "a"), Err(StoreError::UserNotFound));
        s.create_user(DEV, "a".into(), None).unwrap();
    }

    #[test]
    fn batch_skips_and_echoes_invalid_items() {
        let mut s = store();
        s.create_user(DEV, "exists".into(), None).unwrap();
        let items = vec![
            json!({"username": "new1", "fullName": "New One"}),
            json!({"fullName": "Missing Username"}),
            json!({"username": "exists"}),
            json!({"username": "new1"}),
            json!({"username": ""}),
            json!("not an object"),
            json!({"username": "new2"}),
        ];
        let (out, _) = s.create_batch(DEV, items).unwrap();
        assert_eq!(s.env(DEV).users().count(), 3);
        assert_eq!(
            out.invalid,
            vec![
                json!({"fullName": "Missing Username"}),
                json!({"username": "exists"}),
                json!({"username": "new1"}),
                json!({"username": ""}),
                json!("not an object"),
            ]
        );
        assert_eq!(
            s.env(DEV).get("new1").and_then(|u| u.full_name.as_deref()),
            Some("New One")
        );
        let err = s.create_batch(DEV, vec![json!({"username": "exists"})]);
        assert!(matches!(err, Err(StoreError::Invalid(m)) if m == "No valid users provided"));
    }

    #[test]
    fn installs_whole_integration_or_one_workflow() {
        let mut s = store();
        let (u, _) = s.create_user(DEV, "a".into(), None).unwrap();
        let shop = &catalogue()[0];
        s.install(DEV, &u.id, shop.app, Some(shop.workflows[0].name))
            .unwrap();
        let got = &s.env(DEV).installs_of(&u.id).unwrap()[shop.id];
        assert_eq!(got.len(), 1);
        s.install(DEV, "a", shop.id, None).unwrap();
        assert_eq!(
            s.env(DEV).installs_of(&u.id).unwrap()[shop.id].len(),
            shop.workflows.len()
        );
        s.uninstall(DEV, "a", shop.id, Some(shop.workflows[0].id))
            .unwrap();
        assert_eq!(
            s.env(DEV).installs_of(&u.id).unwrap()[shop.id].len(),
            shop.workflows.len() - 1
        );
        s.uninstall(DEV, "a", shop.id, None).unwrap();
        assert!(s.env(DEV).installs_of(&u.id).is_none());
        assert_eq!(
            s.install(DEV, "a", "nope", None).map(|_| ()),
            Err(StoreError::IntegrationNotFound)
        );
        assert_eq!(
            s.install(DEV, "a", shop.id, Some("nope")).map(|_| ()),
            Err(StoreError::WorkflowNotFound)
        );
        assert_eq!(
            s.install(DEV, "ghost", shop.id, None).map(|_| ()),
            Err(StoreError::UserNotFound)
        );
    }

    #[test]
    fn snapshot_round_trip_keeps_everything_in_order() {
        let mut s = store();
        for i in 0..20 {
            s.create_user(DEV, format!("d{i}"), Some(format!("D \"{i}\" é")))
                .unwrap();
        }
        s.create_user(PROD, "p".into(), None).unwrap();
        s.delete_user(DEV, "d3").unwrap();
        s.install(PROD, "p", "Slack", None).unwrap();
        let bytes = s.snapshot_json().unwrap();
        let back = Store::from_snapshot_json(&bytes, StdRng::seed_from_u64(1)).unwrap();
        for env in Environment::ALL {
            let a: Vec<_> = s.env(env).users().collect();
            let b: Vec<_> = back.env(env).users().collect();
            assert_eq!(a, b);
        }
        let p = back.env(PROD).get("p").unwrap();
        assert_eq!(
            back.env(PROD).installs_of(&p.id),
            s.env(PROD).installs_of(&p.id)
        );
        assert_eq!(back.snapshot_json().unwrap(), bytes);
    }

    #[test]
    fn snapshot_json_uses_documented_field_names() {
        let mut s = store();
        s.create_user(DEV, "a".into(), Some("A".into())).unwrap();
        let v: Value = serde_json::from_slice(&s.snapshot_json().unwrap()).unwrap();
        let u = &v["development"]["users"][0];
        assert_eq!(u["username"], "a");
        assert_eq!(u["fullName"], "A");
        assert_eq!(u["userId"].as_str().map(str::len), Some(24));
    }

    #[test]
    fn bad_snapshots_are_refused() {
        let rng = || StdRng::seed_from_u64(1);
        assert!(Store::from_snapshot_json(b"{", rng()).is_err());
        assert!(Store::from_snapshot_json(b"{\"format\": 99, \"development\": {\"users\": []}, \"production\": {\"users\": []}}", rng()).is_err());
        let dup = br#"{"format":1,"development":{"users":[{"userId":"a","username":"x"},{"userId":"b","username":"x"}]},"production":{"users":[]}}"#;
        assert!(Store::from_snapshot_json(dup, rng()).is_err());
    }
}
