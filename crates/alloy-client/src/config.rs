//! Configuration of an [`AlloyClient`](super::AlloyClient) and the redacting [`ApiKey`] wrapper.
//!
//! The key lives in its own type so that no `Debug`, `Display` or error path can print it by
//! accident: the only way to read it is [`ApiKey::expose`], used once to build the
//! `Authorization` header.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Per-attempt timeout used by [`ClientConfig::new`].
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Retries after the first attempt used by [`ClientConfig::new`].
pub const DEFAULT_MAX_RETRIES: u32 = 8;
/// Overall bound of one operation (all attempts and waits) used by [`ClientConfig::new`].
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(300);

const REDACTED: &str = "<redacted>";

/// An Alloy API key. Printing it (Debug or Display) shows a redaction, never the key.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(Arc<str>);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(Arc::from(key.into()))
    }

    /// The key itself. Only for building the `Authorization` header (and for scrubbing it out
    /// of text that might echo it).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for ApiKey {
    fn from(key: String) -> Self {
        ApiKey::new(key)
    }
}

impl From<&str> for ApiKey {
    fn from(key: &str) -> Self {
        ApiKey::new(key)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({REDACTED})")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Everything an [`AlloyClient`](super::AlloyClient) needs. `Debug` shows the key redacted.
#[derive(Clone)]
pub struct ClientConfig {
    /// Where the API lives, possibly with a path prefix (`https://host/2024-03`). A trailing
    /// slash is tolerated. Must be `http` or `https`, without credentials, query or fragment.
    pub base_url: url::Url,
    /// Sent as `x-api-version` on every request (e.g. `2025-09`).
    pub api_version: String,
    pub api_key: ApiKey,
    /// Bound of one HTTP attempt (connect, send, and read the whole answer).
    pub request_timeout: Duration,
    /// Retries after the first attempt, on 429, 5xx and connection or timeout errors.
    pub max_retries: u32,
    /// Sent as `User-Agent`; the provider passes
    /// `terraform-provider-alloy/<version> terraform/<tf version>`. Empty means a default.
    pub user_agent: String,
    /// Overall bound of one operation, including every retry and wait.
    pub deadline: Duration,
    /// Cancelled when Terraform asks the provider to stop; every operation then returns
    /// [`Error::Cancelled`](super::Error::Cancelled) promptly.
    pub stop: CancellationToken,
}

impl ClientConfig {
    /// A configuration with the default timeouts and retry budget and a fresh stop token.
    pub fn new(
        base_url: url::Url,
        api_version: impl Into<String>,
        api_key: ApiKey,
        user_agent: impl Into<String>,
    ) -> Self {
        ClientConfig {
            base_url,
            api_version: api_version.into(),
            api_key,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_retries: DEFAULT_MAX_RETRIES,
            user_agent: user_agent.into(),
            deadline: DEFAULT_DEADLINE,
            stop: CancellationToken::new(),
        }
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("base_url", &self.base_url.as_str())
            .field("api_version", &self.api_version)
            .field("api_key", &self.api_key)
            .field("request_timeout", &self.request_timeout)
            .field("max_retries", &self.max_retries)
            .field("user_agent", &self.user_agent)
            .field("deadline", &self.deadline)
            .field("stopped", &self.stop.is_cancelled())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk_live_0123456789abcdefSECRET";

    #[test]
    fn api_key_debug_and_display_redact() {
        let key = ApiKey::new(KEY);
        assert_eq!(format!("{key}"), "<redacted>");
        assert_eq!(format!("{key:?}"), "ApiKey(<redacted>)");
        assert_eq!(key.expose(), KEY);
    }

    #[test]
    fn config_debug_redacts_key() {
        let cfg = ClientConfig::new(
            url::Url::parse("http://127.0.0.1:8787").unwrap(),
            "2025-09",
            ApiKey::new(KEY),
            "ua/1",
        );
        let text = format!("{cfg:?}");
        let pretty = format!("{cfg:#?}");
        assert!(!text.contains(KEY) && !text.contains("SECRET"), "{text}");
        assert!(!pretty.contains(KEY), "{pretty}");
        assert!(text.contains("<redacted>"), "{text}");
        assert!(text.contains("127.0.0.1:8787"), "{text}");
    }
}
