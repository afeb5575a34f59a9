//! Shared helpers for the operator's tests: worlds from YAML, and rendered-object accessors.
#![allow(dead_code)]

pub mod harness;

use vmcp_api::VirtualMCPServer;
use vmcp_api::manifest::parse_manifests;
use vmcp_core::world::{ManifestWorlds, World};
use vmcp_operator::offline::settle;
use vmcp_operator::render::{Rendered, Settings, render_virtual_server};

/// Parses YAML manifests into the `default` namespace's settled world and its VMCPs.
pub fn world_from_yaml(yaml: &str) -> (World, Vec<VirtualMCPServer>) {
    let manifests = parse_manifests(yaml, "test").expect("manifests parse");
    let mut worlds = ManifestWorlds::from_manifests(manifests);
    let mut world = worlds
        .worlds
        .remove("default")
        .unwrap_or_else(|| World::new("default"));
    settle(&mut world);
    (world, worlds.virtual_servers)
}

/// Renders the single VirtualMCPServer of `yaml`.
pub fn render_yaml(yaml: &str) -> (Rendered, World) {
    let (world, vmcps) = world_from_yaml(yaml);
    assert_eq!(vmcps.len(), 1, "expected one VirtualMCPServer");
    (
        render_virtual_server(&vmcps[0], &world, &Settings::default()),
        world,
    )
}

/// The ConfigMap's config.yaml, re-read strictly and validated like the gateway does.
pub fn config_roundtrip(r: &Rendered) -> vmcp_config::Config {
    let objs = r
        .objects
        .as_ref()
        .unwrap_or_else(|| panic!("render stopped: {}", r.status.message));
    let yaml = objs
        .config_map
        .data
        .as_ref()
        .and_then(|d| d.get("config.yaml"))
        .expect("config.yaml key");
    let cfg = vmcp_config::Config::from_yaml_str(yaml).expect("config.yaml parses strictly");
    let report = cfg.validate();
    assert!(
        report.is_ok(),
        "rendered config fails validation: {:?}",
        report.problems
    );
    cfg
}

pub fn cond<'a>(r: &'a Rendered, type_: &str) -> &'a vmcp_operator::status::Cond {
    r.status
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .unwrap_or_else(|| panic!("no {type_} condition in {:?}", r.status.conditions))
}

pub const GROUP: &str = r#"
apiVersion: toolhive.stacklok.dev/v1beta1
kind: MCPGroup
metadata: {name: team, namespace: default}
spec: {}
"#;

/// The pod carries the OIDC client secret as `VMCP_OIDC_CLIENT_SECRET` from Secret
/// `secret` (name, key), never as a value, and the issuer's CA bundle ConfigMap `ca` (name,
/// key) mounted read-only at `/etc/toolhive/ca-bundles/_oidc`.
pub fn assert_oidc_pod(
    pod: &k8s_openapi::api::core::v1::PodSpec,
    secret: (&str, &str),
    ca: (&str, &str),
) {
    let c = &pod.containers[0];
    let env = c
        .env
        .iter()
        .flatten()
        .find(|e| e.name == "VMCP_OIDC_CLIENT_SECRET")
        .expect("the client secret's env var");
    assert!(env.value.is_none(), "a secret value in the pod spec");
    let sel = env
        .value_from
        .as_ref()
        .and_then(|v| v.secret_key_ref.as_ref())
        .expect("a secretKeyRef");
    assert_eq!((sel.name.as_str(), sel.key.as_str()), secret);
    let vol = pod
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == "oidc-ca-bundle")
        .expect("the CA volume");
    let cm = vol.config_map.as_ref().expect("a ConfigMap volume");
    let key = cm.items.as_ref().map(|i| i[0].key.as_str());
    assert_eq!((cm.name.as_str(), key), (ca.0, Some(ca.1)));
    let mount = c
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.name == "oidc-ca-bundle")
        .expect("the CA mount");
    assert_eq!(mount.mount_path, "/etc/toolhive/ca-bundles/_oidc");
    assert_eq!(mount.read_only, Some(true));
}
