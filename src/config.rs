//! The `provider "alloy"` block: its schema, static checks, and resolution into a client config.
//!
//! Every attribute can come from HCL or from an environment variable. As everywhere in Terraform,
//! a value in the provider block wins: each setting is its HCL value, else its variable, else its
//! default. Two settings need more than that rule:
//!
//! - `api_key`: HCL, then the variable of the chosen environment (`ALLOY_DEVELOPMENT_API_KEY` or
//!   `ALLOY_PRODUCTION_API_KEY`), then the generic `ALLOY_API_KEY`;
//! - the API host, chosen by `base_url` or `region`: whichever is set in HCL wins over both
//!   variables (both in HCL is an error); otherwise `ALLOY_BASE_URL` wins over `ALLOY_REGION`.
//!
//! Static checks run in `ValidateProviderConfig` on what HCL states; `ConfigureProvider` re-checks
//! after merging the environment, because that is the first moment the final values are known.
//! Every error names the attribute *and* the variable that could supply it.

use std::net::IpAddr;
use std::time::Duration;

use super::missing_users::{MASS_MISSING, MASS_SHARE_PERCENT, MIN_MISSING};
use alloy_client::{ApiKey, ClientConfig};
use terraform_plugin::framework::{
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
pub const REQUEST_TIMEOUT_VAR: &str = "ALLOY_REQUEST_TIMEOUT";
pub const MAX_RETRIES_VAR: &str = "ALLOY_MAX_RETRIES";
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
    ("request_timeout", REQUEST_TIMEOUT_VAR),
    ("max_retries", MAX_RETRIES_VAR),
    ("accept_missing_users", ACCEPT_MISSING_USERS_VAR),
];

