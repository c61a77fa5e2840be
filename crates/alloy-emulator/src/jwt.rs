//! User tokens: HS256 JWTs like the ones Alloy hands out for its frontend modal.
//!
//! Alloy does not document the claims; the emulator signs `userId`, `iat` and `exp = iat + 1800`
//! (Embedded tokens live at most 30 minutes), plus a random `jti` so that two tokens issued in the
//! same second differ: tests search state and log files for every issued token, and identical
//! tokens would hide which issuance leaked. The signing secret is random per process unless
//! given, so a token from one emulator run never validates against another by accident.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

/// Lifetime of a user token, in seconds.
pub const TOKEN_TTL_SECS: u64 = 1800;

#[derive(Serialize)]
struct Claims<'a> {
    #[serde(rename = "userId")]
    user_id: &'a str,
    iat: u64,
    exp: u64,
    jti: &'a str,
}

/// Signs tokens with the process secret. Deliberately not `Debug`: it holds the secret.
pub(crate) struct TokenSigner {
    key: EncodingKey,
    header: Header,
}

impl TokenSigner {
    pub(crate) fn new(secret: &[u8]) -> TokenSigner {
        TokenSigner {
            key: EncodingKey::from_secret(secret),
            header: Header::new(Algorithm::HS256),
        }
    }

    /// A token for `user_id` issued at `iat` (seconds since the epoch); returns the token and its
    /// expiry.
    pub(crate) fn sign(&self, user_id: &str, iat: u64, jti: &str) -> Result<(String, u64), String> {
        let exp = iat + TOKEN_TTL_SECS;
        let claims = Claims {
            user_id,
            iat,
            exp,
            jti,
        };
        jsonwebtoken::encode(&self.header, &claims, &self.key)
            .map(|t| (t, exp))
            .map_err(|e| format!("could not sign the token: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation, decode};
    use serde_json::Value;

    #[test]
    fn tokens_verify_with_the_secret_and_carry_the_claims() {
        let signer = TokenSigner::new(b"unit-test-secret");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let (token, exp) = signer.sign("0123456789abcdef01234567", now, "aa").unwrap();
        assert_eq!(exp, now + 1800);
        let data = decode::<Value>(
            &token,
            &DecodingKey::from_secret(b"unit-test-secret"),
            &Validation::new(Algorithm::HS256),
        )
        .unwrap();
        assert_eq!(data.claims["userId"], "0123456789abcdef01234567");
        assert_eq!(data.claims["iat"].as_u64(), Some(now));
        assert_eq!(data.claims["exp"].as_u64(), Some(now + 1800));
        assert!(
            decode::<Value>(
                &token,
                &DecodingKey::from_secret(b"another-secret"),
                &Validation::new(Algorithm::HS256),
            )
            .is_err()
        );
    }
}
