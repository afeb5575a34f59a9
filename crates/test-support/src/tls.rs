//! TLS in front of loopback MCP servers, with a CA generated per run (`vmcp_testenv::TestCa`):
//! how tests and the demo get a backend that only a custom CA bundle can reach.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use vmcp_testenv::TestCa;

/// A CA of this run and a server configuration with a leaf for `localhost` and 127.0.0.1
/// signed by it.
pub struct LoopbackTls {
    ca_pem: String,
    server: Arc<rustls::ServerConfig>,
}

impl LoopbackTls {
    /// A fresh CA named `ca_name` and a loopback leaf.
    pub fn new(ca_name: &str) -> anyhow::Result<LoopbackTls> {
        let ca = TestCa::new(ca_name).context("generating the CA")?;
        let leaf = ca.loopback_server(&[]).context("generating the leaf")?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.cert.der().clone()],
                rustls_pki_types::PrivateKeyDer::Pkcs8(leaf.key.serialize_der().into()),
            )?;
        Ok(LoopbackTls {
            ca_pem: ca.pem(),
            server: Arc::new(server),
        })
    }

    /// The CA certificate (PEM): what a client's CA bundle must hold.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Writes the CA certificate to `dir/ca.crt` and returns that path.
    pub fn write_ca(&self, dir: &Path) -> std::io::Result<PathBuf> {
        let path = dir.join("ca.crt");
        std::fs::write(&path, &self.ca_pem)?;
        Ok(path)
    }

    /// The server side, for a TLS listener of the test's own.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        self.server.clone()
    }

    /// Terminates TLS on a fresh loopback port and forwards the plaintext to
    /// 127.0.0.1:`target`; returns the port. Runs on the current Tokio runtime until it
    /// ends.
    pub async fn forward_to(&self, target: u16) -> anyhow::Result<u16> {
        let acceptor = tokio_rustls::TlsAcceptor::from(self.server.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(sock).await else {
                        return;
                    };
                    let Ok(mut up) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await
                    else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                });
            }
        });
        Ok(port)
    }
}
