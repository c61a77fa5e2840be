//! Reading a JWT's expiry, for `alloy_user_token`'s `expires_at` and its renewal time.
//!
//! Alloy's token answer carries only `token`; when it expires comes from the JWT's own `exp`
//! claim. The payload is decoded here by hand (base64url JSON): the token is never verified (we do
//! not hold the key and have no reason to), never logged, and anything that does not look like a
//! JWT with a numeric `exp` simply yields `None` instead of an error.

use base64::Engine as _;

/// The `exp` claim of a JWT, in seconds since the epoch, when `token` is a JWS in compact form
/// whose payload is a JSON object with a numeric `exp`. Anything else gives `None`.
pub(crate) fn exp(token: &str) -> Option<i64> {
    let mut parts = token.split('.');
    let (_header, payload, _sig) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None; // five parts: an encrypted JWT (JWE), whose payload we cannot read
    }
    // Base64url without padding is what RFC 7515 prescribes; tolerate padding anyway.
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let exp = claims.as_object()?.get("exp")?;
    // NumericDate may carry a fraction; the whole second is what matters here.
    let secs = match exp.as_i64() {
        Some(i) => i,
        None => {
            let f = exp.as_f64()?;
            if !f.is_finite() || f.abs() > 1e15 {
                return None;
            }
            f.floor() as i64
        }
    };
    Some(secs)
}

/// `exp` as an RFC 3339 UTC timestamp, if it is one `time` can represent.
pub(crate) fn rfc3339(exp: i64) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp(exp).ok()?;
    t.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// When `token` expires, as an RFC 3339 UTC timestamp: `None` when it is not a JWT with an
/// `exp` this module can read and represent.
pub(crate) fn expires_at(token: &str) -> Option<String> {
    exp(token).and_then(rfc3339)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    }

    /// A JWS in compact form with this payload (and a signature nobody checks).
    pub(crate) fn jwt(payload: &str) -> String {
        format!(
            "{}.{}.{}",
            b64(r#"{"alg":"HS256","typ":"JWT"}"#),
            b64(payload),
            b64("sig")
        )
    }

    #[test]
    fn exp_is_read_from_a_jwt_payload() {
        let t = jwt(r#"{"userId":"u1","iat":1700000000,"exp":1700001800}"#);
        assert_eq!(exp(&t), Some(1_700_001_800));
        assert_eq!(
            expires_at(&t).as_deref(),
            Some("2023-11-14T22:43:20Z"),
            "RFC 3339 in UTC"
        );
        // Fractional NumericDate and padded base64 are accepted.
        let padded = format!(
            "{}.{}==.x",
            b64("{}"),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"exp":1700001800.75}"#)
        );
        assert_eq!(exp(&padded), Some(1_700_001_800));
    }

    #[test]
    fn a_token_signed_like_the_emulator_signs_decodes() {
        use jsonwebtoken::{EncodingKey, Header, encode};
        let token = encode(
            &Header::default(),
            &serde_json::json!({"userId": "abc", "iat": 10, "exp": 1810, "jti": "j"}),
            &EncodingKey::from_secret(b"k"),
        )
        .unwrap();
        assert_eq!(exp(&token), Some(1810));
        assert_eq!(expires_at(&token).as_deref(), Some("1970-01-01T00:30:10Z"));
    }

    #[test]
    fn non_jwts_and_garbage_give_null() {
        let cases = [
            String::new(),
            "opaque-token-without-dots".to_string(),
            "a.b".to_string(),
            "a.b.c.d.e".to_string(), // JWE
            format!("x.{}.y", "!!!not base64!!!"),
            jwt("not json"),
            jwt("[1,2,3]"),
            jwt(r#"{"iat":1}"#),
            jwt(r#"{"exp":"1700000000"}"#),
            jwt(r#"{"exp":null}"#),
            jwt(r#"{"exp":1e300}"#),
            jwt(r#"{"exp":99999999999999}"#), // beyond year 9999
            "é.ü.ö".to_string(),
        ];
        for t in &cases {
            assert!(expires_at(t).is_none(), "{t:?}");
        }
        // A representable but negative exp still formats (before 1970), it is just data.
        assert_eq!(
            exp(&jwt(r#"{"exp":-1}"#)).and_then(rfc3339).as_deref(),
            Some("1969-12-31T23:59:59Z")
        );
    }
}
