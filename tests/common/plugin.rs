//! The provider process as Terraform's plugin client (go-plugin) starts and reaches it: the
//! environment (magic cookie, protocol versions, socket directory), the handshake line, AutoMTLS
//! (a client certificate in `PLUGIN_CLIENT_CERT`, the server's from the handshake line) and a gRPC
//! channel over the unix socket or loopback TCP. Used by `tests/plugin_transport.rs` (the
//! transport itself) and by the harness that plays Terraform's RPC sequences (`harness.rs`).

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use terraform_plugin::plugin::handshake::MAGIC_COOKIE_VALUE;
use terraform_plugin::proto::plugin::Empty;
use terraform_plugin::proto::plugin::grpc_controller_client::GrpcControllerClient;
use terraform_plugin::proto::tfplugin6::get_provider_schema;
use terraform_plugin::proto::tfplugin6::provider_client::ProviderClient;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};
use tonic::codegen::Service;
use tonic::codegen::http::Uri;
use tonic::transport::{Channel, Endpoint};

/// The provider binary cargo built for this test run (the release build under
/// `cargo test --release`).
pub const BIN: &str = env!("CARGO_BIN_EXE_terraform-provider-alloy");

/// Safety net so a broken provider fails the test instead of hanging it.
/// Not a performance assertion: healthy runs finish in milliseconds.
pub const HANG_LIMIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// Process helpers
// ---------------------------------------------------------------------------

/// The provider's environment, starting from nothing so the developer's
/// TF_LOG and friends cannot leak in.
pub fn base_command(socket_parent: &Path) -> Command {
    base_command_for(Path::new(BIN), socket_parent)
}

/// [`base_command`] for another build of the provider (a benchmark's release binary).
pub fn base_command_for(bin: &Path, socket_parent: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env_clear()
        .env("PLUGIN_UNIX_SOCKET_DIR", socket_parent)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

pub fn managed_command(socket_parent: &Path) -> Command {
    managed_command_for(Path::new(BIN), socket_parent)
}

/// [`managed_command`] for another build of the provider.
pub fn managed_command_for(bin: &Path, socket_parent: &Path) -> Command {
    let mut cmd = base_command_for(bin, socket_parent);
    cmd.env("TF_PLUGIN_MAGIC_COOKIE", MAGIC_COOKIE_VALUE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "5,6")
        .env("PLUGIN_MIN_PORT", "10000")
        .env("PLUGIN_MAX_PORT", "25000");
    cmd
}

/// The variable that picks the transport.
pub const TRANSPORT_VAR: &str = "ALLOY_PROVIDER_TRANSPORT";

/// Where a provider listens, from its handshake line or reattach JSON.
#[derive(Debug, Clone)]
pub enum Addr {
    Unix(PathBuf),
    Tcp(std::net::SocketAddr),
}

impl Addr {
    pub fn parse(network: &str, address: &str) -> Addr {
        match network {
            "unix" => Addr::Unix(PathBuf::from(address)),
            "tcp" => Addr::Tcp(
                address
                    .parse()
                    .unwrap_or_else(|e| panic!("tcp address {address:?}: {e}")),
            ),
            other => panic!("unknown network {other:?}"),
        }
    }
}

/// A running provider with its handshake parsed.
pub struct Provider {
    /// `None` only after [`Provider::take_child`].
    child: Option<Child>,
    /// Kept open: Terraform never closes the provider's stdout either.
    _stdout: BufReader<std::process::ChildStdout>,
    stderr: Option<std::thread::JoinHandle<String>>,
    pub addr: Addr,
    pub cert_field: String,
}

impl Provider {
    pub fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd.spawn().expect("spawn provider");
        let stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = BufReader::new(stderr).read_to_string(&mut s);
            s
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read handshake");
        let line = line.trim_end().to_owned();
        let fields: Vec<&str> = line.split('|').collect();
        assert_eq!(fields.len(), 6, "handshake line: {line:?}");
        assert_eq!(fields[0], "1");
        assert_eq!(fields[1], "6");
        assert_eq!(fields[4], "grpc");
        Self {
            child: Some(child),
            _stdout: stdout,
            stderr: Some(stderr),
            addr: Addr::parse(fields[2], fields[3]),
            cert_field: fields[5].to_owned(),
        }
    }

    /// The unix socket (panics for a TCP provider).
    pub fn socket(&self) -> &Path {
        match &self.addr {
            Addr::Unix(p) => p,
            Addr::Tcp(a) => panic!("expected a unix socket, got tcp {a}"),
        }
    }

    pub fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("child already taken")
    }

    /// Hands the process over (the caller becomes responsible for reaping it).
    pub fn take_child(&mut self) -> Child {
        self.child.take().expect("child already taken")
    }

    pub fn pid(&mut self) -> i32 {
        i32::try_from(self.child().id()).unwrap()
    }

    pub fn signal(&mut self, sig: i32) {
        // SAFETY: plain kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(self.pid(), sig) };
        assert_eq!(rc, 0);
    }

    /// Waits for exit (killing it past the hang limit) and returns the status
    /// and everything it wrote to stderr.
    pub fn wait(mut self) -> (ExitStatus, String) {
        let start = Instant::now();
        let status = loop {
            if let Some(st) = self.child().try_wait().unwrap() {
                break st;
            }
            if start.elapsed() > HANG_LIMIT {
                let _ = self.child().kill();
                panic!("provider did not exit");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let stderr = self.stderr.take().unwrap().join().unwrap();
        (status, stderr)
    }

    pub fn still_running(&mut self) -> bool {
        self.child().try_wait().unwrap().is_none()
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs the binary to completion (for the refusal cases).
pub fn run_to_end(mut cmd: Command) -> (ExitStatus, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

// ---------------------------------------------------------------------------
// A go-plugin-like client
// ---------------------------------------------------------------------------

/// What Terraform's go-plugin client generates: a self-signed ECDSA P-521
/// CA certificate for localhost with client and server auth usages.
pub struct ClientIdentity {
    pub pem: String,
    pub der: CertificateDer<'static>,
    pub key: PrivateKeyDer<'static>,
}

pub fn go_plugin_client_identity() -> ClientIdentity {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose, PKCS_ECDSA_P521_SHA512,
    };
    let key = KeyPair::generate_for(&PKCS_ECDSA_P521_SHA512).unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params
        .distinguished_name
        .push(DnType::OrganizationName, "HashiCorp");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyAgreement,
        KeyUsagePurpose::KeyCertSign,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ClientAuth,
        ExtendedKeyUsagePurpose::ServerAuth,
    ];
    let cert = params.self_signed(&key).unwrap();
    ClientIdentity {
        pem: cert.pem(),
        der: cert.der().clone(),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    }
}

/// rustls client config as go-plugin builds it: our client certificate, the
/// server certificate from the handshake as the only root, ALPN h2.
pub fn client_tls(server_cert_field: &str, me: &ClientIdentity) -> Arc<rustls::ClientConfig> {
    let der = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(server_cert_field)
        .expect("handshake cert is unpadded base64");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(der)).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(vec![me.der.clone()], me.key.clone_key())
        .unwrap();
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(cfg)
}

/// Same, but presenting no client certificate at all.
pub fn client_tls_without_cert(server_cert_field: &str) -> Arc<rustls::ClientConfig> {
    let der = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(server_cert_field)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(der)).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(cfg)
}

