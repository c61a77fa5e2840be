//! `alloy_credential`: one stored (non-OAuth) credential of one tenant, whose secret data is
//! write-only.
//!
//! Choices worth knowing:
//! - `data` is write-only: Terraform hands it over at apply and never keeps it in a plan or in
//!   state, and Alloy never returns it. So a change of `data` alone cannot be seen; `data_version`
//!   is the trigger, and since Alloy has no update endpoint, changing it replaces the credential
//!   (in Terraform's order: the old one is deleted first unless `create_before_destroy` is set).
//! - `data_version` going from unset to a value (after an import, say) records it without
//!   replacing anything: only a change of a value already recorded means "new secret".
//! - Reads go through the credentials snapshot (`credential_snapshot.rs`): one list per tenant
//!   per process, however many credentials it holds; writes go through it too, so it stays true.
//! - The plan checks `type` and the names of `data`'s keys against Alloy's credential metadata
//!   (one read per process): an unknown type, an OAuth type, a missing required property fail
//!   the plan before anything is written. The values are never quoted.
//! - A create for a tenant this same apply created skips the client's baseline list (the
//!   tenant has no credential this process did not make), so onboarding a tenant with its
//!   credential costs its two writes and nothing else.
//! - Its identity (Terraform ≥ 1.12) is the tenant and the `credentialId` (`user_id`, `id`):
//!   what Alloy's delete names a credential by. The secret is not part of it.
//! - `name` and `created_at` are Alloy's; a create answers with the id alone, so they are known
//!   from the next refresh on (no read-back, which would add a call per credential).

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;

use super::AlloyData;
use super::missing_users::Ruling;
use super::repeats::Cause;
use super::snapshot::Key;
use super::validation::check_user;
use alloy_client::{Credential, CredentialType};
use terraform_plugin::framework::model::{AttrValue, ModelError};
use terraform_plugin::framework::{
    Attr, AttrPath, Attribute, Block, Diagnostics, IdentityAttribute, IdentitySchema, Model, Plan,
    Resource, Schema, Type, Value,
};

pub struct CredentialResource;

/// The secret `data` map as a configuration holds it: keys, and values that may be unknown
/// until apply. Its `Debug` shows the keys only, so no log line or panic can print a value.
#[derive(Clone, Default, PartialEq)]
pub(crate) struct SecretData(pub BTreeMap<String, Attr<String>>);

impl fmt::Debug for SecretData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl AttrValue for SecretData {
    fn from_attr(v: &Value, path: &str) -> Result<Self, ModelError> {
        match v {
            Value::Map(m) | Value::Object(m) => m
                .iter()
                .map(|(k, v)| Ok((k.clone(), Attr::<String>::from_attr(v, path)?)))
                .collect::<Result<_, _>>()
                .map(SecretData),
            _ => Err(ModelError {
                path: path.to_owned(),
                message: "expected a map of strings".to_owned(),
            }),
        }
    }

    fn to_attr(&self) -> Value {
        Value::Map(
            self.0
                .iter()
                .map(|(k, v)| (k.clone(), v.to_attr()))
                .collect(),
        )
    }
}

terraform_plugin::model! {
    /// `alloy_credential` as Terraform holds it in configurations, plans and state (`data` is
    /// null in the last two).
    pub(crate) struct CredentialModel {
        id: Attr<String>,
        user_id: Attr<String>,
        r#type: Attr<String>,
        data: Attr<SecretData>,
        data_version: Attr<String>,
        name: Attr<String>,
        created_at: Attr<String>,
    }
}

/// The state of `c`, held by `user`, keeping `data_version` from `recorded`.
fn state_of(c: &Credential, user: &str, recorded: &Attr<String>) -> CredentialModel {
    CredentialModel {
        id: c.credential_id.as_str().into(),
        user_id: user.into(),
        r#type: c.credential_type.as_str().into(),
        data: Attr::Null,
        data_version: match recorded {
            Attr::Known(v) => Attr::Known(v.clone()),
            _ => Attr::Null,
        },
        name: c.name.as_deref().into(),
        created_at: c.created_at.as_deref().into(),
    }
}

/// Levenshtein distance, case-insensitive, for naming the closest known types.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == cb {
                diag
            } else {
                1 + diag.min(above).min(row[j])
            };
            diag = above;
        }
    }
    row[b.len()]
}

/// The (at most three) non-OAuth types closest to `asked`, nearest first.
fn closest<'a>(asked: &str, types: &'a [CredentialType]) -> Vec<&'a str> {
    let mut scored: Vec<(usize, &str)> = types
        .iter()
        .filter(|t| !t.is_oauth)
        .map(|t| (distance(asked, &t.connector), t.connector.as_str()))
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, n)| n).collect()
}

