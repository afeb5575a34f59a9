//! The operator's controllers running in-process against the real kube-apiserver of
//! `vmcp_testenv`, scoped to a namespace of the test's own.

use std::sync::Arc;
use std::time::Duration;

use kube::api::Api;
use kube::{Client, Resource};
use vmcp_operator::controllers::{Context, Scope};
use vmcp_operator::run::Controllers;
use vmcp_testenv::{TestEnv, apply_yaml};

/// How long a test waits for the controllers to converge.
pub const WAIT: Duration = Duration::from_secs(30);

pub struct Harness {
    pub env: TestEnv,
    pub client: Client,
    pub ns: String,
    pub ctx: Arc<Context>,
    pub controllers: Controllers,
}

/// The API server with the CRDs, a fresh namespace named after `prefix`, and the controllers
/// watching only it.
pub async fn start(prefix: &str) -> Harness {
    init_logs();
    let env = TestEnv::shared().await.expect("test apiserver");
    env.install_crds().await.expect("CRDs");
    let ns = env.namespace(prefix).await.expect("namespace");
    let client = env.client().expect("client");
    let controllers = Controllers::spawn(client.clone(), vec![Scope::Namespace(ns.clone())]);
    Harness {
        env,
        client,
        ns,
        ctx: controllers.ctx.clone(),
        controllers,
    }
}

/// The controllers' log lines at `warn` (or as `VMCP_TEST_LOG` filters them), captured with
/// each test's output, so a failing test shows the reconcile errors behind it. Each test runs
/// its controllers on its own single-threaded runtime, so its lines are its own.
fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VMCP_TEST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

impl Harness {
    /// Applies YAML documents into the test namespace as the user would.
    pub async fn apply(&self, yaml: &str) {
        apply_yaml(&self.client, Some(&self.ns), yaml).await;
    }

    /// The API of a namespaced kind in the test namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
    {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    /// Stops the controllers; what is left to inspect afterwards.
    pub async fn stop(self) -> (Client, String, Arc<Context>, TestEnv) {
        let ctx = self.controllers.stop().await;
        (self.client, self.ns, ctx, self.env)
    }
}
