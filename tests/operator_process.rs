//! `vmcp operator` as the process its Deployment runs, two replicas against the real
//! kube-apiserver: `/healthz`, `/readyz` and `/metrics` answer on both, exactly one holds the
//! leader lease and reconciles, `WATCH_NAMESPACE` with a list limits what is reconciled, and
//! on SIGTERM the leader stops, releases the lease and the standby takes over.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Client, Process, free_port, scratch};
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use vmcp_api::{MCPGroup, MCPServerEntry};
use vmcp_testenv::{TestEnv, apply_yaml, eventually};

const WAIT: Duration = Duration::from_secs(60);

struct Replica {
    identity: &'static str,
    health: u16,
    process: Process,
}

impl Replica {
    /// A client of its health endpoint.
    fn probe(&self) -> Client {
        Client::local(self.health)
    }

    async fn metric(&self, name: &str) -> Option<f64> {
        let (status, body) = self.probe().get("/metrics").await;
        (status == 200).then_some(())?;
        body.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
    }

    async fn is_leader(&self) -> bool {
        self.metric("vmcp_operator_leader ").await == Some(1.0)
    }

    async fn reconciles(&self) -> f64 {
        self.metric("vmcp_operator_reconciles_total{controller=\"mcpgroup\"}")
            .await
            .unwrap_or(0.0)
    }
}

fn replica(
    identity: &'static str,
    env: &TestEnv,
    namespaces: &str,
    lease_ns: &str,
    dir: &std::path::Path,
) -> Replica {
    let health = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_vmcp"));
    command
        .args(["operator", "--watch-namespace", namespaces])
        .args(["--lease-namespace", lease_ns, "--identity", identity])
        .args(["--health-addr", &format!("127.0.0.1:{health}")])
        .env("KUBECONFIG", env.kubeconfig_path())
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(format!("{identity}.log"))).unwrap());
    Replica {
        identity,
        health,
        process: Process::spawn(identity, command).unwrap(),
    }
}

fn group_yaml(ns: &str) -> String {
    format!(
        "apiVersion: toolhive.stacklok.dev/v1beta1\nkind: MCPGroup\nmetadata: {{name: team, namespace: {ns}}}\nspec: {{}}\n"
    )
}

async fn group_ready(client: &kube::Client, ns: &str) -> bool {
    Api::<MCPGroup>::namespaced(client.clone(), ns)
        .get_opt("team")
        .await
        .unwrap()
        .and_then(|g| g.status)
        .is_some_and(|s| format!("{:?}", s.phase) == "Ready")
}

#[tokio::test]
async fn two_replicas_serve_health_elect_one_leader_and_hand_over_on_sigterm() {
    let env = TestEnv::shared().await.expect("test API server");
    env.install_crds().await.expect("CRDs");
    let client = env.client().unwrap();
    let [a, b, outside] = [
        env.namespace("proc-a").await.unwrap(),
        env.namespace("proc-b").await.unwrap(),
        env.namespace("proc-outside").await.unwrap(),
    ];
    let dir = scratch("operator-process");
    // A list with spaces, as people write it in a Deployment's env.
    let watched = format!("{a}, {b}");
    let mut replicas = vec![
        replica("replica-1", &env, &watched, &a, &dir),
        replica("replica-2", &env, &watched, &a, &dir),
    ];

    for r in &replicas {
        eventually(
            &format!("{} serving /healthz", r.identity),
            WAIT,
            || async {
                common::wait_listening(r.health).await;
                (r.probe().get("/healthz").await == (200, "ok".to_owned())).then_some(())
            },
        )
        .await;
        // A standby is ready too: ready to take over.
        eventually(&format!("{} ready", r.identity), WAIT, || async {
            (r.probe().get("/readyz").await.0 == 200).then_some(())
        })
        .await;
    }
    let leader = eventually("one leader", WAIT, || async {
        let mut leaders = Vec::new();
        for (i, r) in replicas.iter().enumerate() {
            if r.is_leader().await {
                leaders.push(i);
            }
        }
        (leaders.len() == 1).then(|| leaders[0])
    })
    .await;
    let standby = 1 - leader;
    assert_eq!(
        replicas[standby].metric("vmcp_operator_leader ").await,
        Some(0.0)
    );

    for ns in [&a, &b, &outside] {
        apply_yaml(&client, None, &group_yaml(ns)).await;
    }
    for ns in [&a, &b] {
        eventually(&format!("group in {ns} Ready"), WAIT, || async {
            group_ready(&client, ns).await.then_some(())
        })
        .await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !group_ready(&client, &outside).await,
        "a namespace outside WATCH_NAMESPACE is not reconciled"
    );
    assert!(replicas[leader].reconciles().await >= 2.0);
    assert_eq!(
        replicas[standby].reconciles().await,
        0.0,
        "the standby reconciles nothing"
    );

    // SIGTERM, as the kubelet stops a pod: the leader exits cleanly and releases the lease.
    replicas[leader].process.terminate().unwrap();
    let stopped = Instant::now();
    let status = loop {
        if let Some(status) = replicas[leader].process.try_wait().unwrap() {
            break status;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(20),
            "the leader did not exit within 20 s of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit after SIGTERM: {status}");
    let old = replicas.remove(leader);
    let lease = Api::<Lease>::namespaced(client.clone(), &a)
        .get("vmcp-operator-leader-election")
        .await
        .unwrap();
    let holder = lease.spec.unwrap().holder_identity;
    assert_ne!(
        holder.as_deref(),
        Some(old.identity),
        "the lease is released (or already taken over)"
    );

    let new = &replicas[0];
    let took_over = eventually("the standby takes over", WAIT, || async {
        new.is_leader().await.then(|| stopped.elapsed())
    })
    .await;
    // A released lease is taken at the standby's next attempt (every 5 s), not after the
    // 15 s a crashed leader's lease needs to expire.
    assert!(
        took_over < Duration::from_secs(12),
        "took over after {took_over:?}"
    );
    apply_yaml(
        &client,
        None,
        &format!(
            "apiVersion: toolhive.stacklok.dev/v1beta1\nkind: MCPServerEntry\nmetadata: {{name: docs, namespace: {b}}}\nspec: {{remoteUrl: 'https://docs.example.com/mcp', transport: streamable-http, groupRef: {{name: team}}}}\n"
        ),
    )
    .await;
    eventually("the new leader validates a new entry", WAIT, || async {
        let e = Api::<MCPServerEntry>::namespaced(client.clone(), &b)
            .get("docs")
            .await
            .ok()?;
        (format!("{:?}", e.status?.phase) == "Valid").then_some(())
    })
    .await;
}
