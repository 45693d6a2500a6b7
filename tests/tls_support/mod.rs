//! Certificates generated at test time (rcgen): a CA, and a server
//! certificate it signs, written as PEM files for the external peers.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use h2proto::io::tls::{self, rustls};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

/// A CA and a server certificate for `localhost`, `127.0.0.1` and
/// `foo.test.google.fr` (the gRPC interop override name), with their PEM
/// files in a fresh directory.
pub struct TestPki {
    pub dir: PathBuf,
    pub ca_pem: PathBuf,
    pub cert_pem: PathBuf,
    pub key_pem: PathBuf,
    pub ca_der: rustls::pki_types::CertificateDer<'static>,
}

/// Names the server certificate is valid for.
pub const NAMES: [&str; 3] = ["localhost", "127.0.0.1", "foo.test.google.fr"];

impl TestPki {
    pub fn new(tag: &str) -> TestPki {
        let dir = std::env::temp_dir().join(format!(
            "h2proto-tls-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("h2proto test CA {tag}"));
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(NAMES.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap();
        let pki = TestPki {
            ca_pem: dir.join("ca.pem"),
            cert_pem: dir.join("cert.pem"),
            key_pem: dir.join("key.pem"),
            ca_der: ca.der().clone(),
            dir,
        };
        std::fs::write(&pki.ca_pem, ca.pem()).unwrap();
        // The chain: leaf, then the CA (servers send the chain).
        std::fs::write(&pki.cert_pem, format!("{}{}", cert.pem(), ca.pem())).unwrap();
        std::fs::write(&pki.key_pem, key.serialize_pem()).unwrap();
        pki
    }

    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        tls::server_config_from_pem_files(&self.cert_pem, &self.key_pem).unwrap()
    }

    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        tls::client_config_from_ca_file(&self.ca_pem).unwrap()
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
