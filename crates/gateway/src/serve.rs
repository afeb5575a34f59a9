//! Wiring: config → backends → aggregator → HTTP front, plus the background loops (health
//! checks, backend notifications, list_changed fan-out, session expiry).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use vmcp_config::{Config, PartialFailureMode, Problem};

use crate::aggregate::Aggregator;
use crate::authz::Authorizer;
use crate::backend::Inbound;
use crate::backend::build::{Builder, specs_from_config};
pub use crate::error::ServeError;
use crate::front::auth::ClientAuth;
use crate::front::http::{DEFAULT_BODY_LIMIT, Front, app};
use crate::front::listen::{self, ConnLimits};
use crate::front::origin::HostPolicy;
use crate::front::session::{SessionLimits, Sessions};
use crate::limits::Limits;
use crate::members::{HealthChecks, Members};
use crate::metrics::Metrics;
use crate::oidc::Verifier;
use crate::{jsonrpc, route};

/// Idle client sessions end after this long.
const SESSION_TTL: Duration = Duration::from_secs(30 * 60);

/// `vmcp serve` flags.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub config: PathBuf,
    pub host: String,
    pub port: u16,
    pub debug: bool,
    /// Largest request body accepted at `/mcp`; larger ones get 413 before being read.
    pub max_body_bytes: usize,
    /// Connection, session and reply-memory bounds.
    pub limits: Limits,
    /// Host names (`name` or `name:port`) the gateway answers to besides `localhost` and IP
    /// addresses; see [`crate::front::origin`].
    pub allowed_hosts: Vec<String>,
    /// Browser origins (`scheme://host[:port]`) allowed besides loopback ones.
    pub allowed_origins: Vec<String>,
    /// Entries with `allowPrivateEndpoint` may reach loopback addresses (see
    /// [`crate::outbound::Reach`]); local development, the demo and tests only.
    pub allow_loopback_endpoints: bool,
}

/// Knobs that are not part of the config file.
#[derive(Debug, Clone)]
pub struct FrontOptions {
    pub body_limit: usize,
    /// A config without backends is dynamic mode: when true, the gateway stays not ready
    /// until someone (vmcp-gateway-kube) applies the discovered backend set to
    /// [`Gateway::members`]; when false it serves the empty set at once.
    pub await_discovery: bool,
    /// Connection, session and reply-memory bounds.
    pub limits: Limits,
    /// As [`ServeOptions::allowed_hosts`].
    pub allowed_hosts: Vec<String>,
    /// As [`ServeOptions::allowed_origins`].
    pub allowed_origins: Vec<String>,
    /// As [`ServeOptions::allow_loopback_endpoints`].
    pub allow_loopback_endpoints: bool,
}

impl Default for FrontOptions {
    fn default() -> Self {
        FrontOptions {
            body_limit: DEFAULT_BODY_LIMIT,
            await_discovery: false,
            limits: Limits::default(),
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            allow_loopback_endpoints: false,
        }
    }
}

/// A running gateway.
pub struct Gateway {
    pub addr: SocketAddr,
    pub aggregator: Arc<Aggregator>,
    /// The live backend set; dynamic mode applies discovered backends here.
    pub members: Arc<Members>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    loops: Vec<JoinHandle<()>>,
    metrics: Arc<Metrics>,
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
        self.members.stop();
        for b in self.aggregator.backends().values() {
            b.close_all();
        }
        // The last OTLP push waits for the collector: on a blocking thread, so the runtime
        // (a single thread, in tests) stays free to run it.
        let metrics = self.metrics.clone();
        let _ = tokio::task::spawn_blocking(move || metrics.shutdown()).await;
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.task.abort();
        for l in &self.loops {
            l.abort();
        }
        // The OTLP reader's shutdown blocks until its last push ends: never on the thread
        // that drops the gateway (a runtime's own, in tests the only one).
        let metrics = self.metrics.clone();
        std::thread::spawn(move || metrics.shutdown());
    }
}

