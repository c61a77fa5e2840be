//! The emulator's data: users, their installed workflows, and the published versions of each
//! workflow.
//!
//! Alloy isolates the users created with a development key from those created with a
//! production key, so the store holds two independent [`EnvStore`]s and every operation on users
//! and installs names the environment. Users are kept in creation order (a `BTreeMap` keyed by a
//! sequence number) because `GET /users` must list them in a stable order, with two hash indexes
//! so lookups by id and by username stay O(1) for thousands of users.
//!
//! An install is per environment, per user and per workflow ([`WorkflowInstall`]: active or not,
//! at which version, since when), grouped by integration: an integration is installed for a user
//! while it has an entry, as `GET /integrations` reports it. Versions are account-wide
//! ([`Versions`]): both environments see the same latest version of a workflow, and each user
//! stays on the version they installed until upgraded.
//!
//! Every mutation bumps [`Store::generation`]; an operation that changes nothing (a repeated
//! activate, an upgrade at the latest version) does not. The persister (see `persist.rs`)
//! compares generations to know what is already on disk. The snapshot format written to
//! `--state` files is defined here too, next to the data it mirrors.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use rand::rngs::StdRng;
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::catalogue::{
    IntegrationDef, WorkflowDef, find_integration, find_workflow, workflows_named,
};
use super::tenant::{CredentialRow, LogEntry, TenantData};

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

/// One workflow installed for one user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkflowInstall {
    /// Whether it runs: installing sets it, activate and deactivate change it.
    pub active: bool,
    /// The version the user runs; only an upgrade (or a reinstall) moves it.
    pub installed_version: u32,
    /// When the user installed it (UTC, whole milliseconds); an upgrade keeps it.
    pub installed_at: OffsetDateTime,
}

impl WorkflowInstall {
    /// `installedAt` as the API writes it, e.g. `2025-09-01T12:00:00.123Z`.
    pub fn installed_at_rfc3339(&self) -> String {
        rfc3339(self.installed_at)
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    // Only a year outside 0..=9999 fails to format, and `now` cannot produce one.
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// The current time, cut to whole milliseconds as a JavaScript API reports it (so that a time
/// survives the snapshot round trip unchanged).
pub fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(u32::from(t.millisecond()) * 1_000_000)
        .unwrap_or(t)
}

/// Why a store operation was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum StoreError {
    UserNotFound,
    DuplicateUsername(String),
    IntegrationNotFound,
    WorkflowNotFound,
    Invalid(String),
    /// A user named in a workflow call (by id or username) that does not exist.
    UnknownUser(String),
    /// A workflow id (or name) that is not a workflow of the account.
    UnknownWorkflow(String),
    /// The workflow exists but the user has not installed it.
    NotInstalled {
        workflow: String,
        user_id: String,
    },
    /// An upgrade past a version marked incompatible: the user must reinstall.
    Incompatible {
        workflow: String,
        version: u32,
        user_id: String,
    },
    /// A credential id that is not a credential of the user named.
    UnknownCredential(String),
}

/// The outcome of a batch create: the items echoed back because they had no username or a
/// username that already exists.
#[derive(Debug)]
pub struct BatchOutcome {
    pub invalid: Vec<Value>,
}

/// The workflows of one integration that a user installed, by workflow id.
pub type IntegrationInstall = BTreeMap<&'static str, WorkflowInstall>;

/// Installed integrations of one user: integration id → its installed workflows.
pub type UserInstalls = BTreeMap<&'static str, IntegrationInstall>;

/// How a workflow call names its workflow: `workflowId`, or `workflowName` (case-insensitive).
#[derive(Clone, Copy, Debug)]
pub enum WorkflowRef<'a> {
    Id(&'a str),
    Name(&'a str),
}

/// The versions of every workflow published after the catalogue's, account-wide.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Versions {
    /// Workflow id → one flag per version published after the catalogue's (`true`: marked
    /// incompatible), in version order.
    published: BTreeMap<&'static str, Vec<bool>>,
}

impl Versions {
    /// The latest published version of `w`.
    pub fn latest(&self, w: &WorkflowDef) -> u32 {
        let later = self.published.get(w.id).map_or(0, Vec::len);
        w.version
            .saturating_add(u32::try_from(later).unwrap_or(u32::MAX))
    }

    /// The first version after `installed`, up to the latest, that is marked incompatible.
    fn first_incompatible_after(&self, w: &WorkflowDef, installed: u32) -> Option<u32> {
        let flags = self.published.get(w.id)?;
        (1u32..)
            .zip(flags)
            .map(|(n, incompatible)| (w.version + n, *incompatible))
            .find(|(v, incompatible)| *v > installed && *incompatible)
            .map(|(v, _)| v)
    }

    fn publish(&mut self, w: &'static WorkflowDef, incompatible: bool) -> u32 {
        self.published.entry(w.id).or_default().push(incompatible);
        self.latest(w)
    }
}

/// The workflow of the account with id `workflow_id`, and its integration.
pub fn workflow(
    workflow_id: &str,
) -> Result<(&'static IntegrationDef, &'static WorkflowDef), StoreError> {
    find_workflow(workflow_id).ok_or_else(|| StoreError::UnknownWorkflow(workflow_id.to_owned()))
}

