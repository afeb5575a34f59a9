//! `vmcp render` over ToolHive's own example manifests: every VirtualMCPServer either renders
//! a config that passes the gateway's validator, or stops with a condition naming the field
//! vmcp does not support. Never a panic.

use std::path::PathBuf;

use vmcp_operator::offline::{read_manifests, render_manifests, to_yaml};
use vmcp_operator::render::Settings;

fn compat_dir(sub: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/compat/toolhive")
        .join(sub)
}

/// Field names that may legitimately stop a ToolHive example.
const UNSUPPORTED: &[&str] = &[
    "spec.config.compositeToolRefs",
    "spec.config.codeMode",
    "spec.config.optimizer",
    "spec.embeddingServerRef",
    "spec.telemetryConfigRef",
    "spec.incomingAuth",
];

fn check_dir(sub: &str) -> (usize, usize) {
    let dir = compat_dir(sub);
    let mut rendered = 0;
    let mut refused = 0;
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in files {
        let manifests = read_manifests(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        for o in render_manifests(manifests, &Settings::default()) {
            let yaml = to_yaml(&o.documents());
            assert!(
                yaml.contains("kind: VirtualMCPServer"),
                "{}: no status document",
                f.display()
            );
            match &o.rendered.objects {
                Some(objs) => {
                    let text = objs.config_map.data.as_ref().unwrap()["config.yaml"].clone();
                    let cfg = vmcp_config::Config::from_yaml_str(&text)
                        .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
                    assert!(
                        cfg.validate().is_ok(),
                        "{} {}: {:?}",
                        f.display(),
                        o.name,
                        cfg.validate().problems
                    );
                    assert!(yaml.contains("kind: Deployment") && yaml.contains("kind: Service"));
                    rendered += 1;
                }
                None => {
                    let msg = &o.rendered.status.message;
                    assert!(
                        UNSUPPORTED.iter().any(|u| msg.contains(u)),
                        "{} {}: stopped without naming an unsupported field: {msg}",
                        f.display(),
                        o.name
                    );
                    assert!(msg.contains("not supported"), "{msg}");
                    refused += 1;
                }
            }
        }
    }
    (rendered, refused)
}

#[test]
fn toolhive_virtual_mcp_examples_render_or_name_the_unsupported_field() {
    let (rendered, refused) = check_dir("virtual-mcps");
    // Every ToolHive sample declares something vmcp cannot honour yet (Cedar authz, OIDC,
    // optimizer, composite tools, ...): each must end in a condition naming it. Authorization
    // the gateway cannot enforce is refused rather than served as allow-all.
    assert_eq!(
        rendered + refused,
        15,
        "every VirtualMCPServer sample is handled"
    );
    assert!(refused >= 6, "refused {refused}");
}

#[test]
fn toolhive_entry_examples_render() {
    let (rendered, _) = check_dir("mcp-server-entries");
    assert!(rendered >= 1);
    // The mixed group: static mode with the entry (the MCPServer has no status.url offline).
    let outcomes = render_manifests(
        read_manifests(&compat_dir(
            "mcp-server-entries/mcpserverentry_mixed_group.yaml",
        ))
        .unwrap(),
        &Settings::default(),
    );
    let cfg = outcomes[0]
        .rendered
        .config
        .as_ref()
        .expect("mixed group renders");
    let b = cfg.backend("context7").expect("entry backend");
    assert_eq!(b.backend_type, Some(vmcp_config::BackendType::Entry));
}

#[test]
fn repository_examples_render() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/manifests");
    let outcomes = render_manifests(read_manifests(&dir).unwrap(), &Settings::default());
    assert!(!outcomes.is_empty());
    for o in outcomes {
        assert!(
            o.rendered.objects.is_some(),
            "{}: {}",
            o.name,
            o.rendered.status.message
        );
    }
}

#[test]
fn malformed_manifests_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "apiVersion: toolhive.stacklok.dev/v1beta1\nkind: MCPServerEntry\nmetadata: {name: x}\nspec: {remoteUrl: 5, transport: carrier-pigeon}\n").unwrap();
    let err = read_manifests(&bad).unwrap_err().to_string();
    assert!(
        err.contains("bad.yaml") && err.contains("MCPServerEntry"),
        "{err}"
    );
    std::fs::write(&bad, "a: [1, 2\n").unwrap();
    assert!(read_manifests(&bad).is_err());
    // Contradictions parse, then end in conditions.
    std::fs::write(
        &bad,
        "apiVersion: toolhive.stacklok.dev/v1beta1\nkind: VirtualMCPServer\nmetadata: {name: v}\nspec: {groupRef: {name: ''}, incomingAuth: {type: anonymous}, outgoingAuth: {source: inline, default: {type: externalAuthConfigRef}}, config: [1, 2]}\n",
    )
    .unwrap();
    let o = render_manifests(read_manifests(&bad).unwrap(), &Settings::default());
    let msg = &o[0].rendered.status.message;
    assert!(
        msg.contains("spec.groupRef.name")
            && msg.contains("spec.outgoingAuth.default")
            && msg.contains("spec.config"),
        "{msg}"
    );
}
