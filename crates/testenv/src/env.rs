//! The handle tests use: clients, namespaces, and facts about the server.

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use k8s_openapi::api::core::v1::Namespace;
use kube::{
    Api, Client,
    api::{ObjectMeta, PostParams},
};

use crate::{
    error::{Error, Result},
    server::{self, Server},
};

/// Field manager for everything the test environment itself applies.
pub const FIELD_MANAGER: &str = "vmcp-testenv";

/// A handle on the test binary's shared kube-apiserver. Cheap to clone.
#[derive(Clone, Debug)]
pub struct TestEnv {
    server: Arc<Server>,
}

impl TestEnv {
    /// The shared server, started by the first caller in this test binary
    /// (which may first build the binaries; see `scripts/testenv-build.sh`).
    ///
    /// Starting blocks on process start-up, so it runs on tokio's blocking
    /// pool: concurrent tests wait for the one start instead of racing.
    pub async fn shared() -> Result<TestEnv> {
        let server = tokio::task::spawn_blocking(server::shared_blocking)
            .await
            .map_err(|err| Error::Supervisor(format!("start-up task failed: {err}")))??;
        Ok(TestEnv { server })
    }

    /// A new admin (system:masters) client on the caller's runtime. Build one
    /// per test: a client must not outlive the runtime it was built on.
    pub fn client(&self) -> Result<Client> {
        Client::try_from(self.server.config.clone()).map_err(Error::Client)
    }

    /// The admin client configuration, for building clients with other
    /// credentials or timeouts.
    pub fn config(&self) -> kube::Config {
        self.server.config.clone()
    }

    /// An admin kubeconfig file, valid while the test binary runs
    /// (`KUBECONFIG=<path> kubectl get all -A` while debugging a test).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.server.kubeconfig
    }

    /// The PEM CA file that verifies the API server's serving certificate (what a pod
    /// finds at `/var/run/secrets/kubernetes.io/serviceaccount/ca.crt`).
    pub fn ca_cert_path(&self) -> &Path {
        &self.server.ca_cert
    }

    /// The issuer the API server writes into service-account tokens (`iss`).
    pub const SERVICE_ACCOUNT_ISSUER: &'static str = server::SERVICE_ACCOUNT_ISSUER;

    /// The kube-apiserver log, for assertions or debugging.
    pub fn apiserver_log_path(&self) -> &Path {
        &self.server.apiserver_log
    }

    /// The etcd log.
    pub fn etcd_log_path(&self) -> &Path {
        &self.server.etcd_log
    }

    /// The temp dir holding the server's data, certificates and logs.
    pub fn dir(&self) -> &Path {
        &self.server.dir
    }

    /// Kills kube-apiserver and starts it again on the same port, with the
    /// same certificates and etcd data (a crash and restart, as a control
    /// plane upgrade or failure would cause); returns once it is ready again,
    /// with how long that took. Every test of the binary sees the outage: use
    /// it only in a test binary of its own.
    pub async fn restart_apiserver(&self) -> Result<Duration> {
        let server = self.server.clone();
        tokio::task::spawn_blocking(move || server.restart_apiserver_blocking())
            .await
            .map_err(|err| Error::Supervisor(format!("restart task failed: {err}")))?
    }

    /// Starts kube-controller-manager for the rest of this test binary,
    /// unless it runs already, and returns once its controllers work (with
    /// how long that took; zero when it was running). Only the garbage
    /// collector, namespace and ServiceAccount controllers run: owned objects
    /// are deleted with their owner, deleted namespaces are emptied and
    /// removed, and every namespace gets its `default` ServiceAccount.
    ///
    /// It is not started by default because it changes the world every test
    /// of the binary sees (and costs ~100 MB); call it in test binaries that
    /// assert garbage collection.
    pub async fn start_controller_manager(&self) -> Result<Duration> {
        let server = self.server.clone();
        tokio::task::spawn_blocking(move || server.start_controller_manager_blocking())
            .await
            .map_err(|err| Error::Supervisor(format!("controller manager task failed: {err}")))?
    }

    /// How long etcd + kube-apiserver took from spawn to `/readyz` ok.
    pub fn startup_time(&self) -> Duration {
        self.server.startup
    }

    /// Creates a namespace with a unique name starting with `prefix` and
    /// returns its name. Tests share one server, so each works in its own
    /// namespace. Namespaces are not deleted: without the controller manager
    /// (see [`TestEnv::start_controller_manager`]) nothing would finalize
    /// them, and the server is thrown away when the test binary ends.
    pub async fn namespace(&self, prefix: &str) -> Result<String> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "{}-{}-{}",
            dns_label_prefix(prefix),
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        Api::<Namespace>::all(self.client()?)
            .create(&PostParams::default(), &namespace)
            .await
            .map_err(Error::api(format!("creating namespace {name}")))?;
        Ok(name)
    }
}

/// Lower-cases `prefix` and keeps it a valid start of a DNS label, leaving
/// room for the pid and counter within 63 characters.
fn dns_label_prefix(prefix: &str) -> String {
    let cleaned: String = prefix
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() { c } else { '-' }
        })
        .take(40)
        .collect();
    let trimmed = cleaned.trim_matches('-');
    if trimmed.is_empty() {
        "test".to_owned()
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::dns_label_prefix;

    #[test]
    fn namespace_prefixes_are_dns_labels() {
        assert_eq!(dns_label_prefix("ConfigMap_Watch"), "configmap-watch");
        assert_eq!(dns_label_prefix("--"), "test");
        assert_eq!(dns_label_prefix(&"a".repeat(80)).len(), 40);
    }
}
