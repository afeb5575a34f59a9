//! The `telemetry` section (ToolHive's `pkg/telemetry` config): where the gateway sends its
//! OpenTelemetry traces, under which service name, and how many of them.
//!
//! ToolHive writes the endpoint as `host:port` and picks `http://` or `https://` with
//! `insecure`; a full URL is accepted too. The section stays a free map in the config model so
//! a config round-trips byte for byte; [`TelemetrySettings::read`] is the one reader, shared
//! by the validator (problems) and the gateway (settings).
//!
//! vmcp additions: `protocol` (`http/protobuf`, the default and ToolHive's, or `grpc`),
//! `headersFromEnv` (header name to the environment variable holding its value: how the
//! operator passes an MCPTelemetryConfig's `sensitiveHeaders` without writing them into the
//! ConfigMap) and `allowPrivateEndpoint`. A collector is outbound traffic like a backend: without the flag a
//! private address is refused when the exporter connects (loopback needs the gateway's
//! `--allow-loopback-endpoints` too), and link-local or metadata addresses never pass.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::model::Unsupported;

/// ToolHive's default `samplingRate`.
pub const DEFAULT_SAMPLING_RATE: f64 = 0.05;

/// Default `serviceName`.
pub const DEFAULT_SERVICE_NAME: &str = "vmcp";

/// How spans travel to the collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OtlpProtocol {
    /// OTLP over HTTP with protobuf bodies (`POST {endpoint}/v1/traces`), port 4318.
    #[default]
    HttpProtobuf,
    /// OTLP over gRPC, port 4317.
    Grpc,
}

/// The telemetry section, read.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetrySettings {
    /// The collector's base URL (scheme included), `None` when no endpoint is given.
    pub endpoint: Option<String>,
    pub protocol: OtlpProtocol,
    pub service_name: String,
    pub service_version: Option<String>,
    pub tracing_enabled: bool,
    pub metrics_enabled: bool,
    /// Fraction of new traces sampled, 0 to 1; a client's sampled flag is followed.
    pub sampling_rate: f64,
    /// Headers sent with every export (collector credentials): never logged.
    pub headers: BTreeMap<String, String>,
    /// Headers whose values are read from these environment variables at start.
    pub headers_from_env: BTreeMap<String, String>,
    /// Resource attributes added to every span.
    pub custom_attributes: BTreeMap<String, String>,
    /// PEM file of the CA that signs the collector's certificate (added to the system roots).
    pub ca_cert_path: Option<String>,
    pub allow_private_endpoint: bool,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        TelemetrySettings {
            endpoint: None,
            protocol: OtlpProtocol::default(),
            service_name: DEFAULT_SERVICE_NAME.to_owned(),
            service_version: None,
            tracing_enabled: false,
            metrics_enabled: false,
            sampling_rate: DEFAULT_SAMPLING_RATE,
            headers: BTreeMap::new(),
            headers_from_env: BTreeMap::new(),
            custom_attributes: BTreeMap::new(),
            ca_cert_path: None,
            allow_private_endpoint: false,
        }
    }
}

/// Keys read.
const KEYS: [&str; 14] = [
    // `true` asks for what is always there (`/metrics` on the gateway's port); `false` is
    // said as a warning.
    "enablePrometheusMetricsPath",
    "endpoint",
    "protocol",
    "serviceName",
    "serviceVersion",
    "tracingEnabled",
    "metricsEnabled",
    "samplingRate",
    "headers",
    "headersFromEnv",
    "insecure",
    "customAttributes",
    "caCertPath",
    "allowPrivateEndpoint",
];

/// ToolHive's keys that change nothing here, each with why (said as warnings).
const IGNORED: [(&str, &str); 5] = [
    ("prometheusPort", "/metrics is served on the gateway's port"),
    (
        "metricsOnTransportPort",
        "/metrics is served on the gateway's port",
    ),
    (
        "environmentVariables",
        "environment variables are not added to spans",
    ),
    (
        "useLegacyAttributes",
        "spans carry the OpenTelemetry MCP semantic-convention attributes only",
    ),
    (
        "metricsExporter",
        "metrics are pushed by OTLP with metricsEnabled, and served at /metrics",
    ),
];

/// One problem: the key (a map entry's key is `key\0entry`), the message, whether it is an
/// error.
pub type Problem = (String, String, bool);

