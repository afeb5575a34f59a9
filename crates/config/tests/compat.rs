//! ToolHive's gateway config and the `spec.config` of every VirtualMCPServer manifest, read as
//! they are: our own manifests in ToolHive's shapes (`tests/fixtures/toolhive-shapes`) always,
//! and ToolHive's samples too when `VMCP_TOOLHIVE_SAMPLES` names them.

use std::path::{Path, PathBuf};

use vmcp_config::{Config, IncomingAuth, IncomingAuthType, ProblemKind, Severity};
use vmcp_testenv::{field_paths, toolhive_samples, toolhive_shapes};

/// ToolHive's gateway config shape asks for OIDC client authentication with Cedar policies,
/// both of which vmcp enforces: the config is valid (telemetry is a warning), and the
/// policies parse (the sample's `Action::"tools/call"` matches nothing, but parses).
#[test]
fn gateway_config_shape_parses_and_fails_only_on_unsupported_sections() {
    check_gateway_config(
        &toolhive_shapes().join("gateway-config/vmcp-config.yaml"),
        ("support-desk", "support-tools"),
        2,
    );
}

#[test]
fn toolhive_gateway_sample_parses_and_fails_only_on_unsupported_sections() {
    let Some(dir) = toolhive_samples() else {
        return;
    };
    check_gateway_config(
        &dir.join("gateway-config/vmcp-config.yaml"),
        ("engineering-vmcp", "engineering-team"),
        1,
    );
}

/// Our gateway config has every field ToolHive's gateway sample sets (the keys of user-named
/// maps aside), so that the test of our config fails wherever the sample's would.
#[test]
fn the_gateway_config_shape_covers_every_field_of_the_sample() {
    let Some(dir) = toolhive_samples() else {
        return;
    };
    let paths = |path: &Path| {
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        field_paths(&serde_yaml::from_str::<serde_json::Value>(&text).unwrap())
    };
    let ours = paths(&toolhive_shapes().join("gateway-config/vmcp-config.yaml"));
    let theirs = paths(&dir.join("gateway-config/vmcp-config.yaml"));
    let missing: Vec<&String> = theirs.difference(&ours).collect();
    assert!(
        missing.is_empty(),
        "fields of the sample our gateway config lacks: {missing:#?}"
    );
}

/// `name`/`groupRef` as expected, `policies` Cedar policies.
fn check_gateway_config(path: &Path, (name, group): (&str, &str), policies: usize) {
    let cfg = Config::load_file(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(cfg.name, name);
    assert_eq!(cfg.group_ref, group);
    let report = cfg.validate();
    let found: Vec<(Severity, ProblemKind, &str)> = report
        .problems
        .iter()
        .map(|p| (p.severity, p.kind, p.path.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            // The samples' collector is on localhost, which spans reach only when allowed.
            (
                Severity::Warning,
                ProblemKind::Invalid,
                "telemetry.endpoint"
            ),
        ],
        "{report}"
    );
    assert!(report.is_ok(), "{report}");
    let authz = cfg.incoming_auth.as_ref().unwrap().authz.as_ref().unwrap();
    let cedar = authz.parse_cedar().expect("the policies parse");
    assert_eq!(authz.policies.len(), policies);
    assert_eq!(cedar.policies.policies().count(), authz.policies.len());
    // With anonymous clients instead, the sample is a config the gateway serves.
    let mut anonymous = cfg.clone();
    let incoming = anonymous.incoming_auth.as_mut().unwrap();
    incoming.auth_type = Some(IncomingAuthType::Anonymous);
    incoming.oidc = None;
    assert!(anonymous.validate().is_ok(), "{}", anonymous.validate());
    assert_eq!(
        cfg.summary().to_string(),
        format!(
            "{name} (group {group}): backends discovered from the group, conflict resolution \
             prefix, incoming auth oidc, outgoing auth inline"
        )
    );
    // Written back and read again, nothing changes.
    let again = Config::from_yaml_str(&cfg.to_yaml_string().unwrap()).unwrap();
    assert_eq!(again, cfg);
}

/// The `spec.config` of each VirtualMCPServer in a manifest file, with its object name and
/// group.
fn virtual_mcp_configs(file: &std::path::Path) -> Vec<(String, String, serde_json::Value)> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let value = serde_yaml::Value::deserialize(doc).unwrap();
        let json: serde_json::Value = serde_json::to_value(&value).unwrap();
        if json["kind"] != "VirtualMCPServer" {
            continue;
        }
        let name = json["metadata"]["name"].as_str().unwrap().to_owned();
        let group = json["spec"]["groupRef"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        out.push((name, group, json["spec"]["config"].clone()));
    }
    out
}

