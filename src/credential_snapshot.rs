//! The credentials snapshot: one `GET /credentials/users/{userId}` per tenant per provider
//! process, shared by every `alloy_credential` read of that tenant and by
//! `alloy_user_credentials`, the account's credential types read once, and the one door through
//! which the provider creates or deletes a credential.
//!
//! # Reads (also in the resource's documentation)
//! Alloy has no call that reads one credential, nor one that lists every tenant's: the tenant's
//! list is the only read, and it carries no secret. So the unit of sharing is the tenant: N
//! credentials over U tenants cost U calls, however the reads arrive (the first read of a tenant
//! fetches its list, single flight, and the others wait for it). The demand rule that the user
//! and workflow snapshots follow (`demand.rs`) has nothing to choose here: a per-item read would
//! be the same list.
//!
//! # Never wrong, only slower
//! - A credential absent from the tenant's list is confirmed with a second, fresh list of that
//!   tenant (once per tenant per process, shared by every absent credential of it) before it is
//!   reported gone.
//! - A tenant that does not exist (404 on its list) has no credentials to manage: gone.
//! - A failed list is not remembered: the next read asks again and gives the error its words.
//! - Writes go through this module ([`CredentialSnapshot::create`],
//!   [`CredentialSnapshot::delete`]): before the write the tenant's entry is not trusted, after
//!   it the entry holds what was written, so the list never answers for what this process changed.

use super::lock;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use alloy_client::{AlloyClient, CreatedCredential, Credential, CredentialType, Error};

/// What is known of one credential after a read or write of this process.
#[derive(Clone, Debug)]
enum Known {
    Present(Credential),
    Gone,
}

/// One tenant's list, as fetched (`None`: the tenant does not exist).
type Listed = Option<Arc<Vec<Credential>>>;

/// Everything learnt of one tenant's credentials.
#[derive(Default)]
struct Tenant {
    /// The first list of the tenant.
    list: OnceCell<Listed>,
    /// The fresh list that confirms an absence.
    confirm: OnceCell<Listed>,
    /// By credential id, what this process's writes established: wins over the lists.
    known: Mutex<HashMap<String, Known>>,
    /// Writes begun for this tenant (a list taken before them is out of date).
    writes: Mutex<usize>,
}

/// The credentials snapshot of one provider process. See the module documentation.
pub struct CredentialSnapshot {
    /// The client, for this module alone: a credential changes only through here.
    client: AlloyClient,
    tenants: Mutex<HashMap<String, Arc<Tenant>>>,
    /// The account's credential types, read once per process (a failed read is not kept).
    types: OnceCell<Arc<Vec<CredentialType>>>,
}

