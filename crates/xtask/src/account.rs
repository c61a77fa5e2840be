//! Which Alloy API and key a task talks to, read from the same variables the provider reads, and
//! the one preflight request that turns a wrong URL or a rejected key into one clear sentence.
//!
//! Shared by the conformance probe, the sweeper and the acceptance-test harness, so all three
//! accept exactly the same settings and fail the same way: a missing key, a base URL that does
//! not answer, or a key the API rejects each stop the task before it changes anything.

use std::time::Duration;

use url::Url;

use super::{Error, Result};
use alloy_client::ApiKey;
use terraform_provider_alloy::config::{
    DEFAULT_API_VERSION, EU_BASE_URL, Environment, US_BASE_URL,
};

/// Bound of one request made by the probe, the sweeper or the harness's preflight.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Bound of connecting to the API: a base URL nobody listens on fails quickly.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The API a task talks to and the key it uses. `Debug` shows the key redacted.
#[derive(Clone, Debug)]
pub struct Account {
    pub base_url: Url,
    /// Where the base URL came from (`ALLOY_BASE_URL`, `ALLOY_REGION`, or the default).
    pub base_url_from: &'static str,
    pub environment: Environment,
    pub key: ApiKey,
    /// The variable the key came from, for messages ("the key in ALLOY_API_KEY was rejected").
    pub key_from: &'static str,
    /// The other environment's key when it is set too (the probe checks isolation with it).
    pub other_key: Option<ApiKey>,
    pub api_version: String,
}

impl Account {
    /// From the process environment.
    pub fn from_env() -> Result<Account> {
        Account::from_lookup(&|k| std::env::var(k).ok())
    }

    /// From any variable lookup (tests pass a map). Empty values count as unset, as in the
    /// provider. `ALLOY_ENVIRONMENT` defaults to `development` here: tasks that create users
    /// should not reach production unless told to.
    pub fn from_lookup(env: &dyn Fn(&str) -> Option<String>) -> Result<Account> {
        let get = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        let environment = match get("ALLOY_ENVIRONMENT") {
            None => Environment::Development,
            Some(e) => Environment::parse(e.trim()).ok_or_else(|| {
                Error::Invalid(format!(
                    "ALLOY_ENVIRONMENT is {e:?}: use \"development\" or \"production\""
                ))
            })?,
        };
        let other = match environment {
            Environment::Development => Environment::Production,
            Environment::Production => Environment::Development,
        };
        let (key, key_from) = match (get(environment.key_var()), get("ALLOY_API_KEY")) {
            (Some(k), _) => (k, environment.key_var()),
            (None, Some(k)) => (k, "ALLOY_API_KEY"),
            (None, None) => {
                return Err(Error::Invalid(format!(
                    "no Alloy API key: set {} (or ALLOY_API_KEY) to a key of the account to test \
                     against",
                    environment.key_var()
                )));
            }
        };
        let (raw_url, base_url_from) = match (get("ALLOY_BASE_URL"), get("ALLOY_REGION")) {
            (Some(_), Some(_)) => {
                return Err(Error::Invalid(
                    "ALLOY_BASE_URL and ALLOY_REGION are both set: set only one of them".into(),
                ));
            }
            (Some(u), None) => (u, "ALLOY_BASE_URL"),
            (None, Some(r)) => match r.trim() {
                "us" => (US_BASE_URL.to_string(), "ALLOY_REGION"),
                "eu" => (EU_BASE_URL.to_string(), "ALLOY_REGION"),
                other => {
                    return Err(Error::Invalid(format!(
                        "ALLOY_REGION is {other:?}: use \"us\" or \"eu\""
                    )));
                }
            },
            (None, None) => {
                return Err(Error::Invalid(
                    "no Alloy API address: set ALLOY_BASE_URL (e.g. http://127.0.0.1:8787 for the \
                     local emulator) or ALLOY_REGION (us or eu)"
                        .into(),
                ));
            }
        };
        let base_url = parse_base_url(raw_url.trim(), base_url_from)?;
        let api_version = get("ALLOY_API_VERSION").unwrap_or_else(|| DEFAULT_API_VERSION.into());
        // The other key is only an extra check; the same key twice would prove nothing.
        let other_key = get(other.key_var()).filter(|k| *k != key).map(ApiKey::new);
        Ok(Account {
            base_url,
            base_url_from,
            environment,
            key: ApiKey::new(key),
            key_from,
            other_key,
            api_version,
        })
    }

