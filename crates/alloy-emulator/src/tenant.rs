//! What Alloy holds about a tenant besides the user itself: stored credentials and workflow logs,
//! and the credential-metadata catalogue that says which credential types exist.
//!
//! Both are kept per environment and keyed by the user's id, *not* inside the user record, because
//! the emulator plays the reading of Alloy's docs that the provider must survive: deleting a user
//! removes the user and its installs but leaves its credentials and logs behind (reachable only
//! through the admin API once the user is gone). Only `DELETE /users/{id}/credentials/{cid}` and
//! `DELETE /users/{id}/logs` remove them.
//!
//! A credential's secret `data` is held in memory and never leaves it: no API or admin answer,
//! request log line or `Debug` output carries a value. The admin view and the `--state` snapshot
//! carry a SHA-256 of the data (canonical JSON, keys sorted) and the property names instead, so
//! a credential reloaded from a state file has the same digest but no values any more — which no
//! route can tell apart, since none returns them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use time::OffsetDateTime;

use super::store::{Environment, Store, StoreError, now};

/// One property a credential type asks for.
#[derive(Debug)]
pub struct PropertyDef {
    pub name: &'static str,
    pub display_name: &'static str,
    pub description: Option<&'static str>,
    pub required: bool,
}

/// One entry of `GET /metadata/credentials`: a connector's credential type.
#[derive(Debug)]
pub struct CredentialTypeDef {
    /// The `type` a `POST /headless/credentials` names (case-sensitive).
    pub connector: &'static str,
    pub display_name: &'static str,
    /// OAuth types need the end user's consent in Alloy's modal: the headless route refuses them.
    pub is_oauth: bool,
    pub properties: &'static [PropertyDef],
}

const fn req(name: &'static str, display_name: &'static str) -> PropertyDef {
    PropertyDef {
        name,
        display_name,
        description: None,
        required: true,
    }
}

const fn opt(
    name: &'static str,
    display_name: &'static str,
    description: &'static str,
) -> PropertyDef {
    PropertyDef {
        name,
        display_name,
        description: Some(description),
        required: false,
    }
}

static CREDENTIAL_TYPES: &[CredentialTypeDef] = &[
    CredentialTypeDef {
        connector: "netsuite",
        display_name: "NetSuite",
        is_oauth: false,
        properties: &[
            req("realm", "Account ID"),
            req("consumerKey", "Consumer Key"),
            req("consumerSecret", "Consumer Secret"),
            req("tokenId", "Token ID"),
            req("tokenSecret", "Token Secret"),
        ],
    },
    CredentialTypeDef {
        connector: "wooCommerce",
        display_name: "WooCommerce",
        is_oauth: false,
        properties: &[
            req("consumerKey", "Consumer Key"),
            req("consumerSecret", "Consumer Secret"),
            req("url", "Store URL"),
        ],
    },
    CredentialTypeDef {
        connector: "httpHeaderAuth",
        display_name: "HTTP Header Auth",
        is_oauth: false,
        properties: &[
            req("fieldName", "Header Name"),
            req("value", "Header Value"),
        ],
    },
    CredentialTypeDef {
        connector: "postgresql",
        display_name: "PostgreSQL",
        is_oauth: false,
        properties: &[
            req("host", "Host"),
            req("port", "Port"),
            req("database", "Database"),
            req("username", "Username"),
            req("password", "Password"),
            opt("sslMode", "SSL Mode", "disable, require or verify-full"),
        ],
    },
    CredentialTypeDef {
        connector: "snowflake",
        display_name: "Snowflake",
        is_oauth: false,
        properties: &[
            req("account", "Account Identifier"),
            req("username", "Username"),
            req("password", "Password"),
            req("warehouse", "Warehouse"),
            opt(
                "role",
                "Role",
                "the role to assume; the user's default when empty",
            ),
        ],
    },
    CredentialTypeDef {
        connector: "shopify",
        display_name: "Shopify",
        is_oauth: true,
        properties: &[PropertyDef {
            name: "shopSubdomain",
            display_name: "Shop Subdomain",
            description: Some("the part before .myshopify.com"),
            required: true,
        }],
    },
    CredentialTypeDef {
        connector: "slack",
        display_name: "Slack",
        is_oauth: true,
        properties: &[],
    },
    CredentialTypeDef {
        connector: "hubspot",
        display_name: "HubSpot",
        is_oauth: true,
        properties: &[],
    },
];