terraform_plugin::model! {
    /// The `provider "alloy"` block.
    pub(crate) struct ProviderModel {
        api_key: Attr<String>,
        environment: Attr<String>,
        base_url: Attr<String>,
        region: Attr<String>,
        api_version: Attr<String>,
        request_timeout: Attr<Number>,
        max_retries: Attr<Number>,
        accept_missing_users: Attr<bool>,
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
             to one environment, `development` or `production`, so it can never touch the other by mistake. \
             To install it from a release zip or a build from source, under its real source address, see \
             [Installing the provider](guides/installing.md).",
            vec![
                Attribute::string("api_key").optional().sensitive().description(
                    "Alloy API key, sent as a bearer token. Alloy's dashboard issues one key per \
                     environment under Settings → API Keys; development and production keys see disjoint \
                     sets of users. The key is taken from this attribute, else from the variable of the \
                     chosen `environment` (`ALLOY_DEVELOPMENT_API_KEY` or `ALLOY_PRODUCTION_API_KEY`), \
                     else from `ALLOY_API_KEY`. Keep it out of the configuration, and in CI set the \
                     environment's own variable rather than `ALLOY_API_KEY`: one job can then hold both \
                     keys with each workspace picking its own, and a missing secret stops the run instead \
                     of falling back to whatever `ALLOY_API_KEY` holds.",
                ),
                Attribute::string("environment").optional().description(
                    "Which Alloy environment this workspace manages: `development` or `production`. \
                     Required, here or in `ALLOY_ENVIRONMENT`. Every `alloy_user` records it, and a plan \
                     that meets users recorded under the other environment fails instead of re-creating them.",
                ),
                Attribute::string("base_url").optional().description(
                    "Base URL of the Alloy Embedded API, e.g. the local emulator `http://127.0.0.1:8787`. \
                     Defaults from `region`. Also `ALLOY_BASE_URL`. Must be `https`, except for loopback \
                     addresses. Conflicts with `region`: set in the provider block, either one wins over \
                     both variables; from the environment alone, `ALLOY_BASE_URL` wins over `ALLOY_REGION`.",
                ),
                Attribute::string("region").optional().description(
                    "Alloy region, `us` (default) or `eu`; selects the API host. Also `ALLOY_REGION`. \
                     Conflicts with `base_url`; `region` in the provider block wins over `ALLOY_BASE_URL`.",
                ),
                Attribute::string("api_version").optional().description(&format!(
                    "Dated Embedded API version sent as the `x-api-version` header, in `YYYY-MM` form. \
                     Defaults to `{DEFAULT_API_VERSION}`. Also `ALLOY_API_VERSION`."
                )),
                Attribute::number("request_timeout").optional().description(&format!(
                    "Seconds to wait for one HTTP request before retrying it (greater than 0, at most \
                     {MAX_REQUEST_TIMEOUT_SECS}). Defaults to {DEFAULT_REQUEST_TIMEOUT_SECS}. Also \
                     `{REQUEST_TIMEOUT_VAR}`."
                )),
                Attribute::number("max_retries").optional().description(&format!(
                    "How many times a request is retried after a rate limit (429), a server error (5xx) \
                     or a connection failure, with exponential backoff and jitter (0 to \
                     {MAX_RETRIES_LIMIT}). Defaults to {DEFAULT_MAX_RETRIES}. Also `{MAX_RETRIES_VAR}`."
                )),
                Attribute::bool("accept_missing_users").optional().description(&format!(
                    "Accept that many `alloy_user`s were deleted outside Terraform. Without it a refresh \
                     that finds users missing en masse (at least {MIN_MISSING} missing and none found, or \
                     at least {MASS_MISSING} missing and more than {MASS_SHARE_PERCENT}% of the users read) \
                     fails with \"Alloy users missing en masse\" and removes nothing from state, because \
                     that is what the other environment's key looks like. With it, every missing user \
                     leaves state, protected or not, and the next apply re-creates those still declared. \
                     Meant for one run: set `{ACCEPT_MISSING_USERS_VAR}=true` rather than this attribute. \
                     Defaults to `false`."
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
        check_base_url(url, AttrPath::attr("base_url"), None, diags);
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
        check_timeout(Some(n), &n.to_string(), None, diags);
    }
    if let Some(n) = config.max_retries.get() {
        check_retries(Some(n), &n.to_string(), None, diags);
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

/// " (from VAR)" when a value came from a variable, nothing when it came from the provider block.
fn from_var(var: Option<&str>) -> String {
    var.map_or(String::new(), |v| format!(" (from {v})"))
}

/// Checks a request timeout: `secs` is `None` for a variable's text that is not a number, `shown`
/// is the value as the user wrote it, `var` the variable it came from.
fn check_timeout(
    secs: Option<&Number>,
    shown: &str,
    var: Option<&str>,
    diags: &mut Diagnostics,
) -> Option<Duration> {
    let ok = secs.and_then(|n| timeout(n.as_f64()));
    if ok.is_none() {
        diags.attr_error(
            AttrPath::attr("request_timeout"),
            "Invalid request timeout",
            format!(
                "`request_timeout` is {shown}{}; it must be a number of seconds greater than 0 and at \
                 most {MAX_REQUEST_TIMEOUT_SECS} (in `request_timeout` or {REQUEST_TIMEOUT_VAR}). Omit \
                 both for the default of {DEFAULT_REQUEST_TIMEOUT_SECS}.",
                from_var(var)
            ),
        );
    }
    ok
}

/// Checks a retry count, like [`check_timeout`].
fn check_retries(
    n: Option<&Number>,
    shown: &str,
    var: Option<&str>,
    diags: &mut Diagnostics,
) -> Option<u32> {
    let ok = n
        .and_then(Number::as_i64)
        .filter(|i| (0..=MAX_RETRIES_LIMIT).contains(i))
        .and_then(|i| u32::try_from(i).ok());
    if ok.is_none() {
        diags.attr_error(
            AttrPath::attr("max_retries"),
            "Invalid retry count",
            format!(
                "`max_retries` is {shown}{}; it must be a whole number from 0 to {MAX_RETRIES_LIMIT} \
                 (in `max_retries` or {MAX_RETRIES_VAR}). Omit both for the default of \
                 {DEFAULT_MAX_RETRIES}.",
                from_var(var)
            ),
        );
    }
    ok
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
    var: Option<&str>,
    diags: &mut Diagnostics,
) -> Option<url::Url> {
    let from = from_var(var);
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

/// Where a setting came from: `None` for the provider block, else the variable's name.
type Source = Option<&'static str>;

/// A string setting: HCL first, then the environment. Returns the value and where it came from.
/// `Err` when the HCL value is still unknown.
fn string_setting(
    hcl: &Attr<String>,
    var: &'static str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<(String, Source)>, ()> {
    match hcl {
        Attr::Unknown => Err(()),
        Attr::Known(s) => Ok(Some((s.clone(), None))),
        Attr::Null => Ok(env(var).filter(|v| !v.is_empty()).map(|v| (v, Some(var)))),
    }
}

/// A number setting as found in HCL or in its variable.
struct NumberSetting {
    /// `None` when the variable's text is not a number.
    number: Option<Number>,
    /// The value as the user wrote it, for messages.
    shown: String,
    source: Source,
}

/// A number setting: HCL first, then the variable's text read as a Terraform number. `Err` when
/// the HCL value is still unknown.
fn number_setting(
    hcl: &Attr<Number>,
    var: &'static str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<NumberSetting>, ()> {
    match hcl {
        Attr::Unknown => Err(()),
        Attr::Known(n) => Ok(Some(NumberSetting {
            number: Some(n.clone()),
            shown: n.to_string(),
            source: None,
        })),
        Attr::Null => Ok(env(var)
            .filter(|v| !v.trim().is_empty())
            .map(|v| NumberSetting {
                number: Number::parse(&v),
                shown: format!("{v:?}"),
                source: Some(var),
            })),
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

/// A setting's value, or `None` after reporting that its HCL value is still unknown.
fn known<T>(
    setting: Result<Option<T>, ()>,
    attr: &str,
    var: &str,
    diags: &mut Diagnostics,
) -> Option<T> {
    setting.unwrap_or_else(|()| {
        unknown(attr, var, diags);
        None
    })
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
        known(string_setting(hcl, var, env), attr, var, diags)
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
                "No API key was found. Set the environment variable {specific} (the one matching \
                 `environment`, preferred), or {API_KEY_VAR}, or `api_key` in the provider block. \
                 Alloy's dashboard shows the keys under Settings → API Keys."
            ),
        );
    }

    // The API host. Whichever of `base_url` and `region` the block sets wins over both variables
    // (setting both is a contradiction); from the environment alone, the URL wins over the region.
    let region = setting("region", &config.region, REGION_VAR, diags);
    let base = setting("base_url", &config.base_url, BASE_URL_VAR, diags);
    let in_block = |s: &Option<(String, Source)>| matches!(s, Some((_, None)));
    let base_url = if in_block(&base) && in_block(&region) {
        diags.attr_error(
            AttrPath::attr("region"),
            "Conflicting provider settings",
            "`region` and `base_url` both choose the API host: set only one of them.",
        );
        None
    } else if let Some((b, var)) = base.filter(|_| !in_block(&region)) {
        check_base_url(&b, AttrPath::attr("base_url"), var, diags)
    } else if let Some((r, _)) = region {
        check_region(&r, AttrPath::attr("region"), diags);
        url::Url::parse(if r == "eu" { EU_BASE_URL } else { US_BASE_URL }).ok()
    } else {
        url::Url::parse(US_BASE_URL).ok()
    };

    let api_version = match setting("api_version", &config.api_version, API_VERSION_VAR, diags) {
        Some((v, _)) => {
            check_api_version(&v, AttrPath::attr("api_version"), diags);
            v
        }
        None => DEFAULT_API_VERSION.to_string(),
    };

    let timeout = match known(
        number_setting(&config.request_timeout, REQUEST_TIMEOUT_VAR, env),
        "request_timeout",
        REQUEST_TIMEOUT_VAR,
        diags,
    ) {
        Some(n) => check_timeout(n.number.as_ref(), &n.shown, n.source, diags),
        None if config.request_timeout.is_null() => {
            Some(Duration::from_secs(DEFAULT_REQUEST_TIMEOUT_SECS))
        }
        None => None,
    };
    let retries = match known(
        number_setting(&config.max_retries, MAX_RETRIES_VAR, env),
        "max_retries",
        MAX_RETRIES_VAR,
        diags,
    ) {
        Some(n) => check_retries(n.number.as_ref(), &n.shown, n.source, diags),
        None if config.max_retries.is_null() => Some(DEFAULT_MAX_RETRIES),
        None => None,
    };

    let accept_missing_users = match &config.accept_missing_users {
        Attr::Known(on) => *on,
        Attr::Unknown => {
            unknown("accept_missing_users", ACCEPT_MISSING_USERS_VAR, diags);
            false
        }
        Attr::Null => match env(ACCEPT_MISSING_USERS_VAR).as_deref().map(str::trim) {
            None | Some("") | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(other) => {
                diags.attr_error(
                    AttrPath::attr("accept_missing_users"),
                    "Invalid accept_missing_users",
                    format!(
                        "{ACCEPT_MISSING_USERS_VAR} is {other:?}; set it to \"true\" to accept missing \
                         users for this run, or unset it."
                    ),
                );
                false
            }
        },
    };

    if diags.0[before..]
        .iter()
        .any(|d| d.severity == terraform_plugin::framework::diag::Severity::Error)
    {
        return None;
    }
    let (environment, (key, key_source), base_url) = (environment?, key?, base_url?);
    let (timeout, retries) = (timeout?, retries?);
    let mut client = ClientConfig::new(base_url, api_version, ApiKey::new(key), user_agent);
    client.request_timeout = timeout;
    client.max_retries = retries;
    // Bound a whole operation: every attempt may use its timeout, plus backoff between them.
    client.deadline = alloy_client::DEFAULT_DEADLINE.max(timeout * (retries + 1));
    client.stop = stop;
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
                "accept_missing_users",
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
    fn the_key_source_and_missing_users_acceptance_are_resolved() {
        let env_cfg = config(&[("environment", Value::string("production"))]);
        let (r, d) = run(&env_cfg, &[(PRODUCTION_API_KEY_VAR, "k-prod-123456")]);
        let r = r.unwrap_or_else(|| panic!("{d:?}"));
        assert_eq!(r.key_source, PRODUCTION_API_KEY_VAR);
        assert!(!r.accept_missing_users, "off by default");
        let (r, _) = run(&env_cfg, &[(API_KEY_VAR, "k-any-123456")]);
        assert_eq!(r.map(|r| r.key_source).as_deref(), Some(API_KEY_VAR));
        let hcl = config(&[
            ("environment", Value::string("production")),
            ("api_key", Value::string("k-hcl-123456")),
        ]);
        let (r, _) = run(&hcl, &[(PRODUCTION_API_KEY_VAR, "k-prod-123456")]);
        assert_eq!(
            r.map(|r| r.key_source).as_deref(),
            Some("`api_key` in the provider block")
        );

        let key = (PRODUCTION_API_KEY_VAR, "k-prod-123456");
        for (value, want) in [("true", true), ("1", true), ("false", false), ("", false)] {
            let (r, d) = run(&env_cfg, &[key, (ACCEPT_MISSING_USERS_VAR, value)]);
            assert_eq!(
                r.map(|r| r.accept_missing_users),
                Some(want),
                "{value:?}: {d:?}"
            );
        }
        let (r, d) = run(&env_cfg, &[key, (ACCEPT_MISSING_USERS_VAR, "yes")]);
        assert!(r.is_none());
        assert_eq!(errors_on(&d), ["accept_missing_users"]);
        assert!(
            d.iter()
                .any(|x| x.detail.contains(ACCEPT_MISSING_USERS_VAR))
        );
        // The provider block wins over the variable.
        let off = config(&[
            ("environment", Value::string("production")),
            ("accept_missing_users", Value::Bool(false)),
        ]);
        let (r, _) = run(&off, &[key, (ACCEPT_MISSING_USERS_VAR, "true")]);
        assert_eq!(r.map(|r| r.accept_missing_users), Some(false));
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
        terraform_plugin::framework::model::assert_matches_schema::<ProviderModel>(&schema);
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
                check_base_url(url, AttrPath::attr("base_url"), None, &mut d).is_some(),
                "{url}"
            );
        }
    }

    /// A workspace with a key and an environment in HCL, plus `pairs`.
    fn with_key(pairs: &[(&'static str, Value)]) -> Value {
        let mut all = vec![
            ("api_key", Value::string("k-123456789")),
            ("environment", Value::string("development")),
        ];
        all.extend(pairs.iter().cloned());
        config(&all)
    }

    fn host_of(cfg: &Value, env: &[(&str, &str)]) -> String {
        let (r, d) = run(cfg, env);
        assert!(d.is_empty(), "{d:?}");
        r.expect("resolves").client.base_url.to_string()
    }

    #[test]
    fn a_string_in_the_block_wins_over_its_variable() {
        let cfg = config(&[
            ("api_key", Value::string("hcl-key-123")),
            ("environment", Value::string("production")),
            ("api_version", Value::string("2024-01")),
            ("base_url", Value::string("http://127.0.0.1:9")),
        ]);
        let env = [
            ("ALLOY_API_KEY", "generic"),
            ("ALLOY_PRODUCTION_API_KEY", "prod-key"),
            ("ALLOY_ENVIRONMENT", "development"),
            ("ALLOY_API_VERSION", "2025-01"),
            ("ALLOY_BASE_URL", "http://127.0.0.1:8"),
        ];
        let (r, d) = run(&cfg, &env);
        assert!(d.is_empty(), "{d:?}");
        let r = r.unwrap();
        assert_eq!(r.client.api_key.expose(), "hcl-key-123");
        assert_eq!(r.environment, Environment::Production);
        assert_eq!(r.client.api_version, "2024-01");
        assert_eq!(r.client.base_url.as_str(), "http://127.0.0.1:9/");
    }

    #[test]
    fn the_generic_key_is_the_last_resort() {
        let cfg = config(&[("environment", Value::string("production"))]);
        let env = [
            ("ALLOY_API_KEY", "generic"),
            ("ALLOY_DEVELOPMENT_API_KEY", "dev-key"),
        ];
        let (r, d) = run(&cfg, &env);
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(r.unwrap().client.api_key.expose(), "generic");
    }

    #[test]
    fn a_region_in_the_block_wins_over_the_base_url_variable() {
        let env = [("ALLOY_BASE_URL", "http://127.0.0.1:8787")];
        let cfg = with_key(&[("region", Value::string("eu"))]);
        assert_eq!(host_of(&cfg, &env), "https://eu-embedded.runalloy.com/");
        // Even `us`, the default, when the block says so.
        let cfg = with_key(&[("region", Value::string("us"))]);
        assert_eq!(host_of(&cfg, &env), "https://production.runalloy.com/");
        // The ignored variable is not checked either.
        let cfg = with_key(&[("region", Value::string("eu"))]);
        let bad = [("ALLOY_BASE_URL", "http://10.0.0.1")];
        assert_eq!(host_of(&cfg, &bad), "https://eu-embedded.runalloy.com/");
    }

    #[test]
    fn a_base_url_in_the_block_wins_over_the_region_variable() {
        let cfg = with_key(&[("base_url", Value::string("http://127.0.0.1:8787"))]);
        for region in ["eu", "asia"] {
            assert_eq!(
                host_of(&cfg, &[("ALLOY_REGION", region)]),
                "http://127.0.0.1:8787/"
            );
        }
    }

    #[test]
    fn from_the_environment_alone_the_base_url_wins_over_the_region() {
        let env = [
            ("ALLOY_REGION", "eu"),
            ("ALLOY_BASE_URL", "http://127.0.0.1:8787"),
        ];
        assert_eq!(host_of(&with_key(&[]), &env), "http://127.0.0.1:8787/");
        assert_eq!(
            host_of(&with_key(&[]), &[("ALLOY_REGION", "eu")]),
            "https://eu-embedded.runalloy.com/"
        );
        assert_eq!(
            host_of(&with_key(&[]), &[]),
            "https://production.runalloy.com/"
        );
    }

    #[test]
    fn numbers_come_from_their_variables_unless_the_block_sets_them() {
        let env = [("ALLOY_REQUEST_TIMEOUT", "2.5"), ("ALLOY_MAX_RETRIES", "0")];
        let (r, d) = run(&with_key(&[]), &env);
        assert!(d.is_empty(), "{d:?}");
        let c = r.unwrap().client;
        assert_eq!(c.request_timeout, Duration::from_millis(2500));
        assert_eq!(c.max_retries, 0);

        let cfg = with_key(&[
            ("request_timeout", Value::int(7)),
            ("max_retries", Value::int(3)),
        ]);
        let (r, d) = run(&cfg, &env);
        assert!(d.is_empty(), "{d:?}");
        let c = r.unwrap().client;
        assert_eq!(c.request_timeout, Duration::from_secs(7));
        assert_eq!(c.max_retries, 3);

        // In the block, even a bad variable is not consulted.
        let bad = [
            ("ALLOY_REQUEST_TIMEOUT", "soon"),
            ("ALLOY_MAX_RETRIES", "-1"),
        ];
        let (r, d) = run(&cfg, &bad);
        assert!(d.is_empty() && r.is_some(), "{d:?}");

        let (r, d) = run(&with_key(&[]), &[]);
        assert!(d.is_empty(), "{d:?}");
        let c = r.unwrap().client;
        assert_eq!(
            c.request_timeout,
            Duration::from_secs(DEFAULT_REQUEST_TIMEOUT_SECS)
        );
        assert_eq!(c.max_retries, DEFAULT_MAX_RETRIES);
    }

    #[test]
    fn bad_numbers_in_variables_name_the_variable_and_the_range() {
        let cases = [
            (
                "ALLOY_REQUEST_TIMEOUT",
                "0",
                "request_timeout",
                "at most 600",
            ),
            (
                "ALLOY_REQUEST_TIMEOUT",
                "30s",
                "request_timeout",
                "at most 600",
            ),
            (
                "ALLOY_REQUEST_TIMEOUT",
                "601",
                "request_timeout",
                "at most 600",
            ),
            ("ALLOY_MAX_RETRIES", "51", "max_retries", "from 0 to 50"),
            ("ALLOY_MAX_RETRIES", "2.5", "max_retries", "from 0 to 50"),
            ("ALLOY_MAX_RETRIES", "many", "max_retries", "from 0 to 50"),
        ];
        for (var, text, attr, range) in cases {
            let (r, d) = run(&with_key(&[]), &[(var, text)]);
            assert!(r.is_none(), "{var}={text}");
            assert_eq!(errors_on(&d), vec![attr.to_string()], "{var}={text}: {d:?}");
            let detail = &d.0[0].detail;
            assert!(
                detail.contains(&format!("{text:?} (from {var})")),
                "{detail}"
            );
            assert!(detail.contains(range), "{detail}");
        }
    }

    #[test]
    fn a_number_that_is_still_unknown_names_its_variable() {
        let cfg = with_key(&[("max_retries", Value::Unknown)]);
        let (r, d) = run(&cfg, &[("ALLOY_MAX_RETRIES", "2")]);
        assert!(r.is_none());
        assert_eq!(errors_on(&d), vec!["max_retries"]);
        assert!(d.0[0].detail.contains("ALLOY_MAX_RETRIES"), "{d:?}");
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
