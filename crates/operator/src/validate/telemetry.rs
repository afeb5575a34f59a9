//! `spec.telemetryConfigRef`: the shared MCPTelemetryConfig and the VirtualMCPServer's service
//! name, rendered into the gateway's `telemetry` section.
//!
//! What goes where: the endpoint, signals, sampling rate, plain headers and resource
//! attributes into the section (the ConfigMap); each `sensitiveHeaders` entry into an
//! environment variable of the pod from its Secret, the section naming only the variable
//! (`headersFromEnv`); the CA bundle into a mounted file (`caCertPath`). The collector may be
//! on a private address (`allowPrivateEndpoint: true`): an in-cluster collector is the norm,
//! and the MCPTelemetryConfig is a platform object; link-local and metadata addresses are
//! still refused by the gateway.

use k8s_openapi::api::core::v1::EnvVar;
use serde_json::{Map, Value, json};
use vmcp_api::VirtualMCPServer;
use vmcp_api::refs::DEFAULT_CA_BUNDLE_KEY;
use vmcp_api::telemetry_config::{DEFAULT_SAMPLING_RATE, MCPTelemetryConfigSpec};
use vmcp_core::world::World;

use super::{FileCa, RefProblem, spec_hash};

/// ToolHive's condition on the VirtualMCPServer, and its reasons.
pub const CONDITION: &str = "TelemetryConfigRefValidated";
pub const REASON_VALID: &str = "TelemetryConfigRefValid";
pub const REASON_NOT_FOUND: &str = "TelemetryConfigRefNotFound";
pub const REASON_NOT_VALID: &str = "TelemetryConfigRefInvalid";

/// The variable of the `i`th sensitive header.
pub fn header_env(i: usize) -> String {
    format!("VMCP_OTEL_HEADER_{i}")
}

/// Where the collector's CA bundle is mounted, under the one CA root.
pub const CA_DIR_NAME: &str = "_otel";
/// The pod volume of that bundle.
pub const CA_VOLUME: &str = "otel-ca-bundle";

/// A resolved reference: the gateway's `telemetry` section and what the pod needs for it.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedTelemetry {
    pub config_name: String,
    /// `None` when the config turns OpenTelemetry off (no section: nothing is traced).
    pub section: Option<Map<String, Value>>,
    /// One variable per sensitive header, from its Secret.
    pub env: Vec<EnvVar>,
    pub ca: Option<FileCa>,
    /// The MCPTelemetryConfig's spec hash, copied into `status.telemetryConfigHash`.
    pub hash: String,
}

/// The section of `spec` for a gateway named `service` (no Secret or ConfigMap read).
fn section(spec: &MCPTelemetryConfigSpec, service: &str) -> Option<Map<String, Value>> {
    let o = spec.open_telemetry.as_ref().filter(|o| o.enabled)?;
    let tracing = o.tracing.as_ref().is_some_and(|t| t.enabled);
    let metrics = o.metrics.as_ref().is_some_and(|m| m.enabled);
    let mut s = Map::new();
    if let Some(e) = o.endpoint.as_deref().filter(|e| !e.is_empty()) {
        s.insert("endpoint".into(), json!(e));
    }
    s.insert("insecure".into(), json!(o.insecure));
    s.insert("serviceName".into(), json!(service));
    s.insert("tracingEnabled".into(), json!(tracing));
    s.insert("metricsEnabled".into(), json!(metrics));
    let rate = o
        .tracing
        .as_ref()
        .and_then(|t| t.sampling_rate.clone())
        .unwrap_or_else(|| DEFAULT_SAMPLING_RATE.to_owned());
    s.insert("samplingRate".into(), json!(rate));
    if !o.headers.is_empty() {
        s.insert("headers".into(), json!(o.headers));
    }
    if !o.sensitive_headers.is_empty() {
        let from_env: Map<String, Value> = o
            .sensitive_headers
            .iter()
            .enumerate()
            .map(|(i, h)| (h.name.clone(), json!(header_env(i))))
            .collect();
        s.insert("headersFromEnv".into(), Value::Object(from_env));
    }
    if !o.resource_attributes.is_empty() {
        s.insert("customAttributes".into(), json!(o.resource_attributes));
    }
    if let Some((cm, key)) = ca_ref(spec) {
        let ca = FileCa::mounted(CA_VOLUME, CA_DIR_NAME, cm, key);
        s.insert("caCertPath".into(), json!(ca.file_path));
    }
    s.insert("allowPrivateEndpoint".into(), json!(true));
    Some(s)
}

