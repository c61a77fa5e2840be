//! The go-plugin handshake: what the launching process tells us through the
//! environment, and the one line we answer on stdout.
//!
//! Kept free of I/O so every rule can be unit-tested: the caller snapshots the
//! environment into [`LaunchEnv`] and prints what these functions return.

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;

/// Environment variable Terraform sets to prove it launched us.
pub const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";
/// The value shared by Terraform, OpenTofu and terraform-plugin-go.
pub const MAGIC_COOKIE_VALUE: &str =
    "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";
/// go-plugin's own protocol version (first handshake field).
pub const CORE_PROTOCOL_VERSION: u32 = 1;
/// The only Terraform plugin protocol this provider speaks.
pub const APP_PROTOCOL_VERSION: u32 = 6;
/// The oldest Terraform the provider supports, stated by the version-mismatch message, the
/// README, the generated docs and the guides alike. It is 1.10 because the provider serves an
/// ephemeral resource (`alloy_user_token`), which Terraform reads from 1.10 on; the provider has
/// no write-only attributes, which would need 1.11.
pub const MINIMUM_TERRAFORM_VERSION: &str = "1.10";
/// The oldest OpenTofu that reads ephemeral resources.
pub const MINIMUM_OPENTOFU_VERSION: &str = "1.11";
/// The first Terraform (and OpenTofu) that keeps resource identity and imports by it; older ones
/// ignore the identity and keep working.
pub const IDENTITY_TERRAFORM_VERSION: &str = "1.12";
/// The first Terraform with list resources, `terraform query` and generated configuration from
/// the provider; OpenTofu has none of them yet.
pub const LIST_TERRAFORM_VERSION: &str = "1.14";
/// Each feature that needs a Terraform newer than the minimum, with that version: the only
/// other versions the docs may state as a minimum.
pub const FEATURE_TERRAFORM_VERSIONS: [(&str, &str); 2] = [
    ("resource identity", IDENTITY_TERRAFORM_VERSION),
    ("list resources", LIST_TERRAFORM_VERSION),
];

/// The launch-related environment, read once at start-up.
#[derive(Debug, Clone, Default)]
pub struct LaunchEnv {
    pub magic_cookie: Option<String>,
    pub protocol_versions: Option<String>,
    pub unix_socket_dir: Option<PathBuf>,
    pub client_cert_pem: Option<String>,
    pub disable_tls: bool,
    /// `PLUGIN_MIN_PORT` / `PLUGIN_MAX_PORT` as given (checked by [`port_range`]).
    pub min_port: Option<String>,
    pub max_port: Option<String>,
}

impl LaunchEnv {
    pub fn from_process() -> Self {
        let non_empty = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Self {
            magic_cookie: non_empty(MAGIC_COOKIE_KEY),
            protocol_versions: non_empty("PLUGIN_PROTOCOL_VERSIONS"),
            unix_socket_dir: std::env::var_os("PLUGIN_UNIX_SOCKET_DIR")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            client_cert_pem: non_empty("PLUGIN_CLIENT_CERT"),
            disable_tls: non_empty("TF_DISABLE_PLUGIN_TLS").is_some(),
            min_port: non_empty(MIN_PORT_KEY),
            max_port: non_empty(MAX_PORT_KEY),
        }
    }

    /// True when we were started by Terraform (or something posing as it).
    pub fn has_magic_cookie(&self) -> bool {
        self.magic_cookie.as_deref() == Some(MAGIC_COOKIE_VALUE)
    }

    /// The client certificate to pin, or `None` for plaintext: TLS explicitly
    /// disabled, or no certificate offered (a client without AutoMTLS, as
    /// go-plugin itself behaves).
    pub fn tls_client_cert(&self) -> Option<&str> {
        if self.disable_tls {
            None
        } else {
            self.client_cert_pem.as_deref()
        }
    }
}

/// The TCP port range variables go-plugin's client sets (Terraform: 10000 and 25000).
pub const MIN_PORT_KEY: &str = "PLUGIN_MIN_PORT";
pub const MAX_PORT_KEY: &str = "PLUGIN_MAX_PORT";

/// What the provider listens on: a unix socket (go-plugin's choice everywhere but Windows) or
/// TCP on loopback (its choice on Windows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Unix,
    Tcp,
}

impl Transport {
    /// The values the transport variable accepts, in the order error messages list them.
    pub const NAMES: [&'static str; 2] = ["unix", "tcp"];

    /// go-plugin's choice for this operating system.
    pub fn os_default() -> Self {
        if cfg!(windows) { Self::Tcp } else { Self::Unix }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Unix => "unix",
            Self::Tcp => "tcp",
        }
    }
}

