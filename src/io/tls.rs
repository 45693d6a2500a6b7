//! HTTP/2 over TLS with rustls (feature `tls`): configuration shared by
//! both adapters.
//!
//! TLS sits between the socket and the sans-IO core, exactly where TCP does:
//! the core sees plaintext bytes in and out and never knows. This module
//! holds what both adapters need around that:
//!
//! - [`server_config`] / [`client_config`] and their PEM and webpki-roots
//!   helpers build rustls configurations on the `ring` provider (installed
//!   explicitly: nothing depends on a process-wide default provider);
//! - [`h2_server_config`] / [`h2_client_config`] take *your* rustls
//!   configuration (certificates, roots, client authentication) and make
//!   its ALPN list exactly `h2`, as RFC 9113 §3.2 requires;
//! - [`check_alpn`] and [`check_security`] are the checks every adapter
//!   runs after a handshake: `h2` negotiated (§3.2), TLS 1.2 or later and a
//!   cipher suite outside the §9.2.2 block list (else INADEQUATE_SECURITY);
//! - [`ReloadableCert`] is a certificate resolver whose key pair can be
//!   swapped while the server runs (certificate renewal without restart).
//!
//! # Example
//!
//! A tokio server and client over TLS (the blocking adapter has the same
//! `with_tls` and `connect_tls`; gRPC's servers have `tls`/`with_tls`, its
//! clients `connect_tls`). Here the certificate is made on the spot with
//! `rcgen`; a deployment loads PEM files with [`server_config_from_pem_files`],
//! and its clients trust [`client_config_webpki_roots`] or
//! [`client_config_from_ca_file`].
//!
//! ```
//! use h2proto::io::tls::{self, rustls::RootCertStore};
//! use h2proto::io::tokio::{Body, Client, ClientConfig, Server};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
//! let key = cert.signing_key.serialize_der().try_into()?;
//! let server_tls = tls::server_config(vec![cert.cert.der().clone()], key)?;
//! let server = Server::bind("127.0.0.1:0")
//!     .await?
//!     .with_tls(server_tls)
//!     .serve(|req: http::Request<_>| async move {
//!         let scheme = req.uri().scheme_str().unwrap_or_default().to_owned();
//!         http::Response::new(Body::from(format!("{scheme} over TLS")))
//!     });
//!
//! let mut roots = RootCertStore::empty();
//! roots.add(cert.cert.der().clone())?;
//! let client_tls = tls::client_config(roots)?;
//! let client = Client::connect_tls(server.local_addr(), "localhost", client_tls, ClientConfig::default()).await?;
//! let res = client.get("/").await?;
//! assert_eq!(&res.body()[..], b"https over TLS");
//! # client.shutdown().await;
//! # server.shutdown(std::time::Duration::from_secs(1)).await;
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ProtocolVersion, RootCertStore, SupportedCipherSuite};

pub use rustls;

/// The ALPN protocol identifier of HTTP/2 over TLS (RFC 9113 §3.2).
pub const ALPN_H2: &[u8] = b"h2";

/// How long a server waits for a TLS handshake to complete before it drops
/// the connection (a peer that opens TCP and then stalls holds nothing
/// longer than this).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why TLS setup or a TLS handshake failed. Each variant says which check
/// refused the peer, so a wrong name, an untrusted root or a missing ALPN
/// are told apart in the error text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The handshake failed; rustls says why (for example
    /// `invalid peer certificate: certificate not valid for name ...`,
    /// `invalid peer certificate: UnknownIssuer`, or the alert the peer
    /// sent, such as `NoApplicationProtocol`).
    #[error("TLS handshake failed: {0}")]
    Handshake(#[source] io::Error),
    /// The handshake did not finish within [`HANDSHAKE_TIMEOUT`].
    #[error("TLS handshake timed out")]
    HandshakeTimeout,
    /// The peer negotiated no ALPN protocol: HTTP/2 over TLS requires `h2`.
    #[error(
        "the peer negotiated no ALPN protocol; HTTP/2 over TLS requires ALPN \"h2\" (RFC 9113 §3.2)"
    )]
    NoAlpn,
    /// The peer negotiated an ALPN protocol other than `h2`.
    #[error("the peer negotiated ALPN {0:?}, not \"h2\" (RFC 9113 §3.2)")]
    WrongAlpn(String),
    /// The TLS version or cipher suite is not allowed for HTTP/2 (RFC 9113
    /// §9.2): the connection is refused with INADEQUATE_SECURITY.
    #[error("inadequate security for HTTP/2 (RFC 9113 §9.2): {0}")]
    InadequateSecurity(String),
    /// A host that is not a valid DNS name or IP address for SNI.
    #[error("invalid TLS server name {0:?}")]
    ServerName(String),
    /// A PEM file could not be read or held nothing usable.
    #[error("{path}: {reason}")]
    Pem {
        /// The file.
        path: String,
        /// What was wrong with it.
        reason: String,
    },
    /// rustls refused the configuration (a key that does not match the
    /// certificate, say).
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

