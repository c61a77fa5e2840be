//! The `provider "alloy"` block: its schema, static checks, and resolution into a client config.
//!
//! Every attribute can come from HCL or from an environment variable, HCL first. Static checks
//! run in `ValidateProviderConfig` on what HCL states; `ConfigureProvider` re-checks after merging
//! the environment, because that is the first moment the final values are known. Every error
//! names the attribute *and* the variable that could supply it.

use std::net::IpAddr;
use std::time::Duration;

use crate::alloy::{self, ApiKey, ClientConfig};
use crate::framework::{
    Attr, AttrPath, Attribute, Block, Diagnostics, Model, Number, Schema, Value,
};

/// The Embedded API version we speak unless told otherwise (the one the current docs describe).
pub const DEFAULT_API_VERSION: &str = "2025-09";
/// Alloy's US API (header-versioned).
pub const US_BASE_URL: &str = "https://production.runalloy.com";
/// Alloy's EU API.
pub const EU_BASE_URL: &str = "https://eu-embedded.runalloy.com";
pub const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 30;
pub const DEFAULT_MAX_RETRIES: u32 = 8;
const MAX_REQUEST_TIMEOUT_SECS: f64 = 600.0;
const MAX_RETRIES_LIMIT: i64 = 50;

/// The environment variables the provider block reads, one constant each so that configuration,
/// messages and [`ENV_VARS`] (from which the docs' table is generated) cannot drift apart.
pub const API_KEY_VAR: &str = "ALLOY_API_KEY";
pub const DEVELOPMENT_API_KEY_VAR: &str = "ALLOY_DEVELOPMENT_API_KEY";
pub const PRODUCTION_API_KEY_VAR: &str = "ALLOY_PRODUCTION_API_KEY";
pub const ENVIRONMENT_VAR: &str = "ALLOY_ENVIRONMENT";
pub const BASE_URL_VAR: &str = "ALLOY_BASE_URL";
pub const REGION_VAR: &str = "ALLOY_REGION";
pub const API_VERSION_VAR: &str = "ALLOY_API_VERSION";
pub const ACCEPT_MISSING_USERS_VAR: &str = "ALLOY_ACCEPT_MISSING_USERS";

/// (attribute, variable) for every variable that can supply a provider setting. For `api_key`
/// the environment's own variable is consulted before the generic one (see `resolve`).
pub const ENV_VARS: &[(&str, &str)] = &[
    ("api_key", API_KEY_VAR),
    ("api_key", DEVELOPMENT_API_KEY_VAR),
    ("api_key", PRODUCTION_API_KEY_VAR),
    ("environment", ENVIRONMENT_VAR),
    ("base_url", BASE_URL_VAR),
    ("region", REGION_VAR),
    ("api_version", API_VERSION_VAR),
];

crate::model! {
    /// The `provider "alloy"` block.
    pub(crate) struct ProviderModel {
        api_key: Attr<String>,
        environment: Attr<String>,
        base_url: Attr<String>,
        region: Attr<String>,
        api_version: Attr<String>,
        request_timeout: Attr<Number>,
        max_retries: Attr<Number>,
    }
}

/// Which of an Alloy account's two key sets a workspace manages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

impl Environment {
    pub fn parse(s: &str) -> Option<Environment> {
        match s {
            "development" => Some(Environment::Development),
            "production" => Some(Environment::Production),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Development => "development",
            Environment::Production => "production",
        }
    }

    /// The variable holding this environment's key, for CI jobs that carry both.
    pub fn key_var(self) -> &'static str {
        match self {
            Environment::Development => DEVELOPMENT_API_KEY_VAR,
            Environment::Production => PRODUCTION_API_KEY_VAR,
        }
    }
}

/// The resolved configuration: what a configured provider works with.
#[derive(Debug)]
pub struct Resolved {
    pub environment: Environment,
    pub client: ClientConfig,
    /// Where the key came from, for messages: "`api_key` in the provider block" or a variable.
    pub key_source: String,
    /// Missing users are accepted as deleted, however many (see `provider::missing_users`).
    pub accept_missing_users: bool,
}