/// Name of the variable that picks the transport: `<env_prefix>PROVIDER_TRANSPORT`
/// (`ALLOY_PROVIDER_TRANSPORT`).
pub fn transport_var(env_prefix: &str) -> String {
    format!("{env_prefix}PROVIDER_TRANSPORT")
}

/// An unknown transport name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{var}={value:?} is not a transport this provider knows; set it to \"unix\" or \"tcp\", or \
     unset it for this system's default ({default})",
    default = Transport::os_default().name()
)]
pub struct BadTransport {
    pub var: String,
    pub value: String,
}

/// Reads the transport variable's value (`None` or empty: the OS default). Case and surrounding
/// blanks are forgiven; anything else but `unix` and `tcp` is an error naming `var`.
pub fn parse_transport(var: &str, value: Option<&str>) -> Result<Transport, BadTransport> {
    let Some(raw) = value.filter(|v| !v.trim().is_empty()) else {
        return Ok(Transport::os_default());
    };
    match raw.trim().to_ascii_lowercase().as_str() {
        "unix" => Ok(Transport::Unix),
        "tcp" => Ok(Transport::Tcp),
        _ => Err(BadTransport {
            var: var.to_owned(),
            value: raw.to_owned(),
        }),
    }
}

/// A port range variable that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadPortRange {
    #[error("{var}={value:?} is not a TCP port number (1 to 65535)")]
    NotAPort { var: &'static str, value: String },
    #[error(
        "{MIN_PORT_KEY}={min} is greater than {MAX_PORT_KEY}={max}; the range must not be empty"
    )]
    Empty { min: u16, max: u16 },
}

/// The ports to try, in order, from `PLUGIN_MIN_PORT`/`PLUGIN_MAX_PORT`. `None` (neither set)
/// means "any free port". When only one is set, the other end of the range is the first
/// unprivileged port (1024) or the last port (65535).
pub fn port_range(
    min: Option<&str>,
    max: Option<&str>,
) -> Result<Option<RangeInclusive<u16>>, BadPortRange> {
    fn parse(var: &'static str, value: Option<&str>) -> Result<Option<u16>, BadPortRange> {
        value
            .map(|v| match v.trim().parse::<u16>() {
                Ok(p) if p > 0 => Ok(p),
                _ => Err(BadPortRange::NotAPort {
                    var,
                    value: v.to_owned(),
                }),
            })
            .transpose()
    }
    let (min, max) = (parse(MIN_PORT_KEY, min)?, parse(MAX_PORT_KEY, max)?);
    if min.is_none() && max.is_none() {
        return Ok(None);
    }
    let (min, max) = (min.unwrap_or(1024), max.unwrap_or(u16::MAX));
    if min > max {
        return Err(BadPortRange::Empty { min, max });
    }
    Ok(Some(min..=max))
}

/// Where the server listens, as go-plugin names it in the handshake and in
/// `TF_REATTACH_PROVIDERS` (`Network` and `String`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

impl Address {
    pub fn network(&self) -> &'static str {
        match self {
            Self::Unix(_) => "unix",
            Self::Tcp(_) => "tcp",
        }
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unix(path) => write!(f, "{}", path.display()),
            Self::Tcp(addr) => write!(f, "{addr}"),
        }
    }
}

/// Shown (on stderr) when someone runs the binary by hand.
pub fn not_a_command_text(binary_name: &str, provider_address: &str) -> String {
    format!(
        "{binary_name} is a Terraform provider plugin. Terraform starts it itself and talks to it\n\
         over gRPC, so running it directly does nothing useful.\n\
         \n\
         Ways to use it:\n\
         \x20 * declare it in your configuration and let Terraform launch it:\n\
         \x20     terraform {{ required_providers {{ alloy = {{ source = \"{provider_address}\" }} }} }}\n\
         \x20 * while developing, add a dev_overrides entry for \"{provider_address}\" pointing at the\n\
         \x20   directory that holds this binary, in the file named by TF_CLI_CONFIG_FILE;\n\
         \x20 * or start it with --debug and export the TF_REATTACH_PROVIDERS value it prints in the\n\
         \x20   shell where you run terraform.\n"
    )
}

/// Why we cannot speak any protocol the client offered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "this provider speaks Terraform plugin protocol {APP_PROTOCOL_VERSION} only, but the client \
     offered PLUGIN_PROTOCOL_VERSIONS={offered:?}; use Terraform {} or later (or OpenTofu {} or \
     later)",
    MINIMUM_TERRAFORM_VERSION,
    MINIMUM_OPENTOFU_VERSION
)]
pub struct VersionMismatch {
    pub offered: String,
}