    /// `base_url` joined with an API path such as `/users` or `/users?x=1` (the base may carry
    /// a path prefix and a trailing slash).
    pub fn url(&self, path_and_query: &str) -> Url {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path_and_query, None),
        };
        let mut url = self.base_url.clone();
        let prefix = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{prefix}{path}"));
        url.set_query(query);
        url
    }

    /// An HTTP client with the task's timeouts (no redirects: a redirect would re-send the key
    /// somewhere we did not choose).
    pub fn http(&self) -> Result<reqwest::Client> {
        reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!(
                "terraform-provider-alloy-xtask/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(|e| Error::Invalid(format!("cannot set up an HTTP client: {e}")))
    }

    /// `GET /users` once: Ok with the body when the API answers 200 with `{"data": [...]}`,
    /// otherwise the sentence that says what is wrong (unreachable, rejected key, not the API).
    pub async fn preflight(&self, http: &reqwest::Client) -> Result<serde_json::Value> {
        let url = self.url("/users");
        let resp = http
            .get(url.clone())
            .bearer_auth(self.key.expose())
            .header("x-api-version", &self.api_version)
            .send()
            .await
            .map_err(|e| {
                Error::Invalid(format!(
                    "cannot reach the Alloy API at {} (from {}): {}",
                    self.base_url,
                    self.base_url_from,
                    describe(&e)
                ))
            })?;
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        if status == 401 || status == 403 {
            return Err(Error::Invalid(format!(
                "the Alloy API at {} rejected the key in {} (HTTP {status}): set a current key of \
                 this account",
                self.base_url, self.key_from
            )));
        }
        let json: Option<serde_json::Value> = serde_json::from_str(&body).ok();
        match json {
            Some(v) if status == 200 && v["data"].is_array() => Ok(v),
            _ => Err(Error::Invalid(format!(
                "{url} answered HTTP {status} without a {{\"data\": [...]}} list: is {} ({}) the \
                 Alloy Embedded API?",
                self.base_url_from, self.base_url
            ))),
        }
    }
}

fn parse_base_url(raw: &str, from: &str) -> Result<Url> {
    let url = Url::parse(raw)
        .map_err(|e| Error::Invalid(format!("{from} is {raw:?}, which is not a URL ({e})")))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => {}
        "http" if loopback => {}
        _ => {
            return Err(Error::Invalid(format!(
                "{from} is {raw:?}: use an https URL (plain http only for a loopback address such \
                 as the local emulator)"
            )));
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::Invalid(format!(
            "{from} must not carry credentials; set the API key variable instead"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::Invalid(format!(
            "{from} must not carry a query string or fragment"
        )));
    }
    Ok(url)
}

/// A reqwest error as a short cause ("connection refused", "timed out"), without the URL it
/// already names elsewhere and without any header (the key never appears in either).
pub fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return format!("no answer within {} s", REQUEST_TIMEOUT.as_secs());
    }
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let text = cause.to_string();
    if text.is_empty() { e.to_string() } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn account(vars: &[(&str, &str)]) -> Result<Account> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Account::from_lookup(&|k| m.get(k).cloned())
    }

    #[test]
    fn key_and_url_come_from_the_providers_variables() {
        let a = account(&[
            ("ALLOY_API_KEY", "generic-key"),
            ("ALLOY_DEVELOPMENT_API_KEY", "dev-key"),
            ("ALLOY_PRODUCTION_API_KEY", "prod-key"),
            ("ALLOY_BASE_URL", "http://127.0.0.1:9/v/"),
        ])
        .expect("account");
        assert_eq!(a.environment, Environment::Development);
        assert_eq!(
            (a.key.expose(), a.key_from),
            ("dev-key", "ALLOY_DEVELOPMENT_API_KEY")
        );
        assert_eq!(a.other_key.as_ref().map(ApiKey::expose), Some("prod-key"));
        assert_eq!(a.url("/users").as_str(), "http://127.0.0.1:9/v/users");
        assert_eq!(
            a.url("/users/x?userId=x").as_str(),
            "http://127.0.0.1:9/v/users/x?userId=x"
        );
        assert!(!format!("{a:?}").contains("dev-key"));

        let a = account(&[
            ("ALLOY_API_KEY", "generic-key"),
            ("ALLOY_ENVIRONMENT", "production"),
            ("ALLOY_REGION", "eu"),
        ])
        .expect("account");
        assert_eq!(
            (a.key.expose(), a.key_from),
            ("generic-key", "ALLOY_API_KEY")
        );
        assert_eq!(a.base_url.as_str(), format!("{EU_BASE_URL}/"));
        assert!(a.other_key.is_none());
    }

    #[test]
    fn bad_settings_are_one_sentence_naming_the_variable() {
        type Vars<'a> = &'a [(&'a str, &'a str)];
        let cases: &[(Vars, &str)] = &[
            (
                &[("ALLOY_BASE_URL", "http://127.0.0.1:1")],
                "set ALLOY_DEVELOPMENT_API_KEY",
            ),
            (&[("ALLOY_API_KEY", "k")], "set ALLOY_BASE_URL"),
            (
                &[
                    ("ALLOY_API_KEY", "k"),
                    ("ALLOY_BASE_URL", "http://api.example.com"),
                ],
                "use an https URL",
            ),
            (
                &[("ALLOY_API_KEY", "k"), ("ALLOY_BASE_URL", "not a url")],
                "not a URL",
            ),
            (
                &[("ALLOY_API_KEY", "k"), ("ALLOY_REGION", "mars")],
                "ALLOY_REGION",
            ),
            (
                &[
                    ("ALLOY_API_KEY", "k"),
                    ("ALLOY_REGION", "us"),
                    ("ALLOY_BASE_URL", "https://x"),
                ],
                "only one",
            ),
            (
                &[("ALLOY_API_KEY", "k"), ("ALLOY_ENVIRONMENT", "staging")],
                "ALLOY_ENVIRONMENT",
            ),
        ];
        for (vars, want) in cases {
            let e = account(vars).expect_err("refused").to_string();
            assert!(e.contains(want), "{vars:?}: {e}");
            assert!(!e.contains('\n'), "one line: {e}");
        }
    }
}
