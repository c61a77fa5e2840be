//! AutoMTLS for the plugin connection, as go-plugin's client expects it.
//!
//! Terraform generates a throw-away client certificate per provider process
//! (ECDSA P-521, self-signed, marked as a CA) and passes it as PEM in
//! `PLUGIN_CLIENT_CERT`. We answer with our own throw-away server certificate,
//! whose DER goes into the handshake line; Terraform pins it as its only root.
//!
//! Two constraints shape this module:
//! - webpki refuses a CA certificate used as a client (end-entity) certificate,
//!   and ring cannot verify P-521 at all. So instead of chain validation we
//!   *pin*: the client must present exactly the certificate from
//!   `PLUGIN_CLIENT_CERT`, and only the handshake signatures are checked, with
//!   aws-lc-rs algorithms (which include ECDSA P-521).
//! - Our own certificate is deliberately *not* a CA: Go accepts a pinned leaf
//!   either way, and rustls-based clients (our tests) reject a CA as a leaf.

use std::sync::Arc;

use base64::Engine as _;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme};

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("could not generate the server certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("PLUGIN_CLIENT_CERT is not a PEM certificate: {0}")]
    ClientCertPem(String),
    #[error("PLUGIN_CLIENT_CERT holds no certificate")]
    NoClientCert,
    #[error("could not build the TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Our per-process server certificate and its private key.
pub struct ServerIdentity {
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

impl std::fmt::Debug for ServerIdentity {
    // The private key stays out of Debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerIdentity")
            .field("cert_len", &self.cert.len())
            .finish_non_exhaustive()
    }
}

impl ServerIdentity {
    /// Generates a fresh self-signed P-256 certificate for DNS `localhost`
    /// (server and client auth usages, valid from a minute ago for a year).
    pub fn generate() -> Result<Self, TlsError> {
        use rcgen::{
            CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
            PKCS_ECDSA_P256_SHA256,
        };
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::new(vec!["localhost".to_owned()])?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.is_ca = IsCa::NoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyAgreement,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        // Tolerate small clock differences between the two processes.
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::minutes(1);
        params.not_after = now + time::Duration::days(365);
        let cert = params.self_signed(&key)?;
        Ok(Self {
            cert: cert.der().clone(),
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        })
    }

    /// The certificate's DER.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    /// The handshake line's sixth field: DER in base64 without padding, as
    /// go-plugin's client decodes it.
    pub fn handshake_field(&self) -> String {
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(self.cert.as_ref())
    }
}

/// Reads every certificate in a PEM text (normally exactly one).
pub fn parse_pem_certs(pem: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::ClientCertPem(e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::NoClientCert);
    }
    Ok(certs)
}

/// The crypto provider used on both ends of our TLS: aws-lc-rs, because its
/// verification algorithms cover Terraform's P-521 client key.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Accepts exactly the pinned client certificate(s); see the module header.
#[derive(Debug)]
pub struct PinnedClientCert {
    pinned: Vec<CertificateDer<'static>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedClientCert {
    pub fn new(pinned: Vec<CertificateDer<'static>>, provider: &CryptoProvider) -> Self {
        Self {
            pinned,
            algorithms: provider.signature_verification_algorithms,
        }
    }
}

impl ClientCertVerifier for PinnedClientCert {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // No hints: Go's client then offers its only certificate.
        &[]
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if self
            .pinned
            .iter()
            .any(|p| p.as_ref() == end_entity.as_ref())
        {
            Ok(ClientCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Server TLS configuration: TLS 1.2/1.3, our identity, the pinned client
/// certificate required, ALPN `h2` (gRPC).
pub fn server_config(
    identity: &ServerIdentity,
    client_certs: Vec<CertificateDer<'static>>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = crypto_provider();
    let verifier = Arc::new(PinnedClientCert::new(client_certs, &provider));
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![identity.cert.clone()], identity.key.clone_key())?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p521_client_cert() -> CertificateDer<'static> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.self_signed(&key).unwrap().der().clone()
    }

    #[test]
    fn server_certificate_is_a_localhost_leaf() {
        let id = ServerIdentity::generate().unwrap();
        let field = id.handshake_field();
        assert!(!field.ends_with('='));
        assert!(field.len() > 50, "go-plugin ignores short cert fields");
        let der = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(&field)
            .unwrap();
        assert_eq!(der, id.cert_der().as_ref());
        // webpki accepts it as an end-entity for "localhost" when pinned as
        // the only root, exactly what a client does with the handshake line.
        let mut roots = rustls::RootCertStore::empty();
        roots.add(id.cert_der().clone()).unwrap();
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            crypto_provider(),
        )
        .build()
        .unwrap();
        use rustls::client::danger::ServerCertVerifier as _;
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        verifier
            .verify_server_cert(id.cert_der(), &[], &name, &[], UnixTime::now())
            .unwrap();
        assert!(format!("{id:?}").starts_with("ServerIdentity"));
    }

    #[test]
    fn pinned_verifier_accepts_only_the_pinned_certificate() {
        let pinned = p521_client_cert();
        let other = p521_client_cert();
        let verifier = PinnedClientCert::new(vec![pinned.clone()], &crypto_provider());
        assert!(
            verifier
                .verify_client_cert(&pinned, &[], UnixTime::now())
                .is_ok()
        );
        assert!(
            verifier
                .verify_client_cert(&other, &[], UnixTime::now())
                .is_err()
        );
        assert!(verifier.client_auth_mandatory());
        assert!(
            verifier
                .supported_verify_schemes()
                .contains(&SignatureScheme::ECDSA_NISTP521_SHA512)
        );
    }

    #[test]
    fn pem_parsing() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let parsed = parse_pem_certs(&cert.pem()).unwrap();
        assert_eq!(parsed, vec![cert.der().clone()]);
        assert!(matches!(
            parse_pem_certs("not pem"),
            Err(TlsError::NoClientCert)
        ));
        let broken = cert.pem().replace('M', "*");
        assert!(parse_pem_certs(&broken).is_err());
    }

    #[test]
    fn server_config_builds_with_alpn_h2() {
        let id = ServerIdentity::generate().unwrap();
        let cfg = server_config(&id, vec![p521_client_cert()]).unwrap();
        assert_eq!(cfg.alpn_protocols, vec![b"h2".to_vec()]);
    }
}