impl From<TlsError> for io::Error {
    fn from(e: TlsError) -> io::Error {
        let kind = match &e {
            TlsError::Handshake(inner) => inner.kind(),
            TlsError::HandshakeTimeout => io::ErrorKind::TimedOut,
            TlsError::ServerName(_) | TlsError::Pem { .. } | TlsError::Config(_) => {
                io::ErrorKind::InvalidInput
            }
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, e)
    }
}

/// The crypto provider every configuration of this module uses: rustls'
/// `ring` provider (TLS 1.3 and TLS 1.2 suites, all AEAD with ephemeral key
/// exchange).
pub fn provider() -> Arc<CryptoProvider> {
    // rustls 0.23.48 deprecates it for lacking post-quantum key exchange;
    // the brief requires ring (aws-lc needs cmake and nasm to build).
    #[allow(deprecated)]
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server configuration for one certificate chain and its private key:
/// TLS 1.2 and 1.3, no client authentication, ALPN `h2`.
///
/// For client authentication or anything else, build a
/// `rustls::ServerConfig` yourself and pass it through [`h2_server_config`].
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(h2_server_config(Arc::new(config)))
}

/// A server configuration that asks `resolver` for its certificate on each
/// handshake (a [`ReloadableCert`], say): TLS 1.2 and 1.3, no client
/// authentication, ALPN `h2`.
pub fn server_config_with_resolver(
    resolver: Arc<dyn ResolvesServerCert>,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    Ok(h2_server_config(Arc::new(config)))
}

/// [`server_config`] from PEM files: the certificate chain (leaf first) and
/// the private key (PKCS#8, PKCS#1 or SEC1).
pub fn server_config_from_pem_files(
    cert: impl AsRef<Path>,
    key: impl AsRef<Path>,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    server_config(load_certs(cert)?, load_private_key(key)?)
}

/// A client configuration trusting `roots`: TLS 1.2 and 1.3, no client
/// certificate, ALPN `h2`. SNI is sent (rustls' default).
pub fn client_config(roots: RootCertStore) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(h2_client_config(Arc::new(config)))
}

/// A client configuration trusting the webpki roots (Mozilla's CA list,
/// compiled in), with ALPN `h2`.
pub fn client_config_webpki_roots() -> Arc<rustls::ClientConfig> {
    let roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    client_config(roots).expect("the ring provider supports the default protocol versions")
}

/// A client configuration trusting the certificates of a PEM file (a
/// private CA, or a self-signed server certificate), with ALPN `h2`.
pub fn client_config_from_ca_file(
    ca: impl AsRef<Path>,
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let path = ca.as_ref();
    let mut roots = RootCertStore::empty();
    for cert in load_certs(path)? {
        roots.add(cert).map_err(|e| TlsError::Pem {
            path: path.display().to_string(),
            reason: format!("not a usable CA certificate: {e}"),
        })?;
    }
    client_config(roots)
}

/// Your server configuration with its ALPN list made exactly `["h2"]`: a
/// client that offers ALPN without `h2` is then refused in the handshake
/// (`no_application_protocol` alert), and one that offers no ALPN at all is
/// refused by [`check_alpn`] right after it. Returns `config` itself when
/// it already says `h2` only.
pub fn h2_server_config(config: Arc<rustls::ServerConfig>) -> Arc<rustls::ServerConfig> {
    if config.alpn_protocols == [ALPN_H2] {
        return config;
    }
    let mut config = (*config).clone();
    config.alpn_protocols = vec![ALPN_H2.to_vec()];
    Arc::new(config)
}

