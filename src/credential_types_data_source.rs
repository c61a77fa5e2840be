//! `alloy_credential_types`: the account's connector credential types, OAuth or not, with the
//! properties each asks for (one `GET /metadata/credentials`, the read the `alloy_credential`
//! plan checks share).

use async_trait::async_trait;

use super::AlloyData;
use alloy_client::CredentialType;
use terraform_plugin::framework::{
    Attr, Attribute, Block, DataSource, Diagnostics, Model, Nesting, Schema, Value,
};

pub struct CredentialTypesDataSource;

terraform_plugin::model! {
    /// The `alloy_credential_types` data source's result.
    pub(crate) struct CredentialTypesModel {
        types: Attr<Vec<TypeEntry>>,
    }
}

terraform_plugin::model! {
    /// One entry of `types`.
    pub(crate) struct TypeEntry {
        name: Attr<String>,
        display_name: Attr<String>,
        oauth: Attr<bool>,
        properties: Attr<Vec<PropertyEntry>>,
    }
}

terraform_plugin::model! {
    /// One property of a type.
    pub(crate) struct PropertyEntry {
        name: Attr<String>,
        display_name: Attr<String>,
        description: Attr<String>,
        required: Attr<bool>,
    }
}

fn entry(t: &CredentialType) -> TypeEntry {
    TypeEntry {
        name: t.connector.as_str().into(),
        display_name: t.display_name.as_deref().into(),
        oauth: Attr::Known(t.is_oauth),
        properties: Attr::Known(
            t.properties
                .iter()
                .map(|p| PropertyEntry {
                    name: p.name.as_str().into(),
                    display_name: p.display_name.as_deref().into(),
                    description: p.description.as_deref().into(),
                    required: p.required.into(),
                })
                .collect(),
        ),
    }
}

#[async_trait]
impl DataSource<AlloyData> for CredentialTypesDataSource {
    fn type_name(&self) -> &'static str {
        "alloy_credential_types"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            0,
            Block::new(
                "Lists the account's connector credential types (Alloy's `GET /metadata/credentials`, one \
                 request): which are OAuth (created only by the end user, in Alloy's modal) and which \
                 `alloy_credential` can create, and the properties each asks for in `data`.",
                vec![
                    Attribute::nested(
                        "types",
                        Nesting::List,
                        vec![
                            Attribute::string("name").computed().description(
                                "The type, as `alloy_credential`'s `type` takes it (Alloy's `connector`).",
                            ),
                            Attribute::string("display_name")
                                .computed()
                                .description("The connector's display name. Null when Alloy gives none."),
                            Attribute::bool("oauth").computed().description(
                                "Whether the type is OAuth: its credentials need the end user's consent, so \
                                 `alloy_credential` refuses it.",
                            ),
                            Attribute::nested(
                                "properties",
                                Nesting::List,
                                vec![
                                    Attribute::string("name")
                                        .computed()
                                        .description("The key to use in `alloy_credential`'s `data`."),
                                    Attribute::string("display_name")
                                        .computed()
                                        .description("How Alloy's modal labels it. Null when none."),
                                    Attribute::string("description")
                                        .computed()
                                        .description("What it holds. Null when Alloy gives none."),
                                    Attribute::bool("required").computed().description(
                                        "Whether a credential of the type needs it. Null when Alloy does not say.",
                                    ),
                                ],
                            )
                            .computed()
                            .description("The properties the type asks for, in Alloy's order."),
                        ],
                    )
                    .computed()
                    .description("Every credential type of the account, in Alloy's order."),
                ],
            ),
        )
    }

    async fn read(
        &self,
        data: &AlloyData,
        config: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let mut config = CredentialTypesModel::decode(config, diags)?;
        match data.credentials.types().await {
            Ok(types) => {
                config.types = Attr::Known(types.iter().map(entry).collect());
                Some(config.to_value())
            }
            Err(e) => {
                data.api_error(diags, "Cannot list the account's credential types", &e);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_matches_schema() {
        terraform_plugin::framework::model::assert_matches_schema::<CredentialTypesModel>(
            &CredentialTypesDataSource.schema(),
        );
    }
}