use serde::Deserialize;

/// The composite-tool, code-mode and optimizer shapes use sections vmcp lacks; every other
/// one is clean.
#[test]
fn every_virtual_mcp_server_spec_config_of_the_shapes_parses_strictly() {
    let (seen, outcomes) = check_virtual_mcp_dir(&toolhive_shapes().join("virtual-mcps"));
    assert_eq!(seen, 12);
    assert_eq!(
        outcomes,
        [
            "vmcp_code_mode.yaml scripted-gateway: codeMode.enabled",
            "vmcp_composite_refs.yaml helpdesk-workflows: compositeToolRefs",
            "vmcp_optimizer_settings.yaml tuned-search-gateway: optimizer",
        ]
    );
}

#[test]
fn every_virtual_mcp_server_spec_config_of_the_samples_parses_strictly() {
    let Some(dir) = toolhive_samples() else {
        return;
    };
    let (seen, outcomes) = check_virtual_mcp_dir(&dir.join("virtual-mcps"));
    assert!(
        seen >= 14,
        "only {seen} VirtualMCPServers found in {}",
        dir.display()
    );
    let expected = [
        "composite_tool_complex.yaml vmcp-data-processor: compositeToolRefs",
        "composite_tool_simple.yaml vmcp-simple-composite: compositeToolRefs",
        "composite_tool_with_elicitations.yaml vmcp-interactive-deploy: compositeToolRefs",
        "vmcp_codemode.yaml codemode-vmcp: codeMode.enabled",
        "vmcp_optimizer_all_options.yaml optimizer-vmcp: optimizer",
        "vmcp_optimizer_openai.yaml optimizer-vmcp: optimizer",
    ];
    assert_eq!(outcomes, expected);
}

/// Each VirtualMCPServer's `spec.config` in `dir` parses strictly and leniently alike and, as
/// the operator completes it, validates with nothing but not-supported problems. Returns how
/// many were seen and `file name: problem path` per problem.
fn check_virtual_mcp_dir(dir: &Path) -> (usize, Vec<String>) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    let mut seen = 0;
    let mut outcomes = Vec::new();
    for file in &files {
        let file_name = file.file_name().unwrap().to_string_lossy().into_owned();
        for (name, group, spec_config) in virtual_mcp_configs(file) {
            seen += 1;
            let mut cfg = Config::from_json_value(spec_config.clone())
                .unwrap_or_else(|e| panic!("{file_name} {name}: {e}"));
            // Lenient parsing agrees and finds nothing unknown.
            let (lenient, unknown) = Config::from_json_value_lenient(spec_config).unwrap();
            assert_eq!(lenient, cfg);
            assert!(unknown.is_empty(), "{file_name} {name}: {unknown:?}");

            // What the operator fills in before writing the ConfigMap.
            cfg.name = name.clone();
            cfg.group_ref = group;
            cfg.incoming_auth = Some(IncomingAuth {
                auth_type: Some(IncomingAuthType::Anonymous),
                ..Default::default()
            });
            let report = cfg.with_defaults().validate();
            for p in &report.problems {
                assert_eq!(p.kind, ProblemKind::NotSupported, "{file_name} {name}: {p}");
                outcomes.push(format!("{file_name} {name}: {}", p.path));
            }
        }
    }
    (seen, outcomes)
}
