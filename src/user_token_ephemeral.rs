//! `alloy_user_token`, the ephemeral resource: the short-lived JWT that Alloy's frontend modal
//! needs for one end user, never written to the plan or the state. The recommended shape of the
//! token; the data source of the same name (`user_token_data_source.rs`) is the same token,
//! stored, and shares this file's model, schema attributes, validation and fetch.
//!
//! Why two shapes of one thing:
//! - The ephemeral resource never reaches plan or state: Terraform opens it in each phase that
//!   needs it and forgets it afterwards. That is the right home for a bearer token.
//! - The data source exists for configurations that must feed the token to something that is not
//!   ephemeral-aware. It writes the token into state in clear text, and its description says so.
//!
//! `expires_at` comes from the JWT's own `exp` claim (see `jwt.rs`), never from a check of its
//! signature.
//!
//! Renewal: Terraform opens the ephemeral resource afresh in every plan and apply, so a token is
//! at most one run old. Within one run, protocol 6 gives `renew` no way to hand a new value back
//! to the configuration, so fetching a fresh token there would only pretend to help. Instead
//! `open` asks Terraform to call `renew` a safe margin before the token expires, and `renew`
//! (with no API call) warns that anything reading the value after its expiry gets a stale token:
//! a long apply never hands out an expired token silently. The private bytes carry the user id and
//! the expiry, never the token. Every token is registered with the log scrubber on arrival.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::not_found::{self, Asked};
use super::validation::check_username;
use super::{AlloyData, jwt, provider_bug};
use terraform_plugin::framework::{
    Attr, Attribute, Block, Diagnostics, EphemeralResource, Model, Opened, Renewed, Schema, Value,
};

/// Renew this long before expiry when the token still has plenty of life left.
const RENEW_MARGIN: Duration = Duration::from_secs(5 * 60);

pub struct UserTokenEphemeral;

/// What Terraform keeps for us between open, renew and close: the user and the expiry, never
/// the token.
#[derive(Serialize, Deserialize)]
struct Private {
    user_id: String,
    #[serde(default)]
    expires: Option<i64>,
}

fn to_system_time(exp: i64) -> Option<SystemTime> {
    let secs = u64::try_from(exp).ok()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// When to renew a token expiring at `exp`, seen at `now`: [`RENEW_MARGIN`] before expiry when
/// that leaves at least as much again, otherwise halfway through the remaining life. `None` when
/// the token is already expired (renewing it would gain nothing).
pub(crate) fn renew_at(now: SystemTime, exp: SystemTime) -> Option<SystemTime> {
    let left = exp.duration_since(now).ok().filter(|d| !d.is_zero())?;
    if left >= RENEW_MARGIN * 2 {
        Some(exp - RENEW_MARGIN)
    } else {
        Some(now + left / 2)
    }
}

fn renew_time_for(token: &str) -> Option<SystemTime> {
    let exp = to_system_time(jwt::exp(token)?)?;
    renew_at(SystemTime::now(), exp)
}

// ---- What both shapes of `alloy_user_token` share.

/// Fetches a token for `user_id`, registering it for log redaction before anything else.
pub(crate) async fn fetch(
    data: &AlloyData,
    user_id: &str,
    diags: &mut Diagnostics,
) -> Option<String> {
    match data.api.user_token(user_id).await {
        Ok(token) => {
            secrets::register(&token);
            Some(token)
        }
        Err(e) if e.is_not_found() => {
            not_found::user(data, Asked::Token, user_id, diags);
            None
        }
        Err(e) => {
            data.api_error(diags, "Cannot get Alloy user token", &e);
            None
        }
    }
}

terraform_plugin::model! {
    /// Both shapes of `alloy_user_token`: configuration and result.
    pub(crate) struct UserTokenModel {
        user_id: Attr<String>,
        token: Attr<String>,
        expires_at: Attr<String>,
    }
}

impl UserTokenModel {
    /// The `user_id` of a configuration Terraform sends to open or read (it validated the
    /// attribute as required, and sends no unknown value then).
    pub(crate) fn user_id<'a>(&'a self, diags: &mut Diagnostics) -> Option<&'a str> {
        provider_bug::expect(
            self.user_id.as_str(),
            "an alloy_user_token configuration has no user_id",
            diags,
        )
    }
}

pub(crate) fn validate_user_id(config: &Value, diags: &mut Diagnostics) {
    let Some(config) = UserTokenModel::decode(config, diags) else {
        return;
    };
    // Unknown values (e.g. `alloy_user.x.id` before apply) are checked when they are known.
    if let Some(u) = config.user_id.as_str() {
        check_username("user_id", u, diags);
    }
}

const USER_ID_DESCRIPTION: &str = "The user the token is for: Alloy's `userId` (for example \
     `alloy_user.example.id`) or the user's `username`.";