pub trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// Connects to the unix socket or TCP address, optionally wrapping it in TLS.
#[derive(Clone)]
pub struct UdsConnector {
    addr: Addr,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Service<Uri> for UdsConnector {
    type Response = TokioIo<Box<dyn Io>>;
    type Error = std::io::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let stream: Box<dyn Io> = match &this.addr {
                Addr::Unix(path) => Box::new(UnixStream::connect(path).await?),
                Addr::Tcp(addr) => {
                    let stream = TcpStream::connect(addr).await?;
                    // As Go's client (and tonic's own connector) does: no Nagle delay.
                    stream.set_nodelay(true)?;
                    Box::new(stream)
                }
            };
            let io: Box<dyn Io> = match this.tls {
                None => Box::new(stream),
                Some(cfg) => {
                    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
                    let tls = tokio_rustls::TlsConnector::from(cfg)
                        .connect(name, stream)
                        .await?;
                    Box::new(tls)
                }
            };
            Ok(TokioIo::new(io))
        })
    }
}

pub async fn connect(
    addr: &Addr,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<Channel, tonic::transport::Error> {
    // The URI is only used for the :authority header; the connector ignores it.
    Endpoint::from_static("http://localhost")
        .connect_with_connector(UdsConnector {
            addr: addr.clone(),
            tls,
        })
        .await
}

pub async fn health_check(ch: Channel) -> Result<i32, tonic::Status> {
    let mut health = tonic_health::pb::health_client::HealthClient::new(ch);
    let resp = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "plugin".to_owned(),
        })
        .await?;
    Ok(resp.into_inner().status)
}

pub async fn get_schema(ch: Channel) -> Result<get_provider_schema::Response, tonic::Status> {
    let mut client = ProviderClient::new(ch);
    Ok(client
        .get_provider_schema(get_provider_schema::Request {})
        .await?
        .into_inner())
}

pub async fn shutdown(ch: Channel) {
    GrpcControllerClient::new(ch)
        .shutdown(Empty {})
        .await
        .expect("Shutdown RPC");
}

pub const SERVING: i32 = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;
