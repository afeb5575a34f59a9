//! Wiring: config → backends → aggregator → HTTP front, plus the background loops (health
//! checks, backend notifications, list_changed fan-out, session expiry).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use vmcp_config::{Config, PartialFailureMode, Problem};

use crate::aggregate::Aggregator;
use crate::backend::auth::{self, AuthError, Identity};
use crate::backend::pool::Backend;
use crate::backend::tls::{self, TlsError};
use crate::backend::{Http, Inbound};
use crate::front::http::{DEFAULT_BODY_LIMIT, Front, app};
use crate::front::session::Sessions;
use crate::health::{Policy, Tracker};
use crate::metrics::Metrics;
use crate::{jsonrpc, route};

/// Idle client sessions end after this long.
const SESSION_TTL: Duration = Duration::from_secs(30 * 60);

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0}")]
    Load(#[from] vmcp_config::LoadError),
    #[error("invalid configuration:\n{}", render(.0))]
    Invalid(Vec<Problem>),
    #[error("backend {backend:?}: {what}")]
    Backend { backend: String, what: String },
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("runtime: {0}")]
    Runtime(std::io::Error),
}

fn render(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {}: {p}", p.severity))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `vmcp serve` flags.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub config: PathBuf,
    pub host: String,
    pub port: u16,
    pub debug: bool,
}

/// Front-end knobs that are not part of the config file.
#[derive(Debug, Clone)]
pub struct FrontOptions {
    pub body_limit: usize,
}