/// Loads, defaults and validates a config file; every error is reported with its path.
pub fn load_config(path: &std::path::Path) -> Result<Config, ServeError> {
    judged(vmcp_config::load_file(path)?.with_defaults())
}

/// A loaded config, validated: warnings logged, errors returned.
fn judged(cfg: Config) -> Result<Config, ServeError> {
    let report = cfg.validate();
    for w in report.warnings() {
        tracing::warn!(path = %w.path, "{}", w.message);
    }
    if report.has_errors() {
        return Err(ServeError::Invalid(report.errors().cloned().collect()));
    }
    Ok(cfg)
}

/// The Cedar authorizer of a config with `incomingAuth.authz.type: cedar`, built once from
/// policies parsed once; `None` without authorization (and then no request pays for it).
/// A policy that does not parse is a startup error naming `incomingAuth.authz.policies[i]`.
pub fn authorizer(cfg: &Config) -> Result<Option<Arc<Authorizer>>, ServeError> {
    use vmcp_config::{AuthzType, ProblemKind, Severity};
    let Some(authz) = cfg.incoming_auth.as_ref().and_then(|a| a.authz.as_ref()) else {
        return Ok(None);
    };
    if authz.authz_type != Some(AuthzType::Cedar) {
        return Ok(None);
    }
    let set = authz.parse_cedar().map_err(|errors| {
        ServeError::Invalid(
            errors
                .iter()
                .map(|e| Problem {
                    severity: Severity::Error,
                    kind: ProblemKind::Invalid,
                    path: format!("incomingAuth.authz.{}", e.path()),
                    message: e.message(),
                })
                .collect(),
        )
    })?;
    let (policies, entities) = (set.policies.policies().count(), set.entities.iter().count());
    let a = Authorizer::new(set, authz, &cfg.name)?;
    tracing::info!(
        policies,
        entities,
        "authorization: Cedar policies enforced on calls and lists"
    );
    Ok(Some(Arc::new(a)))
}

/// Client authentication of a config with `incomingAuth.type: oidc`: the token verifier
/// with its issuer client (platform roots plus `caBundlePath`); `None` for `anonymous`. A
/// CA bundle that does not load is a startup error.
pub fn client_auth(cfg: &Config) -> Result<Option<Arc<ClientAuth>>, ServeError> {
    use vmcp_config::IncomingAuthType;
    let Some(incoming) = cfg.incoming_auth.as_ref() else {
        return Ok(None);
    };
    if incoming.auth_type != Some(IncomingAuthType::Oidc) {
        return Ok(None);
    }
    let Some(oidc) = incoming.oidc.as_ref() else {
        return Err(ServeError::Oidc("required when type is oidc".into()));
    };
    let extra = if oidc.ca_bundle_path.is_empty() {
        Vec::new()
    } else {
        crate::backend::tls::load_ca_bundle(
            "the OIDC issuer",
            std::path::Path::new(&oidc.ca_bundle_path),
        )?
    };
    let tls = crate::backend::tls::client_config(
        "the OIDC issuer",
        (!oidc.ca_bundle_path.is_empty()).then_some(oidc.ca_bundle_path.as_str()),
        &crate::backend::tls::base_roots(),
        &extra,
    )?;
    let verifier = Arc::new(Verifier::new(oidc, tls).map_err(ServeError::Oidc)?);
    tracing::info!(issuer = %oidc.issuer, audience = %oidc.audience,
        "client authentication: Bearer tokens checked against the OIDC issuer");
    Ok(Some(Arc::new(ClientAuth::new(oidc, verifier))))
}

/// Entry point of `vmcp serve`: logging, runtime, config, serve until SIGINT/SIGTERM.
pub fn run(opts: ServeOptions) -> Result<(), ServeError> {
    run_inner(opts, false, |_, _| {})
}

