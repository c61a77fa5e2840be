//! The workflow snapshot: one `GET /workflows/{id}/users` per workflow per provider process,
//! shared by every `alloy_user_workflow` read of that workflow and by `alloy_workflow_users`,
//! and the one door through which the provider changes a tenant's workflow.
//!
//! # Reads (also in the resource's documentation)
//! Per workflow, the rule of [`super::demand`]: the first reads are one
//! `GET /integrations?userId=` each (which also tells the workflow's latest version); from the
//! third read that has company, or as soon as the data source asks, the workflow's list of users
//! answers. So N instances over W workflows cost at most N + W calls, and a plan of thousands of
//! tenants of one workflow costs a few calls.
//!
//! The list does not say which version is the latest: one `GET /integrations?userId=` per process
//! (with the user of the first read that needs it) tells it for every workflow of the account.
//!
//! # Never wrong, only slower
//! - An instance absent from the list is confirmed with a per-user read before it is reported
//!   gone.
//! - A failed list (after the client's retries) falls back to per-user reads.
//! - Writes go through this module ([`WorkflowSnapshot::set_active`], [`WorkflowSnapshot::upgrade`],
//!   [`WorkflowSnapshot::uninstall`]): before the write the entry is not trusted, after it the
//!   entry holds what was written, and a write whose outcome is unknown leaves the entry to the
//!   API. So the list never answers for what this process changed.

use super::lock;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use super::demand::Demand;
use alloy_client::{AlloyClient, Error, WorkflowUser};

/// One tenant's installation of one workflow, as this provider knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Install {
    pub user_id: String,
    /// `None` when only a per-user read answered (it does not carry the username).
    pub username: Option<String>,
    pub active: bool,
    pub installed_version: Option<i64>,
    /// `None` when only a per-user read answered.
    pub installed_at: Option<String>,
    /// The workflow's latest published version, when known.
    pub latest_version: Option<i64>,
}

/// What is known of one (workflow, user) pair.
#[derive(Clone, Debug)]
enum Known {
    Installed(Install),
    /// Not installed (or no such user), as this process's own write or read established.
    Gone,
    /// A write touched it and its outcome is unknown: ask the API.
    Ask,
}

/// Everything learnt of one workflow.
#[derive(Default)]
struct Workflow {
    demand: Demand,
    /// The one list request: `Some(users)` as listed, `None` if it failed.
    list: OnceCell<Option<Arc<Vec<WorkflowUser>>>>,
    /// By user (id, or the username a configuration gave), what reads and writes established
    /// after the list: it wins over the list.
    known: Mutex<HashMap<String, Known>>,
}

/// The workflow snapshot of one provider process. See the module documentation.
pub struct WorkflowSnapshot {
    /// The client, for this module alone: a tenant's workflow changes only through here.
    client: AlloyClient,
    workflows: Mutex<HashMap<String, Arc<Workflow>>>,
    /// Latest published version by workflow id, from any `GET /integrations?userId=`.
    latest: Mutex<HashMap<String, i64>>,
    /// The one integrations read made only to learn the latest versions.
    latest_read: OnceCell<bool>,
}

/// The entry of `user` (an id or a username) in a workflow's list.
fn entry<'a>(list: &'a [WorkflowUser], user: &str) -> Option<&'a WorkflowUser> {
    list.iter()
        .find(|u| u.user_id == user)
        .or_else(|| list.iter().find(|u| u.username == user))
}

impl WorkflowSnapshot {
    pub fn new(client: AlloyClient) -> Self {
        WorkflowSnapshot {
            client,
            workflows: Mutex::default(),
            latest: Mutex::default(),
            latest_read: OnceCell::new(),
        }
    }

    fn workflow(&self, id: &str) -> Arc<Workflow> {
        lock(&self.workflows)
            .entry(id.to_owned())
            .or_default()
            .clone()
    }

    /// One entry of a workflow's list as an installation, with the workflow's latest version
    /// if this process knows it already (no request).
    pub fn install_listed(&self, e: &WorkflowUser, workflow_id: &str) -> Install {
        install(e, self.latest_of(workflow_id))
    }

    fn latest_of(&self, workflow_id: &str) -> Option<i64> {
        lock(&self.latest).get(workflow_id).copied()
    }

    fn remember(&self, wf: &Workflow, user: &str, known: Known) {
        lock(&wf.known).insert(user.to_owned(), known);
    }

    /// The installation of `workflow_id` for `user` (its userId or username): `Ok(None)` when
    /// the workflow is not installed for that user or the user does not exist.
    pub async fn lookup(&self, user: &str, workflow_id: &str) -> Result<Option<Install>, Error> {
        self.find(user, workflow_id, false).await
    }

    /// [`lookup`](Self::lookup) from the workflow's list whatever the demand: for a create or an
    /// import, whose state must be whole (the per-user read carries no username or install
    /// time). Still one list per workflow per process.
    pub async fn lookup_whole(
        &self,
        user: &str,
        workflow_id: &str,
    ) -> Result<Option<Install>, Error> {
        self.find(user, workflow_id, true).await
    }

    async fn find(
        &self,
        user: &str,
        workflow_id: &str,
        whole: bool,
    ) -> Result<Option<Install>, Error> {
        let wf = self.workflow(workflow_id);
        let known = lock(&wf.known).get(user).cloned();
        match known {
            Some(Known::Installed(i)) => return Ok(Some(i)),
            Some(Known::Gone) => return Ok(None),
            Some(Known::Ask) => return self.read_one(&wf, user, workflow_id).await,
            None => {}
        }
        if (whole || wf.demand.strategy().await.listed())
            && let Some(list) = self.list_of(&wf, workflow_id).await
            && let Some(e) = entry(&list, user)
        {
            let mut install = install(e, self.latest_of(workflow_id));
            if install.latest_version.is_none() {
                install.latest_version = self.learn_latest(&e.user_id, workflow_id).await;
            }
            return Ok(Some(install));
        }
        // Not in the list (it may have been installed since, or the list failed): ask.
        self.read_one(&wf, user, workflow_id).await
    }

