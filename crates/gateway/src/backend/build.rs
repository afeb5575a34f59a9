//! From a description of a backend to a live backend client: TLS roots, outgoing auth,
//! forwarded headers, timeout and health policy.
//!
//! Both modes go through here. Static mode describes its backends from the config file
//! ([`specs_from_config`]); dynamic mode (vmcp-gateway-kube) describes them from the
//! Kubernetes API, with CA bundles read from ConfigMaps and secret values from Secrets
//! instead of files and env vars. A [`BackendSpec`] is plain data and compares by value, so
//! a re-discovery that changes nothing rebuilds nothing.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use vmcp_config::{BackendAuthStrategy, Config};

use super::auth;
use super::pool::{Backend, OnTransition};
use super::tls;
use super::{Http, InboundTx};
use crate::error::ServeError;
use crate::health::{Policy, Tracker};
use crate::outbound::Reach;

/// Where a backend's extra CA certificates come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CaSource {
    /// System and webpki roots only.
    None,
    /// A PEM file (the operator's ConfigMap volume in static mode).
    File(PathBuf),
    /// PEM read through the API; `source` names the ConfigMap and key for errors.
    Pem { source: String, pem: String },
}

/// Everything needed to build one backend client. The CA comes only from `ca`: a config's
/// `caBundlePath` becomes a [`CaSource::File`], discovery's ConfigMap a [`CaSource::Pem`].
#[derive(Clone, Debug, PartialEq)]
pub struct BackendSpec {
    pub name: String,
    pub url: String,
    /// Required; `None` (a config without it) fails [`Builder::build`] naming the backend.
    pub transport: Option<vmcp_config::Transport>,
    pub backend_type: Option<vmcp_config::BackendType>,
    /// Header metadata (`vmcp.headers.*`) and labels.
    pub metadata: BTreeMap<String, String>,
    /// An entry's `allowPrivateEndpoint` (see [`crate::outbound::Reach`]).
    pub allow_private_endpoint: bool,
    pub ca: CaSource,
    /// Outgoing auth strategy; `None` is unauthenticated.
    pub auth: Option<BackendAuthStrategy>,
    /// Values of env var names the auth strategy and header metadata refer to, looked up
    /// before the process environment (dynamic mode fills it from Secrets).
    pub env: BTreeMap<String, String>,
}

impl BackendSpec {
    /// The spec of a config backend, its CA given apart (its `caBundlePath` is not read here).
    pub fn new(
        b: &vmcp_config::Backend,
        ca: CaSource,
        auth: Option<BackendAuthStrategy>,
        env: BTreeMap<String, String>,
    ) -> Self {
        BackendSpec {
            name: b.name.clone(),
            url: b.url.clone(),
            transport: b.transport,
            backend_type: b.backend_type,
            metadata: b.metadata.clone(),
            allow_private_endpoint: b.allow_private_endpoint,
            ca,
            auth,
            env,
        }
    }
}

/// A backend's CA bundle path, with the operator's mount directory moved to `root` when
/// `VMCP_CA_BUNDLE_ROOT` is set: running the rendered config outside a pod (tests, the demo)
/// with the bundles materialised under `root/<entry>/<key>` as the kubelet would.
pub fn ca_bundle_path(configured: &str, root: Option<&str>) -> PathBuf {
    let p = std::path::Path::new(configured);
    match (
        root.filter(|r| !r.is_empty()),
        p.strip_prefix(vmcp_config::CA_BUNDLE_ROOT),
    ) {
        (Some(root), Ok(rest)) => std::path::Path::new(root).join(rest),
        _ => p.to_path_buf(),
    }
}

/// The backends a static config lists, in config order.
pub fn specs_from_config(cfg: &Config) -> Vec<BackendSpec> {
    let root = std::env::var("VMCP_CA_BUNDLE_ROOT").ok();
    cfg.backends
        .iter()
        .map(|b| {
            let ca = if b.ca_bundle_path.is_empty() {
                CaSource::None
            } else {
                CaSource::File(ca_bundle_path(&b.ca_bundle_path, root.as_deref()))
            };
            let auth = cfg
                .outgoing_auth
                .as_ref()
                .and_then(|o| o.resolve_for_backend(&b.name))
                .cloned();
            BackendSpec::new(b, ca, auth, BTreeMap::new())
        })
        .collect()
}

/// Builds backend clients with the settings every backend of one gateway shares.
pub struct Builder {
    cfg: Config,
    base_roots: rustls::RootCertStore,
    policy: Policy,
    inbound: InboundTx,
    on_transition: OnTransition,
    /// One pooled HTTP client for every backend without its own CA.
    default_client: Mutex<HashMap<Reach, reqwest::Client>>,
    /// `--allow-loopback-endpoints`: entries with `allowPrivateEndpoint` may reach loopback.
    allow_loopback: bool,
    /// The reply budget every backend of the gateway shares.
    replies: Arc<super::budget::ReplyBudget>,
}