const EXPIRES_AT_DESCRIPTION: &str = "When the token expires, as an RFC 3339 UTC timestamp taken \
     from the JWT's `exp` claim. The token's signature is not checked. Null when the token is not a \
     JWT or carries no `exp`.";

pub(crate) fn attributes(token_description: &str) -> Vec<Attribute> {
    vec![
        Attribute::string("user_id")
            .required()
            .description(USER_ID_DESCRIPTION),
        Attribute::string("token")
            .computed()
            .sensitive()
            .description(token_description),
        Attribute::string("expires_at")
            .computed()
            .description(EXPIRES_AT_DESCRIPTION),
    ]
}

pub(crate) fn result(user_id: &str, token: &str) -> Value {
    UserTokenModel {
        user_id: user_id.into(),
        token: token.into(),
        expires_at: jwt::expires_at(token).into(),
    }
    .to_value()
}

#[async_trait]
impl EphemeralResource<AlloyData> for UserTokenEphemeral {
    fn type_name(&self) -> &'static str {
        "alloy_user_token"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            0,
            Block::new(
                "A short-lived token (a JWT) that lets one end user open Alloy's embedded modal in your \
                 frontend. As an ephemeral resource it is fetched during each plan and apply that needs it \
                 and is never written to the plan or the state. Use it wherever Terraform accepts an \
                 ephemeral value: provider blocks, write-only arguments, ephemeral variables and outputs, \
                 and provisioners. Alloy tokens expire within at most 30 minutes.",
                attributes(
                    "The token, to be sent to Alloy's frontend SDK. Sensitive, and never stored by \
                     Terraform.",
                ),
            ),
        )
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        validate_user_id(config, diags);
    }

    async fn open(
        &self,
        data: &AlloyData,
        config: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Opened> {
        let config = UserTokenModel::decode(config, diags)?;
        let user_id = config.user_id(diags)?;
        let token = fetch(data, user_id, diags).await?;
        let private = serde_json::to_vec(&Private {
            user_id: user_id.to_string(),
            expires: jwt::exp(&token),
        });
        let private = provider_bug::expect(
            private.ok(),
            "the private data of an alloy_user_token could not be encoded",
            diags,
        )?;
        Some(Opened {
            renew_at: renew_time_for(&token),
            result: result(user_id, &token),
            private,
        })
    }

    async fn renew(
        &self,
        _data: &AlloyData,
        private: &[u8],
        diags: &mut Diagnostics,
    ) -> Option<Renewed> {
        let Ok(p) = serde_json::from_slice::<Private>(private) else {
            diags.error(
                "Cannot renew Alloy user token",
                "Terraform handed back data this provider did not write when opening the token. Please \
                 report this to the provider developers.",
            );
            return None;
        };
        let when = p
            .expires
            .and_then(jwt::rfc3339)
            .unwrap_or_else(|| "soon".to_string());
        diags.warning(
            "Alloy user token about to expire",
            format!(
                "The token opened for user {:?} expires at {when}. Terraform cannot replace an ephemeral \
                 value while a run uses it, so anything that reads this token after it expires gets a \
                 stale token. Keep runs that use it shorter than the token's life (at most 30 minutes), \
                 or split them; the next plan or apply fetches a fresh token.",
                p.user_id
            ),
        );
        // Nothing more to do until Terraform closes it.
        Some(Renewed {
            renew_at: None,
            private: private.to_vec(),
        })
    }

    async fn close(&self, _data: &AlloyData, _private: &[u8], _diags: &mut Diagnostics) {
        // Alloy has no revocation endpoint: the token simply expires.
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::jwt::tests::jwt;
    use terraform_plugin::framework::AttrPath;

    #[test]
    fn renewal_comes_a_margin_before_expiry_or_halfway() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let long = now + Duration::from_secs(1800);
        assert_eq!(renew_at(now, long), Some(long - Duration::from_secs(300)));
        // Exactly twice the margin left: still the margin.
        let ten = now + Duration::from_secs(600);
        assert_eq!(renew_at(now, ten), Some(now + Duration::from_secs(300)));
        // Short-lived: halfway.
        let short = now + Duration::from_secs(120);
        assert_eq!(renew_at(now, short), Some(now + Duration::from_secs(60)));
        // Expired or expiring now: no renewal.
        assert_eq!(renew_at(now, now), None);
        assert_eq!(renew_at(now, now - Duration::from_secs(1)), None);
    }

    #[test]
    fn renewal_time_of_a_token() {
        assert_eq!(renew_time_for("opaque"), None);
        let exp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 1800;
        let t = jwt(&format!(r#"{{"exp":{exp}}}"#));
        assert_eq!(
            renew_time_for(&t),
            Some(UNIX_EPOCH + Duration::from_secs(exp - 300))
        );
        assert_eq!(renew_time_for(&jwt(r#"{"exp":-5}"#)), None);
    }

    /// A configuration naming `user_id`, as Terraform sends it (computed attributes null).
    pub(crate) fn config(user_id: Value) -> Value {
        Value::object([
            ("user_id", user_id),
            ("token", Value::Null),
            ("expires_at", Value::Null),
        ])
    }

    #[test]
    fn user_id_is_validated_and_unknown_passes() {
        let check = |v: Value| {
            let mut d = Diagnostics::new();
            validate_user_id(&config(v), &mut d);
            d
        };
        assert!(!check(Value::string("jane@example.com")).has_errors());
        assert!(!check(Value::Unknown).has_errors());
        let d = check(Value::string(""));
        assert!(d.has_errors());
        assert_eq!(d.0[0].attribute, Some(AttrPath::attr("user_id")));
        assert!(d.0[0].detail.contains("must not be empty"));
        assert!(check(Value::string(" x")).has_errors());
    }

    /// A provider's data pointed at an in-process emulator, for what terraform cannot show:
    /// renewal happens only 25 minutes into an operation.
    pub(crate) async fn emulator() -> (alloy_emulator::RunningEmulator, AlloyData) {
        use alloy_client::{AlloyClient, ApiKey, ClientConfig};
        let emu = alloy_emulator::RunningEmulator::start(
            alloy_emulator::EmulatorConfig::default(),
            "127.0.0.1:0".parse().unwrap(),
        )
        .await
        .unwrap();
        let cfg = ClientConfig::new(
            url::Url::parse(&emu.url()).unwrap(),
            "2025-09",
            ApiKey::new(emu.development_key()),
            "unit-test",
        );
        let data = AlloyData::new(
            AlloyClient::new(cfg).unwrap(),
            crate::Environment::Development,
            crate::config::DEVELOPMENT_API_KEY_VAR.to_owned(),
            false,
        );
        (emu, data)
    }

    async fn issued(emu: &alloy_emulator::RunningEmulator) -> Vec<serde_json::Value> {
        let v: serde_json::Value = reqwest::get(format!("{}/_emulator/tokens", emu.url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["tokens"].as_array().unwrap().clone()
    }

    #[tokio::test]
    async fn open_renew_and_close_against_the_emulator() {
        let (emu, data) = emulator().await;
        let user = data.users.create("renew@example.com", None).await.unwrap();
        let mut d = Diagnostics::new();
        let config = config(Value::string("renew@example.com"));
        let opened = UserTokenEphemeral
            .open(&data, &config, &mut d)
            .await
            .unwrap();
        assert!(d.is_empty(), "{d:?}");
        let tokens = issued(&emu).await;
        assert_eq!(tokens.len(), 1);
        let token = tokens[0]["token"].as_str().unwrap();
        assert_eq!(tokens[0]["userId"], user.user_id.as_str());
        assert_eq!(opened.result.attr("token"), &Value::string(token));
        let exp = tokens[0]["exp"].as_i64().unwrap();
        assert_eq!(
            opened.result.attr("expires_at"),
            &Value::string(jwt::rfc3339(exp).unwrap())
        );
        assert_eq!(
            opened.renew_at,
            Some(UNIX_EPOCH + Duration::from_secs(exp as u64 - 300))
        );
        // The private bytes name the user and hold nothing of the token.
        let private = String::from_utf8(opened.private.clone()).unwrap();
        assert!(private.contains("renew@example.com"));
        assert!(!private.contains(token) && !private.contains(token.split('.').nth(1).unwrap()));
        // Registered with the log scrubber as soon as it arrived.
        assert_eq!(secrets::redact(&format!("x {token} y")), "x [REDACTED] y");

        // Renew cannot replace the value Terraform already handed out: it warns, with the expiry,
        // and makes no API call.
        let renewed = UserTokenEphemeral
            .renew(&data, &opened.private, &mut d)
            .await
            .unwrap();
        assert!(!d.has_errors(), "{d:?}");
        assert_eq!(d.0.len(), 1);
        assert_eq!(d.0[0].summary, "Alloy user token about to expire");
        assert!(d.0[0].detail.contains(&jwt::rfc3339(exp).unwrap()), "{d:?}");
        assert!(!d.0[0].detail.contains(token));
        assert_eq!(renewed.private, opened.private);
        assert_eq!(renewed.renew_at, None);
        assert_eq!(issued(&emu).await.len(), 1, "renew makes no API call");
        let mut d = Diagnostics::new();

        UserTokenEphemeral
            .close(&data, &opened.private, &mut d)
            .await;
        assert!(d.is_empty());
        assert_eq!(issued(&emu).await.len(), 1, "close makes no API call");

        // Private bytes that are not ours: an error, and no API call.
        assert!(
            UserTokenEphemeral
                .renew(&data, b"garbage", &mut d)
                .await
                .is_none()
        );
        assert!(d.has_errors());
        assert!(!d.0[0].detail.contains(token));
        assert_eq!(issued(&emu).await.len(), 1);
    }
}