pub fn schema() -> Schema {
    Schema::new(
        0,
        Block::new(
            "The Alloy provider manages Alloy Automation Embedded iPaaS end users (tenants), reads their \
             short-lived frontend tokens and lists the integrations they can install. A workspace is pinned \
             to one environment, `development` or `production`, so it can never touch the other by mistake.",
            vec![
                Attribute::string("api_key").optional().sensitive().description(
                    "Alloy API key, sent as a bearer token. Prefer the environment: `ALLOY_API_KEY`, or \
                     `ALLOY_DEVELOPMENT_API_KEY` / `ALLOY_PRODUCTION_API_KEY` matching `environment` (which \
                     win over `ALLOY_API_KEY`), so one CI job can hold both keys and each workspace picks its \
                     own. Development and production keys see disjoint sets of users.",
                ),
                Attribute::string("environment").optional().description(
                    "Which Alloy environment this workspace manages: `development` or `production`. \
                     Required, here or in `ALLOY_ENVIRONMENT`. Every `alloy_user` records it, and a plan \
                     that meets users recorded under the other environment fails instead of re-creating them.",
                ),
                Attribute::string("base_url").optional().description(
                    "Base URL of the Alloy Embedded API, e.g. the local emulator `http://127.0.0.1:8787`. \
                     Defaults from `region`. Also `ALLOY_BASE_URL`. Must be `https`, except for loopback \
                     addresses. Conflicts with `region`.",
                ),
                Attribute::string("region").optional().description(
                    "Alloy region, `us` (default) or `eu`; selects the API host. Also `ALLOY_REGION`. \
                     Conflicts with `base_url`.",
                ),
                Attribute::string("api_version").optional().description(&format!(
                    "Dated Embedded API version sent as the `x-api-version` header, in `YYYY-MM` form. \
                     Defaults to `{DEFAULT_API_VERSION}`. Also `ALLOY_API_VERSION`."
                )),
                Attribute::number("request_timeout").optional().description(&format!(
                    "Seconds to wait for one HTTP request before retrying it (greater than 0, at most \
                     {MAX_REQUEST_TIMEOUT_SECS}). Defaults to {DEFAULT_REQUEST_TIMEOUT_SECS}."
                )),
                Attribute::number("max_retries").optional().description(&format!(
                    "How many times a request is retried after a rate limit (429), a server error (5xx) \
                     or a connection failure, with exponential backoff and jitter (0 to \
                     {MAX_RETRIES_LIMIT}). Defaults to {DEFAULT_MAX_RETRIES}."
                )),
            ],
        ),
    )
}

/// Checks what the block states. Unknown values (from other resources) pass; configure checks them.
pub fn validate(config: &Value, diags: &mut Diagnostics) {
    let Some(config) = ProviderModel::decode(config, diags) else {
        return;
    };
    if let Some(env) = config.environment.as_str() {
        check_environment(env, AttrPath::attr("environment"), diags);
    }
    if let Some(url) = config.base_url.as_str() {
        check_base_url(url, AttrPath::attr("base_url"), "", diags);
    }
    if let Some(region) = config.region.as_str() {
        check_region(region, AttrPath::attr("region"), diags);
    }
    if !config.region.is_null() && !config.base_url.is_null() {
        diags.attr_error(
            AttrPath::attr("region"),
            "Conflicting provider settings",
            "`region` and `base_url` both choose the API host: set only one of them.",
        );
    }
    if let Some(v) = config.api_version.as_str() {
        check_api_version(v, AttrPath::attr("api_version"), diags);
    }
    if let Some(n) = config.request_timeout.get() {
        check_timeout(n.as_f64(), diags);
    }
    if let Some(n) = config.max_retries.get() {
        check_retries(n, diags);
    }
    if let Some(k) = config.api_key.as_str()
        && k.trim().is_empty()
    {
        diags.attr_error(
            AttrPath::attr("api_key"),
            "Empty Alloy API key",
            format!(
                "`api_key` is set to an empty string. Remove it to use {API_KEY_VAR}, or set it to your key."
            ),
        );
    }
}

