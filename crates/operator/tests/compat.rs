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

/// Fields that may legitimately stop a ToolHive example: the features the compatibility rule
/// names as unsupported (optimizer, composite tools, code mode, embedded auth server,
/// telemetry and OIDC config references). Authorization is not among them.
const UNSUPPORTED: &[&str] = &[
    "spec.config.compositeToolRefs",
    "spec.config.codeMode",
    "spec.config.optimizer",
    "spec.embeddingServerRef",
    "spec.telemetryConfigRef",
    "spec.authServerConfig",
    "spec.incomingAuth.oidcConfigRef",
];

/// Per VirtualMCPServer of a directory: `file name: outcome`, where the outcome is
/// `rendered` (with the policies it carries) or the unsupported fields it names.
fn check_dir(sub: &str) -> Vec<String> {
    let dir = compat_dir(sub);
    let mut outcomes = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in files {
        let file = f.file_name().unwrap().to_string_lossy().into_owned();
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
                    let policies = cfg
                        .incoming_auth
                        .as_ref()
                        .and_then(|a| a.authz.as_ref())
                        .map_or(0, |a| a.policies.len());
                    outcomes.push(format!("{file} {}: rendered, {policies} policies", o.name));
                }
                None => {
                    let msg = &o.rendered.status.message;
                    let named: Vec<&str> = UNSUPPORTED
                        .iter()
                        .copied()
                        .filter(|u| {
                            msg.contains(&format!("{u}:")) || msg.contains(&format!("{u}."))
                        })
                        .collect();
                    assert!(
                        !named.is_empty() && msg.contains("not supported"),
                        "{file} {}: stopped without naming an unsupported field: {msg}",
                        o.name
                    );
                    // Nothing else stops it: every problem in the message is one of these.
                    for problem in msg.split("; spec.") {
                        let problem = problem.strip_prefix("spec.").unwrap_or(problem);
                        assert!(
                            UNSUPPORTED
                                .iter()
                                .any(|u| problem.starts_with(&u["spec.".len()..])),
                            "{file} {}: {problem}",
                            o.name
                        );
                    }
                    outcomes.push(format!("{file} {}: refused ({})", o.name, named.join(", ")));
                }
            }
        }
    }
    outcomes
}

#[test]
fn toolhive_virtual_mcp_examples_render_or_name_the_unsupported_field() {
    let outcomes = check_dir("virtual-mcps");
    // Cedar authorization is enforced, so the samples whose only extra is a policy render,
    // policies included; the others name exactly the features vmcp lacks.
    let expected = [
        "composite_tool_complex.yaml vmcp-data-processor: refused (spec.config.compositeToolRefs)",
        "composite_tool_simple.yaml vmcp-simple-composite: refused (spec.config.compositeToolRefs)",
        "composite_tool_with_elicitations.yaml vmcp-interactive-deploy: refused (spec.config.compositeToolRefs)",
        "vmcp_codemode.yaml codemode-vmcp: refused (spec.config.codeMode)",
        "vmcp_conflict_resolution.yaml vmcp-prefix-strategy: rendered, 1 policies",
        "vmcp_conflict_resolution.yaml vmcp-priority-strategy: rendered, 1 policies",
        "vmcp_conflict_resolution.yaml vmcp-manual-strategy: rendered, 1 policies",
        "vmcp_inline_incoming_auth.yaml inline-auth-vmcp: refused (spec.incomingAuth.oidcConfigRef)",
        "vmcp_optimizer_all_options.yaml optimizer-vmcp: refused (spec.config.optimizer, spec.embeddingServerRef)",
        "vmcp_optimizer_openai.yaml optimizer-vmcp: refused (spec.config.optimizer)",
        "vmcp_optimizer_quickstart.yaml optimizer-vmcp: refused (spec.embeddingServerRef)",
        "vmcp_production_full.yaml production-vmcp: refused (spec.incomingAuth.oidcConfigRef)",
        "vmcp_simple_discovered.yaml simple-vmcp: rendered, 1 policies",
        "vmcp_with_oidcconfig_ref.yaml shared-auth-vmcp: refused (spec.incomingAuth.oidcConfigRef)",
        "vmcp_with_telemetry_ref.yaml telemetry-demo-vmcp: refused (spec.telemetryConfigRef)",
    ];
    assert_eq!(outcomes, expected);
    let rendered = outcomes.iter().filter(|o| o.contains(": rendered")).count();
    assert_eq!((rendered, outcomes.len() - rendered), (4, 11));
}