impl TelemetrySettings {
    /// Reads the section: the settings, and each problem found.
    pub fn read(section: &Unsupported) -> (TelemetrySettings, Vec<Problem>) {
        let mut s = TelemetrySettings::default();
        let mut problems: Vec<Problem> = Vec::new();
        let bad = |problems: &mut Vec<Problem>, key: &str, want: &str| {
            problems.push((key.to_owned(), format!("must be {want}"), true));
        };
        for key in section.keys() {
            if let Some((_, why)) = IGNORED.iter().find(|(k, _)| k == key) {
                problems.push((key.clone(), format!("not used by vmcp ({why})"), false));
            } else if !KEYS.contains(&key.as_str()) {
                problems.push((key.clone(), "unknown key".to_owned(), true));
            }
        }
        let flag = |problems: &mut Vec<Problem>, key: &str| -> Option<bool> {
            let v = section.get(key)?;
            let b = v.as_bool();
            if b.is_none() {
                problems.push((key.to_owned(), "must be true or false".to_owned(), true));
            }
            b
        };
        s.tracing_enabled = flag(&mut problems, "tracingEnabled").unwrap_or(false);
        s.metrics_enabled = flag(&mut problems, "metricsEnabled").unwrap_or(false);
        s.allow_private_endpoint = flag(&mut problems, "allowPrivateEndpoint").unwrap_or(false);
        let insecure = flag(&mut problems, "insecure").unwrap_or(false);
        if flag(&mut problems, "enablePrometheusMetricsPath") == Some(false) {
            problems.push((
                "enablePrometheusMetricsPath".to_owned(),
                "/metrics is always served on the gateway's port".to_owned(),
                false,
            ));
        }
        if let Some(v) = section.get("protocol") {
            match v.as_str() {
                Some("http/protobuf") => s.protocol = OtlpProtocol::HttpProtobuf,
                Some("grpc") => s.protocol = OtlpProtocol::Grpc,
                _ => bad(&mut problems, "protocol", "http/protobuf or grpc"),
            }
        }
        if let Some(v) = section.get("endpoint") {
            match v.as_str().map(|e| endpoint_url(e, insecure)) {
                Some(Ok(url)) => s.endpoint = Some(url),
                Some(Err(msg)) => problems.push(("endpoint".to_owned(), msg, true)),
                None => bad(&mut problems, "endpoint", "a host:port or an http(s) URL"),
            }
        }
        for key in ["serviceName", "serviceVersion"] {
            let Some(v) = section.get(key) else { continue };
            match v.as_str() {
                Some(n) if !n.is_empty() && n.len() <= 255 => match key {
                    "serviceName" => s.service_name = n.to_owned(),
                    _ => s.service_version = Some(n.to_owned()),
                },
                _ => bad(
                    &mut problems,
                    key,
                    "a non-empty string of at most 255 bytes",
                ),
            }
        }
        if let Some(v) = section.get("samplingRate") {
            // ToolHive writes it as a string ("0.1"); a number is accepted too.
            let rate = match v {
                Value::String(t) => t.trim().parse::<f64>().ok(),
                Value::Number(n) => n.as_f64(),
                _ => None,
            };
            match rate {
                Some(r) if (0.0..=1.0).contains(&r) => s.sampling_rate = r,
                _ => bad(
                    &mut problems,
                    "samplingRate",
                    "a number from 0 to 1 (\"0.1\")",
                ),
            }
        }
        for (key, target) in [
            ("headers", &mut s.headers),
            ("customAttributes", &mut s.custom_attributes),
        ] {
            let Some(v) = section.get(key) else { continue };
            let Some(map) = v.as_object() else {
                bad(&mut problems, key, "a map of strings");
                continue;
            };
            for (k, v) in map {
                let ok_name = key != "headers" || crate::is_header_name(k);
                match v.as_str() {
                    // The value of a header is a secret: it is never repeated in a message.
                    Some(v) if ok_name && !v.contains(['\r', '\n']) => {
                        target.insert(k.clone(), v.to_owned());
                    }
                    _ if !ok_name => problems.push((
                        format!("{key}\u{0}{k}"),
                        "is not a valid HTTP header name".to_owned(),
                        true,
                    )),
                    _ => problems.push((
                        format!("{key}\u{0}{k}"),
                        "must be a string on one line".to_owned(),
                        true,
                    )),
                }
            }
        }
        if let Some(v) = section.get("headersFromEnv") {
            match v.as_object() {
                None => bad(
                    &mut problems,
                    "headersFromEnv",
                    "a map of header names to environment variable names",
                ),
                Some(map) => {
                    for (k, v) in map {
                        let var = v.as_str().filter(|v| is_env_name(v));
                        match var {
                            _ if !crate::is_header_name(k) => problems.push((
                                format!("headersFromEnv\u{0}{k}"),
                                "is not a valid HTTP header name".to_owned(),
                                true,
                            )),
                            _ if s.headers.contains_key(k) => problems.push((
                                format!("headersFromEnv\u{0}{k}"),
                                "is in headers too".to_owned(),
                                true,
                            )),
                            Some(var) => {
                                s.headers_from_env.insert(k.clone(), var.to_owned());
                            }
                            None => problems.push((
                                format!("headersFromEnv\u{0}{k}"),
                                format!("must be {HEADER_ENV_PREFIX}<n> (the variables the operator renders from an MCPTelemetryConfig's sensitiveHeaders)"),
                                true,
                            )),
                        }
                    }
                }
            }
        }
        if let Some(v) = section.get("caCertPath") {
            match v.as_str() {
                Some(p) if p.starts_with('/') => s.ca_cert_path = Some(p.to_owned()),
                Some("") => {}
                _ => bad(&mut problems, "caCertPath", "an absolute file path"),
            }
        }
        if (s.tracing_enabled || s.metrics_enabled) && s.endpoint.is_none() {
            let what = if s.tracing_enabled {
                "tracingEnabled"
            } else {
                "metricsEnabled"
            };
            problems.push((
                "endpoint".to_owned(),
                format!("is required with {what}: true (the OTLP collector, host:port)"),
                true,
            ));
        }
        if let Some(what) = s
            .endpoint
            .as_deref()
            .filter(|_| !s.allow_private_endpoint)
            .and_then(private_literal)
        {
            problems.push((
                "endpoint".to_owned(),
                format!(
                    "{what}: spans are refused there unless allowPrivateEndpoint: true (and, \
                     for loopback, the gateway runs with --allow-loopback-endpoints)"
                ),
                false,
            ));
        }
        (s, problems)
    }

