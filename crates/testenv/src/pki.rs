//! Certificates and keys for one test API server, generated per run.
//!
//! Fresh material per run means nothing secret is committed or cached, and a
//! leaked temp dir is worthless after its server is gone. One CA signs both
//! the serving certificate and the admin client certificate; the admin is in
//! `system:masters`, the group that RBAC always allows, which works in every
//! Kubernetes release (unlike static token files, which are on their way out).

use std::{
    fs,
    net::{IpAddr, Ipv4Addr},
    path::{Path, PathBuf},
};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

use crate::error::{Error, Result};

/// Files written for one server, and the CA in DER for the client side.
#[derive(Debug, Clone)]
pub struct Pki {
    pub ca_cert: PathBuf,
    pub ca_der: Vec<u8>,
    pub serving_cert: PathBuf,
    pub serving_key: PathBuf,
    pub admin_cert: PathBuf,
    pub admin_key: PathBuf,
    /// Signs service-account tokens (TokenRequest API).
    pub service_account_key: PathBuf,
    /// Verifies them.
    pub service_account_public_key: PathBuf,
}

/// A certificate authority generated for one run: the one CA helper of the
/// workspace's tests, for the API server here and, through `vmcp-test-support`,
/// for TLS in front of MCP servers. Nothing is written to disk unless asked.
pub struct TestCa {
    cert: Certificate,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate signed by a [`TestCa`], with its private key.
pub struct Leaf {
    pub cert: Certificate,
    pub key: KeyPair,
}

impl TestCa {
    /// A fresh CA (new key) named `common_name`, allowed to sign certificates.
    pub fn new(common_name: &str) -> Result<TestCa, rcgen::Error> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key)?;
        Ok(TestCa {
            cert,
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA certificate in PEM, as a client's CA bundle holds it.
    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// The CA certificate in DER.
    pub fn der(&self) -> &[u8] {
        self.cert.der()
    }

    /// Signs `params` with a fresh key.
    pub fn sign(&self, params: &CertificateParams) -> Result<Leaf, rcgen::Error> {
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Leaf { cert, key })
    }

    /// A server certificate for `localhost` and 127.0.0.1 plus `dns_names`: what
    /// every loopback server of the tests is reached as.
    pub fn loopback_server(&self, dns_names: &[&str]) -> Result<Leaf, rcgen::Error> {
        let names = std::iter::once("localhost")
            .chain(dns_names.iter().copied())
            .map(str::to_owned)
            .collect::<Vec<_>>();
        let mut params = CertificateParams::new(names)?;
        params
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(&params)
    }
}

fn cert_err(what: &'static str) -> impl FnOnce(rcgen::Error) -> Error {
    move |source| Error::Certificate { what, source }
}

/// Generates the CA, serving and admin certificates and the service-account
/// signing key, and writes them as PEM into `dir`.
pub fn generate(dir: &Path) -> Result<Pki> {
    let ca = TestCa::new("vmcp-testenv-ca").map_err(cert_err("CA certificate"))?;

    // The API server is reached as 127.0.0.1 by our clients; `localhost` and
    // the in-cluster names cover kubeconfigs and anything that copies them.
    let serving = ca
        .loopback_server(&["kubernetes", "kubernetes.default", "kubernetes.default.svc"])
        .map_err(cert_err("serving certificate"))?;

    let mut admin = CertificateParams::default();
    admin
        .distinguished_name
        .push(DnType::CommonName, "vmcp-testenv-admin");
    admin
        .distinguished_name
        .push(DnType::OrganizationName, "system:masters");
    admin.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let admin = ca
        .sign(&admin)
        .map_err(cert_err("admin client certificate"))?;

    // ECDSA P-256: kube-apiserver signs ES256 service-account tokens with it.
    // The verification side wants the public key in its own file (it does
    // not read a PKCS#8 private key there).
    let sa_key = KeyPair::generate().map_err(cert_err("service-account signing key"))?;

    let write = |name: &str, contents: String| -> Result<PathBuf> {
        let path = dir.join(name);
        fs::write(&path, contents).map_err(Error::io(format!("writing {}", path.display())))?;
        Ok(path)
    };
    Ok(Pki {
        ca_cert: write("ca.crt", ca.pem())?,
        ca_der: ca.der().to_vec(),
        serving_cert: write("apiserver.crt", serving.cert.pem())?,
        serving_key: write("apiserver.key", serving.key.serialize_pem())?,
        admin_cert: write("admin.crt", admin.cert.pem())?,
        admin_key: write("admin.key", admin.key.serialize_pem())?,
        service_account_key: write("service-account.key", sa_key.serialize_pem())?,
        service_account_public_key: write("service-account.pub", sa_key.public_key_pem())?,
    })
}