/// `run`, with a hook called inside the runtime once the gateway listens: where the binary
/// attaches what lives outside this crate (Kubernetes discovery and status reporting).
///
/// With a hook, a config without backends (dynamic mode) waits for the hook to apply the
/// discovered backends; the hook must apply an empty set if it cannot discover.
pub fn run_with(
    opts: ServeOptions,
    after_start: impl FnOnce(&Config, &Gateway) + Send + 'static,
) -> Result<(), ServeError> {
    run_inner(opts, true, after_start)
}

fn run_inner(
    opts: ServeOptions,
    await_discovery: bool,
    after_start: impl FnOnce(&Config, &Gateway) + Send + 'static,
) -> Result<(), ServeError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    rt.block_on(async move {
        // The log and the trace pipeline are one subscriber, installed once: the config is
        // read first for its `telemetry` section, and judged (warnings logged) after.
        let loaded = vmcp_config::load_file(&opts.config).map(Config::with_defaults);
        let settings = loaded
            .as_ref()
            .ok()
            .and_then(|c| c.telemetry.as_ref())
            .map(|t| vmcp_config::TelemetrySettings::read(t).0)
            .filter(vmcp_config::TelemetrySettings::traces);
        let traces = match settings {
            Some(s) => match crate::telemetry::Tracing::start(&s, opts.allow_loopback_endpoints) {
                Ok((pipeline, tracer)) => {
                    init_tracing(opts.debug, Some(tracer));
                    tracing::info!(endpoint = s.endpoint.as_deref().unwrap_or_default(), protocol = ?s.protocol, sampling = s.sampling_rate, service = %s.service_name, "exporting traces by OTLP");
                    Some(pipeline)
                }
                Err(e) => {
                    init_tracing(opts.debug, None);
                    return Err(e.into());
                }
            },
            None => {
                init_tracing(opts.debug, None);
                None
            }
        };
        let cfg = judged(loaded?)?;
        opts.limits.validate()?;
        let addr = format!("{}:{}", opts.host, opts.port);
        let listener = TcpListener::bind(&addr)
            .await
            .map_err(|source| ServeError::Bind {
                addr: addr.clone(),
                source,
            })?;
        let front = FrontOptions {
            await_discovery,
            body_limit: opts.max_body_bytes,
            limits: opts.limits.clone(),
            allowed_hosts: opts.allowed_hosts,
            allowed_origins: opts.allowed_origins,
            allow_loopback_endpoints: opts.allow_loopback_endpoints,
        };
        let gw = start(cfg.clone(), listener, front).await?;
        tracing::info!(addr = %gw.addr, "vmcp gateway listening");
        after_start(&cfg, &gw);
        shutdown_signal().await;
        tracing::info!("shutting down");
        gw.stop().await;
        if let Some(t) = traces {
            t.shutdown();
        }
        Ok(())
    })
}