/// Picks the protocol version from `PLUGIN_PROTOCOL_VERSIONS` (a comma list).
/// Like go-plugin, an absent list means the client did not negotiate and gets
/// our version; a list without 6 is an error.
pub fn negotiate_version(offered: Option<&str>) -> Result<u32, VersionMismatch> {
    let Some(list) = offered else {
        return Ok(APP_PROTOCOL_VERSION);
    };
    let has_ours = list
        .split(',')
        .filter_map(|v| v.trim().parse::<u32>().ok())
        .any(|v| v == APP_PROTOCOL_VERSION);
    if has_ours {
        Ok(APP_PROTOCOL_VERSION)
    } else {
        Err(VersionMismatch {
            offered: list.to_owned(),
        })
    }
}

/// `CORE|APP|<network>|<address>|grpc|<cert>`, e.g. `1|6|tcp|127.0.0.1:10000|grpc|<cert>`;
/// the certificate field is empty without TLS.
pub fn handshake_line(addr: &Address, cert_field: Option<&str>) -> String {
    format!(
        "{CORE_PROTOCOL_VERSION}|{APP_PROTOCOL_VERSION}|{}|{addr}|grpc|{}",
        addr.network(),
        cert_field.unwrap_or("")
    )
}

/// The `TF_REATTACH_PROVIDERS` JSON for a provider serving plaintext on
/// `addr` (debug mode). `Test: true` tells Terraform not to stop it.
pub fn reattach_json(provider_address: &str, pid: u32, addr: &Address) -> String {
    let entry = serde_json::json!({
        "Protocol": "grpc",
        "ProtocolVersion": APP_PROTOCOL_VERSION,
        "Pid": pid,
        "Test": true,
        "Addr": { "Network": addr.network(), "String": addr.to_string() },
    });
    let mut map = serde_json::Map::new();
    map.insert(provider_address.to_owned(), entry);
    serde_json::Value::Object(map).to_string()
}