/// The CA bundle's ConfigMap and key, if the config names one.
fn ca_ref(spec: &MCPTelemetryConfigSpec) -> Option<(String, String)> {
    let r = spec
        .open_telemetry
        .as_ref()?
        .ca_bundle_ref
        .as_ref()?
        .config_map_ref
        .as_ref()?;
    let key = r
        .key
        .clone()
        .filter(|k| !k.is_empty())
        .unwrap_or_else(|| DEFAULT_CA_BUNDLE_KEY.to_owned());
    Some((r.name.clone(), key))
}

/// Every problem of an MCPTelemetryConfig on its own (its `Valid` condition), each naming its
/// spec field. The section it renders to is judged by the gateway's own reader, so the
/// operator and the gateway never disagree on what is valid.
pub fn check_config(spec: &MCPTelemetryConfigSpec) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(o) = spec.open_telemetry.as_ref() else {
        return problems;
    };
    let tracing = o.tracing.as_ref().is_some_and(|t| t.enabled);
    let metrics = o.metrics.as_ref().is_some_and(|m| m.enabled);
    let endpoint = o.endpoint.as_deref().is_some_and(|e| !e.is_empty());
    if endpoint && !tracing && !metrics {
        problems.push(
            "spec.openTelemetry.endpoint: requires tracing.enabled or metrics.enabled".to_owned(),
        );
    }
    for (i, h) in o.sensitive_headers.iter().enumerate() {
        let at = format!("spec.openTelemetry.sensitiveHeaders[{i}]");
        if !vmcp_config::is_header_name(&h.name) {
            problems.push(format!(
                "{at}.name: {:?} is not a valid HTTP header name",
                h.name
            ));
        }
        if h.secret_key_ref.name.is_empty() || h.secret_key_ref.key.is_empty() {
            problems.push(format!("{at}.secretKeyRef: name and key are required"));
        }
        if o.headers.contains_key(&h.name) {
            problems.push(format!("{at}.name: {:?} is in headers too", h.name));
        }
    }
    if o.ca_bundle_ref.is_some() && o.insecure {
        problems.push(
            "spec.openTelemetry.caBundleRef: cannot be combined with insecure: true".to_owned(),
        );
    }
    if o.ca_bundle_ref.is_some() && ca_ref(spec).is_none() {
        problems.push("spec.openTelemetry.caBundleRef.configMapRef: required".to_owned());
    }
    if o.enabled
        && let Some(section) = section(spec, "check")
    {
        let (_, found) = vmcp_config::TelemetrySettings::read(&section);
        for (key, msg, is_error) in found {
            // The operator's own choices are not the user's problem.
            if !is_error || key == "allowPrivateEndpoint" {
                continue;
            }
            let field = match key.split('\0').next().unwrap_or_default() {
                "endpoint" | "insecure" => "endpoint",
                "samplingRate" => "tracing.samplingRate",
                "headers" => "headers",
                "headersFromEnv" => "sensitiveHeaders",
                "customAttributes" => "resourceAttributes",
                other => other,
            };
            let entry = key
                .split('\0')
                .nth(1)
                .map(|e| format!(" {e:?}"))
                .unwrap_or_default();
            problems.push(format!("spec.openTelemetry.{field}{entry}: {msg}"));
        }
    }
    problems
}

