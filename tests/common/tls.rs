//! A TLS front for loopback MCP servers, with a CA generated per run: how the end-to-end
//! tests and the demo get a backend that only a custom CA bundle can reach.
//! (The demo includes this file with `#[path]`, so it stays free of test-only helpers.)

use std::net::Ipv4Addr;
use std::sync::Arc;

/// A CA generated for this run (PEM) and a server config with a leaf for 127.0.0.1 and
/// localhost signed by it.
pub fn pki(ca_name: &str) -> anyhow::Result<(String, Arc<rustls::ServerConfig>)> {
    let ca_key = rcgen::KeyPair::generate()?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, ca_name);
    let ca = ca_params.self_signed(&ca_key)?;
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_key = rcgen::KeyPair::generate()?;
    let mut leaf_params = rcgen::CertificateParams::new(vec!["localhost".to_owned()])?;
    leaf_params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress(Ipv4Addr::LOCALHOST.into()));
    let leaf = leaf_params.signed_by(&leaf_key, &issuer)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls_pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )?;
    Ok((ca.pem(), Arc::new(server)))
}

/// Terminates TLS on a fresh loopback port and forwards the plaintext to `target`; returns
/// the port. Runs on the current Tokio runtime until it ends.
pub async fn tls_forwarder(server: Arc<rustls::ServerConfig>, target: u16) -> anyhow::Result<u16> {
    let acceptor = tokio_rustls::TlsAcceptor::from(server);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(sock).await else {
                    return;
                };
                let Ok(mut up) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
            });
        }
    });
    Ok(port)
}