    /// Whether spans are made and exported (metrics are pushed by OTLP with
    /// `metrics_enabled` and an endpoint; `/metrics` is served either way).
    pub fn traces(&self) -> bool {
        self.tracing_enabled && self.endpoint.is_some()
    }
}

/// The variables `headersFromEnv` may name: the operator's `VMCP_OTEL_HEADER_<n>` and no
/// other. Any variable of the pod would do otherwise, and a config author could send the
/// gateway's other secrets (an OIDC client secret, a backend's injected header) to a
/// collector of their choosing.
pub const HEADER_ENV_PREFIX: &str = "VMCP_OTEL_HEADER_";

fn is_env_name(v: &str) -> bool {
    v.strip_prefix(HEADER_ENV_PREFIX)
        .is_some_and(|n| !n.is_empty() && n.len() <= 3 && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The collector's base URL from ToolHive's `host:port` (scheme from `insecure`) or a URL.
fn endpoint_url(e: &str, insecure: bool) -> Result<String, String> {
    let e = e.trim();
    if e.is_empty() {
        return Err("must not be empty".to_owned());
    }
    let full = if e.contains("://") {
        e.to_owned()
    } else if insecure {
        format!("http://{e}")
    } else {
        format!("https://{e}")
    };
    // The endpoint is not repeated in these messages: a query or userinfo may be a secret.
    let url = url::Url::parse(&full).map_err(|err| format!("is not a valid endpoint: {err}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("the scheme must be http or https".to_owned());
    }
    if url.host_str().is_none() {
        return Err("names no host".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials (use headers)".to_owned());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must have no query or fragment".to_owned());
    }
    Ok(full.trim_end_matches('/').to_owned())
}

/// What the endpoint's host is, when it is written as a private or loopback address (a name
/// other than `localhost` is only known when the exporter connects).
fn private_literal(url: &str) -> Option<String> {
    use crate::addr::{Class, classify_ip};
    let url = url::Url::parse(url).ok()?;
    let ip = match url.host()? {
        url::Host::Domain(d) if d.eq_ignore_ascii_case("localhost") => {
            return Some("localhost is a loopback name".to_owned());
        }
        url::Host::Domain(_) => return None,
        url::Host::Ipv4(ip) => std::net::IpAddr::V4(ip),
        url::Host::Ipv6(ip) => std::net::IpAddr::V6(ip),
    };
    match classify_ip(ip, &[]) {
        Class::Public => None,
        Class::Private(what) | Class::Loopback(what) | Class::Blocked(what) => {
            Some(format!("{ip} is {what}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(v: Value) -> (TelemetrySettings, Vec<Problem>) {
        TelemetrySettings::read(v.as_object().unwrap())
    }

    #[test]
    fn toolhive_keys_are_read() {
        let (s, p) = read(
            json!({"endpoint": "localhost:4318", "serviceName": "eng-vmcp",
            "allowPrivateEndpoint": true,
            "tracingEnabled": true, "samplingRate": "0.25", "insecure": true,
            "headers": {"x-api-key": "k"}, "customAttributes": {"team": "eng"},
            "enablePrometheusMetricsPath": true}),
        );
        assert_eq!(s.endpoint.as_deref(), Some("http://localhost:4318"));
        assert_eq!(s.service_name, "eng-vmcp");
        assert!(s.traces());
        assert_eq!(s.sampling_rate, 0.25);
        assert_eq!(s.headers.get("x-api-key").map(String::as_str), Some("k"));
        assert_eq!(s.custom_attributes.len(), 1);
        assert!(p.is_empty(), "{p:?}");
        let (s, _) = read(json!({"endpoint": "collector:4318", "tracingEnabled": true}));
        assert_eq!(
            s.endpoint.as_deref(),
            Some("https://collector:4318"),
            "TLS unless insecure"
        );
        assert_eq!(s.sampling_rate, DEFAULT_SAMPLING_RATE);
    }

    #[test]
    fn bad_values_are_named_and_header_values_never_repeated() {
        let (_, p) = read(json!({"tracingEnabled": true, "samplingRate": "2",
            "protocol": "thrift", "headers": {"bad name": "s3cret", "x-ok": "a\nb"},
            "caCertPath": "rel.pem", "colour": 1}));
        let keys: Vec<&str> = p.iter().map(|(k, _, _)| k.as_str()).collect();
        for k in [
            "endpoint",
            "samplingRate",
            "protocol",
            "headers\u{0}bad name",
            "headers\u{0}x-ok",
            "caCertPath",
            "colour",
        ] {
            assert!(keys.contains(&k), "{k} missing from {p:?}");
        }
        assert!(p.iter().all(|(_, m, _)| !m.contains("s3cret")));
        let (s, p) = read(json!({"headers": {"a": "1"},
            "headersFromEnv": {"x-key": "VMCP_OTEL_HEADER_0", "a": "VMCP_OTEL_HEADER_1",
                "b": "VMCP_OIDC_CLIENT_SECRET"}}));
        assert_eq!(
            s.headers_from_env.get("x-key").map(String::as_str),
            Some("VMCP_OTEL_HEADER_0")
        );
        let keys: Vec<&str> = p.iter().map(|(k, _, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            ["headersFromEnv\u{0}a", "headersFromEnv\u{0}b"],
            "{p:?}"
        );
        let (_, p) = read(json!({"endpoint": "https://u:p@collector:4318"}));
        assert!(
            p.iter()
                .any(|(k, m, e)| k == "endpoint" && *e && m.contains("credentials"))
        );
        let (_, p) = read(json!({"endpoint": "ftp://collector"}));
        assert!(p.iter().any(|(k, _, e)| k == "endpoint" && *e));
    }

    #[test]
    fn tracing_off_without_the_flag() {
        let (s, p) = read(json!({"endpoint": "http://c:4318"}));
        assert!(!s.traces() && p.is_empty());
        let (_, p) = read(json!({"endpoint": "127.0.0.1:4318", "insecure": true}));
        assert!(
            p.iter()
                .any(|(k, m, e)| k == "endpoint" && !e && m.contains("allowPrivateEndpoint")),
            "a loopback literal without the flag is a warning: {p:?}"
        );
    }
}