/// The plan-time checks of `type` and `data`'s keys against the account's credential types.
/// `keys` are the configured property names (never the values).
fn check_against(
    credential_type: &str,
    keys: &[&str],
    types: &[CredentialType],
    diags: &mut Diagnostics,
) {
    let Some(def) = types.iter().find(|t| t.connector == credential_type) else {
        let near = closest(credential_type, types);
        let hint = if near.is_empty() {
            "The account lists no non-OAuth credential types.".to_owned()
        } else {
            format!(
                "The closest known types: {}.",
                near.iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        diags.attr_error(
            AttrPath::attr("type"),
            "Unknown credential type",
            format!(
                "Alloy's credential metadata lists no type {credential_type:?} (types are \
                 case-sensitive). {hint} `data.alloy_credential_types` lists them all."
            ),
        );
        return;
    };
    if def.is_oauth {
        diags.attr_error(
            AttrPath::attr("type"),
            "OAuth credential type",
            format!(
                "{credential_type:?} is an OAuth credential type: its credential needs the end user's \
                 consent, given in Alloy's modal (or through a headless OAuth link), so Terraform cannot \
                 create it. Have the tenant connect the app in the modal instead; \
                 `data.alloy_user_credentials` then lists the credential."
            ),
        );
        return;
    }
    let missing: Vec<&str> = def
        .properties
        .iter()
        .filter(|p| p.required == Some(true) && !keys.contains(&p.name.as_str()))
        .map(|p| p.name.as_str())
        .collect();
    if !missing.is_empty() {
        let required: Vec<&str> = def
            .properties
            .iter()
            .filter(|p| p.required == Some(true))
            .map(|p| p.name.as_str())
            .collect();
        diags.attr_error(
            AttrPath::attr("data"),
            "Missing credential property",
            format!(
                "A {credential_type:?} credential needs the {} {} in `data`, which it lacks. The type \
                 requires: {}.",
                if missing.len() == 1 {
                    "property"
                } else {
                    "properties"
                },
                quoted(&missing),
                quoted(&required),
            ),
        );
    }
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn gone(data: &AlloyData, diags: &mut Diagnostics, user: &str, id: &str) {
    diags.warning(
        "Credential deleted outside Terraform",
        format!(
            "The credential {id} of the user {user:?} no longer exists in the {} environment (it was \
             deleted, or its user was, outside Terraform), so it has been removed from state. If the \
             configuration still declares it, the next apply creates it again from `data`.",
            data.environment.as_str()
        ),
    );
}

#[async_trait]
impl Resource<AlloyData> for CredentialResource {
    fn type_name(&self) -> &'static str {
        "alloy_credential"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            0,
            Block::new(
                "A credential Alloy stores for one tenant (end user) of a non-OAuth connector, such as a \
                 database, a warehouse, an API-key app or HTTP header auth (Alloy's \
                 `POST /headless/credentials`). Its secret `data` is write-only: Terraform sends it at \
                 apply and keeps it in neither plan nor state. Needs Terraform 1.11 or later. OAuth \
                 credentials need the end user's consent and cannot be created here.",
                vec![
                    Attribute::string("id").computed().description(
                        "Alloy's `credentialId` of the credential.",
                    ),
                    Attribute::string("user_id").required().description(
                        "The tenant: Alloy's `userId` (for example `alloy_user.example.id`) or the user's \
                         username. Changing it forces a new credential.",
                    ),
                    Attribute::string("type").required().description(
                        "The connector's credential type, exactly as `data.alloy_credential_types` lists it \
                         (for example `netsuite` or `httpHeaderAuth`; case-sensitive). A plan fails for a \
                         type Alloy does not know (naming the closest ones) or an OAuth type. Changing it \
                         forces a new credential.",
                    ),
                    Attribute::new("data", Type::Map(Box::new(Type::String)))
                        .required()
                        .sensitive()
                        .write_only()
                        .description(
                            "The credential's properties, by name, as the type's `properties` list them (for \
                             example `{ fieldName = \"X-Api-Key\", value = var.api_key }`). Write-only: sent to \
                             Alloy when the credential is created, and never stored in plan or state, so a \
                             change of it alone plans nothing: change `data_version` with it. A plan fails when \
                             a property the type requires is missing; values are never shown.",
                        ),
                    Attribute::string("data_version").optional().description(
                        "Any string (or number) that stands for the version of `data`. Alloy cannot update a \
                         credential, so changing it replaces the credential: a new one is created with the \
                         current `data`, and the old one is deleted (first, unless `create_before_destroy` \
                         is set). Setting it where it was unset (after an \
                         import, say) only records it.",
                    ),
                    Attribute::string("name").computed().description(
                        "The credential's name, as Alloy reports it. Known from the refresh after the create.",
                    ),
                    Attribute::string("created_at").computed().description(
                        "When Alloy stored the credential (RFC 3339). Known from the refresh after the create.",
                    ),
                ],
            ),
        )
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        let Some(config) = CredentialModel::decode(config, diags) else {
            return;
        };
        if let Some(u) = config.user_id.as_str() {
            check_user(u, diags);
        }
        if let Some(t) = config.r#type.as_str()
            && t.trim().is_empty()
        {
            diags.attr_error(
                AttrPath::attr("type"),
                "Invalid type",
                "`type` is empty. Set it to a credential type that `data.alloy_credential_types` lists, \
                 for example `httpHeaderAuth`.",
            );
        }
        if let Some(d) = config.data.get() {
            if d.0.is_empty() {
                diags.attr_error(
                    AttrPath::attr("data"),
                    "Invalid data",
                    "`data` is empty. Give the credential's properties, by name, as its type's \
                     `properties` list them in `data.alloy_credential_types`.",
                );
            }
            for (k, v) in &d.0 {
                if k.trim().is_empty() {
                    diags.attr_error(
                        AttrPath::attr("data"),
                        "Invalid data",
                        "`data` has an empty property name. Use the names the type's `properties` list.",
                    );
                }
                if v.is_null() {
                    diags.attr_error(
                        AttrPath::attr("data"),
                        "Invalid data",
                        format!(
                            "The property `{k}` of `data` is null. Give it a string value, or leave the \
                             property out."
                        ),
                    );
                }
            }
        }
    }

    fn requires_replace(&self) -> &'static [&'static str] {
        &["user_id", "type", "data_version"]
    }

    async fn modify_plan(&self, data: &AlloyData, plan: &mut Plan<'_>, diags: &mut Diagnostics) {
        let (Some(mut planned), Some(config)) = (
            CredentialModel::decode(&plan.planned, diags),
            CredentialModel::decode(plan.config, diags),
        ) else {
            return;
        };
        if !plan.prior.is_null() {
            let Some(prior) = CredentialModel::decode(plan.prior, diags) else {
                return;
            };
            // A version recorded for the first time is no new secret.
            if prior.data_version.is_null() {
                plan.requires_replace
                    .retain(|p| *p != AttrPath::attr("data_version"));
            }
            if plan.requires_replace.is_empty() {
                // In place: only `data_version`'s record changes; Alloy's values stay.
                planned.id = prior.id.clone();
                planned.name = prior.name.clone();
                planned.created_at = prior.created_at.clone();
                plan.planned = planned.to_value();
                return;
            }
            planned.id = Attr::Unknown;
            planned.name = Attr::Unknown;
            planned.created_at = Attr::Unknown;
            plan.planned = planned.to_value();
        }
        // A new credential: check what it will be created as.
        let (Some(credential_type), Some(values)) = (config.r#type.as_str(), config.data.get())
        else {
            return; // known at apply only: Alloy judges then
        };
        let keys: Vec<&str> = values.0.keys().map(String::as_str).collect();
        match data.credentials.types().await {
            Ok(types) => check_against(credential_type, &keys, &types, diags),
            Err(e) => diags.warning(
                "Credential type not checked",
                format!(
                    "The account's credential types could not be read ({e}), so `type` and the names \
                     in `data` are checked by Alloy at apply instead."
                ),
            ),
        }
    }

    async fn read(&self, data: &AlloyData, state: Value, diags: &mut Diagnostics) -> Option<Value> {
        let Some(prior) = CredentialModel::decode(&state, diags) else {
            return Some(state);
        };
        let (Some(user), Some(id)) = (prior.user_id.as_str(), prior.id.as_str()) else {
            super::provider_bug::report("alloy_credential state without user_id or id", diags);
            return Some(state);
        };
        let _reading = data.missing_credentials.reading();
        let found = if data.missing_credentials.tally().tripped {
            Ok(None)
        } else {
            data.credentials.lookup(user, id).await
        };
        match found {
            Ok(Some(c)) => {
                data.missing_credentials.found();
                Some(state_of(&c, user, &prior.data_version).to_value())
            }
            Ok(None) => match data.missing_credentials.missing().await {
                Ruling::Tripped => {
                    self.tripped(data, diags);
                    Some(state)
                }
                Ruling::Gone | Ruling::Accepted => {
                    gone(data, diags, user, id);
                    None
                }
            },
            Err(e) => {
                data.api_error(diags, "Cannot read the tenant's credential", &e);
                Some(state)
            }
        }
    }

    async fn create(
        &self,
        data: &AlloyData,
        planned: &Value,
        config: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let planned = CredentialModel::decode(planned, diags)?;
        let config = CredentialModel::decode(config, diags)?;
        let (Some(user), Some(credential_type), Some(values)) = (
            planned.user_id.as_str(),
            planned.r#type.as_str(),
            config.data.get(),
        ) else {
            super::provider_bug::report(
                "alloy_credential create without user_id, type or data",
                diags,
            );
            return None;
        };
        let mut secret = BTreeMap::new();
        for (k, v) in &values.0 {
            let Some(v) = v.as_str() else {
                super::provider_bug::report(
                    "alloy_credential create with a data value that is not known",
                    diags,
                );
                return None;
            };
            secret.insert(k.clone(), v.to_owned());
        }
        let new_user = data.users.created_here(user);
        match data
            .credentials
            .create(user, credential_type, &secret, new_user)
            .await
        {
            Ok((created, credential)) => {
                if created.adopted.is_some() {
                    tracing::info!(
                        credential_id = %created.credential_id,
                        "credential create answer was lost; adopted the credential it created"
                    );
                }
                Some(state_of(&credential, user, &planned.data_version).to_value())
            }
            Err(e) => {
                data.api_error(diags, "Cannot create the tenant's credential", &e);
                None
            }
        }
    }

    async fn update(
        &self,
        _data: &AlloyData,
        prior: &Value,
        planned: &Value,
        _config: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        // Only `data_version`'s first record is an update (see `modify_plan`): no API call.
        let prior = CredentialModel::decode(prior, diags)?;
        let planned = CredentialModel::decode(planned, diags)?;
        Some(
            CredentialModel {
                data_version: planned.data_version,
                data: Attr::Null,
                ..prior
            }
            .to_value(),
        )
    }

    async fn delete(&self, data: &AlloyData, prior: &Value, diags: &mut Diagnostics) {
        let Some(prior) = CredentialModel::decode(prior, diags) else {
            return;
        };
        let (Some(user), Some(id)) = (prior.user_id.as_str(), prior.id.as_str()) else {
            super::provider_bug::report("alloy_credential state without user_id or id", diags);
            return;
        };
        if let Err(e) = data.credentials.delete(user, id).await {
            data.api_error(diags, "Cannot delete the tenant's credential", &e);
        }
    }

    fn identity(&self) -> Option<IdentitySchema> {
        Some(IdentitySchema::new(
            0,
            vec![
                IdentityAttribute::string("user_id").required_for_import().description(
                    "The tenant, as the resource's `user_id` holds it: Alloy's `userId` (an import \
                     always records the userId, also when given a username).",
                ),
                IdentityAttribute::string("credential_id")
                    .from_state("id")
                    .required_for_import()
                    .description("Alloy's `credentialId`, the same value as the resource's `id`."),
            ],
        ))
    }

    async fn import_identity(
        &self,
        data: &AlloyData,
        identity: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        // The same checks and lookups as the `<userId>/<credentialId>` import id.
        let part = |name| identity.attr(name).as_str().unwrap_or_default();
        let id = format!("{}/{}", part("user_id"), part("credential_id"));
        self.import(data, &id, diags).await
    }

    async fn import(&self, data: &AlloyData, id: &str, diags: &mut Diagnostics) -> Option<Value> {
        let parts: Vec<&str> = id.trim().split('/').collect();
        let form = "Import an alloy_credential as `<userId>/<credentialId>` (or \
                    `<username>/<credentialId>`), e.g. \
                    65a1f0c2e4b0a1b2c3d4e5f6/63252d8f1a2b3c4d5e6f7a8b";
        let [user, credential_id] = parts[..] else {
            diags.error(
                "Invalid import id",
                format!("{form}; {id:?} is not of that form."),
            );
            return None;
        };
        let mut bad = Diagnostics::new();
        check_user(user, &mut bad);
        if bad.has_errors() || credential_id.trim().is_empty() {
            diags.error(
                "Invalid import id",
                format!("{form}; in {id:?} a part is empty or not an id."),
            );
            return None;
        }
        // A username becomes the userId, so state names the tenant as `alloy_user.x.id` does
        // (and a configuration that references it plans no replacement).
        let user = match data.users.lookup(Key::IdOrUsername, user).await {
            Ok(u) => u.user_id,
            Err(e) if e.is_not_found() => user.to_owned(), // reported as "no credential" below
            Err(e) => {
                data.api_error(diags, "Cannot import the tenant's credential", &e);
                return None;
            }
        };
        let user = user.as_str();
        match data.credentials.lookup(user, credential_id).await {
            Ok(Some(c)) => Some(state_of(&c, user, &Attr::Null).to_value()),
            Ok(None) => {
                diags.error(
                    "Cannot import the tenant's credential",
                    format!(
                        "The user {user:?} has no credential {credential_id} in the {} environment (or \
                         no such user exists there). `data.alloy_user_credentials` lists a tenant's \
                         credentials.",
                        data.environment.as_str()
                    ),
                );
                None
            }
            Err(e) => {
                data.api_error(diags, "Cannot import the tenant's credential", &e);
                None
            }
        }
    }
}

impl CredentialResource {
    /// The guard against mass disappearance tripped: this instance fails and stays in state.
    fn tripped(&self, data: &AlloyData, diags: &mut Diagnostics) {
        data.explained.error(
            diags,
            Cause::CredentialsMissing,
            None,
            "Alloy credentials missing en masse",
            || {
                let t = data.missing_credentials.tally();
                format!(
                    "{missing} of the {read} tenants' credentials this run has read so far do not exist \
                     in the {env} environment. Credentials rarely disappear together: most likely the \
                     API key belongs to the other environment or to another Alloy account (the key in \
                     use came from {source}). Nothing has been removed from state, and this plan stops \
                     here.\n\nCheck the key and the provider's `environment`, then plan again. If these \
                     credentials really were deleted, accept it for one run with \
                     ALLOY_ACCEPT_MISSING_USERS=true (or `accept_missing_users = true` in the provider \
                     block).",
                    missing = t.missing,
                    read = t.found + t.missing,
                    env = data.environment.as_str(),
                    source = data.key_source,
                )
            },
            "Missing too, kept in state",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_client::CredentialProperty;

    fn ty(name: &str, oauth: bool, required: &[&str]) -> CredentialType {
        CredentialType {
            connector: name.into(),
            display_name: None,
            icon: None,
            is_oauth: oauth,
            properties: required
                .iter()
                .map(|p| CredentialProperty {
                    name: (*p).into(),
                    display_name: None,
                    description: None,
                    required: Some(true),
                })
                .collect(),
        }
    }

    fn catalogue() -> Vec<CredentialType> {
        vec![
            ty("netsuite", false, &["realm", "tokenId"]),
            ty("httpHeaderAuth", false, &["fieldName", "value"]),
            ty("postgresql", false, &["host"]),
            ty("shopify", true, &[]),
        ]
    }

    fn problems(t: &str, keys: &[&str]) -> Vec<(Option<AttrPath>, String)> {
        let mut d = Diagnostics::new();
        check_against(t, keys, &catalogue(), &mut d);
        d.iter()
            .map(|x| (x.attribute.clone(), x.detail.clone()))
            .collect()
    }

    #[test]
    fn a_complete_non_oauth_credential_passes() {
        assert!(problems("httpHeaderAuth", &["fieldName", "value"]).is_empty());
    }

    #[test]
    fn an_unknown_type_names_the_closest_known_ones() {
        let p = problems("httpheaderauth", &["x"]);
        assert_eq!(p[0].0, Some(AttrPath::attr("type")));
        assert!(
            p[0].1.contains("closest known types: `httpHeaderAuth`"),
            "{}",
            p[0].1
        );
        assert!(
            !p[0].1.contains("shopify"),
            "OAuth types are never suggested"
        );
    }

    #[test]
    fn an_oauth_type_needs_the_modal() {
        let p = problems("shopify", &[]);
        assert_eq!(p[0].0, Some(AttrPath::attr("type")));
        assert!(p[0].1.contains("consent"), "{}", p[0].1);
    }

    #[test]
    fn a_missing_property_is_named() {
        let p = problems("netsuite", &["realm"]);
        assert_eq!(p[0].0, Some(AttrPath::attr("data")));
        assert!(p[0].1.contains("property `tokenId`"), "{}", p[0].1);
    }

    #[test]
    fn distances() {
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("NetSuite", "netsuite"), 0);
        assert_eq!(distance("", "abc"), 3);
    }

    #[test]
    fn secret_data_debug_shows_keys_only() {
        let d = SecretData(BTreeMap::from([(
            "value".to_owned(),
            Attr::Known("hush-123".to_owned()),
        )]));
        let shown = format!("{d:?}");
        assert!(
            shown.contains("value") && !shown.contains("hush-123"),
            "{shown}"
        );
    }

    #[test]
    fn model_matches_schema() {
        terraform_plugin::framework::model::assert_matches_schema::<CredentialModel>(
            &CredentialResource.schema(),
        );
    }
}