/// Every credential type, in the order `GET /metadata/credentials` lists them.
pub fn credential_types() -> &'static [CredentialTypeDef] {
    CREDENTIAL_TYPES
}

/// The credential type named exactly `connector`.
pub fn find_credential_type(connector: &str) -> Option<&'static CredentialTypeDef> {
    CREDENTIAL_TYPES.iter().find(|t| t.connector == connector)
}

/// A credential's data: held, or (after a reload from a state file) only its digest and names.
enum Secret {
    Held(BTreeMap<String, String>),
    Digest {
        sha256: String,
        properties: Vec<String>,
    },
}

/// Never the values.
impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret data>")
    }
}

/// SHA-256 (lower-case hex) of `data` as canonical JSON: an object with its keys sorted.
pub fn data_sha256(data: &BTreeMap<String, String>) -> String {
    // A map of strings always serialises.
    let bytes = serde_json::to_vec(data).unwrap_or_default();
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes);
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// A credential stored for one user.
#[derive(Debug)]
pub struct Credential {
    pub id: String,
    pub user_id: String,
    pub connector: &'static str,
    pub name: String,
    pub created_at: OffsetDateTime,
    secret: Secret,
}

impl Credential {
    /// The digest the admin view and the state file carry in place of the data.
    pub fn data_sha256(&self) -> String {
        match &self.secret {
            Secret::Held(data) => data_sha256(data),
            Secret::Digest { sha256, .. } => sha256.clone(),
        }
    }

    /// The names of the properties the data holds (never their values).
    pub fn property_names(&self) -> Vec<String> {
        match &self.secret {
            Secret::Held(data) => data.keys().cloned().collect(),
            Secret::Digest { properties, .. } => properties.clone(),
        }
    }
}

/// One workflow run of one user, as `GET /workflows/{id}/logs` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    pub execution_id: String,
    pub workflow_id: String,
    pub user_id: String,
    pub status: String,
    pub started_at: OffsetDateTime,
}

/// Credentials and logs of one environment, by user id. They outlive the user (see the module
/// comment).
#[derive(Debug, Default)]
pub struct TenantData {
    /// User id → credentials in creation order.
    credentials: HashMap<String, Vec<Credential>>,
    ids: HashSet<String>,
    /// User id → log entries in the order they were added.
    logs: HashMap<String, Vec<LogEntry>>,
}

impl TenantData {
    /// Every credential, sorted by user id, then in creation order.
    pub fn all_credentials(&self) -> Vec<&Credential> {
        let mut users: Vec<&String> = self.credentials.keys().collect();
        users.sort();
        users
            .into_iter()
            .flat_map(|u| self.credentials[u].iter())
            .collect()
    }

    pub fn credentials_of(&self, user_id: &str) -> &[Credential] {
        self.credentials.get(user_id).map_or(&[], Vec::as_slice)
    }

    /// Log counts by user id, sorted.
    pub fn log_counts(&self) -> BTreeMap<&str, usize> {
        self.logs
            .iter()
            .filter(|(_, l)| !l.is_empty())
            .map(|(u, l)| (u.as_str(), l.len()))
            .collect()
    }

    pub fn logs_of(&self, user_id: &str) -> &[LogEntry] {
        self.logs.get(user_id).map_or(&[], Vec::as_slice)
    }

    /// Every log entry of workflow `workflow_id`, of one user or of all (deleted users too).
    pub fn logs_of_workflow<'a>(
        &'a self,
        workflow_id: &'a str,
        user_id: Option<&'a str>,
    ) -> Vec<&'a LogEntry> {
        let mut out: Vec<&LogEntry> = match user_id {
            Some(u) => self.logs_of(u).iter().collect(),
            None => self.logs.values().flatten().collect(),
        };
        out.retain(|e| e.workflow_id == workflow_id);
        out.sort_by(|a, b| (a.started_at, &a.execution_id).cmp(&(b.started_at, &b.execution_id)));
        out
    }
}

