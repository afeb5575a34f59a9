//! TLS for backend connections: rustls with the system roots, the webpki roots and, per
//! backend, the PEM CA bundle named by `caBundlePath` (how the operator mounts an
//! MCPServerEntry's CA). TLS 1.2 is the floor.
//!
//! A missing or unusable bundle is a startup error naming the backend, because a backend that
//! can never connect is a configuration mistake, not a runtime condition.

use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("backend {backend:?}: cannot read CA bundle {path}: {source}")]
    Read {
        backend: String,
        path: String,
        source: std::io::Error,
    },
    #[error("backend {backend:?}: CA bundle {path} is not valid PEM: {reason}")]
    Pem {
        backend: String,
        path: String,
        reason: String,
    },
    #[error("backend {backend:?}: CA bundle {path} holds no certificate")]
    Empty { backend: String, path: String },
    #[error("backend {backend:?}: CA bundle {path}: certificate rejected: {reason}")]
    Rejected {
        backend: String,
        path: String,
        reason: String,
    },
    #[error("TLS setup: {0}")]
    Setup(String),
}

/// Roots every backend trusts: the platform store plus the bundled webpki roots (so a
/// minimal container image without a CA store still reaches public servers).
pub fn base_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // Some platform stores carry certificates rustls cannot parse; skip those.
        let _ = roots.add(cert);
    }
    roots
}

/// Reads a CA bundle for `backend`, refusing empty or malformed files.
pub fn load_ca_bundle(
    backend: &str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| TlsError::Read {
        backend: backend.to_owned(),
        path: shown.clone(),
        source,
    })?;
    parse_ca_bundle(backend, &shown, &bytes)
}

/// Parses PEM CA certificates for `backend`; `source` names where they came from (a file,
/// or `ConfigMap ns/name key k` in dynamic mode) for the error message.
pub fn parse_ca_bundle(
    backend: &str,
    source: &str,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let mut certs = Vec::new();
    for item in CertificateDer::pem_slice_iter(pem) {
        match item {
            Ok(c) => certs.push(c),
            Err(e) => {
                return Err(TlsError::Pem {
                    backend: backend.to_owned(),
                    path: source.to_owned(),
                    reason: e.to_string(),
                });
            }
        }
    }
    if certs.is_empty() {
        return Err(TlsError::Empty {
            backend: backend.to_owned(),
            path: source.to_owned(),
        });
    }
    Ok(certs)
}

/// For tests: a client config trusting nothing but what a test passes explicitly (plain
/// `http://` test servers never use it; it only has to build).
#[cfg(test)]
pub(crate) fn test_client_config() -> rustls::ClientConfig {
    client_config("issuer", None, &rustls::RootCertStore::empty(), &[]).unwrap()
}

/// A client config trusting `base` plus `extra`.
pub fn client_config(
    backend: &str,
    source: Option<&str>,
    base: &RootCertStore,
    extra: &[CertificateDer<'static>],
) -> Result<rustls::ClientConfig, TlsError> {
    let mut roots = base.clone();
    for cert in extra {
        roots.add(cert.clone()).map_err(|e| TlsError::Rejected {
            backend: backend.to_owned(),
            path: source.unwrap_or_default().to_owned(),
            reason: e.to_string(),
        })?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Setup(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_bundles_are_errors_naming_the_backend() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        let e = load_ca_bundle("partner", &missing).unwrap_err().to_string();
        assert!(e.contains("\"partner\"") && e.contains("nope.pem"), "{e}");

        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "hello, not a certificate\n").unwrap();
        let e = load_ca_bundle("partner", &empty).unwrap_err().to_string();
        assert!(e.contains("no certificate"), "{e}");

        let broken = dir.path().join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        assert!(load_ca_bundle("partner", &broken).is_err());
    }

    #[test]
    fn accepts_a_generated_ca() {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = params.self_signed(&key).unwrap();
        let path = dir.path().join("ca.crt");
        std::fs::write(&path, ca.pem()).unwrap();
        let certs = load_ca_bundle("b", &path).unwrap();
        assert_eq!(certs.len(), 1);
        client_config("b", Some("ca.crt"), &RootCertStore::empty(), &certs).unwrap();
    }
}