/// Your client configuration with its ALPN list made exactly `["h2"]`.
/// Returns `config` itself when it already says `h2` only.
pub fn h2_client_config(config: Arc<rustls::ClientConfig>) -> Arc<rustls::ClientConfig> {
    if config.alpn_protocols == [ALPN_H2] {
        return config;
    }
    let mut config = (*config).clone();
    config.alpn_protocols = vec![ALPN_H2.to_vec()];
    Arc::new(config)
}

/// The SNI name (and certificate name to verify) for `host`: a DNS name or
/// an IP address, IPv6 with or without brackets.
pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_owned()).map_err(|_| TlsError::ServerName(host.to_owned()))
}

/// The certificates of a PEM file, in file order.
pub fn load_certs(path: impl AsRef<Path>) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let path = path.as_ref();
    let pem_err = |reason: String| TlsError::Pem {
        path: path.display().to_string(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_err(e.to_string()))?;
    if certs.is_empty() {
        return Err(pem_err("no CERTIFICATE in the file".into()));
    }
    Ok(certs)
}

/// The first private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn load_private_key(path: impl AsRef<Path>) -> Result<PrivateKeyDer<'static>, TlsError> {
    let path = path.as_ref();
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::Pem {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// RFC 9113 §3.2: the negotiated ALPN protocol must be `h2`.
pub fn check_alpn(negotiated: Option<&[u8]>) -> Result<(), TlsError> {
    match negotiated {
        Some(ALPN_H2) => Ok(()),
        Some(other) => Err(TlsError::WrongAlpn(
            String::from_utf8_lossy(other).into_owned(),
        )),
        None => Err(TlsError::NoAlpn),
    }
}

/// RFC 9113 §9.2: TLS 1.2 or later, and with TLS 1.2 a cipher suite outside
/// the §9.2.2 block list (Appendix A), that is an AEAD suite with an
/// ephemeral key exchange. TLS 1.3 suites all qualify.
///
/// rustls supports nothing older than TLS 1.2 and only ECDHE AEAD suites,
/// so with its providers this never fails; it guards against a custom
/// provider with weaker suites.
pub fn check_security(
    version: Option<ProtocolVersion>,
    suite: Option<SupportedCipherSuite>,
) -> Result<(), TlsError> {
    match version {
        Some(ProtocolVersion::TLSv1_3) => Ok(()),
        Some(ProtocolVersion::TLSv1_2) => match suite {
            Some(suite) if suite_allowed(suite) => Ok(()),
            Some(suite) => Err(TlsError::InadequateSecurity(format!(
                "cipher suite {:?} is on the block list (§9.2.2)",
                suite.suite()
            ))),
            None => Err(TlsError::InadequateSecurity("no cipher suite".into())),
        },
        other => Err(TlsError::InadequateSecurity(format!(
            "protocol version {other:?} is older than TLS 1.2 (§9.2)"
        ))),
    }
}

/// Whether a cipher suite may carry HTTP/2 (§9.2.2): every TLS 1.3 suite;
/// a TLS 1.2 suite only with an ephemeral key exchange (ECDHE or DHE) and
/// an AEAD cipher (GCM, CCM, ChaCha20-Poly1305), which is exactly what the
/// Appendix A block list leaves out.
pub fn suite_allowed(suite: SupportedCipherSuite) -> bool {
    match suite {
        SupportedCipherSuite::Tls13(_) => true,
        SupportedCipherSuite::Tls12(_) => {
            let name = format!("{:?}", suite.suite());
            let ephemeral = name.starts_with("TLS_ECDHE_") || name.starts_with("TLS_DHE_");
            let aead = name.contains("_GCM_")
                || name.contains("_CCM")
                || name.contains("CHACHA20_POLY1305");
            ephemeral && aead
        }
    }
}

/// The post-handshake checks of an HTTP/2 connection: [`check_alpn`], then
/// [`check_security`].
pub(crate) fn check_session(state: &rustls::CommonState) -> Result<(), TlsError> {
    check_alpn(state.alpn_protocol())?;
    check_security(state.protocol_version(), state.negotiated_cipher_suite())
}

/// Logs why a TLS connection was refused (through the `log` crate, at
/// `warn`), as servers do for each handshake or check that fails.
pub(crate) fn log_refused(peer: Option<std::net::SocketAddr>, error: &TlsError) {
    match peer {
        Some(peer) => log::warn!("h2proto: TLS connection from {peer} refused: {error}"),
        None => log::warn!("h2proto: TLS connection refused: {error}"),
    }
}

/// A server certificate that can be replaced while the server runs: every
/// new handshake gets the key pair set last; connections already open keep
/// theirs.
///
/// ```
/// use std::sync::Arc;
/// use h2proto::io::tls::{self, ReloadableCert};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let key = rcgen::KeyPair::generate()?;
/// # let cert = rcgen::CertificateParams::new(vec!["localhost".into()])?.self_signed(&key)?;
/// # let dir = std::env::temp_dir().join(format!("h2proto-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// # let (cert_pem, key_pem) = (dir.join("cert.pem"), dir.join("key.pem"));
/// # std::fs::write(&cert_pem, cert.pem())?;
/// # std::fs::write(&key_pem, key.serialize_pem())?;
/// let cert = Arc::new(ReloadableCert::from_pem_files(&cert_pem, &key_pem)?);
/// let config = tls::server_config_with_resolver(cert.clone())?;
/// // ... serve with `config`; later, after the files were renewed:
/// cert.reload_pem_files(&cert_pem, &key_pem)?;
/// # Ok(())
/// # }
/// ```
pub struct ReloadableCert {
    current: RwLock<Arc<CertifiedKey>>,
}

impl fmt::Debug for ReloadableCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadableCert").finish_non_exhaustive()
    }
}

