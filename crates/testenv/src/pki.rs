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
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
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

fn cert_err(what: &'static str) -> impl FnOnce(rcgen::Error) -> Error {
    move |source| Error::Certificate { what, source }
}

/// Generates the CA, serving and admin certificates and the service-account
/// signing key, and writes them as PEM into `dir`.
pub fn generate(dir: &Path) -> Result<Pki> {
    let ca_key = KeyPair::generate().map_err(cert_err("CA key"))?;
    let mut ca_params = CertificateParams::default();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "vmcp-testenv-ca");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params
        .self_signed(&ca_key)
        .map_err(cert_err("CA certificate"))?;
    let ca = Issuer::new(ca_params, ca_key);

    // The API server is reached as 127.0.0.1 by our clients; `localhost` and
    // the in-cluster names cover kubeconfigs and anything that copies them.
    let serving_key = KeyPair::generate().map_err(cert_err("serving key"))?;
    let mut serving = CertificateParams::new(vec![
        "localhost".to_owned(),
        "kubernetes".to_owned(),
        "kubernetes.default".to_owned(),
        "kubernetes.default.svc".to_owned(),
    ])
    .map_err(cert_err("serving certificate names"))?;
    serving
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    serving
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let serving_cert = serving
        .signed_by(&serving_key, &ca)
        .map_err(cert_err("serving certificate"))?;

    let admin_key = KeyPair::generate().map_err(cert_err("admin key"))?;
    let mut admin = CertificateParams::default();
    admin
        .distinguished_name
        .push(DnType::CommonName, "vmcp-testenv-admin");
    admin
        .distinguished_name
        .push(DnType::OrganizationName, "system:masters");
    admin.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let admin_cert = admin
        .signed_by(&admin_key, &ca)
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
        ca_cert: write("ca.crt", ca_cert.pem())?,
        ca_der: ca_cert.der().to_vec(),
        serving_cert: write("apiserver.crt", serving_cert.pem())?,
        serving_key: write("apiserver.key", serving_key.serialize_pem())?,
        admin_cert: write("admin.crt", admin_cert.pem())?,
        admin_key: write("admin.key", admin_key.serialize_pem())?,
        service_account_key: write("service-account.key", sa_key.serialize_pem())?,
        service_account_public_key: write("service-account.pub", sa_key.public_key_pem())?,
    })
}
