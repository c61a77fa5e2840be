//! `alloy_user_token`, the data source: the same short-lived JWT as the ephemeral resource of
//! that name (`user_token_ephemeral.rs`, whose model, schema attributes, validation and fetch it
//! shares), for configurations that must feed the token to something that is not
//! ephemeral-aware. It writes the token into state in clear text, and its description says so.

use async_trait::async_trait;

use super::AlloyData;
use super::user_token_ephemeral::{UserTokenModel, attributes, fetch, result, validate_user_id};
use terraform_plugin::framework::{Block, DataSource, Diagnostics, Model, Schema, Value};

pub struct UserTokenDataSource;

#[async_trait]
impl DataSource<AlloyData> for UserTokenDataSource {
    fn type_name(&self) -> &'static str {
        "alloy_user_token"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            0,
            Block::new(
                "Reads a short-lived token (a JWT) that lets one end user open Alloy's embedded modal. \
                 **The token is written to the Terraform state in clear text** (marking it sensitive only \
                 hides it from plan and apply output), and it expires within at most 30 minutes, so the \
                 stored value is soon stale. Prefer the `alloy_user_token` ephemeral resource, which is \
                 never stored; use this data source only to feed the token to something that cannot take \
                 an ephemeral value.",
                attributes(
                    "The token, to be sent to Alloy's frontend SDK. Sensitive: hidden in plan and apply \
                     output, but stored in clear text in the state.",
                ),
            ),
        )
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        validate_user_id(config, diags);
    }

    async fn read(
        &self,
        data: &AlloyData,
        config: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let config = UserTokenModel::decode(config, diags)?;
        let user_id = config.user_id(diags)?;
        let token = fetch(data, user_id, diags).await?;
        Some(result(user_id, &token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user_token_ephemeral::UserTokenEphemeral;
    use crate::user_token_ephemeral::tests::{config, emulator};
    use terraform_plugin::framework::{AttrPath, EphemeralResource};

    #[test]
    fn model_matches_schema() {
        use terraform_plugin::framework::model::assert_matches_schema;
        assert_matches_schema::<UserTokenModel>(&UserTokenEphemeral.schema());
        assert_matches_schema::<UserTokenModel>(&UserTokenDataSource.schema());
    }

    #[tokio::test]
    async fn unknown_user_is_an_error_naming_it() {
        let (_emu, data) = emulator().await;
        let mut d = Diagnostics::new();
        let config = config(Value::string("nobody@example.com"));
        assert!(
            UserTokenDataSource
                .read(&data, &config, &mut d)
                .await
                .is_none()
        );
        assert_eq!(d.0[0].attribute, Some(AttrPath::attr("user_id")));
        assert!(
            d.0[0].detail.contains("\"nobody@example.com\""),
            "{}",
            d.0[0].detail
        );
        assert!(d.0[0].detail.contains("development"));
    }

    #[test]
    fn data_source_description_warns_about_state() {
        let d = UserTokenDataSource.schema().block.description;
        assert!(d.contains("state in clear text"));
        assert!(d.contains("30 minutes"));
        assert!(d.contains("ephemeral resource"));
        let token = UserTokenDataSource.schema();
        assert!(token.block.attribute("token").unwrap().sensitive);
        assert!(
            UserTokenEphemeral
                .schema()
                .block
                .attribute("token")
                .unwrap()
                .sensitive
        );
    }
}