/// Installs the process's subscriber: the JSON log on stderr, and with `tracer` the bridge
/// that turns spans of target `telemetry::TARGET` (and only those) into OpenTelemetry spans.
fn init_tracing(debug: bool, tracer: Option<opentelemetry_sdk::trace::SdkTracer>) {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::prelude::*;
    // kube-runtime's watcher warns on every retry of a failing watch (once a second for a
    // 403); vmcp-gateway-kube reports each watch failure once itself.
    let default = if debug {
        "debug,hyper=info,reqwest=info,h2=info,kube_runtime::watcher=error"
    } else {
        "info,kube_runtime::watcher=error"
    };
    let filter = EnvFilter::try_from_env("VMCP_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    // The exported spans are not log lines: the log neither records their fields nor
    // shows them as the context of its lines.
    let filter = match crate::telemetry::TARGET_OFF.parse() {
        Ok(d) => filter.add_directive(d),
        Err(_) => filter,
    };
    let log = tracing_subscriber::fmt::layer()
        .json()
        .with_writer(std::io::stderr)
        .with_filter(filter);
    let otel = tracer.map(|t| {
        tracing_opentelemetry::layer()
            .with_tracer(t)
            .with_location(false)
            .with_threads(false)
            .with_level(false)
            .with_target(false)
            .with_tracked_inactivity(false)
            .with_filter(Targets::new().with_target(crate::telemetry::TARGET, tracing::Level::INFO))
    });
    let _ = tracing_subscriber::registry()
        .with(log)
        .with(otel)
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

/// Starts a gateway for an already validated config on `listener`.
pub async fn start(
    cfg: Config,
    listener: TcpListener,
    opts: FrontOptions,
) -> Result<Gateway, ServeError> {
    let addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: "listener".into(),
        source,
    })?;
    let authz = authorizer(&cfg)?;
    let auth = client_auth(&cfg)?;
    let audit = match &cfg.audit {
        Some(section) => crate::audit::Auditor::start(vmcp_config::AuditSettings::read(section).0)
            .await
            .map_err(ServeError::Audit)?,
        None => None,
    };
    if let Some(a) = &auth {
        // Keys fetched before the first client asks; a failure leaves it to the first
        // request (which gets 503 until the issuer answers).
        let v = a.verifier.clone();
        tokio::spawn(async move { v.warm_up().await });
    }
    let limits = opts.limits.clone();
    limits.validate()?;
    let replies = Arc::new(crate::backend::budget::ReplyBudget::new(
        limits.reply_budget_bytes,
        limits.max_reply_bytes,
    ));
    let hosts = HostPolicy::new(&opts.allowed_hosts, &opts.allowed_origins)?;
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
    let agg_cfg = cfg.aggregation.clone().unwrap_or_default();
    let agg = Aggregator::awaiting_discovery(agg_cfg);
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
    let members = Arc::new(Members::new(
        agg.clone(),
        Builder::new(&cfg, inbound_tx, on_transition)
            .with_reply_budget(replies)
            .with_loopback_endpoints(opts.allow_loopback_endpoints),
        HealthChecks {
            interval,
            timeout: hc_timeout,
        },
    ));
    // Static mode: every backend must build, or the start fails naming it. Dynamic mode:
    // the discovered set arrives later through `members`.
    if cfg.is_static() {
        members.apply_strict(specs_from_config(&cfg))?;
    } else if !opts.await_discovery {
        tracing::warn!("no backends listed and no discovery attached: serving an empty view");
        members.apply(Vec::new());
    }
    // How long a list call waits for the first fetch: the longest call timeout configured.
    let max_timeout = cfg
        .backends
        .iter()
        .map(|b| cfg.timeout_for(&b.name))
        .chain(std::iter::once(cfg.timeout_for("")))
        .max()
        .unwrap_or(Duration::from_secs(30));

    // A client session that ends closes the backend sessions it had of its own.
    let sessions = {
        let agg = Arc::downgrade(&agg);
        let on_end = Box::new(move |client: &str| {
            if let Some(agg) = agg.upgrade() {
                for b in agg.backends().values() {
                    b.end_client(client);
                }
            }
        });
        let bounds = SessionLimits {
            max: limits.max_sessions,
            max_dedicated: limits.max_dedicated_sessions,
            unused_ttl: limits.unused_session_ttl,
        };
        Arc::new(Sessions::new(on_end, bounds))
    };
    let gauge_source = Arc::new(std::sync::OnceLock::new());
    let otlp = match cfg
        .telemetry
        .as_ref()
        .map(|t| vmcp_config::TelemetrySettings::read(t).0)
        .filter(|s| s.metrics_enabled && s.endpoint.is_some())
    {
        Some(s) => {
            let reader =
                crate::telemetry::export::metric_reader(&s, opts.allow_loopback_endpoints)?;
            tracing::info!(
                endpoint = s.endpoint.as_deref().unwrap_or_default(),
                protocol = ?s.protocol,
                "exporting metrics by OTLP"
            );
            Some((reader, crate::telemetry::resource(&s)))
        }
        None => None,
    };
    let metrics = Arc::new(Metrics::with_otlp(gauge_source.clone(), otlp));
    let metrics_handle = metrics.clone();
    let front = Arc::new(Front {
        router: route::Router {
            agg: agg.clone(),
            sessions: sessions.clone(),
            metrics: metrics.clone(),
            partial_failure: partial,
            first_fetch_wait: max_timeout,
            authz,
            page_size: limits.list_page_size,
            audit: audit.clone(),
        },
        sessions: sessions.clone(),
        metrics,
        agg: agg.clone(),
        body_limit: opts.body_limit,
        body_timeout: limits.body_read_timeout,
        hosts,
        name: cfg.name.clone(),
        group_ref: cfg.group_ref.clone(),
        auth,
        // Validated names (see `vmcp_config`): a bad one was refused before this point.
        passthrough: cfg
            .passthrough_headers
            .iter()
            .filter_map(|h| http::HeaderName::from_bytes(h.as_bytes()).ok())
            .collect(),
    });
    // The metrics read the gateway's state when scraped; weakly, since the front owns them.
    {
        let front = Arc::downgrade(&front);
        let _ = gauge_source.set(Box::new(move || {
            front
                .upgrade()
                .map(|f| crate::front::http::gauges(&f))
                .unwrap_or_default()
        }) as crate::metrics::GaugeSource);
    }

    let mut loops = Vec::new();
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
        let every = sessions.sweep_interval();
        loops.push(tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                sessions.expire(SESSION_TTL);
            }
        }));
    }

    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let router = app(front);
    let conn_limits = ConnLimits {
        max_connections: limits.effective_max_connections(),
        header_read_timeout: limits.header_read_timeout,
        idle_timeout: limits.idle_timeout,
    };
    if conn_limits.max_connections < limits.max_connections {
        tracing::warn!(
            max_connections = conn_limits.max_connections,
            "--max-connections lowered to fit the process's file-descriptor limit"
        );
    }
    let task = tokio::spawn(async move {
        let sessions = sessions.clone();
        let graceful = async move {
            let _ = shutdown_rx.await;
            // End client streams so open GET connections drain.
            sessions.clear();
        };
        listen::serve(listener, router, conn_limits, graceful).await;
    });
    Ok(Gateway {
        addr,
        aggregator: agg,
        members,
        shutdown: Some(shutdown_tx),
        task,
        loops,
        metrics: metrics_handle,
    })
}

#[cfg(test)]
mod authz_tests {
    use super::*;

    fn cfg(authz: &str) -> Config {
        Config::from_yaml_str(&format!(
            "name: g\ngroupRef: g\nincomingAuth: {{type: anonymous, authz: {authz}}}\n"
        ))
        .unwrap()
    }

    #[test]
    fn cedar_sections_build_an_authorizer_and_bad_policies_name_their_index() {
        let ok = cfg("{type: cedar, policies: ['permit(principal, action, resource);']}");
        assert!(authorizer(&ok).unwrap().is_some());
        assert!(authorizer(&cfg("{type: none}")).unwrap().is_none());
        let bad =
            cfg("{type: cedar, policies: ['permit(principal, action, resource);', 'permit(']}");
        let err = authorizer(&bad).unwrap_err().to_string();
        assert!(err.contains("incomingAuth.authz.policies[1]: "), "{err}");
        let no_entities = cfg(
            "{type: cedar, policies: ['permit(principal, action, resource);'], entitiesJson: '{}'}",
        );
        let err = authorizer(&no_entities).unwrap_err().to_string();
        assert!(
            err.contains("incomingAuth.authz.entitiesJson: must be a JSON array"),
            "{err}"
        );
    }
}