impl Builder {
    pub fn new(cfg: &Config, inbound: InboundTx, on_transition: OnTransition) -> Self {
        Builder {
            cfg: cfg.clone(),
            base_roots: tls::base_roots(),
            policy: policy_of(cfg),
            inbound,
            on_transition,
            default_client: Mutex::new(HashMap::new()),
            allow_loopback: false,
            replies: Arc::default(),
        }
    }

    /// Lets entries with `allowPrivateEndpoint` reach loopback addresses (local development,
    /// the demo and tests, where every server listens on 127.0.0.1).
    pub fn with_loopback_endpoints(mut self, allow: bool) -> Self {
        self.allow_loopback = allow;
        self
    }

    /// Where `spec`'s client may connect: entries are checked, workloads are in-cluster.
    fn reach_of(&self, spec: &BackendSpec) -> Reach {
        if spec.backend_type != Some(vmcp_config::BackendType::Entry) {
            return Reach::ANY;
        }
        Reach {
            guarded: true,
            private: spec.allow_private_endpoint,
            loopback: self.allow_loopback,
        }
    }

    /// Shares `replies` among the backends built from now on (see `budget`).
    pub fn with_reply_budget(mut self, replies: Arc<super::budget::ReplyBudget>) -> Self {
        self.replies = replies;
        self
    }

    /// Builds one backend; every error names it.
    pub fn build(&self, spec: &BackendSpec) -> Result<Arc<Backend>, ServeError> {
        let b = spec;
        let name = b.name.clone();
        let err = |what: String| ServeError::Backend {
            backend: name.clone(),
            what,
        };
        let url = url::Url::parse(&b.url).map_err(|e| err(format!("url {:?}: {e}", b.url)))?;
        let transport = b
            .transport
            .ok_or_else(|| err("transport is required".into()))?;
        let reach = self.reach_of(spec);
        // A literal address is never resolved, so the resolver cannot judge it: judged here.
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
            _ => None,
        };
        if let Some(why) = literal.and_then(|ip| reach.refuses(ip)) {
            return Err(err(format!("url {:?}: {why}", b.url)));
        }
        let (extra, shown) = match &spec.ca {
            CaSource::None => (Vec::new(), None),
            CaSource::File(path) => (
                tls::load_ca_bundle(&name, path)?,
                Some(path.display().to_string()),
            ),
            CaSource::Pem { source, pem } => (
                tls::parse_ca_bundle(&name, source, pem.as_bytes())?,
                Some(source.clone()),
            ),
        };
        let tls_config = || tls::client_config(&name, shown.as_deref(), &self.base_roots, &extra);
        let client = match shown {
            None => self.default_client(&name, reach)?,
            Some(_) => http_client(tls_config()?, &name, reach)?,
        };
        let env = |k: &str| spec.env.get(k).cloned().or_else(|| std::env::var(k).ok());
        // The token endpoint is trusted like the backend: the platform roots and its CA.
        let auth = auth::resolve(&name, spec.auth.as_ref(), &env, || {
            tls_config().map_err(|e| e.to_string())
        })?;
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
            replies: self.replies.clone(),
            era: std::sync::OnceLock::new(),
            revision: std::sync::Mutex::new(None),
        };
        Ok(Arc::new(Backend::new(
            http,
            transport,
            self.cfg.timeout_for(&name),
            Tracker::new(self.policy),
            self.inbound.clone(),
            self.on_transition.clone(),
        )))
    }

    fn default_client(&self, backend: &str, reach: Reach) -> Result<reqwest::Client, ServeError> {
        let mut cached = self
            .default_client
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(c) = cached.get(&reach) {
            return Ok(c.clone());
        }
        let c = http_client(
            tls::client_config(backend, None, &self.base_roots, &[])?,
            backend,
            reach,
        )?;
        cached.insert(reach, c.clone());
        Ok(c)
    }
}

/// The health and circuit-breaker policy from `operational.failureHandling`.
fn policy_of(cfg: &Config) -> Policy {
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
    if cb.enabled {
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
    }
}

/// A backend's HTTP client, built by [`crate::outbound`] (no redirects, connect timeout).
fn http_client(
    tls: rustls::ClientConfig,
    backend: &str,
    reach: Reach,
) -> Result<reqwest::Client, ServeError> {
    crate::outbound::client(tls, reach).map_err(|e| ServeError::Backend {
        backend: backend.to_owned(),
        what: format!("HTTP client: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn api_read_ca_bundle_errors_name_the_backend_and_configmap() {
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let builder = Builder::new(&Config::default(), tx, Arc::new(|_, _, _| {}));
        let spec = BackendSpec {
            name: "partner".into(),
            url: "https://127.0.0.1:1/mcp".into(),
            transport: Some(vmcp_config::Transport::StreamableHttp),
            backend_type: None,
            metadata: BTreeMap::new(),
            allow_private_endpoint: false,
            ca: CaSource::Pem {
                source: "ConfigMap ns/partner-ca key ca.crt".into(),
                pem: "not a certificate".into(),
            },
            auth: None,
            env: BTreeMap::new(),
        };
        let e = builder.build(&spec).err().unwrap().to_string();
        assert!(
            e.contains("\"partner\"") && e.contains("ConfigMap ns/partner-ca key ca.crt"),
            "{e}"
        );
    }
}