fn check_environment(env: &str, path: AttrPath, diags: &mut Diagnostics) {
    if Environment::parse(env).is_none() {
        diags.attr_error(
            path,
            "Invalid environment",
            format!(
                "{env:?} is not an Alloy environment. Use \"development\" or \"production\" (in \
                 `environment` or {ENVIRONMENT_VAR})."
            ),
        );
    }
}

fn check_region(region: &str, path: AttrPath, diags: &mut Diagnostics) {
    if region != "us" && region != "eu" {
        diags.attr_error(
            path,
            "Invalid region",
            format!(
                "{region:?} is not an Alloy region. Use \"us\" or \"eu\" (in `region` or {REGION_VAR})."
            ),
        );
    }
}

fn check_api_version(v: &str, path: AttrPath, diags: &mut Diagnostics) {
    let ok = v.len() == 7
        && v.as_bytes()[4] == b'-'
        && v[..4].bytes().all(|b| b.is_ascii_digit())
        && v[5..].parse::<u8>().is_ok_and(|m| (1..=12).contains(&m));
    if !ok {
        diags.attr_error(
            path,
            "Invalid API version",
            format!(
                "{v:?} is not a dated Alloy API version. Use the YYYY-MM form, e.g. \"{DEFAULT_API_VERSION}\" \
                 (in `api_version` or {API_VERSION_VAR})."
            ),
        );
    }
}

/// The request timeout `secs` stands for, when it is one we accept (a number sent as msgpack may
/// be NaN or infinite, which no `Duration` can hold).
fn timeout(secs: f64) -> Option<Duration> {
    if secs > 0.0 && secs <= MAX_REQUEST_TIMEOUT_SECS {
        Duration::try_from_secs_f64(secs).ok()
    } else {
        None
    }
}

fn check_timeout(secs: f64, diags: &mut Diagnostics) {
    if timeout(secs).is_none() {
        diags.attr_error(
            AttrPath::attr("request_timeout"),
            "Invalid request timeout",
            format!(
                "`request_timeout` is {secs} seconds; it must be greater than 0 and at most \
                 {MAX_REQUEST_TIMEOUT_SECS}. Omit it for the default of {DEFAULT_REQUEST_TIMEOUT_SECS}."
            ),
        );
    }
}

fn check_retries(n: &Number, diags: &mut Diagnostics) {
    if !n
        .as_i64()
        .is_some_and(|i| (0..=MAX_RETRIES_LIMIT).contains(&i))
    {
        diags.attr_error(
            AttrPath::attr("max_retries"),
            "Invalid retry count",
            format!(
                "`max_retries` is {n}; it must be a whole number from 0 to {MAX_RETRIES_LIMIT}. Omit it for \
                 the default of {DEFAULT_MAX_RETRIES}."
            ),
        );
    }
}

/// True for hosts that never leave the machine, where plain http is acceptable (the emulator).
fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => IpAddr::V4(*ip).is_loopback(),
        url::Host::Ipv6(ip) => IpAddr::V6(*ip).is_loopback(),
    }
}