#[derive(Default)]
pub struct EnvStore {
    next_seq: u64,
    users: BTreeMap<u64, User>,
    by_id: HashMap<String, u64>,
    by_username: HashMap<String, u64>,
    installs: HashMap<String, UserInstalls>,
    /// Credentials and logs by user id; a user delete leaves them (see `tenant.rs`).
    pub(crate) tenant: TenantData,
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
                .is_some_and(|i| i.values().any(|wfs| wfs.contains_key(workflow_id)))
        })
    }

    /// Every user who installed the workflow `w` of integration `i`, with that install, in
    /// creation order: what `GET /workflows/{id}/users` lists.
    pub fn installs_of_workflow<'a>(
        &'a self,
        i: &'a IntegrationDef,
        w: &'a WorkflowDef,
    ) -> impl Iterator<Item = (&'a User, &'a WorkflowInstall)> {
        self.users().filter_map(move |u| {
            let install = self.installs.get(&u.id)?.get(i.id)?.get(w.id)?;
            Some((u, install))
        })
    }

    /// The installs of a user (by id), `None` when nothing is installed.
    pub fn installs_of(&self, user_id: &str) -> Option<&UserInstalls> {
        self.installs.get(user_id)
    }

    fn install_of(
        &self,
        user_id: &str,
        i: &IntegrationDef,
        w: &WorkflowDef,
    ) -> Option<&WorkflowInstall> {
        self.installs.get(user_id)?.get(i.id)?.get(w.id)
    }

    fn install_of_mut(
        &mut self,
        user_id: &str,
        i: &IntegrationDef,
        w: &WorkflowDef,
    ) -> Option<&mut WorkflowInstall> {
        self.installs.get_mut(user_id)?.get_mut(i.id)?.get_mut(w.id)
    }

    /// Install (or reinstall) `w` for `user_id`: active, at `version`, installed `at`.
    fn put_install(
        &mut self,
        user_id: &str,
        i: &'static IntegrationDef,
        w: &'static WorkflowDef,
        version: u32,
        at: OffsetDateTime,
    ) {
        let install = WorkflowInstall {
            active: true,
            installed_version: version,
            installed_at: at,
        };
        match self.installs.get_mut(user_id) {
            Some(ints) => {
                ints.entry(i.id).or_default().insert(w.id, install);
            }
            None => {
                let ints = BTreeMap::from([(i.id, BTreeMap::from([(w.id, install)]))]);
                self.installs.insert(user_id.to_owned(), ints);
            }
        }
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

/// What an admin install names: the user's id, the integration, and the workflows of it.
type InstallTarget = (String, &'static IntegrationDef, Vec<&'static WorkflowDef>);

/// An installed workflow found for a workflow call.
struct Located {
    user_id: String,
    integration: &'static IntegrationDef,
    workflow: &'static WorkflowDef,
}

/// Both environments, the published versions, the id generator and the write generation.
pub struct Store {
    development: EnvStore,
    production: EnvStore,
    versions: Versions,
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
            versions: Versions::default(),
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

    pub(crate) fn env_mut(&mut self, env: Environment) -> &mut EnvStore {
        match env {
            Environment::Development => &mut self.development,
            Environment::Production => &mut self.production,
        }
    }

    /// The published versions of every workflow.
    pub fn versions(&self) -> &Versions {
        &self.versions
    }

    /// Increases with every mutation; the persister writes a snapshot when this moves.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    fn bump(&mut self) -> u64 {
        self.generation += 1;
        self.generation
    }

    /// Record a mutation made outside this file (`tenant.rs`).
    pub(crate) fn bump_generation(&mut self) -> u64 {
        self.bump()
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

    /// Remove every user and install from both environments, and every published version.
    pub fn clear(&mut self) -> u64 {
        self.development = EnvStore::default();
        self.production = EnvStore::default();
        self.versions = Versions::default();
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
    /// twice in `users`), refuses the whole seed, and so does a workflow id of `workflows` that
    /// is not in the catalogue. Every new user gets each of `workflows` installed, as
    /// [`Store::install`] would. Unlike [`Store::create_batch`], which mimics Alloy's partial
    /// success, this serves the admin API, where half a seed would only confuse.
    pub fn seed_users(
        &mut self,
        env: Environment,
        users: Vec<(String, Option<String>)>,
        workflows: &[String],
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
        let mut to_install = Vec::new();
        let mut named = HashSet::new();
        for id in workflows {
            let (i, w) = workflow(id)?;
            if named.insert(w.id) {
                to_install.push((i, w));
            }
        }
        let at = now();
        let versions: Vec<u32> = to_install
            .iter()
            .map(|(_, w)| self.versions.latest(w))
            .collect();
        for (username, full_name) in users {
            let user = User {
                id: self.new_id(),
                username,
                full_name,
            };
            let store = self.env_mut(env);
            for ((i, w), version) in to_install.iter().zip(&versions) {
                store.put_install(&user.id, i, w, *version, at);
            }
            store.insert(user);
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

    /// The integration and workflows an admin install names: an integration (id or app name)
    /// with one of its workflows (id or name) or all of them, or a workflow alone (an id, or a
    /// name no other integration's workflow shares).
    fn resolve_install(
        &self,
        env: Environment,
        user: &str,
        integration: Option<&str>,
        workflow: Option<&str>,
    ) -> Result<InstallTarget, StoreError> {
        let user_id = self
            .env(env)
            .get(user)
            .ok_or(StoreError::UserNotFound)?
            .id
            .clone();
        let (def, wfs) = match (integration, workflow) {
            (Some(i), w) => {
                let def = find_integration(i).ok_or(StoreError::IntegrationNotFound)?;
                let wfs = match w {
                    None => def.workflows.iter().collect(),
                    Some(w) => vec![def.find_workflow(w).ok_or(StoreError::WorkflowNotFound)?],
                };
                (def, wfs)
            }
            (None, Some(w)) => {
                let (def, wf) = match find_workflow(w) {
                    Some(found) => found,
                    None => {
                        let mut named = workflows_named(w);
                        match (named.next(), named.next()) {
                            (Some(found), None) => found,
                            (None, _) => return Err(StoreError::WorkflowNotFound),
                            (Some(_), Some(_)) => {
                                return Err(StoreError::Invalid(format!(
                                    "several workflows are named {w:?}: give the workflow id, or \
                                     the integrationId too"
                                )));
                            }
                        }
                    }
                };
                (def, vec![wf])
            }
            (None, None) => {
                return Err(StoreError::Invalid(
                    "give integrationId (the whole integration), workflowId (one workflow), or both"
                        .into(),
                ));
            }
        };
        Ok((user_id, def, wfs))
    }

    /// Install for a user, as the end user does in Alloy's modal: one workflow, or an
    /// integration with all its workflows. Each workflow installed is active, at its latest
    /// version, installed now; installing one that is installed already reinstalls it.
    pub fn install(
        &mut self,
        env: Environment,
        user: &str,
        integration: Option<&str>,
        workflow: Option<&str>,
    ) -> Result<(String, &'static IntegrationDef, u64), StoreError> {
        let (user_id, def, wfs) = self.resolve_install(env, user, integration, workflow)?;
        let at = now();
        for w in wfs {
            let version = self.versions.latest(w);
            self.env_mut(env).put_install(&user_id, def, w, version, at);
        }
        Ok((user_id, def, self.bump()))
    }

    /// Undo [`Store::install`]: with a workflow, only that workflow (the integration stays
    /// installed); without, the whole integration. Uninstalling what is not installed is a no-op.
    pub fn uninstall(
        &mut self,
        env: Environment,
        user: &str,
        integration: Option<&str>,
        workflow: Option<&str>,
    ) -> Result<(String, &'static IntegrationDef, u64), StoreError> {
        let (user_id, def, wfs) = self.resolve_install(env, user, integration, workflow)?;
        let store = self.env_mut(env);
        if let Some(installs) = store.installs.get_mut(&user_id) {
            if workflow.is_some() {
                if let Some(installed) = installs.get_mut(def.id) {
                    for w in wfs {
                        installed.remove(w.id);
                    }
                }
            } else {
                installs.remove(def.id);
            }
            if installs.is_empty() {
                store.installs.remove(&user_id);
            }
        }
        Ok((user_id, def, self.bump()))
    }

    /// Find the install a workflow call names. Checked in this order, each with its own error:
    /// the workflow exists in the account, the user exists in `env`, the user installed it.
    /// A `workflowName` several workflows share picks the one the user installed.
    fn locate(
        &self,
        env: Environment,
        user: &str,
        wf: WorkflowRef<'_>,
    ) -> Result<Located, StoreError> {
        let candidates: Vec<(&'static IntegrationDef, &'static WorkflowDef)> = match wf {
            WorkflowRef::Id(id) => vec![workflow(id)?],
            WorkflowRef::Name(name) => {
                let named: Vec<_> = workflows_named(name).collect();
                if named.is_empty() {
                    return Err(StoreError::UnknownWorkflow(name.to_owned()));
                }
                named
            }
        };
        let store = self.env(env);
        let user_id = store
            .get(user)
            .ok_or_else(|| StoreError::UnknownUser(user.to_owned()))?
            .id
            .clone();
        let installed: Vec<_> = candidates
            .into_iter()
            .filter(|(i, w)| store.install_of(&user_id, i, w).is_some())
            .collect();
        match installed.as_slice() {
            [(integration, workflow)] => Ok(Located {
                user_id,
                integration,
                workflow,
            }),
            [] => Err(StoreError::NotInstalled {
                workflow: match wf {
                    WorkflowRef::Id(id) | WorkflowRef::Name(id) => id.to_owned(),
                },
                user_id,
            }),
            several => Err(StoreError::Invalid(format!(
                "workflowName {:?} names {} workflows installed for user {user_id} ({}): give \
                 workflowId instead",
                match wf {
                    WorkflowRef::Id(id) | WorkflowRef::Name(id) => id,
                },
                several.len(),
                several
                    .iter()
                    .map(|(_, w)| w.id)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// Activate or deactivate an installed workflow. Returns the generation that holds the
    /// change; setting the state it already has changes nothing and is no error.
    pub fn set_active(
        &mut self,
        env: Environment,
        user: &str,
        wf: WorkflowRef<'_>,
        active: bool,
    ) -> Result<u64, StoreError> {
        let at = self.locate(env, user, wf)?;
        let install = self
            .env_mut(env)
            .install_of_mut(&at.user_id, at.integration, at.workflow)
            .ok_or(StoreError::WorkflowNotFound)?;
        if install.active == active {
            return Ok(self.generation);
        }
        install.active = active;
        Ok(self.bump())
    }

    /// Upgrade a user's installed workflow to the latest version: nothing to do at the latest
    /// version already; refused, changing nothing, when a version after the installed one is
    /// marked incompatible. Returns the install as it is afterwards.
    pub fn upgrade(
        &mut self,
        env: Environment,
        user: &str,
        workflow_id: &str,
    ) -> Result<(WorkflowInstall, u64), StoreError> {
        let at = self.locate(env, user, WorkflowRef::Id(workflow_id))?;
        let latest = self.versions.latest(at.workflow);
        let generation = self.generation;
        let blocked = |installed: u32| {
            self.versions
                .first_incompatible_after(at.workflow, installed)
        };
        let installed = self
            .env(env)
            .install_of(&at.user_id, at.integration, at.workflow)
            .ok_or(StoreError::WorkflowNotFound)?
            .clone();
        if installed.installed_version >= latest {
            return Ok((installed, generation));
        }
        if let Some(version) = blocked(installed.installed_version) {
            return Err(StoreError::Incompatible {
                workflow: at.workflow.id.to_owned(),
                version,
                user_id: at.user_id,
            });
        }
        let install = self
            .env_mut(env)
            .install_of_mut(&at.user_id, at.integration, at.workflow)
            .ok_or(StoreError::WorkflowNotFound)?;
        install.installed_version = latest;
        let upgraded = install.clone();
        Ok((upgraded, self.bump()))
    }

    /// Remove one installed workflow of one user; the integration's install goes with its last
    /// workflow.
    pub fn remove_workflow(
        &mut self,
        env: Environment,
        user: &str,
        workflow_id: &str,
    ) -> Result<u64, StoreError> {
        let at = self.locate(env, user, WorkflowRef::Id(workflow_id))?;
        let store = self.env_mut(env);
        if let Some(ints) = store.installs.get_mut(&at.user_id) {
            if let Some(wfs) = ints.get_mut(at.integration.id) {
                wfs.remove(at.workflow.id);
                if wfs.is_empty() {
                    ints.remove(at.integration.id);
                }
            }
            if ints.is_empty() {
                store.installs.remove(&at.user_id);
            }
        }
        Ok(self.bump())
    }

    /// Publish the next version of a workflow, marked incompatible or not; returns its number.
    pub fn publish_version(
        &mut self,
        workflow_id: &str,
        incompatible: bool,
    ) -> Result<(u32, u64), StoreError> {
        let (_, w) = workflow(workflow_id)?;
        let version = self.versions.publish(w, incompatible);
        Ok((version, self.bump()))
    }

    /// The `--state` file content: both environments, users in creation order.
    pub fn snapshot_json(&self) -> serde_json::Result<Vec<u8>> {
        let tenant = |env: Environment| {
            let credentials = self
                .credential_rows(env)
                .into_iter()
                .map(|c| CredentialRecord {
                    credential_id: c.id,
                    user_id: c.user_id,
                    connector: c.connector,
                    name: c.name,
                    created_at: rfc3339(c.created_at),
                    data_sha256: c.sha256,
                    properties: c.properties,
                })
                .collect();
            let logs = self
                .log_rows(env)
                .into_iter()
                .map(|l| LogRecord {
                    execution_id: l.execution_id.clone(),
                    workflow_id: l.workflow_id.clone(),
                    user_id: l.user_id.clone(),
                    status: l.status.clone(),
                    started_at: rfc3339(l.started_at),
                })
                .collect();
            (credentials, logs)
        };
        fn env(
            e: &EnvStore,
            (credentials, logs): (Vec<CredentialRecord>, Vec<LogRecord>),
        ) -> EnvSnapshot<'_> {
            EnvSnapshot {
                credentials,
                logs,
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
                                workflow_ids: wfs.keys().map(|w| Cow::Borrowed(*w)).collect(),
                                workflows: Some(
                                    wfs.iter()
                                        .map(|(w, i)| WorkflowRecord {
                                            workflow_id: Cow::Borrowed(w),
                                            active: i.active,
                                            installed_version: i.installed_version,
                                            installed_at: Cow::Owned(i.installed_at_rfc3339()),
                                        })
                                        .collect(),
                                ),
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
        let workflow_versions = self
            .versions
            .published
            .iter()
            .flat_map(|(w, flags)| {
                let first = find_workflow(w).map_or(0, |(_, d)| d.version);
                (1u32..)
                    .zip(flags)
                    .map(move |(n, incompatible)| VersionRecord {
                        workflow_id: Cow::Borrowed(w),
                        version: first + n,
                        incompatible: *incompatible,
                    })
            })
            .collect();
        serde_json::to_vec(&Snapshot {
            format: SNAPSHOT_FORMAT,
            development: env(&self.development, tenant(Environment::Development)),
            production: env(&self.production, tenant(Environment::Production)),
            workflow_versions,
        })
    }

    /// Rebuild a store from a snapshot. Installs and versions that name an integration or
    /// workflow the catalogue no longer has are dropped; anything else inconsistent is an
    /// error, because silently losing users from a state file would be worse than refusing to
    /// start.
    ///
    /// A snapshot written before installs had a state of their own (rows with `workflowIds`
    /// only) reads as every workflow active at the catalogue's version, installed when the
    /// file was loaded.
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
        let mut versions = snap.workflow_versions;
        versions.sort_by(|a, b| (&a.workflow_id, a.version).cmp(&(&b.workflow_id, b.version)));
        for v in versions {
            let Some((_, w)) = find_workflow(&v.workflow_id) else {
                continue;
            };
            let next = store.versions.latest(w) + 1;
            if v.version != next {
                return Err(format!(
                    "state file lists version {} of workflow {} where version {next} comes next",
                    v.version, w.id
                ));
            }
            store.versions.publish(w, v.incompatible);
        }
        let loaded_at = now();
        let time_of = |what: &str, t: &str, env: Environment| {
            OffsetDateTime::parse(t, &Rfc3339).map_err(|e| {
                format!("state file: {what} {t:?} in {env} is not an RFC 3339 time: {e}")
            })
        };
        for (env, data) in [
            (Environment::Development, snap.development),
            (Environment::Production, snap.production),
        ] {
            for c in data.credentials {
                let created_at = time_of("createdAt", &c.created_at, env)?;
                store.restore_credential(
                    env,
                    CredentialRow {
                        id: c.credential_id,
                        user_id: c.user_id,
                        connector: c.connector,
                        name: c.name,
                        created_at,
                        sha256: c.data_sha256,
                        properties: c.properties,
                    },
                );
            }
            for l in data.logs {
                let started_at = time_of("startedAt", &l.started_at, env)?;
                store.restore_log(
                    env,
                    LogEntry {
                        execution_id: l.execution_id,
                        workflow_id: l.workflow_id,
                        user_id: l.user_id,
                        status: l.status,
                        started_at,
                    },
                );
            }
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
                let records: Vec<WorkflowRecord<'_>> = match row.workflows {
                    Some(records) => records,
                    None => row
                        .workflow_ids
                        .into_iter()
                        .filter_map(|w| {
                            let d = def.workflows.iter().find(|d| d.id == w.as_ref())?;
                            Some(WorkflowRecord {
                                workflow_id: w,
                                active: true,
                                installed_version: d.version,
                                installed_at: Cow::Owned(rfc3339(loaded_at)),
                            })
                        })
                        .collect(),
                };
                let set = target
                    .installs
                    .entry(row.user_id.into_owned())
                    .or_default()
                    .entry(def.id)
                    .or_default();
                for r in records {
                    let Some(d) = def
                        .workflows
                        .iter()
                        .find(|d| d.id == r.workflow_id.as_ref())
                    else {
                        continue;
                    };
                    let installed_at =
                        OffsetDateTime::parse(&r.installed_at, &Rfc3339).map_err(|e| {
                            format!(
                                "state file: installedAt {:?} of workflow {} in {env} is not an \
                                 RFC 3339 time: {e}",
                                r.installed_at.as_ref(),
                                d.id
                            )
                        })?;
                    set.insert(
                        d.id,
                        WorkflowInstall {
                            active: r.active,
                            installed_version: r.installed_version,
                            installed_at,
                        },
                    );
                }
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
    /// Versions published through the admin API, account-wide; absent from older files.
    #[serde(rename = "workflowVersions", borrow, default)]
    workflow_versions: Vec<VersionRecord<'a>>,
}

#[derive(Serialize, Deserialize)]
struct EnvSnapshot<'a> {
    #[serde(borrow)]
    users: Vec<UserRecord<'a>>,
    #[serde(borrow, default)]
    installs: Vec<InstallRecord<'a>>,
    /// Stored credentials without their values: a digest and the property names (`tenant.rs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    credentials: Vec<CredentialRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    logs: Vec<LogRecord>,
}

/// One stored credential in a state file. The secret values are not written: only
/// `dataSha256` and the property names, which is all any route ever shows.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CredentialRecord {
    credential_id: String,
    user_id: String,
    #[serde(rename = "type")]
    connector: String,
    name: String,
    created_at: String,
    data_sha256: String,
    properties: Vec<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogRecord {
    execution_id: String,
    workflow_id: String,
    user_id: String,
    status: String,
    started_at: String,
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
    /// The installed workflows' ids: all an older emulator wrote, and still written so that an
    /// older emulator can read a newer file (it then sees each workflow active at the
    /// catalogue's version).
    #[serde(rename = "workflowIds", borrow, default)]
    workflow_ids: Vec<Cow<'a, str>>,
    /// Each installed workflow with its state; when present, it wins over `workflowIds`.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    workflows: Option<Vec<WorkflowRecord<'a>>>,
}

#[derive(Serialize, Deserialize)]
struct WorkflowRecord<'a> {
    #[serde(rename = "workflowId", borrow)]
    workflow_id: Cow<'a, str>,
    active: bool,
    #[serde(rename = "installedVersion")]
    installed_version: u32,
    #[serde(rename = "installedAt", borrow)]
    installed_at: Cow<'a, str>,
}

#[derive(Serialize, Deserialize)]
struct VersionRecord<'a> {
    #[serde(rename = "workflowId", borrow)]
    workflow_id: Cow<'a, str>,
    version: u32,
    incompatible: bool,
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
        s.install(DEV, "a", Some("Shopify"), None).unwrap();
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
        s.install(DEV, &u.id, Some(shop.app), Some(shop.workflows[0].name))
            .unwrap();
        let got = &s.env(DEV).installs_of(&u.id).unwrap()[shop.id];
        assert_eq!(got.len(), 1);
        s.install(DEV, "a", Some(shop.id), None).unwrap();
        assert_eq!(
            s.env(DEV).installs_of(&u.id).unwrap()[shop.id].len(),
            shop.workflows.len()
        );
        s.uninstall(DEV, "a", Some(shop.id), Some(shop.workflows[0].id))
            .unwrap();
        assert_eq!(
            s.env(DEV).installs_of(&u.id).unwrap()[shop.id].len(),
            shop.workflows.len() - 1
        );
        s.uninstall(DEV, "a", Some(shop.id), None).unwrap();
        assert!(s.env(DEV).installs_of(&u.id).is_none());
        assert_eq!(
            s.install(DEV, "a", Some("nope"), None).map(|_| ()),
            Err(StoreError::IntegrationNotFound)
        );
        assert_eq!(
            s.install(DEV, "a", Some(shop.id), Some("nope")).map(|_| ()),
            Err(StoreError::WorkflowNotFound)
        );
        assert_eq!(
            s.install(DEV, "ghost", Some(shop.id), None).map(|_| ()),
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
        s.install(PROD, "p", Some("Slack"), None).unwrap();
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

    /// Shopify's "Sync new orders" and the user `a` of a fresh store, with it installed.
    fn with_one_install() -> (Store, User, &'static WorkflowDef) {
        let mut s = store();
        let (u, _) = s.create_user(DEV, "a".into(), None).unwrap();
        let (_, w) = workflow("a1f7fad397c0ac5b8339697b").unwrap();
        s.install(DEV, "a", None, Some(w.id)).unwrap();
        (s, u, w)
    }

    fn install_of<'a>(s: &'a Store, env: Environment, user: &str, w: &str) -> &'a WorkflowInstall {
        let (i, w) = workflow(w).unwrap();
        s.env(env).install_of(user, i, w).expect("installed")
    }

    #[test]
    fn installing_one_workflow_sets_active_latest_and_now() {
        let (mut s, u, w) = with_one_install();
        let before = now();
        let got = install_of(&s, DEV, &u.id, w.id).clone();
        assert!(got.active);
        assert_eq!(got.installed_version, w.version);
        assert!(
            got.installed_at <= before && before - got.installed_at < time::Duration::minutes(1)
        );
        assert_eq!(
            got.installed_at.nanosecond() % 1_000_000,
            0,
            "whole milliseconds"
        );
        // Only that workflow of the integration, and only for that user and environment.
        let ints = s.env(DEV).installs_of(&u.id).unwrap();
        assert_eq!(ints.len(), 1);
        assert_eq!(ints.values().next().unwrap().len(), 1);
        assert!(s.env(PROD).installs_of(&u.id).is_none());
        // Reinstalling after a deactivation and a new version starts afresh.
        s.set_active(DEV, "a", WorkflowRef::Id(w.id), false)
            .unwrap();
        s.publish_version(w.id, false).unwrap();
        s.install(DEV, &u.id, None, Some(w.id)).unwrap();
        let again = install_of(&s, DEV, &u.id, w.id);
        assert!(again.active);
        assert_eq!(again.installed_version, w.version + 1);
        // A name several integrations share needs the integration.
        assert!(matches!(
            s.install(DEV, "a", None, Some("sync new orders")),
            Err(StoreError::Invalid(m)) if m.contains("several")
        ));
        assert_eq!(
            s.install(DEV, "a", None, None).map(|_| ()),
            Err(StoreError::Invalid(
                "give integrationId (the whole integration), workflowId (one workflow), or both"
                    .into()
            ))
        );
    }

    #[test]
    fn activation_is_idempotent_and_errors_come_in_order() {
        let (mut s, u, w) = with_one_install();
        let g = s.generation();
        assert_eq!(
            s.set_active(DEV, "a", WorkflowRef::Id(w.id), true),
            Ok(g),
            "no-op"
        );
        let g2 = s
            .set_active(DEV, &u.id, WorkflowRef::Id(w.id), false)
            .unwrap();
        assert_eq!(g2, g + 1);
        assert!(!install_of(&s, DEV, &u.id, w.id).active);
        assert_eq!(s.set_active(DEV, "a", WorkflowRef::Id(w.id), false), Ok(g2));
        // By name, case-insensitive: the name is shared with BigCommerce's workflow, and the
        // one this user installed is meant.
        s.set_active(DEV, "a", WorkflowRef::Name("SYNC NEW ORDERS"), true)
            .unwrap();
        assert!(install_of(&s, DEV, &u.id, w.id).active);

        let ghost = "0123456789abcdef01234567";
        assert_eq!(
            s.set_active(DEV, "a", WorkflowRef::Id(ghost), true),
            Err(StoreError::UnknownWorkflow(ghost.into()))
        );
        assert_eq!(
            s.set_active(DEV, "nobody", WorkflowRef::Id(ghost), true),
            Err(StoreError::UnknownWorkflow(ghost.into())),
            "the workflow is checked first"
        );
        assert_eq!(
            s.set_active(DEV, "nobody", WorkflowRef::Id(w.id), true),
            Err(StoreError::UnknownUser("nobody".into()))
        );
        assert_eq!(
            s.set_active(PROD, "a", WorkflowRef::Id(w.id), true),
            Err(StoreError::UnknownUser("a".into())),
            "environments stay apart"
        );
        let other = "61c6f35ec1e207cb6d97a79c";
        assert_eq!(
            s.set_active(DEV, "a", WorkflowRef::Id(other), true),
            Err(StoreError::NotInstalled {
                workflow: other.into(),
                user_id: u.id.clone()
            })
        );
        assert_eq!(
            s.set_active(DEV, "a", WorkflowRef::Name("Nope"), true),
            Err(StoreError::UnknownWorkflow("Nope".into()))
        );
        // Both same-named workflows installed: the name no longer says which.
        s.install(DEV, "a", None, Some("9f02cad3435094cd8a992683"))
            .unwrap();
        assert!(matches!(
            s.set_active(DEV, "a", WorkflowRef::Name("Sync new orders"), true),
            Err(StoreError::Invalid(m)) if m.contains("workflowId")
        ));
    }

    #[test]
    fn upgrades_go_to_the_latest_version_unless_a_step_is_incompatible() {
        let (mut s, u, w) = with_one_install();
        // At the latest already: nothing changes, no new generation.
        let g = s.generation();
        let (got, g2) = s.upgrade(DEV, "a", w.id).unwrap();
        assert_eq!((got.installed_version, g2), (w.version, g));

        assert_eq!(s.publish_version(w.id, false).unwrap().0, w.version + 1);
        assert_eq!(s.publish_version(w.id, false).unwrap().0, w.version + 2);
        s.set_active(DEV, "a", WorkflowRef::Id(w.id), false)
            .unwrap();
        let at = install_of(&s, DEV, &u.id, w.id).installed_at;
        let (got, _) = s.upgrade(DEV, &u.id, w.id).unwrap();
        assert_eq!(got.installed_version, w.version + 2);
        assert!(!got.active, "an upgrade keeps the activation");
        assert_eq!(got.installed_at, at, "and the install time");

        // Version +3 changes the configurable fields, +4 does not: the upgrade is refused.
        s.publish_version(w.id, true).unwrap();
        s.publish_version(w.id, false).unwrap();
        assert_eq!(s.versions().latest(w), w.version + 4);
        let before = install_of(&s, DEV, &u.id, w.id).clone();
        let g = s.generation();
        assert_eq!(
            s.upgrade(DEV, "a", w.id),
            Err(StoreError::Incompatible {
                workflow: w.id.into(),
                version: w.version + 3,
                user_id: u.id.clone()
            })
        );
        assert_eq!(install_of(&s, DEV, &u.id, w.id), &before, "nothing changed");
        assert_eq!(s.generation(), g);
        // A reinstall lands on the latest version, past the incompatible one.
        s.install(DEV, "a", None, Some(w.id)).unwrap();
        assert_eq!(
            install_of(&s, DEV, &u.id, w.id).installed_version,
            w.version + 4
        );
        assert_eq!(
            s.upgrade(DEV, "a", w.id).unwrap().0.installed_version,
            w.version + 4
        );

        // Versions are account-wide; installs are not.
        s.create_user(PROD, "p".into(), None).unwrap();
        s.install(PROD, "p", None, Some(w.id)).unwrap();
        let p = s.env(PROD).get("p").unwrap().id.clone();
        assert_eq!(
            install_of(&s, PROD, &p, w.id).installed_version,
            w.version + 4
        );
        assert_eq!(
            s.publish_version("nope", false),
            Err(StoreError::UnknownWorkflow("nope".into()))
        );
        // Reset forgets the versions with everything else.
        s.clear();
        assert_eq!(s.versions().latest(w), w.version);
    }

    #[test]
    fn removing_the_last_workflow_removes_the_integration() {
        let (mut s, u, w) = with_one_install();
        let shop = find_integration("Shopify").unwrap();
        let other = shop.workflows[1].id;
        s.install(DEV, "a", None, Some(other)).unwrap();
        s.remove_workflow(DEV, "a", w.id).unwrap();
        let ints = s.env(DEV).installs_of(&u.id).unwrap();
        assert_eq!(ints[shop.id].keys().copied().collect::<Vec<_>>(), [other]);
        assert_eq!(
            s.remove_workflow(DEV, "a", w.id),
            Err(StoreError::NotInstalled {
                workflow: w.id.into(),
                user_id: u.id.clone()
            })
        );
        s.remove_workflow(DEV, &u.id, other).unwrap();
        assert!(s.env(DEV).installs_of(&u.id).is_none());
        assert_eq!(s.env(DEV).users_of_workflow(other).count(), 0);
    }

    #[test]
    fn seeding_installs_workflows_for_every_user_all_or_none() {
        let mut s = store();
        let w = "7ac84a3ce47a43a7a92028e0";
        let users = |r: std::ops::Range<u32>| -> Vec<(String, Option<String>)> {
            r.map(|n| (format!("t{n}"), None)).collect()
        };
        s.seed_users(DEV, users(0..50), &[w.into(), w.into()])
            .unwrap();
        let (i, d) = workflow(w).unwrap();
        let installs: Vec<_> = s.env(DEV).installs_of_workflow(i, d).collect();
        assert_eq!(installs.len(), 50);
        assert!(
            installs
                .iter()
                .all(|(_, x)| x.active && x.installed_version == d.version)
        );
        assert_eq!(installs[0].0.username, "t0", "creation order");
        let g = s.generation();
        assert_eq!(
            s.seed_users(DEV, users(50..60), &[w.into(), "nope".into()]),
            Err(StoreError::UnknownWorkflow("nope".into()))
        );
        assert_eq!((s.generation(), s.env(DEV).users().count()), (g, 50));
    }

    #[test]
    fn snapshot_round_trip_keeps_install_state_and_versions() {
        let (mut s, u, w) = with_one_install();
        s.publish_version(w.id, true).unwrap();
        s.publish_version(w.id, false).unwrap();
        s.set_active(DEV, "a", WorkflowRef::Id(w.id), false)
            .unwrap();
        s.install(DEV, "a", Some("Slack"), None).unwrap();
        let bytes = s.snapshot_json().unwrap();
        let back = Store::from_snapshot_json(&bytes, StdRng::seed_from_u64(1)).unwrap();
        assert_eq!(
            back.env(DEV).installs_of(&u.id),
            s.env(DEV).installs_of(&u.id)
        );
        assert_eq!(back.versions(), s.versions());
        assert!(!install_of(&back, DEV, &u.id, w.id).active);
        assert_eq!(back.snapshot_json().unwrap(), bytes);
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            v["workflowVersions"],
            json!([
                {"workflowId": w.id, "version": w.version + 1, "incompatible": true},
                {"workflowId": w.id, "version": w.version + 2, "incompatible": false},
            ])
        );
        let row = v["development"]["installs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["workflowIds"] == json!([w.id]))
            .expect("the Shopify row");
        assert_eq!(row["workflows"][0]["active"], false);
        assert_eq!(row["workflows"][0]["installedVersion"], w.version);
        assert!(
            row["workflows"][0]["installedAt"]
                .as_str()
                .unwrap()
                .ends_with('Z')
        );
    }

    #[test]
    fn snapshots_of_before_install_state_still_load() {
        let old = br#"{"format":1,
            "development":{"users":[{"userId":"aaaaaaaaaaaaaaaaaaaaaaaa","username":"a"}],
              "installs":[{"userId":"aaaaaaaaaaaaaaaaaaaaaaaa","integrationId":"5ba9e7af0bfabd19f1a4495d",
                "workflowIds":["a1f7fad397c0ac5b8339697b","gone00000000000000000000"]},
                {"userId":"aaaaaaaaaaaaaaaaaaaaaaaa","integrationId":"not-in-the-catalogue",
                "workflowIds":[]}]},
            "production":{"users":[]}}"#;
        let s = Store::from_snapshot_json(old, StdRng::seed_from_u64(1)).unwrap();
        let got = install_of(
            &s,
            DEV,
            "aaaaaaaaaaaaaaaaaaaaaaaa",
            "a1f7fad397c0ac5b8339697b",
        );
        assert!(got.active);
        assert_eq!(got.installed_version, 2, "the catalogue's version");
        let ints = s.env(DEV).installs_of("aaaaaaaaaaaaaaaaaaaaaaaa").unwrap();
        assert_eq!(ints.len(), 1);
        assert_eq!(ints.values().next().unwrap().len(), 1);

        let rng = || StdRng::seed_from_u64(1);
        let bad_time = br#"{"format":1,"development":{"users":[{"userId":"a","username":"a"}],
            "installs":[{"userId":"a","integrationId":"c350390d371072476ded9428","workflows":[
              {"workflowId":"7ac84a3ce47a43a7a92028e0","active":true,"installedVersion":1,
               "installedAt":"yesterday"}]}]},"production":{"users":[]}}"#;
        let err = Store::from_snapshot_json(bad_time, rng()).err().unwrap();
        assert!(err.contains("yesterday"), "{err}");
        let gap = br#"{"format":1,"development":{"users":[]},"production":{"users":[]},
            "workflowVersions":[{"workflowId":"7ac84a3ce47a43a7a92028e0","version":3,
              "incompatible":false}]}"#;
        let err = Store::from_snapshot_json(gap, rng()).err().unwrap();
        assert!(err.contains("version 2 comes next"), "{err}");
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