impl Default for FrontOptions {
    fn default() -> Self {
        FrontOptions {
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }
}

/// A running gateway.
pub struct Gateway {
    pub addr: SocketAddr,
    pub aggregator: Arc<Aggregator>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    loops: Vec<JoinHandle<()>>,
}

impl Gateway {
    /// Stops serving, closes client streams and backend sessions.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.task).await;
        self.task.abort();
        for l in &self.loops {
            l.abort();
        }
        for b in self.aggregator.backends().values() {
            b.close_all();
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.task.abort();
        for l in &self.loops {
            l.abort();
        }
    }
}

/// Loads, defaults and validates a config file; every error is reported with its path.
pub fn load_config(path: &std::path::Path) -> Result<Config, ServeError> {
    let cfg = vmcp_config::load_file(path)?.with_defaults();
    let report = cfg.validate();
    for w in report.warnings() {
        tracing::warn!(path = %w.path, "{}", w.message);
    }
    if report.has_errors() {
        return Err(ServeError::Invalid(report.errors().cloned().collect()));
    }
    refuse_unenforced_client_auth(&cfg)?;
    Ok(cfg)
}

/// The gateway does not enforce client authentication or authorization yet. Serving a config
/// that asks for them would silently let every client in, so such a config is refused
/// (fail closed) with a message that names the field.
pub fn refuse_unenforced_client_auth(cfg: &Config) -> Result<(), ServeError> {
    use vmcp_config::{IncomingAuthType, ProblemKind, Severity};
    let mut problems = Vec::new();
    let not_enforced = |path: &str, what: &str| Problem {
        severity: Severity::Error,
        kind: ProblemKind::NotSupported,
        path: path.to_string(),
        message: format!(
            "{what} is not enforced by this vmcp version; refusing to serve every client \
             unauthenticated (use incomingAuth.type: anonymous without authz)"
        ),
    };
    if let Some(auth) = &cfg.incoming_auth {
        match auth.auth_type {
            Some(IncomingAuthType::Oidc) => {
                problems.push(not_enforced("incomingAuth.type", "OIDC client authentication"))
            }
            Some(IncomingAuthType::Local) => {
                problems.push(not_enforced("incomingAuth.type", "local client authentication"))
            }
            Some(IncomingAuthType::Anonymous) | None => {}
        }
        if auth.authz.is_some() {
            problems.push(not_enforced("incomingAuth.authz", "authorization policy"));
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(ServeError::Invalid(problems)) }
}

/// Entry point of `vmcp serve`: logging, runtime, config, serve until SIGINT/SIGTERM.
pub fn run(opts: ServeOptions) -> Result<(), ServeError> {
    run_with(opts, |_, _| {})
}

/// `run`, with a hook called inside the runtime once the gateway listens: where the binary
/// attaches what lives outside this crate (Kubernetes status reporting).
pub fn run_with(
    opts: ServeOptions,
    after_start: impl FnOnce(&Config, Arc<Aggregator>) + Send + 'static,
) -> Result<(), ServeError> {
    init_tracing(opts.debug);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    rt.block_on(async move {
        let cfg = load_config(&opts.config)?;
        let addr = format!("{}:{}", opts.host, opts.port);
        let listener = TcpListener::bind(&addr)
            .await
            .map_err(|source| ServeError::Bind {
                addr: addr.clone(),
                source,
            })?;
        let gw = start(cfg.clone(), listener, FrontOptions::default()).await?;
        tracing::info!(addr = %gw.addr, "vmcp gateway listening");
        after_start(&cfg, gw.aggregator.clone());
        shutdown_signal().await;
        tracing::info!("shutting down");
        gw.stop().await;
        Ok(())
    })
}

fn init_tracing(debug: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if debug {
        "debug,hyper=info,reqwest=info,h2=info"
    } else {
        "info"
    };
    let filter = EnvFilter::try_from_env("VMCP_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .json()
        .try_init();
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Builds every backend client (TLS, auth, headers): all startup errors surface here.
fn build_backends(
    cfg: &Config,
    inbound: mpsc::UnboundedSender<Inbound>,
    on_transition: crate::backend::pool::OnTransition,
) -> Result<BTreeMap<String, Arc<Backend>>, ServeError> {
    let env = |k: &str| std::env::var(k).ok();
    let base = tls::base_roots();
    let fh = cfg
        .operational
        .as_ref()
        .and_then(|o| o.failure_handling.clone())
        .unwrap_or_default();
    let interval = fh
        .health_check_interval
        .map(|d| d.as_std())
        .unwrap_or(Duration::from_secs(30));
    let unhealthy = fh
        .unhealthy_threshold
        .unwrap_or(3)
        .clamp(1, u32::MAX as i64) as u32;
    let cb = fh.circuit_breaker.clone().unwrap_or_default();
    let policy = if cb.enabled {
        Policy {
            unhealthy_threshold: unhealthy,
            open_after: cb.failure_threshold.unwrap_or(5).clamp(1, u32::MAX as i64) as u32,
            open_for: cb
                .timeout
                .map(|d| d.as_std())
                .unwrap_or(Duration::from_secs(60)),
        }
    } else {
        Policy {
            unhealthy_threshold: unhealthy,
            open_after: unhealthy,
            open_for: interval,
        }
    };
    let mut default_client: Option<reqwest::Client> = None;
    let mut out = BTreeMap::new();
    for b in &cfg.backends {
        let name = b.name.clone();
        let err = |what: String| ServeError::Backend {
            backend: name.clone(),
            what,
        };
        let url = url::Url::parse(&b.url).map_err(|e| err(format!("url {:?}: {e}", b.url)))?;
        let transport = b
            .transport
            .ok_or_else(|| err("transport is required".into()))?;
        let timeout = cfg.timeout_for(&name);
        let client = if b.ca_bundle_path.is_empty() {
            match &default_client {
                Some(c) => c.clone(),
                None => {
                    let c = http_client(tls::client_config(&name, None, &base, &[])?, &name)?;
                    default_client = Some(c.clone());
                    c
                }
            }
        } else {
            let path = ca_bundle_path(&b.ca_bundle_path, env("VMCP_CA_BUNDLE_ROOT").as_deref());
            let path = path.as_path();
            let extra = tls::load_ca_bundle(&name, path)?;
            http_client(tls::client_config(&name, Some(path), &base, &extra)?, &name)?
        };
        let auth = auth::resolve(
            &name,
            cfg.outgoing_auth
                .as_ref()
                .and_then(|o| o.resolve_for_backend(&name)),
            &env,
        )?;
        if let auth::Outgoing::Token(_) = auth {
            tracing::warn!(backend = %name, "outgoing auth strategy not supported yet; calls to this backend will fail");
        }
        let headers = auth::metadata_headers(&name, &b.metadata, &env)?;
        let http = Http {
            name: Arc::from(name.as_str()),
            client,
            url,
            headers,
            auth,
        };
        let backend = Backend::new(
            http,
            transport,
            timeout,
            Tracker::new(policy),
            inbound.clone(),
            on_transition.clone(),
        );
        out.insert(name, Arc::new(backend));
    }
    Ok(out)
}

/// Where the operator mounts entry CA bundles (`/etc/toolhive/ca-bundles/<entry>/<key>`).
pub const CA_BUNDLE_MOUNT: &str = "/etc/toolhive/ca-bundles";

/// A backend's CA bundle path, with the operator's mount directory moved to `root` when
/// `VMCP_CA_BUNDLE_ROOT` is set: running the rendered config outside a pod (tests, the demo)
/// with the bundles materialised under `root/<entry>/<key>` as the kubelet would.
pub fn ca_bundle_path(configured: &str, root: Option<&str>) -> PathBuf {
    let p = std::path::Path::new(configured);
    match (
        root.filter(|r| !r.is_empty()),
        p.strip_prefix(CA_BUNDLE_MOUNT),
    ) {
        (Some(root), Ok(rest)) => std::path::Path::new(root).join(rest),
        _ => p.to_path_buf(),
    }
}

fn http_client(tls: rustls::ClientConfig, backend: &str) -> Result<reqwest::Client, ServeError> {
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .build()
        .map_err(|e| ServeError::Backend {
            backend: backend.to_owned(),
            what: format!("HTTP client: {e}"),
        })
}

/// Starts a gateway for an already validated config on `listener`.
pub async fn start(
    cfg: Config,
    listener: TcpListener,
    opts: FrontOptions,
) -> Result<Gateway, ServeError> {
    if !cfg.is_static() {
        tracing::warn!(
            "no backends listed: dynamic discovery is not implemented yet; serving an empty view"
        );
    }
    let addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: "listener".into(),
        source,
    })?;
    let (inbound_tx, mut inbound_rx) = mpsc::unbounded_channel::<Inbound>();
    // The aggregator is created after the backends, which need the transition callback;
    // a once-cell bridges the two.
    let agg_cell: Arc<std::sync::OnceLock<std::sync::Weak<Aggregator>>> =
        Arc::new(std::sync::OnceLock::new());
    let cell = agg_cell.clone();
    let on_transition: crate::backend::pool::OnTransition = Arc::new(move |name, prev, now| {
        if let Some(a) = cell.get().and_then(std::sync::Weak::upgrade) {
            a.on_transition(name, prev, now);
        }
    });
    let backends = build_backends(&cfg, inbound_tx, on_transition)?;
    let agg_cfg = cfg.aggregation.clone().unwrap_or_default();
    let agg = Aggregator::new(agg_cfg, backends);
    let _ = agg_cell.set(Arc::downgrade(&agg));

    let fh = cfg
        .operational
        .as_ref()
        .and_then(|o| o.failure_handling.clone())
        .unwrap_or_default();
    let partial = fh.partial_failure_mode.unwrap_or(PartialFailureMode::Fail);
    let interval = fh
        .health_check_interval
        .map(|d| d.as_std())
        .unwrap_or(Duration::from_secs(30))
        .max(Duration::from_millis(100));
    let hc_timeout = fh
        .health_check_timeout
        .map(|d| d.as_std())
        .filter(|d| !d.is_zero());
    let max_timeout = agg
        .backends()
        .values()
        .map(|b| b.timeout)
        .max()
        .unwrap_or(Duration::from_secs(30));

    let sessions = Arc::new(Sessions::default());
    let metrics = Arc::new(Metrics::default());
    let front = Arc::new(Front {
        router: route::Router {
            agg: agg.clone(),
            metrics: metrics.clone(),
            partial_failure: partial,
            first_fetch_wait: max_timeout,
        },
        sessions: sessions.clone(),
        metrics,
        agg: agg.clone(),
        body_limit: opts.body_limit,
        loopback: addr.ip().is_loopback(),
        name: cfg.name.clone(),
        group_ref: cfg.group_ref.clone(),
    });

    let mut loops = Vec::new();
    // First fetch of every backend, concurrently; then periodic ping checks.
    agg.refresh_all();
    for (name, b) in agg.backends() {
        let (agg, b, name) = (agg.clone(), b.clone(), name.clone());
        let timeout = hc_timeout
            .unwrap_or(b.timeout)
            .min(interval.max(Duration::from_secs(1)));
        loops.push(tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let ok = b.check(&Identity::anonymous(), timeout).await.is_ok();
                if ok && !agg.has_part(&name) {
                    agg.refresh(&name).await;
                }
            }
        }));
    }
    // Backend notifications: list changes refresh that backend; resource updates go to
    // the subscribed clients.
    {
        let (agg, sessions) = (agg.clone(), sessions.clone());
        loops.push(tokio::spawn(async move {
            while let Some(n) = inbound_rx.recv().await {
                match n.method.as_str() {
                    "notifications/tools/list_changed"
                    | "notifications/resources/list_changed"
                    | "notifications/prompts/list_changed" => {
                        let agg = agg.clone();
                        tokio::spawn(async move { agg.refresh(&n.backend).await });
                    }
                    "notifications/resources/updated" => {
                        let uri = n
                            .params
                            .as_deref()
                            .and_then(|p| jsonrpc::object_members(p).ok().and_then(|m| jsonrpc::string_member(&m, "uri")));
                        if let Some(uri) = uri {
                            sessions.to_subscribers(&uri, &jsonrpc::notification(&n.method, n.params.as_deref()));
                        }
                    }
                    other => tracing::debug!(backend = %n.backend, method = other, "backend notification"),
                }
            }
        }));
    }
    // View changes → list_changed to every client with a stream.
    {
        let mut rx = agg.subscribe();
        let sessions = sessions.clone();
        loops.push(tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(method) => sessions.broadcast(&jsonrpc::notification(method, None)),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => break,
                }
            }
        }));
    }
    {
        let sessions = sessions.clone();
        loops.push(tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(60)).await;
                sessions.expire(SESSION_TTL);
            }
        }));
    }

    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let router = app(front);
    let task = tokio::spawn(async move {
        let sessions = sessions.clone();
        let graceful = async move {
            let _ = shutdown_rx.await;
            // End client streams so open GET connections drain.
            sessions.clear();
        };
        if let Err(e) = axum::serve(listener, router)
            .with_graceful_shutdown(graceful)
            .await
        {
            tracing::error!(error = %e, "HTTP server failed");
        }
    });
    Ok(Gateway {
        addr,
        aggregator: agg,
        shutdown: Some(shutdown_tx),
        task,
        loops,
    })
}

