//! `spec.telemetryConfigRef` against a real kube-apiserver, with the controllers in-process:
//! the MCPTelemetryConfig's own `Valid` status, the gateway's `telemetry` section and the
//! collector credential as a variable from its Secret, re-renders on change, and a config
//! that stops resolving keeping the last good one.

mod common;

use common::harness::{Harness, WAIT, start};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use vmcp_api::{MCPTelemetryConfig, VirtualMCPServer};
use vmcp_testenv::eventually;

const INPUTS: &str = "apiVersion: toolhive.stacklok.dev/v1beta1
kind: MCPGroup
metadata: {name: team}
spec: {}
---
apiVersion: v1
kind: Secret
metadata: {name: otel-token}
stringData: {token: live-collector-credential}
---
apiVersion: toolhive.stacklok.dev/v1beta1
kind: VirtualMCPServer
metadata: {name: gw}
spec:
  groupRef: {name: team}
  incomingAuth: {type: anonymous}
  outgoingAuth: {source: discovered}
  telemetryConfigRef: {name: otel, serviceName: team-gateway}
";

fn collector(tracing: &str) -> String {
    format!(
        "apiVersion: toolhive.stacklok.dev/v1beta1
kind: MCPTelemetryConfig
metadata: {{name: otel}}
spec:
  openTelemetry:
    enabled: true
    endpoint: otel-collector.monitoring.svc:4318
    insecure: true
    sensitiveHeaders: [{{name: authorization, secretKeyRef: {{name: otel-token, key: token}}}}]
    {tracing}
"
    )
}

impl Harness {
    async fn condition_reason(&self, t: &str, reason: &str) -> String {
        let vmcps: Api<VirtualMCPServer> = self.api();
        eventually(&format!("{t}={reason}"), WAIT, || async {
            let st = vmcps.get("gw").await.ok()?.status?;
            let c = st.conditions.iter().find(|c| c.type_ == t)?;
            (c.reason == reason).then(|| c.message.clone())
        })
        .await
    }

    async fn config_with(&self, what: &str) -> String {
        let cms: Api<ConfigMap> = self.api();
        eventually(what, WAIT, || async {
            cms.get_opt("gw-vmcp-config")
                .await
                .ok()??
                .data?
                .remove("config.yaml")
                .filter(|c| c.contains(what))
        })
        .await
    }
}

#[tokio::test]
async fn a_telemetry_config_reference_renders_traces_and_follows_changes() {
    let h = start("op-otel").await;
    h.apply(INPUTS).await;
    let m = h
        .condition_reason("TelemetryConfigRefValidated", "TelemetryConfigRefNotFound")
        .await;
    assert!(
        m.contains(&format!("MCPTelemetryConfig {}/otel", h.ns)),
        "{m}"
    );

    h.apply(&collector("tracing: {enabled: true, samplingRate: '0.5'}"))
        .await;
    let text = h.config_with("samplingRate: '0.5'").await;
    assert!(!text.contains("live-collector-credential"), "{text}");
    let cfg = vmcp_config::Config::from_yaml_str(&text).unwrap();
    assert!(cfg.validate().is_ok(), "{:?}", cfg.validate().problems);
    let (s, _) = vmcp_config::TelemetrySettings::read(cfg.telemetry.as_ref().unwrap());
    assert!(s.traces());
    assert_eq!(s.service_name, "team-gateway");
    assert_eq!(
        s.headers_from_env.get("authorization").map(String::as_str),
        Some("VMCP_OTEL_HEADER_0")
    );
    h.condition_reason("TelemetryConfigRefValidated", "TelemetryConfigRefValid")
        .await;
    let deps: Api<Deployment> = h.api();
    let d = eventually("the gateway Deployment", WAIT, || async {
        deps.get_opt("gw").await.ok()?
    })
    .await;
    let env = d.spec.unwrap().template.spec.unwrap().containers[0]
        .env
        .clone()
        .unwrap_or_default();
    let var = env
        .iter()
        .find(|e| e.name == "VMCP_OTEL_HEADER_0")
        .expect("the header variable");
    let from = var
        .value_from
        .as_ref()
        .unwrap()
        .secret_key_ref
        .as_ref()
        .unwrap();
    assert_eq!(
        (from.name.as_str(), from.key.as_str()),
        ("otel-token", "token")
    );

    // Its own status, and its hash on the VirtualMCPServer.
    let otels: Api<MCPTelemetryConfig> = h.api();
    let hash = eventually("MCPTelemetryConfig Valid with a hash", WAIT, || async {
        let st = otels.get("otel").await.ok()?.status?;
        let c = st.conditions.iter().find(|c| c.type_ == "Valid")?;
        (c.reason == "ConfigValid").then_some(())?;
        st.config_hash
    })
    .await;
    let vmcps: Api<VirtualMCPServer> = h.api();
    eventually("telemetryConfigHash", WAIT, || async {
        let st = vmcps.get("gw").await.ok()?.status?;
        (st.telemetry_config_hash.as_deref() == Some(hash.as_str())).then_some(())
    })
    .await;

    // A change re-renders.
    h.apply(&collector("tracing: {enabled: true, samplingRate: '0.01'}"))
        .await;
    h.config_with("samplingRate: '0.01'").await;

    // An endpoint with no signal on is named on both objects; the last good config stays.
    h.apply(&collector("tracing: {enabled: false}")).await;
    let m = h
        .condition_reason("TelemetryConfigRefValidated", "TelemetryConfigRefInvalid")
        .await;
    assert!(
        m.contains("spec.openTelemetry.endpoint: requires tracing.enabled"),
        "{m}"
    );
    eventually("MCPTelemetryConfig ConfigInvalid", WAIT, || async {
        let st = otels.get("otel").await.ok()?.status?;
        let c = st.conditions.iter().find(|c| c.type_ == "Valid")?;
        (c.reason == "ConfigInvalid").then_some(())
    })
    .await;
    h.config_with("samplingRate: '0.01'").await;
    h.stop().await;
}
