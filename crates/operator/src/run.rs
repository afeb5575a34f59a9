//! The operator process: health and metrics server, leader election, the controllers
//! per watched scope, and graceful shutdown.
//!
//! `/healthz` answers while the process runs; `/readyz` once the API server has answered
//! (a standby replica is ready: it is ready to take over); `/metrics` is Prometheus text.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use kube::Client;
use vmcp_api::{MCPAuthzConfig, MCPExternalAuthConfig, MCPOIDCConfig, MCPTelemetryConfig};

use crate::controllers::{self, Context, Metrics, Scope, Shutdown};
use crate::error::{Error, Result};
use crate::leader::{Elector, LeaseConfig};
use crate::render::Settings;

/// How the operator runs.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Namespaces to watch; empty means the whole cluster (`WATCH_NAMESPACE` unset).
    pub namespaces: Vec<String>,
    /// Where to serve `/healthz`, `/readyz` and `/metrics`; `None` serves nothing.
    pub health_addr: Option<SocketAddr>,
    /// Leader election, or `None` to run unconditionally (single replica, tests).
    pub lease: Option<LeaseConfig>,
    pub settings: Settings,
}

impl RunOptions {
    /// Parses `WATCH_NAMESPACE` (a comma-separated list; empty means all).
    pub fn parse_namespaces(value: Option<&str>) -> Vec<String> {
        value
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    }

    fn scopes(&self) -> Vec<Scope> {
        if self.namespaces.is_empty() {
            vec![Scope::All]
        } else {
            self.namespaces
                .iter()
                .map(|n| Scope::Namespace(n.clone()))
                .collect()
        }
    }
}

struct Health {
    ready: AtomicBool,
    exposition: crate::metrics::Exposition,
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(h): State<Arc<Health>>) -> (StatusCode, &'static str) {
    if h.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

async fn metrics_handler(State(h): State<Arc<Health>>) -> String {
    h.exposition.render()
}

/// Runs every controller for `scopes` until `shutdown`.
pub async fn run_controllers(ctx: Arc<Context>, scopes: Vec<Scope>, shutdown: Shutdown) {
    let mut tasks = Vec::new();
    for scope in scopes {
        tasks.push(tokio::spawn(controllers::group::run(
            ctx.clone(),
            scope.clone(),
            shutdown.clone(),
        )));
        tasks.push(tokio::spawn(controllers::entry::run(
            ctx.clone(),
            scope.clone(),
            shutdown.clone(),
        )));
        tasks.push(tokio::spawn(
            controllers::shared_config::run::<MCPOIDCConfig>(
                ctx.clone(),
                scope.clone(),
                shutdown.clone(),
            ),
        ));
        tasks.push(tokio::spawn(controllers::shared_config::run::<
            MCPAuthzConfig,
        >(
            ctx.clone(), scope.clone(), shutdown.clone()
        )));
        tasks.push(tokio::spawn(controllers::shared_config::run::<
            MCPExternalAuthConfig,
        >(
            ctx.clone(), scope.clone(), shutdown.clone()
        )));
        tasks.push(tokio::spawn(controllers::shared_config::run::<
            MCPTelemetryConfig,
        >(
            ctx.clone(), scope.clone(), shutdown.clone()
        )));
        tasks.push(tokio::spawn(controllers::virtual_server::run(
            ctx.clone(),
            scope,
            shutdown.clone(),
        )));
    }
    for t in tasks {
        if let Err(e) = t.await {
            tracing::error!(error = %e, "controller task failed");
        }
    }
}

/// The controllers running in a task of their own, without leader election or a health
/// server: for embedding them (the integration tests, a test harness of a user's own).
pub struct Controllers {
    /// The shared context: client, applier statistics, metrics.
    pub ctx: Arc<Context>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Controllers {
    /// Starts every controller for `scopes` with default settings.
    pub fn spawn(client: Client, scopes: Vec<Scope>) -> Controllers {
        Self::spawn_with(
            Context::new(client, Settings::default(), Arc::new(Metrics::default())),
            scopes,
        )
    }

    /// Starts every controller for `scopes` on `ctx`.
    pub fn spawn_with(ctx: Arc<Context>, scopes: Vec<Scope>) -> Controllers {
        let (stop, shutdown) = Shutdown::new();
        let task = tokio::spawn(run_controllers(ctx.clone(), scopes, shutdown));
        Controllers { ctx, stop, task }
    }

    /// Asks every controller to stop and waits until they have; returns the context, whose
    /// statistics then no longer move.
    pub async fn stop(self) -> Arc<Context> {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        self.ctx
    }
}

/// Runs the operator until `stop` resolves (SIGTERM at the binary's edge).
pub async fn run(
    client: Client,
    opts: RunOptions,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let metrics = Arc::new(Metrics::default());
    let ctx = Context::new(client.clone(), opts.settings.clone(), metrics.clone());
    let health = Arc::new(Health {
        ready: AtomicBool::new(false),
        exposition: crate::metrics::Exposition::new(metrics.clone(), ctx.applier.stats.clone()),
    });
    let (trigger, shutdown) = Shutdown::new();
    tokio::spawn(async move {
        stop.await;
        let _ = trigger.send(true);
    });

    if let Some(addr) = opts.health_addr {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Serve {
                addr: addr.to_string(),
                source,
            })?;
        let app = axum::Router::new()
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics_handler))
            .with_state(health.clone());
        let sd = shutdown.clone();
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(sd.wait())
                .await
            {
                tracing::error!(error = %e, "health server failed");
            }
        });
    }

    client
        .apiserver_version()
        .await
        .map_err(Error::kube("contacting the API server"))?;
    health.ready.store(true, Ordering::Relaxed);

    let elector = opts
        .lease
        .clone()
        .map(|cfg| Elector::new(client.clone(), cfg));
    if let Some(e) = &elector {
        tracing::info!("waiting for the leader lease");
        if !e.acquire(shutdown.wait()).await {
            return Ok(());
        }
        tracing::info!("acquired the leader lease");
    }
    metrics.leader.store(1, Ordering::Relaxed);

    // Controllers stop on shutdown or on lost leadership.
    let (ctl_trigger, ctl_shutdown) = Shutdown::new();
    let controllers = tokio::spawn(run_controllers(ctx.clone(), opts.scopes(), ctl_shutdown));
    let outcome = match &elector {
        Some(e) => e.hold(shutdown.wait()).await,
        None => {
            shutdown.wait().await;
            Ok(())
        }
    };
    let _ = ctl_trigger.send(true);
    if let Err(e) = controllers.await {
        tracing::error!(error = %e, "controllers task failed");
    }
    metrics.leader.store(0, Ordering::Relaxed);
    if let (Some(e), Ok(())) = (&elector, &outcome) {
        e.release().await;
    }
    outcome
}

