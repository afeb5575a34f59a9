//! Health reporting on a real kube-apiserver: the operator's controllers (in-process, field
//! manager `vmcp-operator`) and the gateway's reporter (field manager `vmcp-gateway`) write
//! the same VirtualMCPServer status; they converge and then stop writing.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use vmcp_api::VirtualMCPServer;
use vmcp_api::virtual_server::{BackendHealth, CircuitBreakerState, VirtualMCPServerPhase};
use vmcp_gateway_kube::report::BackendReport;
use vmcp_gateway_kube::{Reporter, Target};
use vmcp_operator::controllers::Scope;
use vmcp_operator::run::Controllers;
use vmcp_testenv::{TestEnv, apply_object, eventually};

const WAIT: Duration = Duration::from_secs(30);

fn entry(name: &str, url: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "toolhive.stacklok.dev/v1beta1", "kind": "MCPServerEntry",
        "metadata": {"name": name},
        "spec": {"remoteUrl": url, "transport": "streamable-http", "groupRef": {"name": "team"}},
    })
}

fn report(name: &str, health: BackendHealth, fails: u32) -> BackendReport {
    BackendReport {
        name: name.into(),
        health,
        message: if fails == 0 {
            "healthy".into()
        } else {
            "connection refused".into()
        },
        circuit: if fails >= 3 {
            CircuitBreakerState::Open
        } else {
            CircuitBreakerState::Closed
        },
        consecutive_failures: fails,
        last_check_unix: Some(1_800_000_000),
    }
}

fn backend<'a>(
    v: &'a VirtualMCPServer,
    name: &str,
) -> Option<&'a vmcp_api::virtual_server::DiscoveredBackend> {
    v.status
        .as_ref()?
        .discovered_backends
        .as_ref()?
        .iter()
        .find(|b| b.name == name)
}