/// The two samples the brief names: their gateway config carries ToolHive's policy as
/// written and passes the gateway's validator (which parses the policy as the gateway does
/// at startup).
#[test]
fn toolhive_authz_samples_render_their_policies() {
    for (file, count) in [
        ("vmcp_simple_discovered.yaml", 1),
        ("vmcp_conflict_resolution.yaml", 3),
    ] {
        let outcomes = render_manifests(
            read_manifests(&compat_dir("virtual-mcps").join(file)).unwrap(),
            &Settings::default(),
        );
        assert_eq!(outcomes.len(), count, "{file}");
        for o in outcomes {
            let text = &o
                .rendered
                .objects
                .as_ref()
                .expect("rendered")
                .config_map
                .data
                .as_ref()
                .unwrap()["config.yaml"];
            let cfg = vmcp_config::Config::from_yaml_str(text).unwrap();
            assert!(cfg.validate().is_ok(), "{file} {}", o.name);
            let authz = cfg.incoming_auth.as_ref().unwrap().authz.as_ref().unwrap();
            assert_eq!(authz.authz_type, Some(vmcp_config::AuthzType::Cedar));
            assert_eq!(
                authz.policies,
                ["permit(principal, action, resource);"],
                "{file} {}",
                o.name
            );
            assert_eq!(authz.parse_cedar().unwrap().policies.policies().count(), 1);
            assert!(
                text.contains("permit(principal, action, resource);"),
                "{text}"
            );
        }
    }
}

#[test]
fn toolhive_entry_examples_render() {
    let outcomes = check_dir("mcp-server-entries");
    assert!(
        outcomes.iter().any(|o| o.contains(": rendered")),
        "{outcomes:?}"
    );
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
    // What the API server's schema refuses is refused on reading, every field named...
    std::fs::write(
        &bad,
        "apiVersion: toolhive.stacklok.dev/v1beta1\nkind: VirtualMCPServer\nmetadata: {name: v}\nspec: {groupRef: {name: ''}, incomingAuth: {type: anonymous}, replicas: -1, config: [1, 2]}\n",
    )
    .unwrap();
    let err = read_manifests(&bad).unwrap_err().to_string();
    assert!(
        err.contains("(VirtualMCPServer v)")
            && err.contains("spec.groupRef.name: Invalid value: \"\"")
            && err.contains("spec.replicas: Invalid value: -1")
            && err.contains("spec.config: Invalid value: \"array\""),
        "{err}"
    );
    // ...while contradictions the schema allows parse, then end in conditions.
    std::fs::write(
        &bad,
        "apiVersion: toolhive.stacklok.dev/v1beta1\nkind: VirtualMCPServer\nmetadata: {name: v}\nspec: {groupRef: {name: g}, incomingAuth: {type: anonymous}, outgoingAuth: {source: inline, default: {type: externalAuthConfigRef}}, config: {aggregation: {conflictResolution: priority}, surprise: 1}}\n",
    )
    .unwrap();
    let o = render_manifests(read_manifests(&bad).unwrap(), &Settings::default());
    let msg = &o[0].rendered.status.message;
    assert!(
        msg.contains("spec.outgoingAuth.default")
            && msg.contains("spec.config.surprise")
            && msg.contains("conflictResolution"),
        "{msg}"
    );
}

/// An object defined twice would silently replace the first in `vmcp render` (and in the
/// cluster only the last apply would stick): an error naming both places. The same name in
/// another namespace, or of another kind, is a different object.
#[test]
fn an_object_defined_twice_is_an_error_naming_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let entry = |name: &str, ns: &str| {
        format!(
            "---\napiVersion: toolhive.stacklok.dev/v1beta1\nkind: MCPServerEntry\nmetadata: {{name: {name}{ns}}}\nspec: {{remoteUrl: 'https://a.example.com', transport: sse, groupRef: {{name: team}}}}\n"
        )
    };
    let group =
        "---\napiVersion: toolhive.stacklok.dev/v1beta1\nkind: MCPGroup\nmetadata: {name: a}\n";
    std::fs::write(
        dir.path().join("a.yaml"),
        format!(
            "{group}{}{}",
            entry("a", ""),
            entry("a", ", namespace: other")
        ),
    )
    .unwrap();
    assert!(read_manifests(dir.path()).is_ok());
    std::fs::write(
        dir.path().join("b.yaml"),
        entry("a", ", namespace: default"),
    )
    .unwrap();
    let err = read_manifests(dir.path()).unwrap_err().to_string();
    assert!(
        err.starts_with("MCPServerEntry default/a is defined twice: in ")
            && err.contains("a.yaml and again in ")
            && err.ends_with("b.yaml"),
        "{err}"
    );
}