/// A tenant's list: `Ok(None)` when the tenant does not exist.
async fn fetch(client: &AlloyClient, user: &str) -> Result<Listed, Error> {
    match client.list_credentials(user).await {
        Ok(list) => Ok(Some(Arc::new(list))),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

fn find(list: &Listed, id: &str) -> Option<Credential> {
    list.as_ref()
        .and_then(|l| l.iter().find(|c| c.credential_id == id).cloned())
}

impl CredentialSnapshot {
    pub fn new(client: AlloyClient) -> Self {
        CredentialSnapshot {
            client,
            tenants: Mutex::default(),
            types: OnceCell::new(),
        }
    }

    fn tenant(&self, user: &str) -> Arc<Tenant> {
        lock(&self.tenants)
            .entry(user.to_owned())
            .or_default()
            .clone()
    }

    /// The credential `id` of `user`: `Ok(None)` when it (or the tenant) no longer exists,
    /// confirmed by a fresh list.
    pub async fn lookup(&self, user: &str, id: &str) -> Result<Option<Credential>, Error> {
        let t = self.tenant(user);
        match lock(&t.known).get(id).cloned() {
            Some(Known::Present(c)) => return Ok(Some(c)),
            Some(Known::Gone) => return Ok(None),
            None => {}
        }
        let first = t.list.get_or_try_init(|| fetch(&self.client, user)).await?;
        if let Some(c) = find(first, id) {
            return Ok(Some(c));
        }
        // Absent from the shared list: a second, fresh list must agree before it is gone.
        let fresh = t
            .confirm
            .get_or_try_init(|| async {
                tracing::debug!(
                    user,
                    "alloy_credential read: a credential is absent from its tenant's list; confirming with a fresh list"
                );
                fetch(&self.client, user).await
            })
            .await?;
        let found = find(fresh, id);
        let known = found.clone().map_or(Known::Gone, Known::Present);
        lock(&t.known).insert(id.to_owned(), known);
        Ok(found)
    }

    /// Every credential of `user` (for `alloy_user_credentials`): the shared list when this
    /// process has not written to the tenant, else a list of its own. [`Error::NotFound`] when
    /// the tenant does not exist.
    pub async fn of_user(&self, user: &str) -> Result<Arc<Vec<Credential>>, Error> {
        let t = self.tenant(user);
        let listed = if *lock(&t.writes) == 0 {
            t.list
                .get_or_try_init(|| fetch(&self.client, user))
                .await?
                .clone()
        } else {
            fetch(&self.client, user).await?
        };
        listed.ok_or_else(|| Error::NotFound {
            op: "list credentials",
            message: Some(format!("no user {user:?}")),
        })
    }

    /// The account's credential types, one `GET /metadata/credentials` per process (a failed
    /// read is not remembered).
    pub async fn types(&self) -> Result<Arc<Vec<CredentialType>>, Error> {
        self.types
            .get_or_try_init(|| async { self.client.credential_types().await.map(Arc::new) })
            .await
            .cloned()
    }

    // ---- The writes: the only way the provider changes a credential.

    /// `POST /headless/credentials` (a lost answer is resolved by the client, never by a second
    /// create); afterwards the new credential is known without a read. `new_user`: the tenant
    /// was created by this process, so it has no credential but those this process made, and
    /// the client's baseline list before the create is not needed.
    pub async fn create(
        &self,
        user: &str,
        credential_type: &str,
        data: &std::collections::BTreeMap<String, String>,
        new_user: bool,
    ) -> Result<(CreatedCredential, Credential), Error> {
        let t = self.tenant(user);
        let baseline = new_user.then(|| {
            lock(&t.known)
                .iter()
                .filter(|(_, k)| matches!(k, Known::Present(_)))
                .map(|(id, _)| id.clone())
                .collect()
        });
        *lock(&t.writes) += 1;
        let created = self
            .client
            .create_credential_after(user, credential_type, data, baseline)
            .await?;
        let credential = created.adopted.clone().unwrap_or_else(|| Credential {
            credential_id: created.credential_id.clone(),
            credential_type: credential_type.to_owned(),
            name: None,
            created_at: None,
            updated_at: None,
        });
        lock(&t.known).insert(
            credential.credential_id.clone(),
            Known::Present(credential.clone()),
        );
        Ok((created, credential))
    }

    /// `DELETE /users/{user}/credentials/{id}`. Already gone (or no such tenant) counts as done.
    pub async fn delete(&self, user: &str, id: &str) -> Result<(), Error> {
        let t = self.tenant(user);
        *lock(&t.writes) += 1;
        lock(&t.known).remove(id);
        match self.client.delete_credential(user, id).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        lock(&t.known).insert(id.to_owned(), Known::Gone);
        Ok(())
    }

    /// Deletes every credential `user` holds now (a fresh list, since a destroy must not miss
    /// one made since this process listed): the ids deleted, in list order. Stops at the first
    /// failure. No such tenant: nothing to delete.
    pub async fn delete_all(&self, user: &str) -> Result<Vec<String>, Error> {
        let Some(list) = fetch(&self.client, user).await? else {
            return Ok(Vec::new());
        };
        let mut deleted = Vec::new();
        for c in list.iter() {
            self.delete(user, &c.credential_id).await?;
            deleted.push(c.credential_id.clone());
        }
        Ok(deleted)
    }
}