/// The values of a create that fail its checks, in the order they are checked.
fn check_data(def: &CredentialTypeDef, data: &BTreeMap<String, String>) -> Result<(), StoreError> {
    if def.is_oauth {
        return Err(StoreError::Invalid(format!(
            "Credential type {:?} uses OAuth: it needs the end user's consent in the Alloy modal \
             and cannot be created through /headless/credentials",
            def.connector
        )));
    }
    let missing: Vec<&str> = def
        .properties
        .iter()
        .filter(|p| p.required && data.get(p.name).is_none_or(|v| v.trim().is_empty()))
        .map(|p| p.name)
        .collect();
    if !missing.is_empty() {
        return Err(StoreError::Invalid(format!(
            "Credential type {:?} requires {}: missing or empty in credential.data",
            def.connector,
            missing.join(", ")
        )));
    }
    Ok(())
}

/// A snapshot row of one credential: everything but the values.
#[derive(Debug)]
pub struct CredentialRow {
    pub id: String,
    pub user_id: String,
    pub connector: String,
    pub name: String,
    pub created_at: OffsetDateTime,
    pub sha256: String,
    pub properties: Vec<String>,
}

impl Store {
    fn user_id_of(&self, env: Environment, user: &str) -> Result<String, StoreError> {
        Ok(self
            .env(env)
            .get(user)
            .ok_or_else(|| StoreError::UnknownUser(user.to_owned()))?
            .id
            .clone())
    }

    fn fresh_credential_id(&mut self) -> String {
        loop {
            let id = self.random_hex(12);
            if Environment::ALL
                .iter()
                .all(|e| !self.env(*e).tenant.ids.contains(&id))
            {
                return id;
            }
        }
    }

    /// `POST /headless/credentials`: checked in this order — the type exists (400), is not
    /// OAuth (400), every required property is there and non-blank (400), the user exists (404).
    /// Properties the type does not list are kept.
    pub fn create_credential(
        &mut self,
        env: Environment,
        user: &str,
        connector: &str,
        data: BTreeMap<String, String>,
    ) -> Result<(String, u64), StoreError> {
        let def = find_credential_type(connector).ok_or_else(|| {
            StoreError::Invalid(format!(
                "Unknown credential type {connector:?}: GET /metadata/credentials lists the known \
                 types"
            ))
        })?;
        check_data(def, &data)?;
        let user_id = self.user_id_of(env, user)?;
        let id = self.fresh_credential_id();
        let tenant = &mut self.env_mut(env).tenant;
        let n = tenant
            .credentials_of(&user_id)
            .iter()
            .filter(|c| c.connector == def.connector)
            .count();
        let name = if n == 0 {
            format!("{} credential", def.display_name)
        } else {
            format!("{} credential {}", def.display_name, n + 1)
        };
        tenant.ids.insert(id.clone());
        tenant
            .credentials
            .entry(user_id.clone())
            .or_default()
            .push(Credential {
                id: id.clone(),
                user_id,
                connector: def.connector,
                name,
                created_at: now(),
                secret: Secret::Held(data),
            });
        Ok((id, self.bump_generation()))
    }

    /// The credentials of an existing user (404 for an unknown one, even if a deleted user of
    /// that id left credentials behind).
    pub fn list_credentials(
        &self,
        env: Environment,
        user: &str,
    ) -> Result<&[Credential], StoreError> {
        let user_id = self.user_id_of(env, user)?;
        Ok(self.env(env).tenant.credentials_of(&user_id))
    }

    /// Remove one credential of an existing user: 404 for an unknown user, then 404 for a
    /// credential that is not this user's.
    pub fn delete_credential(
        &mut self,
        env: Environment,
        user: &str,
        credential_id: &str,
    ) -> Result<u64, StoreError> {
        let user_id = self.user_id_of(env, user)?;
        let tenant = &mut self.env_mut(env).tenant;
        let list = tenant.credentials.get_mut(&user_id);
        let Some(list) = list else {
            return Err(StoreError::UnknownCredential(credential_id.to_owned()));
        };
        let Some(at) = list.iter().position(|c| c.id == credential_id) else {
            return Err(StoreError::UnknownCredential(credential_id.to_owned()));
        };
        list.remove(at);
        if list.is_empty() {
            tenant.credentials.remove(&user_id);
        }
        tenant.ids.remove(credential_id);
        Ok(self.bump_generation())
    }