impl ReloadableCert {
    /// Starts with this chain and key.
    pub fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<ReloadableCert, TlsError> {
        Ok(ReloadableCert {
            current: RwLock::new(Arc::new(certified_key(chain, key)?)),
        })
    }

    /// Starts with the chain and key of these PEM files.
    pub fn from_pem_files(
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<ReloadableCert, TlsError> {
        ReloadableCert::new(load_certs(cert)?, load_private_key(key)?)
    }

    /// Replaces the chain and key for the handshakes to come. On error the
    /// current ones stay.
    pub fn set(
        &self,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<(), TlsError> {
        let next = Arc::new(certified_key(chain, key)?);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = next;
        Ok(())
    }

    /// Reads the PEM files again and uses them for the handshakes to come.
    /// On error the current ones stay.
    pub fn reload_pem_files(
        &self,
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<(), TlsError> {
        self.set(load_certs(cert)?, load_private_key(key)?)
    }
}

impl ResolvesServerCert for ReloadableCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

fn certified_key(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<CertifiedKey, TlsError> {
    let signer = provider().key_provider.load_private_key(key)?;
    let certified = CertifiedKey::new(chain, signer);
    certified.keys_match().or_else(|e| match e {
        // A key whose public half cannot be extracted cannot be checked.
        rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown) => Ok(()),
        e => Err(e),
    })?;
    Ok(certified)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_suites_all_pass_the_block_list() {
        let provider = provider();
        assert!(!provider.cipher_suites.is_empty());
        for suite in &provider.cipher_suites {
            assert!(suite_allowed(*suite), "{:?}", suite.suite());
        }
    }

    #[test]
    fn alpn_rules() {
        assert!(check_alpn(Some(b"h2")).is_ok());
        assert!(matches!(check_alpn(None), Err(TlsError::NoAlpn)));
        let e = check_alpn(Some(b"http/1.1")).unwrap_err();
        assert!(e.to_string().contains("http/1.1"), "{e}");
    }

    #[test]
    fn versions_below_tls12_are_inadequate() {
        let e = check_security(Some(ProtocolVersion::TLSv1_1), None).unwrap_err();
        assert!(matches!(e, TlsError::InadequateSecurity(_)), "{e}");
        let suite = provider().cipher_suites[0];
        assert!(check_security(Some(ProtocolVersion::TLSv1_3), Some(suite)).is_ok());
    }

    #[test]
    fn alpn_is_forced_to_h2() {
        let config = client_config_webpki_roots();
        assert_eq!(config.alpn_protocols, vec![ALPN_H2.to_vec()]);
        let mut other = (*config).clone();
        other.alpn_protocols = vec![b"http/1.1".to_vec(), b"h2".to_vec()];
        let fixed = h2_client_config(Arc::new(other));
        assert_eq!(fixed.alpn_protocols, vec![ALPN_H2.to_vec()]);
    }

    #[test]
    fn server_names() {
        assert!(server_name("localhost").is_ok());
        assert!(server_name("[::1]").is_ok());
        assert!(server_name("127.0.0.1").is_ok());
        assert!(matches!(server_name("a b"), Err(TlsError::ServerName(_))));
    }
}