fn check_base_url(
    raw: &str,
    path: AttrPath,
    source: &str,
    diags: &mut Diagnostics,
) -> Option<url::Url> {
    let from = if source.is_empty() {
        String::new()
    } else {
        format!(" (from {source})")
    };
    let url = match url::Url::parse(raw) {
        Ok(u) => u,
        Err(e) => {
            diags.attr_error(
                path,
                "Invalid base URL",
                format!("{raw:?}{from} is not a URL ({e}). Use a full URL such as \"https://api.example.com\"."),
            );
            return None;
        }
    };
    let host = url.host();
    match (url.scheme(), host) {
        ("https", Some(_)) => Some(url),
        ("http", Some(h)) if is_loopback(&h) => Some(url),
        ("http", Some(_)) => {
            diags.attr_error(
                path,
                "Insecure base URL",
                format!(
                    "{raw:?}{from} uses plain http to a host that is not this machine, which would send the \
                     API key in clear text. Use https, or a loopback address (127.0.0.1, ::1, localhost) for \
                     the local emulator."
                ),
            );
            None
        }
        _ => {
            diags.attr_error(
                path,
                "Invalid base URL",
                format!("{raw:?}{from} must be an https URL with a host (http is allowed only for loopback)."),
            );
            None
        }
    }
}

/// A string setting: HCL first, then the environment. Returns the value and, when it came from
/// the environment, the variable's name. `Err` when the HCL value is still unknown.
fn string_setting(
    hcl: &Attr<String>,
    var: &'static str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<(String, Option<&'static str>)>, ()> {
    match hcl {
        Attr::Unknown => Err(()),
        Attr::Known(s) => Ok(Some((s.clone(), None))),
        Attr::Null => Ok(env(var).filter(|v| !v.is_empty()).map(|v| (v, Some(var)))),
    }
}

fn unknown(attr: &str, var: &str, diags: &mut Diagnostics) {
    diags.attr_error(
        AttrPath::attr(attr),
        format!("Unknown value for {attr}"),
        format!(
            "The provider cannot be configured because `{attr}` depends on a value that is only known after \
             apply. Set it statically, use the {var} environment variable, or apply the resource it comes \
             from first (terraform apply -target=...)."
        ),
    );
}