    /// `DELETE /users/{id}/logs`: every log entry of an existing user goes; none is no error.
    /// Returns the generation and how many entries went.
    pub fn purge_logs(&mut self, env: Environment, user: &str) -> Result<(usize, u64), StoreError> {
        let user_id = self.user_id_of(env, user)?;
        let removed = self
            .env_mut(env)
            .tenant
            .logs
            .remove(&user_id)
            .map_or(0, |l| l.len());
        let generation = if removed == 0 {
            self.generation()
        } else {
            self.bump_generation()
        };
        Ok((removed, generation))
    }

    /// Admin: record `count` runs of workflow `workflow_id` for an existing user, as Alloy would
    /// when the workflow runs.
    pub fn add_logs(
        &mut self,
        env: Environment,
        user: &str,
        workflow_id: &str,
        count: usize,
        status: &str,
    ) -> Result<(String, u64), StoreError> {
        let (_, w) = super::store::workflow(workflow_id)?;
        let user_id = self.user_id_of(env, user)?;
        let at = now();
        let ids: Vec<String> = (0..count).map(|_| self.random_hex(16)).collect();
        let logs = self
            .env_mut(env)
            .tenant
            .logs
            .entry(user_id.clone())
            .or_default();
        for (n, execution_id) in ids.into_iter().enumerate() {
            logs.push(LogEntry {
                execution_id,
                workflow_id: w.id.to_owned(),
                user_id: user_id.clone(),
                status: status.to_owned(),
                started_at: at + time::Duration::milliseconds(n as i64),
            });
        }
        Ok((user_id, self.bump_generation()))
    }

    /// Snapshot rows of every credential of `env` (no values).
    pub(crate) fn credential_rows(&self, env: Environment) -> Vec<CredentialRow> {
        self.env(env)
            .tenant
            .all_credentials()
            .into_iter()
            .map(|c| CredentialRow {
                id: c.id.clone(),
                user_id: c.user_id.clone(),
                connector: c.connector.to_owned(),
                name: c.name.clone(),
                created_at: c.created_at,
                sha256: c.data_sha256(),
                properties: c.property_names(),
            })
            .collect()
    }

    /// Restore a credential from a snapshot row. A type the catalogue no longer has is dropped.
    pub(crate) fn restore_credential(&mut self, env: Environment, row: CredentialRow) {
        let Some(def) = find_credential_type(&row.connector) else {
            return;
        };
        let tenant = &mut self.env_mut(env).tenant;
        if !tenant.ids.insert(row.id.clone()) {
            return;
        }
        tenant
            .credentials
            .entry(row.user_id.clone())
            .or_default()
            .push(Credential {
                id: row.id,
                user_id: row.user_id,
                connector: def.connector,
                name: row.name,
                created_at: row.created_at,
                secret: Secret::Digest {
                    sha256: row.sha256,
                    properties: row.properties,
                },
            });
    }

    /// Every log entry of `env`, in a stable order (for the snapshot).
    pub(crate) fn log_rows(&self, env: Environment) -> Vec<&LogEntry> {
        let logs = &self.env(env).tenant.logs;
        let mut users: Vec<&String> = logs.keys().collect();
        users.sort();
        users.into_iter().flat_map(|u| logs[u].iter()).collect()
    }