    /// Every tenant of `workflow_id` (for `alloy_workflow_users`): the shared list, one request
    /// per process.
    pub async fn users_of(&self, workflow_id: &str) -> Result<Arc<Vec<WorkflowUser>>, Error> {
        let wf = self.workflow(workflow_id);
        if let Some(list) = self.list_of(&wf, workflow_id).await {
            return Ok(list);
        }
        // The shared list failed: this request gives the error its words.
        Ok(Arc::new(self.client.workflow_users(workflow_id).await?))
    }

    /// The one list of a workflow (single flight): `None` if it failed.
    async fn list_of(&self, wf: &Workflow, workflow_id: &str) -> Option<Arc<Vec<WorkflowUser>>> {
        wf.demand.listing();
        wf.list
            .get_or_init(|| async {
                match self.client.workflow_users(workflow_id).await {
                    Ok(users) => {
                        tracing::debug!(
                            workflow_id,
                            users = users.len(),
                            reads = wf.demand.requested(),
                            "alloy_user_workflow reads: served from one list of the workflow's users"
                        );
                        Some(Arc::new(users))
                    }
                    Err(e) => {
                        tracing::debug!(
                            workflow_id,
                            error = %e,
                            "alloy_user_workflow reads: the workflow's list failed; reading tenants one by one"
                        );
                        None
                    }
                }
            })
            .await
            .clone()
    }

    /// The latest version of `workflow_id`, from one integrations read per process.
    async fn learn_latest(&self, user: &str, workflow_id: &str) -> Option<i64> {
        self.latest_read
            .get_or_init(|| async {
                match self.client.list_integrations(user).await {
                    Ok(list) => {
                        let mut latest = lock(&self.latest);
                        for w in list.iter().flat_map(|i| i.workflows.iter()) {
                            if let Some(v) = w.version {
                                latest.insert(w.workflow_id.clone(), v);
                            }
                        }
                        true
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "could not learn the workflows' latest versions");
                        false
                    }
                }
            })
            .await;
        self.latest_of(workflow_id)
    }

    /// One user's installation from `GET /integrations?userId=`; remembered.
    async fn read_one(
        &self,
        wf: &Workflow,
        user: &str,
        workflow_id: &str,
    ) -> Result<Option<Install>, Error> {
        let found = match self.client.user_workflow(user, workflow_id).await {
            Ok(w) => w,
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e),
        };
        let install = found.filter(|w| w.installed).map(|w| {
            if let Some(v) = w.version {
                lock(&self.latest).insert(workflow_id.to_owned(), v);
            }
            // The per-user read has no username or install time: the list's, if it has them.
            let listed = wf
                .list
                .get()
                .and_then(|l| l.as_ref().and_then(|l| entry(l, user).cloned()));
            Install {
                user_id: listed
                    .as_ref()
                    .map_or_else(|| user.to_owned(), |e| e.user_id.clone()),
                username: listed.as_ref().map(|e| e.username.clone()),
                active: w.active,
                installed_version: w.installed_version,
                installed_at: listed.and_then(|e| e.installed_at),
                latest_version: w.version,
            }
        });
        let known = install.clone().map_or(Known::Gone, Known::Installed);
        self.remember(wf, user, known);
        Ok(install)
    }

    /// Switches `workflow_id` on or off for `user`; `before` is what was known of the
    /// installation, if anything (a destroy need not read it first).
    pub async fn set_active(
        &self,
        before: Option<&Install>,
        user: &str,
        workflow_id: &str,
        active: bool,
    ) -> Result<Option<Install>, Error> {
        let wf = self.workflow(workflow_id);
        self.remember(&wf, user, Known::Ask);
        self.client
            .set_workflow_active(user, workflow_id, active)
            .await?;
        let now = before.map(|b| Install {
            active,
            ..b.clone()
        });
        if let Some(now) = &now {
            self.remember(&wf, user, Known::Installed(now.clone()));
        }
        Ok(now)
    }

    /// Upgrades `user`'s `workflow_id` to the latest version; `install` is what was known before.
    pub async fn upgrade(
        &self,
        install: &Install,
        user: &str,
        workflow_id: &str,
    ) -> Result<Install, Error> {
        let wf = self.workflow(workflow_id);
        self.remember(&wf, user, Known::Ask);
        let outcome = self.client.upgrade_workflow(user, workflow_id).await?;
        let version = outcome.installed_version.or(install.latest_version);
        let now = Install {
            installed_version: version,
            latest_version: install.latest_version.max(version),
            ..install.clone()
        };
        self.remember(&wf, user, Known::Installed(now.clone()));
        Ok(now)
    }

    /// Removes `workflow_id` for `user` (irreversible). Already gone counts as done.
    pub async fn uninstall(&self, user: &str, workflow_id: &str) -> Result<(), Error> {
        let wf = self.workflow(workflow_id);
        self.remember(&wf, user, Known::Ask);
        match self.client.uninstall_workflow(user, workflow_id).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        self.remember(&wf, user, Known::Gone);
        Ok(())
    }
}

fn install(e: &WorkflowUser, latest: Option<i64>) -> Install {
    Install {
        user_id: e.user_id.clone(),
        username: Some(e.username.clone()),
        active: e.active,
        installed_version: e.installed_version,
        installed_at: e.installed_at.clone(),
        latest_version: latest,
    }
}