/// Merges HCL with the environment and checks the result. `env` looks a variable up (the
/// process environment in the provider; a map in tests).
pub fn resolve(
    config: &Value,
    env: &dyn Fn(&str) -> Option<String>,
    user_agent: &str,
    stop: tokio_util::sync::CancellationToken,
    diags: &mut Diagnostics,
) -> Option<Resolved> {
    let config = ProviderModel::decode(config, diags)?;
    let before = diags.0.len();
    let setting = |attr: &str, hcl: &Attr<String>, var: &'static str, diags: &mut Diagnostics| {
        match string_setting(hcl, var, env) {
            Ok(v) => v,
            Err(()) => {
                unknown(attr, var, diags);
                None
            }
        }
    };

    let environment = match setting("environment", &config.environment, ENVIRONMENT_VAR, diags) {
        Some((e, _)) => {
            check_environment(&e, AttrPath::attr("environment"), diags);
            Environment::parse(&e)
        }
        None => {
            if !config.environment.is_unknown() {
                diags.attr_error(
                    AttrPath::attr("environment"),
                    "Missing Alloy environment",
                    format!(
                        "Set `environment` in the provider block, or the {ENVIRONMENT_VAR} environment \
                         variable, to \"development\" or \"production\". It pins this workspace to one \
                         environment."
                    ),
                );
            }
            None
        }
    };

    // The key: HCL, then the variable of this environment, then the generic one.
    let present = |var: &str| env(var).filter(|k| !k.is_empty());
    let key = match &config.api_key {
        Attr::Unknown => {
            unknown("api_key", API_KEY_VAR, diags);
            None
        }
        Attr::Known(k) => Some((k.clone(), "`api_key` in the provider block".to_owned())),
        Attr::Null => environment
            .and_then(|e| present(e.key_var()).map(|k| (k, e.key_var().to_owned())))
            .or_else(|| present(API_KEY_VAR).map(|k| (k, API_KEY_VAR.to_owned()))),
    };
    // Without a valid environment the environment's own key variable cannot be chosen: if one is
    // set, the environment error above is the only cause worth reporting.
    let some_key_var = [API_KEY_VAR, DEVELOPMENT_API_KEY_VAR, PRODUCTION_API_KEY_VAR]
        .into_iter()
        .any(|v| present(v).is_some());
    if key.is_none() && !config.api_key.is_unknown() && (environment.is_some() || !some_key_var) {
        let specific = environment.map_or(
            format!("{DEVELOPMENT_API_KEY_VAR} or {PRODUCTION_API_KEY_VAR}"),
            |e| e.key_var().to_string(),
        );
        diags.attr_error(
            AttrPath::attr("api_key"),
            "Missing Alloy API key",
            format!(
                "No API key was found. Set `api_key` in the provider block, or the environment variable \
                 {API_KEY_VAR}, or {specific} (matching `environment`)."
            ),
        );
    }

    let region = setting("region", &config.region, REGION_VAR, diags);
    if let Some((r, _)) = &region {
        check_region(r, AttrPath::attr("region"), diags);
    }
    // `base_url`, from wherever it came, wins over `region`; both in HCL is a contradiction.
    let base = setting("base_url", &config.base_url, BASE_URL_VAR, diags);
    let base_url = match (&base, &region) {
        (Some((_, None)), Some((_, None))) => {
            diags.attr_error(
                AttrPath::attr("region"),
                "Conflicting provider settings",
                "`region` and `base_url` both choose the API host: set only one of them.",
            );
            None
        }
        (Some((b, var)), _) => {
            check_base_url(b, AttrPath::attr("base_url"), var.unwrap_or(""), diags)
        }
        (None, Some((r, _))) if r == "eu" => url::Url::parse(EU_BASE_URL).ok(),
        (None, _) => url::Url::parse(US_BASE_URL).ok(),
    };

    let api_version = match setting("api_version", &config.api_version, API_VERSION_VAR, diags) {
        Some((v, _)) => {
            check_api_version(&v, AttrPath::attr("api_version"), diags);
            v
        }
        None => DEFAULT_API_VERSION.to_string(),
    };

    let timeout = match &config.request_timeout {
        Attr::Known(n) => {
            check_timeout(n.as_f64(), diags);
            timeout(n.as_f64()).unwrap_or(Duration::ZERO)
        }
        Attr::Unknown => {
            unknown("request_timeout", "a literal number", diags);
            Duration::ZERO
        }
        Attr::Null => Duration::from_secs(DEFAULT_REQUEST_TIMEOUT_SECS),
    };
    let retries = match &config.max_retries {
        Attr::Known(n) => {
            check_retries(n, diags);
            n.as_i64().unwrap_or(0).clamp(0, MAX_RETRIES_LIMIT) as u32
        }
        Attr::Unknown => {
            unknown("max_retries", "a literal number", diags);
            0
        }
        Attr::Null => DEFAULT_MAX_RETRIES,
    };

    if diags.0[before..]
        .iter()
        .any(|d| d.severity == crate::framework::diag::Severity::Error)
    {
        return None;
    }
    let (environment, (key, key_source), base_url) = (environment?, key?, base_url?);
    let mut client = ClientConfig::new(base_url, api_version, ApiKey::new(key), user_agent);
    client.request_timeout = timeout;
    client.max_retries = retries;
    // Bound a whole operation: every attempt may use its timeout, plus backoff between them.
    client.deadline = alloy::DEFAULT_DEADLINE.max(timeout * (retries + 1));
    client.stop = stop;
    let accept_missing_users = env(ACCEPT_MISSING_USERS_VAR).is_some_and(|v| v == "true");
    Some(Resolved {
        environment,
        client,
        key_source,
        accept_missing_users,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, Value)]) -> Value {
        let mut v = Value::object(
            [
                "api_key",
                "environment",
                "base_url",
                "region",
                "api_version",
                "request_timeout",
                "max_retries",
            ]
            .map(|k| (k, Value::Null)),
        );
        for (k, val) in pairs {
            v.set_attr(k, val.clone());
        }
        v
    }

    fn run(cfg: &Value, env: &[(&str, &str)]) -> (Option<Resolved>, Diagnostics) {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut d = Diagnostics::new();
        let r = resolve(
            cfg,
            &|k| env.get(k).cloned(),
            "ua",
            Default::default(),
            &mut d,
        );
        (r, d)
    }

    fn errors_on(d: &Diagnostics) -> Vec<String> {
        d.iter()
            .filter_map(|x| x.attribute.as_ref().map(|p| p.to_string()))
            .collect()
    }

    #[test]
    fn hcl_values_resolve_with_defaults() {
        let cfg = config(&[
            ("api_key", Value::string("k-123456789")),
            ("environment", Value::string("production")),
        ]);
        let (r, d) = run(&cfg, &[]);
        assert!(d.is_empty(), "{d:?}");
        let r = r.unwrap();
        assert_eq!(r.environment, Environment::Production);
        assert_eq!(
            r.client.base_url.as_str(),
            "https://production.runalloy.com/"
        );
        assert_eq!(r.client.api_version, DEFAULT_API_VERSION);
        assert_eq!(r.client.max_retries, DEFAULT_MAX_RETRIES);
        assert_eq!(r.client.api_key.expose(), "k-123456789");
    }

    #[test]
    fn environment_specific_key_wins_over_the_generic_one() {
        let cfg = config(&[]);
        let env = [
            ("ALLOY_ENVIRONMENT", "development"),
            ("ALLOY_API_KEY", "generic"),
            ("ALLOY_DEVELOPMENT_API_KEY", "dev-key"),
            ("ALLOY_PRODUCTION_API_KEY", "prod-key"),
            ("ALLOY_BASE_URL", "http://127.0.0.1:8787"),
        ];
        let (r, d) = run(&cfg, &env);
        assert!(d.is_empty(), "{d:?}");
        let r = r.unwrap();
        assert_eq!(r.client.api_key.expose(), "dev-key");
        assert_eq!(r.client.base_url.as_str(), "http://127.0.0.1:8787/");
    }

    #[test]
    fn missing_key_and_environment_name_attribute_and_variables() {
        let (r, d) = run(&config(&[]), &[]);
        assert!(r.is_none());
        assert_eq!(errors_on(&d), vec!["environment", "api_key"]);
        assert!(d.0[0].detail.contains("ALLOY_ENVIRONMENT"));
        assert!(d.0[1].detail.contains("ALLOY_API_KEY"));
    }

    #[test]
    fn bad_values_are_refused_with_the_attribute() {
        let base = [
            ("api_key", Value::string("k")),
            ("environment", Value::string("development")),
        ];
        type Case = (Vec<(&'static str, Value)>, &'static str, &'static str);
        let cases: Vec<Case> = vec![
            (
                vec![("environment", Value::string("staging"))],
                "environment",
                "Invalid environment",
            ),
            (
                vec![("base_url", Value::string("http://example.com"))],
                "base_url",
                "Insecure base URL",
            ),
            (
                vec![("base_url", Value::string("ftp://x"))],
                "base_url",
                "Invalid base URL",
            ),
            (
                vec![("base_url", Value::string("not a url"))],
                "base_url",
                "Invalid base URL",
            ),
            (
                vec![
                    ("base_url", Value::string("https://x")),
                    ("region", Value::string("eu")),
                ],
                "region",
                "Conflicting provider settings",
            ),
            (
                vec![("region", Value::string("asia"))],
                "region",
                "Invalid region",
            ),
            (
                vec![("api_version", Value::string("2025-13"))],
                "api_version",
                "Invalid API version",
            ),
            (
                vec![("request_timeout", Value::int(-1))],
                "request_timeout",
                "Invalid request timeout",
            ),
            (
                vec![("max_retries", Value::int(-3))],
                "max_retries",
                "Invalid retry count",
            ),
        ];
        for (extra, attr, summary) in cases {
            let mut pairs: Vec<(&str, Value)> = base.to_vec();
            pairs.extend(extra);
            let cfg = config(&pairs);
            // Static validation sees it...
            let mut vd = Diagnostics::new();
            validate(&cfg, &mut vd);
            assert_eq!(
                errors_on(&vd),
                vec![attr.to_string()],
                "validate {attr}: {vd:?}"
            );
            assert_eq!(vd.0[0].summary, summary);
            // ...and so does configure.
            let (r, d) = run(&cfg, &[]);
            assert!(r.is_none(), "{attr}");
            assert!(
                errors_on(&d).contains(&attr.to_string()),
                "configure {attr}: {d:?}"
            );
        }
    }

    #[test]
    fn bad_values_from_the_environment_name_the_variable() {
        let cfg = config(&[("api_key", Value::string("k"))]);
        let (_, d) = run(
            &cfg,
            &[
                ("ALLOY_ENVIRONMENT", "prod"),
                ("ALLOY_BASE_URL", "http://10.1.1.1"),
            ],
        );
        let text: Vec<_> = d.iter().map(|x| x.detail.clone()).collect();
        assert!(
            text.iter().any(|t| t.contains("ALLOY_ENVIRONMENT")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|t| t.contains("from ALLOY_BASE_URL")),
            "{text:?}"
        );
    }

    #[test]
    fn unknown_values_pass_validation_and_fail_configure_with_advice() {
        let cfg = config(&[
            ("api_key", Value::Unknown),
            ("environment", Value::string("development")),
        ]);
        let mut vd = Diagnostics::new();
        validate(&cfg, &mut vd);
        assert!(vd.is_empty());
        let (r, d) = run(&cfg, &[]);
        assert!(r.is_none());
        assert_eq!(errors_on(&d), vec!["api_key"]);
        assert!(d.0[0].detail.contains("ALLOY_API_KEY"));
    }

    #[test]
    fn model_and_variable_table_match_the_schema() {
        let schema = schema();
        crate::framework::model::assert_matches_schema::<ProviderModel>(&schema);
        for (attr, var) in ENV_VARS {
            let a = schema
                .block
                .attribute(attr)
                .expect("table names a real attribute");
            assert!(
                a.description.contains(var),
                "{attr}'s description names {var}"
            );
        }
    }

    #[test]
    fn a_non_finite_timeout_is_refused_not_a_panic() {
        for secs in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e300] {
            let cfg = config(&[
                ("api_key", Value::string("k-123456789")),
                ("environment", Value::string("development")),
                ("request_timeout", Value::Number(Number::from_f64(secs))),
            ]);
            let (r, d) = run(&cfg, &[]);
            assert!(r.is_none(), "{secs}");
            assert_eq!(errors_on(&d), vec!["request_timeout"], "{secs}: {d:?}");
        }
    }

    #[test]
    fn a_misspelt_environment_is_the_only_error_when_a_key_is_set() {
        let (r, d) = run(
            &config(&[]),
            &[
                ("ALLOY_ENVIRONMENT", "prod"),
                ("ALLOY_PRODUCTION_API_KEY", "prod-key-123"),
            ],
        );
        assert!(r.is_none());
        assert_eq!(errors_on(&d), vec!["environment"], "{d:?}");
        assert_eq!(d.0[0].summary, "Invalid environment");
    }

    #[test]
    fn loopback_hosts_may_use_http() {
        for url in [
            "http://127.0.0.1:1",
            "http://localhost:8787",
            "http://[::1]:9",
        ] {
            let mut d = Diagnostics::new();
            assert!(
                check_base_url(url, AttrPath::attr("base_url"), "", &mut d).is_some(),
                "{url}"
            );
        }
    }

    #[test]
    fn the_key_never_shows_in_debug_output() {
        let cfg = config(&[
            ("api_key", Value::string("super-secret-key-1")),
            ("environment", Value::string("development")),
        ]);
        let (r, _) = run(&cfg, &[]);
        assert!(!format!("{:?}", r.unwrap()).contains("super-secret-key-1"));
    }
}