    pub(crate) fn restore_log(&mut self, env: Environment, entry: LogEntry) {
        self.env_mut(env)
            .tenant
            .logs
            .entry(entry.user_id.clone())
            .or_default()
            .push(entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    const DEV: Environment = Environment::Development;
    const PROD: Environment = Environment::Production;
    const WF: &str = "a1f7fad397c0ac5b8339697b";

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn hdr() -> BTreeMap<String, String> {
        data(&[("fieldName", "X-Key"), ("value", "s3cret-value-123")])
    }

    fn store_with_user() -> (Store, String) {
        let mut s = Store::new(StdRng::seed_from_u64(3));
        let (u, _) = s.create_user(DEV, "t".into(), None).unwrap();
        (s, u.id)
    }

    #[test]
    fn the_catalogue_has_both_kinds_and_unique_names() {
        let types = credential_types();
        assert!(types.iter().any(|t| t.is_oauth));
        assert!(types.iter().any(|t| !t.is_oauth));
        assert!(
            types
                .iter()
                .any(|t| t.properties.iter().any(|p| !p.required))
        );
        let names: HashSet<_> = types.iter().map(|t| t.connector).collect();
        assert_eq!(names.len(), types.len());
        assert!(
            find_credential_type("httpheaderauth").is_none(),
            "exact case"
        );
    }

    #[test]
    fn creates_are_checked_in_order_and_change_nothing_when_refused() {
        let (mut s, _) = store_with_user();
        let g = s.generation();
        let err = |r: Result<(String, u64), StoreError>| match r {
            Err(StoreError::Invalid(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(err(s.create_credential(DEV, "nobody", "nope", hdr())).contains("Unknown"));
        assert!(err(s.create_credential(DEV, "t", "slack", hdr())).contains("OAuth"));
        let m = err(s.create_credential(
            DEV,
            "t",
            "httpHeaderAuth",
            data(&[("fieldName", "X"), ("value", "  ")]),
        ));
        assert!(m.contains("value") && !m.contains("fieldName"), "{m}");
        assert_eq!(
            s.create_credential(DEV, "nobody", "httpHeaderAuth", hdr()),
            Err(StoreError::UnknownUser("nobody".into()))
        );
        assert_eq!(s.generation(), g);
        assert!(s.list_credentials(DEV, "t").unwrap().is_empty());
    }

    #[test]
    fn credentials_outlive_their_user_until_deleted() {
        let (mut s, uid) = store_with_user();
        let (a, _) = s
            .create_credential(DEV, "t", "httpHeaderAuth", hdr())
            .unwrap();
        let (b, _) = s
            .create_credential(DEV, &uid, "httpHeaderAuth", hdr())
            .unwrap();
        let listed = s.list_credentials(DEV, "t").unwrap();
        assert_eq!(listed.iter().map(|c| &c.id).collect::<Vec<_>>(), [&a, &b]);
        assert_eq!(listed[0].name, "HTTP Header Auth credential");
        assert_eq!(listed[1].name, "HTTP Header Auth credential 2");
        assert_eq!(listed[0].data_sha256(), data_sha256(&hdr()));
        assert!(
            !format!("{listed:?}").contains("s3cret"),
            "Debug hides data"
        );
        assert_eq!(
            s.delete_credential(DEV, "t", "0000"),
            Err(StoreError::UnknownCredential("0000".into()))
        );
        s.delete_credential(DEV, "t", &a).unwrap();
        assert_eq!(
            s.delete_credential(DEV, "t", &a),
            Err(StoreError::UnknownCredential(a.clone()))
        );
        // Other environments see neither the user nor its credentials.
        assert!(s.list_credentials(PROD, &uid).is_err());
        s.add_logs(DEV, "t", WF, 3, "success").unwrap();
        s.delete_user(DEV, "t").unwrap();
        assert_eq!(
            s.list_credentials(DEV, &uid).err(),
            Some(StoreError::UnknownUser(uid.clone()))
        );
        assert_eq!(s.env(DEV).tenant.all_credentials().len(), 1, "kept");
        assert_eq!(s.env(DEV).tenant.log_counts()[uid.as_str()], 3, "kept");
        assert_eq!(s.env(DEV).tenant.logs_of_workflow(WF, None).len(), 3);
    }

    #[test]
    fn purging_logs_is_per_user_and_idempotent() {
        let (mut s, uid) = store_with_user();
        s.create_user(DEV, "other".into(), None).unwrap();
        s.add_logs(DEV, "t", WF, 2, "success").unwrap();
        s.add_logs(DEV, "other", WF, 1, "failed").unwrap();
        assert_eq!(s.purge_logs(DEV, "t").unwrap().0, 2);
        let g = s.generation();
        assert_eq!(s.purge_logs(DEV, &uid).unwrap(), (0, g), "nothing left");
        assert_eq!(s.env(DEV).tenant.logs_of_workflow(WF, None).len(), 1);
        assert_eq!(
            s.purge_logs(DEV, "nobody"),
            Err(StoreError::UnknownUser("nobody".into()))
        );
        assert_eq!(
            s.add_logs(DEV, "t", "nope", 1, "success"),
            Err(StoreError::UnknownWorkflow("nope".into()))
        );
    }
}