/// What debug mode prints on stdout. `env_prefix` starts the names of the variables the provider
/// reads its settings from: they must be set where it runs, which a developer easily forgets.
pub fn debug_banner(binary_name: &str, env_prefix: &str, reattach: &str) -> String {
    format!(
        "{binary_name} is running in debug mode and waiting for Terraform.\n\
         It reads its {env_prefix}* settings from this shell, not from Terraform's: Terraform does\n\
         not pass its environment to a provider it attaches to, so set them here before starting it.\n\
         Run terraform in a shell where this variable is set:\n\
         \n\
         \x20   TF_REATTACH_PROVIDERS='{reattach}'\n\
         \n\
         Terraform will use this process instead of starting its own and will leave it running;\n\
         press Ctrl-C here to stop it.\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_must_match_exactly() {
        let mut env = LaunchEnv::default();
        assert!(!env.has_magic_cookie());
        env.magic_cookie = Some("wrong".into());
        assert!(!env.has_magic_cookie());
        env.magic_cookie = Some(MAGIC_COOKIE_VALUE.into());
        assert!(env.has_magic_cookie());
    }

    #[test]
    fn version_negotiation() {
        assert_eq!(negotiate_version(Some("5,6")), Ok(6));
        assert_eq!(negotiate_version(Some("6,5")), Ok(6));
        assert_eq!(negotiate_version(Some(" 6 ")), Ok(6));
        assert_eq!(negotiate_version(None), Ok(6));
        let err = negotiate_version(Some("4,5")).unwrap_err();
        assert_eq!(err.offered, "4,5");
        assert!(err.to_string().contains("\"4,5\""), "{err}");
        assert!(err.to_string().contains("protocol 6"), "{err}");
        assert!(
            err.to_string().contains("use Terraform 1.10 or later"),
            "names the minimum the docs state: {err}"
        );
        assert!(negotiate_version(Some("60,x")).is_err());
    }

    #[test]
    fn tls_choice() {
        let mut env = LaunchEnv {
            client_cert_pem: Some("PEM".into()),
            ..Default::default()
        };
        assert_eq!(env.tls_client_cert(), Some("PEM"));
        env.disable_tls = true;
        assert_eq!(env.tls_client_cert(), None);
        env.disable_tls = false;
        env.client_cert_pem = None;
        assert_eq!(env.tls_client_cert(), None);
    }

    #[test]
    fn handshake_line_shape() {
        let p = Address::Unix(PathBuf::from("/tmp/x/plugin.sock"));
        assert_eq!(
            handshake_line(&p, Some("QUJD")),
            "1|6|unix|/tmp/x/plugin.sock|grpc|QUJD"
        );
        assert_eq!(
            handshake_line(&p, None),
            "1|6|unix|/tmp/x/plugin.sock|grpc|"
        );
        let t = Address::Tcp(SocketAddr::from(([127, 0, 0, 1], 10042)));
        assert_eq!(
            handshake_line(&t, Some("QUJD")),
            "1|6|tcp|127.0.0.1:10042|grpc|QUJD"
        );
        assert_eq!(handshake_line(&t, None), "1|6|tcp|127.0.0.1:10042|grpc|");
    }

    #[test]
    fn transport_choice() {
        let var = transport_var("ALLOY_");
        assert_eq!(var, "ALLOY_PROVIDER_TRANSPORT");
        let default = if cfg!(windows) {
            Transport::Tcp
        } else {
            Transport::Unix
        };
        assert_eq!(parse_transport(&var, None), Ok(default));
        assert_eq!(parse_transport(&var, Some(" ")), Ok(default));
        assert_eq!(parse_transport(&var, Some("tcp")), Ok(Transport::Tcp));
        assert_eq!(parse_transport(&var, Some(" TCP ")), Ok(Transport::Tcp));
        assert_eq!(parse_transport(&var, Some("unix")), Ok(Transport::Unix));
        let err = parse_transport(&var, Some("pipe")).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("ALLOY_PROVIDER_TRANSPORT=\"pipe\""),
            "{msg}"
        );
        assert!(msg.contains("\"unix\" or \"tcp\""), "{msg}");
        assert_eq!(Transport::NAMES, ["unix", "tcp"]);
    }

    #[test]
    fn port_range_rules() {
        assert_eq!(port_range(None, None), Ok(None));
        assert_eq!(
            port_range(Some("10000"), Some("25000")),
            Ok(Some(10000..=25000))
        );
        assert_eq!(
            port_range(Some("4000"), Some("4000")),
            Ok(Some(4000..=4000))
        );
        assert_eq!(port_range(Some("30000"), None), Ok(Some(30000..=65535)));
        assert_eq!(port_range(None, Some("2000")), Ok(Some(1024..=2000)));
        let err = port_range(Some("25000"), Some("10000")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "PLUGIN_MIN_PORT=25000 is greater than PLUGIN_MAX_PORT=10000; the range must not be empty"
        );
        for bad in ["0", "65536", "-1", "ten"] {
            let err = port_range(Some(bad), Some("25000")).unwrap_err();
            assert!(err.to_string().starts_with("PLUGIN_MIN_PORT="), "{err}");
            let err = port_range(Some("10000"), Some(bad)).unwrap_err();
            assert!(err.to_string().starts_with("PLUGIN_MAX_PORT="), "{err}");
        }
        // go-plugin reads the range from its environment; so do we.
        let env = LaunchEnv {
            min_port: Some("1".into()),
            max_port: Some("2".into()),
            ..Default::default()
        };
        assert_eq!(
            port_range(env.min_port.as_deref(), env.max_port.as_deref()),
            Ok(Some(1..=2))
        );
    }

    #[test]
    fn reattach_json_over_tcp() {
        let addr = Address::Tcp(SocketAddr::from(([127, 0, 0, 1], 12345)));
        let s = reattach_json("alloy-automation/alloy", 7, &addr);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        let e = &v["alloy-automation/alloy"];
        assert_eq!(e["Addr"]["Network"], "tcp");
        assert_eq!(e["Addr"]["String"], "127.0.0.1:12345");
    }

    #[test]
    fn reattach_json_shape() {
        let s = reattach_json(
            "alloy-automation/alloy",
            42,
            &Address::Unix(PathBuf::from("/tmp/d/p.sock")),
        );
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        let e = &v["alloy-automation/alloy"];
        assert_eq!(e["Protocol"], "grpc");
        assert_eq!(e["ProtocolVersion"].as_u64(), Some(6));
        assert_eq!(e["Pid"].as_u64(), Some(42));
        assert_eq!(e["Test"], true);
        assert_eq!(e["Addr"]["Network"], "unix");
        assert_eq!(e["Addr"]["String"], "/tmp/d/p.sock");
        assert!(!s.contains('\''), "must survive single-quoting in a shell");
        let banner = debug_banner("b", "ALLOY_", &s);
        assert!(banner.contains(&format!("TF_REATTACH_PROVIDERS='{s}'")));
        assert!(
            banner.contains("ALLOY_* settings from this shell"),
            "{banner}"
        );
    }

    #[test]
    fn explanation_mentions_the_ways_in() {
        let t = not_a_command_text("terraform-provider-alloy", "alloy-automation/alloy");
        assert!(t.contains("required_providers"));
        assert!(t.contains("dev_overrides"));
        assert!(t.contains("--debug"));
    }
}