/// Resolves the VirtualMCPServer's reference, if it has one.
pub fn resolve(
    vmcp: &VirtualMCPServer,
    world: &World,
) -> Option<Result<ResolvedTelemetry, RefProblem>> {
    let r = vmcp.spec.telemetry_config_ref.as_ref()?;
    let ns = &world.namespace;
    let cfg_name = &r.name;
    let not_valid = |what: String| RefProblem {
        reason: REASON_NOT_VALID,
        message: format!("MCPTelemetryConfig {ns}/{cfg_name} is not valid: {what}"),
    };
    let Some(cfg) = world.telemetry_configs.get(cfg_name) else {
        return Some(Err(RefProblem {
            reason: REASON_NOT_FOUND,
            message: format!(
                "MCPTelemetryConfig {ns}/{cfg_name} referenced by spec.telemetryConfigRef not found"
            ),
        }));
    };
    let problems = check_config(&cfg.spec);
    if !problems.is_empty() {
        return Some(Err(not_valid(problems.join("; "))));
    }
    let service = r
        .service_name
        .clone()
        .filter(|s| !s.is_empty())
        .or_else(|| vmcp.metadata.name.clone())
        .unwrap_or_default();
    let section = section(&cfg.spec, &service);
    let mut env = Vec::new();
    let mut ca = None;
    if section.is_some()
        && let Some(o) = cfg.spec.open_telemetry.as_ref()
    {
        for (i, h) in o.sensitive_headers.iter().enumerate() {
            let s = &h.secret_key_ref;
            match world.secret_has_key(&s.name, &s.key) {
                Some(true) => {}
                Some(false) => {
                    return Some(Err(not_valid(format!(
                        "spec.openTelemetry.sensitiveHeaders[{i}].secretKeyRef: Secret {ns}/{} has no key {:?}",
                        s.name, s.key
                    ))));
                }
                None => {
                    return Some(Err(not_valid(format!(
                        "spec.openTelemetry.sensitiveHeaders[{i}].secretKeyRef: Secret {ns}/{} not found",
                        s.name
                    ))));
                }
            }
            env.push(super::secret_env(&header_env(i), &s.name, &s.key));
        }
        if let Some((cm, key)) = ca_ref(&cfg.spec) {
            match world.config_maps.get(&cm) {
                Some(data) if data.contains_key(&key) => {}
                Some(_) => {
                    return Some(Err(not_valid(format!(
                        "spec.openTelemetry.caBundleRef: ConfigMap {ns}/{cm} has no key {key:?}"
                    ))));
                }
                None => {
                    return Some(Err(not_valid(format!(
                        "spec.openTelemetry.caBundleRef: ConfigMap {ns}/{cm} not found"
                    ))));
                }
            }
            ca = Some(FileCa::mounted(CA_VOLUME, CA_DIR_NAME, cm, key));
        }
    }
    Some(Ok(ResolvedTelemetry {
        config_name: cfg_name.clone(),
        section,
        env,
        ca,
        hash: spec_hash(&cfg.spec),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> MCPTelemetryConfigSpec {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn toolhives_sample_renders_a_section_the_gateway_reads_without_errors() {
        let s = spec(
            "openTelemetry:\n  enabled: true\n  endpoint: otel-collector.monitoring.svc.cluster.local:4318\n  insecure: true\n  tracing: {enabled: true, samplingRate: '0.1'}\n  metrics: {enabled: true}\nprometheus: {enabled: true}\n",
        );
        assert!(check_config(&s).is_empty(), "{:?}", check_config(&s));
        let section = section(&s, "demo").unwrap();
        let (read, problems) = vmcp_config::TelemetrySettings::read(&section);
        assert!(problems.iter().all(|(_, _, e)| !e), "{problems:?}");
        assert!(read.traces());
        assert_eq!(read.service_name, "demo");
        assert_eq!(read.sampling_rate, 0.1);
        assert_eq!(
            read.endpoint.as_deref(),
            Some("http://otel-collector.monitoring.svc.cluster.local:4318")
        );
        assert!(read.allow_private_endpoint);
    }

    #[test]
    fn sensitive_headers_become_variables_and_problems_name_their_field() {
        let s = spec(
            "openTelemetry:\n  enabled: true\n  endpoint: c:4318\n  tracing: {enabled: true}\n  headers: {x-team: a}\n  sensitiveHeaders: [{name: authorization, secretKeyRef: {name: otel, key: token}}]\n",
        );
        let section = section(&s, "demo").unwrap();
        assert_eq!(
            section["headersFromEnv"],
            json!({"authorization": "VMCP_OTEL_HEADER_0"})
        );
        assert!(!Value::Object(section).to_string().contains("token"));
        let bad = spec(
            "openTelemetry:\n  enabled: true\n  endpoint: c:4318\n  insecure: true\n  caBundleRef: {configMapRef: {name: ca}}\n  tracing: {enabled: true, samplingRate: '7'}\n  headers: {x-a: b}\n  sensitiveHeaders: [{name: x-a, secretKeyRef: {name: s, key: k}}]\n",
        );
        let p = check_config(&bad).join("\n");
        for want in [
            "spec.openTelemetry.caBundleRef",
            "spec.openTelemetry.tracing.samplingRate",
            "spec.openTelemetry.sensitiveHeaders[0].name",
        ] {
            assert!(p.contains(want), "{want} missing from {p}");
        }
        let lonely = spec("openTelemetry:\n  enabled: true\n  endpoint: c:4318\n");
        assert!(check_config(&lonely)[0].contains("requires tracing.enabled"));
    }
}
