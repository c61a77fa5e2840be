//! The Alloy API as the provider's kinds reach it: the calls that no snapshot owns.
//!
//! The raw [`AlloyClient`] is handed out once per provider process, in `AlloyData::new`: a clone
//! to each snapshot (`snapshot::UserSnapshot` owns the user writes, and the reads it answers) and
//! one to [`Api`], here. Both keep it in a private field, so no resource, data source or ephemeral
//! resource can reach `create_user`, `update_user` or `delete_user`: a user write that bypasses the
//! snapshot, and so leaves it stale, does not compile.
//!
//! A new call of the client is offered here only if no snapshot has to know about it. A write of
//! a kind that has a snapshot (workflows, credentials) belongs to that snapshot instead.

use alloy_client::{AlloyClient, Error, Integration};

/// The calls of the API client that no snapshot owns. See the module documentation.
pub struct Api {
    client: AlloyClient,
}

impl Api {
    pub fn new(client: AlloyClient) -> Self {
        Api { client }
    }

    /// `GET /users/{id or username}/token`: a short-lived JWT for one user (it changes no user).
    pub async fn user_token(&self, id_or_username: &str) -> Result<String, Error> {
        self.client.user_token(id_or_username).await
    }

    /// `GET /integrations?userId=...`: the account's integrations as one user sees them.
    pub async fn list_integrations(&self, user: &str) -> Result<Vec<Integration>, Error> {
        self.client.list_integrations(user).await
    }
}
