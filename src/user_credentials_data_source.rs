//! `alloy_user_credentials`: a tenant's stored credentials (never their data), from the
//! credentials snapshot's list of that tenant: one `GET /credentials/users/{userId}`, shared with
//! the `alloy_credential` reads of the same tenant.

use async_trait::async_trait;

use super::AlloyData;
use super::not_found::{self, Asked};
use super::validation::check_user;
use alloy_client::Credential;
use terraform_plugin::framework::{
    Attr, AttrPath, Attribute, Block, DataSource, Diagnostics, Model, Nesting, Schema, Value,
};

pub struct UserCredentialsDataSource;

terraform_plugin::model! {
    /// The `alloy_user_credentials` data source's configuration and result.
    pub(crate) struct UserCredentialsModel {
        user_id: Attr<String>,
        r#type: Attr<String>,
        credentials: Attr<Vec<CredentialEntry>>,
    }
}

terraform_plugin::model! {
    /// One entry of `credentials`.
    pub(crate) struct CredentialEntry {
        id: Attr<String>,
        r#type: Attr<String>,
        name: Attr<String>,
        created_at: Attr<String>,
        updated_at: Attr<String>,
    }
}

fn entry(c: &Credential) -> CredentialEntry {
    CredentialEntry {
        id: c.credential_id.as_str().into(),
        r#type: c.credential_type.as_str().into(),
        name: c.name.as_deref().into(),
        created_at: c.created_at.as_deref().into(),
        updated_at: c.updated_at.as_deref().into(),
    }
}

/// The credentials of type `only` (all when `None`), in the API's order.
fn select(list: &[Credential], only: Option<&str>) -> Vec<CredentialEntry> {
    list.iter()
        .filter(|c| only.is_none_or(|t| c.credential_type == t))
        .map(entry)
        .collect()
}

#[async_trait]
impl DataSource<AlloyData> for UserCredentialsDataSource {
    fn type_name(&self) -> &'static str {
        "alloy_user_credentials"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            0,
            Block::new(
                "Lists the credentials Alloy stores for one tenant (end user), OAuth or not, without \
                 their secret data (Alloy's `GET /credentials/users/{userId}`, one request, shared with \
                 the `alloy_credential` reads of the same tenant), in the order Alloy lists them.",
                vec![
                    Attribute::string("user_id").required().description(
                        "The tenant: Alloy's `userId` (for example `alloy_user.example.id`) or the user's \
                         username. A user that does not exist fails with an error.",
                    ),
                    Attribute::string("type").optional().description(
                        "When set, only credentials of this credential type (exact, case-sensitive) are \
                         listed.",
                    ),
                    Attribute::nested(
                        "credentials",
                        Nesting::List,
                        vec![
                            Attribute::string("id")
                                .computed()
                                .description("Alloy's `credentialId`."),
                            Attribute::string("type")
                                .computed()
                                .description("The connector's credential type."),
                            Attribute::string("name")
                                .computed()
                                .description("The credential's name, as Alloy reports it."),
                            Attribute::string("created_at")
                                .computed()
                                .description("When the credential was stored (RFC 3339)."),
                            Attribute::string("updated_at").computed().description(
                                "When the credential last changed (RFC 3339). Null when Alloy does not say.",
                            ),
                        ],
                    )
                    .computed()
                    .description("The tenant's credentials that pass the filter."),
                ],
            ),
        )
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        let Some(config) = UserCredentialsModel::decode(config, diags) else {
            return;
        };
        if let Some(u) = config.user_id.as_str() {
            check_user(u, diags);
        }
        if config.r#type.as_str().is_some_and(|t| t.trim().is_empty()) {
            diags.attr_error(
                AttrPath::attr("type"),
                "Invalid type",
                "`type` is empty. Set a credential type, or remove the attribute to list every \
                 credential of the tenant.",
            );
        }
    }

    async fn read(
        &self,
        data: &AlloyData,
        config: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let mut config = UserCredentialsModel::decode(config, diags)?;
        let Some(user) = config.user_id.as_str().map(str::to_owned) else {
            super::provider_bug::report("alloy_user_credentials read without user_id", diags);
            return None;
        };
        match data.credentials.of_user(&user).await {
            Ok(list) => {
                config.credentials = Attr::Known(select(&list, config.r#type.as_str()));
                Some(config.to_value())
            }
            Err(e) if e.is_not_found() => {
                not_found::user(data, Asked::Credentials, &user, diags);
                None
            }
            Err(e) => {
                data.api_error(diags, "Cannot list the tenant's credentials", &e);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cred(id: &str, t: &str) -> Credential {
        Credential {
            credential_id: id.into(),
            credential_type: t.into(),
            name: None,
            created_at: None,
            updated_at: None,
        }
    }

    #[test]
    fn the_type_filter_is_exact() {
        let all = [
            cred("1", "netsuite"),
            cred("2", "slack"),
            cred("3", "netsuite"),
        ];
        let ids = |v: Vec<CredentialEntry>| {
            v.into_iter()
                .filter_map(|e| e.id.as_str().map(str::to_owned))
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(select(&all, None)), ["1", "2", "3"]);
        assert_eq!(ids(select(&all, Some("netsuite"))), ["1", "3"]);
        assert!(select(&all, Some("NetSuite")).is_empty());
    }

    #[test]
    fn model_matches_schema() {
        terraform_plugin::framework::model::assert_matches_schema::<UserCredentialsModel>(
            &UserCredentialsDataSource.schema(),
        );
    }
}