/// Command-line arguments of `vmcp operator` (the binary flattens these into its CLI).
#[derive(clap::Args, Clone, Debug)]
pub struct OperatorArgs {
    /// Namespaces to watch, comma-separated; empty or unset watches the whole cluster.
    #[arg(long, env = "WATCH_NAMESPACE")]
    pub watch_namespace: Option<String>,
    /// Address of the /healthz, /readyz and /metrics server.
    #[arg(
        long,
        env = "VMCP_OPERATOR_HEALTH_ADDR",
        default_value = "0.0.0.0:8081"
    )]
    pub health_addr: SocketAddr,
    /// Run without leader election (only safe with a single replica).
    #[arg(long)]
    pub no_leader_election: bool,
    /// Namespace of the leader-election Lease (default: the pod's namespace).
    #[arg(long, env = "POD_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// Name of the leader-election Lease.
    #[arg(long, default_value = "vmcp-operator-leader-election")]
    pub lease_name: String,
    /// Identity in the Lease (default: the pod name from HOSTNAME).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
}

/// Runs the operator on a fresh tokio runtime until SIGTERM or Ctrl-C.
pub fn main_blocking(args: OperatorArgs) -> Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    let rt = tokio::runtime::Runtime::new().map_err(|source| Error::Io {
        path: "tokio runtime".into(),
        source,
    })?;
    rt.block_on(async move {
        let client = Client::try_default()
            .await
            .map_err(Error::kube("building a Kubernetes client"))?;
        let lease = if args.no_leader_election {
            None
        } else {
            let ns = args
                .lease_namespace
                .clone()
                .or_else(|| {
                    std::fs::read_to_string(
                        "/var/run/secrets/kubernetes.io/serviceaccount/namespace",
                    )
                    .ok()
                })
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| client.default_namespace().to_string());
            let identity = args
                .identity
                .clone()
                .or_else(|| std::env::var("HOSTNAME").ok())
                .unwrap_or_else(|| format!("vmcp-operator-{}", std::process::id()));
            Some(LeaseConfig::new(&ns, &args.lease_name, &identity))
        };
        let opts = RunOptions {
            namespaces: RunOptions::parse_namespaces(args.watch_namespace.as_deref()),
            health_addr: Some(args.health_addr),
            lease,
            settings: Settings::from_env(),
        };
        run(client, opts, shutdown_signal()).await
    })
}

/// Resolves on SIGTERM (how Kubernetes stops a pod) or Ctrl-C.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = term => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_namespace_is_a_comma_separated_list_and_empty_means_the_cluster() {
        let parse = |v: Option<&str>| RunOptions::parse_namespaces(v);
        assert_eq!(parse(Some("team-a, team-b,,")), vec!["team-a", "team-b"]);
        assert_eq!(parse(Some(" ")), Vec::<String>::new());
        assert_eq!(parse(None), Vec::<String>::new());
        let opts = |namespaces: Vec<String>| RunOptions {
            namespaces,
            health_addr: None,
            lease: None,
            settings: Settings::default(),
        };
        assert!(matches!(opts(vec![]).scopes()[..], [Scope::All]));
        let two = opts(parse(Some("a,b"))).scopes();
        assert!(
            matches!(&two[..], [Scope::Namespace(a), Scope::Namespace(b)] if a == "a" && b == "b")
        );
    }
}