#[cfg(test)]
mod ca_root_tests {
    use super::*;

    #[test]
    fn client_auth_the_gateway_cannot_enforce_is_refused() {
        let cfg = |incoming: &str| {
            Config::from_yaml_str(&format!("name: g\ngroupRef: g\nincomingAuth: {incoming}\n")).unwrap()
        };
        assert!(refuse_unenforced_client_auth(&cfg("{type: anonymous}")).is_ok());
        let oidc = cfg("{type: oidc, oidc: {issuer: 'https://idp.example.com', audience: a}}");
        let err = refuse_unenforced_client_auth(&oidc).unwrap_err().to_string();
        assert!(err.contains("incomingAuth.type") && err.contains("OIDC"), "{err}");
        let authz = cfg("{type: anonymous, authz: {type: cedar, policies: ['permit(principal, action, resource);']}}");
        let err = refuse_unenforced_client_auth(&authz).unwrap_err().to_string();
        assert!(err.contains("incomingAuth.authz"), "{err}");
    }

    #[test]
    fn ca_bundle_root_moves_only_the_mount_directory() {
        let p = "/etc/toolhive/ca-bundles/corp/ca.crt";
        assert_eq!(ca_bundle_path(p, None), PathBuf::from(p));
        assert_eq!(
            ca_bundle_path(p, Some("/tmp/x")),
            PathBuf::from("/tmp/x/corp/ca.crt")
        );
        assert_eq!(
            ca_bundle_path("/other/ca.crt", Some("/tmp/x")),
            PathBuf::from("/other/ca.crt")
        );
        assert_eq!(ca_bundle_path(p, Some("")), PathBuf::from(p));
    }
}