#[tokio::test]
async fn operator_and_gateway_share_the_status_without_flapping() {
    let env = TestEnv::shared().await.expect("test apiserver");
    env.install_crds().await.expect("CRDs");
    let ns = env.namespace("gw-status").await.expect("namespace");
    let client = env.client().expect("client");
    let operator = Controllers::spawn(client.clone(), vec![Scope::Namespace(ns.clone())]);

    apply_object(
        &client,
        Some(&ns),
        &serde_json::json!({
        "apiVersion": "toolhive.stacklok.dev/v1beta1", "kind": "MCPGroup",
        "metadata": {"name": "team"}, "spec": {}}),
    )
    .await;
    apply_object(
        &client,
        Some(&ns),
        &entry("alpha", "https://alpha.example.com/mcp"),
    )
    .await;
    apply_object(
        &client,
        Some(&ns),
        &entry("beta", "https://beta.example.com/mcp"),
    )
    .await;
    apply_object(
        &client,
        Some(&ns),
        &serde_json::json!({
        "apiVersion": "toolhive.stacklok.dev/v1beta1", "kind": "VirtualMCPServer",
        "metadata": {"name": "gw"},
        "spec": {"groupRef": {"name": "team"}, "incomingAuth": {"type": "anonymous"},
                 "outgoingAuth": {"source": "inline"}}}),
    )
    .await;

    let vmcps: Api<VirtualMCPServer> = Api::namespaced(client.clone(), &ns);
    eventually(
        "the operator lists both backends as unknown",
        WAIT,
        || async {
            let v = vmcps.get("gw").await.ok()?;
            let ok = ["alpha", "beta"].iter().all(|n| {
                backend(&v, n)
                    .is_some_and(|b| b.status == Some(BackendHealth::Unknown) && b.url.is_some())
            });
            ok.then_some(())
        },
    )
    .await;

    // The kubelet's part: the gateway's Deployment becomes ready, so infra phase is Ready.
    let deps: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let d = eventually("the gateway Deployment", WAIT, || async {
        deps.get_opt("gw").await.ok().flatten()
    })
    .await;
    let generation = d.metadata.generation.unwrap_or(1);
    deps.patch_status(
        "gw",
        &PatchParams::default(),
        &Patch::Merge(
            serde_json::json!({"status": {"observedGeneration": generation, "replicas": 1,
            "readyReplicas": 1, "availableReplicas": 1, "updatedReplicas": 1}}),
        ),
    )
    .await
    .expect("deployment status");

    // The gateway reports: alpha ready, beta down with an open circuit.
    let target = Target {
        name: "gw".into(),
        namespace: ns.clone(),
    };
    let reporter = tokio::sync::Mutex::new(Reporter::new(
        client.clone(),
        target,
        Duration::from_secs(3600),
    ));
    let health = vec![
        report("alpha", BackendHealth::Ready, 0),
        report("beta", BackendHealth::Unavailable, 5),
    ];
    assert!(reporter.lock().await.report(&health).await.expect("report"));

    let v = eventually("health merged and phase Degraded", WAIT, || async {
        // The reporter puts back health fields the operator raced over.
        reporter.lock().await.report(&health).await.expect("report");
        let v = vmcps.get("gw").await.ok()?;
        let st = v.status.as_ref()?;
        let ok = st.phase == Some(VirtualMCPServerPhase::Degraded)
            && backend(&v, "alpha")?.status == Some(BackendHealth::Ready)
            && backend(&v, "beta")?.status == Some(BackendHealth::Unavailable);
        ok.then_some(v)
    })
    .await;
    let st = v.status.as_ref().unwrap();
    assert_eq!(st.backend_count, Some(1));
    let beta = backend(&v, "beta").unwrap();
    assert_eq!(beta.circuit_breaker_state, Some(CircuitBreakerState::Open));
    assert_eq!(beta.consecutive_failures, Some(5));
    assert_eq!(
        beta.url.as_deref(),
        Some("https://beta.example.com/mcp"),
        "operator fields kept"
    );
    let cond = |t: &str| st.conditions.iter().find(|c| c.type_ == t).cloned();
    let degraded = cond("Degraded").expect("Degraded condition");
    assert_eq!(
        (degraded.status.as_str(), degraded.reason.as_str()),
        ("True", "SomeBackendsUnhealthy")
    );
    assert_eq!(cond("Ready").expect("Ready").reason, "DeploymentReady");
    assert_eq!(cond("Valid").expect("Valid").status, "True");

    // Converged: the same health again writes nothing; the operator, reconciling on the
    // gateway's writes, settles too. resourceVersion stays put across several more rounds.
    let settled = |v: &VirtualMCPServer| v.metadata.resource_version.clone();
    let mut rv = settled(&vmcps.get("gw").await.unwrap());
    let mut stable_rounds = 0;
    let deadline = tokio::time::Instant::now() + WAIT;
    while stable_rounds < 10 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "status never settled"
        );
        let applied = reporter.lock().await.report(&health).await.expect("report");
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = settled(&vmcps.get("gw").await.unwrap());
        if now == rv && !applied {
            stable_rounds += 1
        } else {
            stable_rounds = 0;
            rv = now;
        }
    }

    // Recovery: beta comes back; phase Ready, Degraded False, backendCount 2.
    let healthy = vec![
        report("alpha", BackendHealth::Ready, 0),
        report("beta", BackendHealth::Ready, 0),
    ];
    assert!(
        reporter
            .lock()
            .await
            .report(&healthy)
            .await
            .expect("report")
    );
    eventually("phase Ready after recovery", WAIT, || async {
        reporter
            .lock()
            .await
            .report(&healthy)
            .await
            .expect("report");
        let v = vmcps.get("gw").await.ok()?;
        let st = v.status.as_ref()?;
        let d = st.conditions.iter().find(|c| c.type_ == "Degraded")?;
        (st.phase == Some(VirtualMCPServerPhase::Ready)
            && st.backend_count == Some(2)
            && d.status == "False"
            && d.reason == "AllBackendsRoutable")
            .then_some(())
    })
    .await;

    // Field ownership: health fields are the gateway's, url the operator's.
    let v = vmcps.get("gw").await.unwrap();
    let managers: Vec<String> = v
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m.subresource.as_deref() == Some("status"))
        .filter_map(|m| m.manager)
        .collect();
    assert!(managers.iter().any(|m| m == "vmcp-gateway"), "{managers:?}");
    assert!(
        managers.iter().any(|m| m == "vmcp-operator"),
        "{managers:?}"
    );

    let _ = tokio::time::timeout(Duration::from_secs(10), operator.stop()).await;
}
