//! `vmcp render` over manifests in ToolHive's shapes — our own (`tests/fixtures/toolhive-shapes`)
//! always, and ToolHive's own examples too when `VMCP_TOOLHIVE_SAMPLES` names them: every
//! VirtualMCPServer either renders a config that passes the gateway's validator, stops with a
//! condition naming the field vmcp does not support, or stops because an object it references
//! is not in the files (ToolHive's own condition and reason, naming the object). Never a panic.

use std::path::{Path, PathBuf};

use vmcp_operator::offline::{read_manifests, render_manifests, to_yaml};
use vmcp_operator::render::Settings;
use vmcp_testenv::{toolhive_samples, toolhive_shapes};

/// Fields that may legitimately stop a ToolHive example: the features the compatibility rule
/// names as unsupported (optimizer, composite tools, code mode, embedded auth server).
/// Authorization, OIDC and telemetry config references are not among them.
const UNSUPPORTED: &[&str] = &[
    "spec.config.compositeToolRefs",
    "spec.config.codeMode",
    "spec.config.optimizer",
    "spec.embeddingServerRef",
    "spec.authServerConfig",
];

/// The reference conditions whose failure means "an object the files do not hold, or hold
/// incompletely" rather than an unsupported feature.
const REFERENCES: &[&str] = &[
    "OIDCConfigRefValidated",
    "AuthzConfigRefValidated",
    "TelemetryConfigRefValidated",
];

/// The files of `dir`, in name order.
fn files_of(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// Per VirtualMCPServer of a directory: `file name: outcome`, where the outcome is
/// `rendered` (with the policies it carries) or the unsupported fields it names.
fn check_dir(dir: &Path) -> Vec<String> {
    let mut outcomes = Vec::new();
    for f in files_of(dir) {
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
                None if o
                    .rendered
                    .status
                    .conditions
                    .iter()
                    .any(|c| !c.ok && REFERENCES.contains(&c.type_.as_str())) =>
                {
                    let c = o
                        .rendered
                        .status
                        .conditions
                        .iter()
                        .find(|c| !c.ok && REFERENCES.contains(&c.type_.as_str()))
                        .unwrap();
                    outcomes.push(format!(
                        "{file} {}: stopped ({}={}: {})",
                        o.name, c.type_, c.reason, c.message
                    ));
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
fn virtual_mcp_shapes_render_or_name_the_unsupported_field() {
    let outcomes = check_dir(&toolhive_shapes().join("virtual-mcps"));
    let expected = [
        "vmcp_code_mode.yaml scripted-gateway: refused (spec.config.codeMode)",
        "vmcp_composite_refs.yaml helpdesk-workflows: refused (spec.config.compositeToolRefs)",
        "vmcp_discovered_permit_all.yaml helpdesk-gateway: rendered, 1 policies",
        "vmcp_embedding_server_ref.yaml search-gateway: refused (spec.embeddingServerRef)",
        "vmcp_oidc_config_ref.yaml intranet-gateway: rendered, 1 policies",
        "vmcp_optimizer_settings.yaml tuned-search-gateway: refused (spec.config.optimizer)",
        "vmcp_service_account_auth.yaml build-gateway: rendered, 2 policies",
        "vmcp_service_and_pod.yaml storefront-gateway: rendered, 3 policies",
        "vmcp_strategies.yaml analytics-prefixed: rendered, 1 policies",
        "vmcp_strategies.yaml analytics-ranked: rendered, 0 policies",
        "vmcp_strategies.yaml analytics-picked: rendered, 0 policies",
        "vmcp_telemetry_config_ref.yaml traced-gateway: rendered, 0 policies",
    ];
    assert_eq!(outcomes, expected);
}

/// The gateway's `telemetry` section of the one VirtualMCPServer of `file`, as the gateway
/// reads it, with the rendered ConfigMap text and Deployment.
fn rendered_telemetry(
    file: &Path,
) -> (
    vmcp_config::TelemetrySettings,
    String,
    k8s_openapi::api::apps::v1::Deployment,
) {
    let outcomes = render_manifests(read_manifests(file).unwrap(), &Settings::default());
    let objs = outcomes[0].rendered.objects.clone().expect("rendered");
    let text = objs.config_map.data.as_ref().unwrap()["config.yaml"].clone();
    let cfg = vmcp_config::Config::from_yaml_str(&text).unwrap();
    let (settings, problems) =
        vmcp_config::TelemetrySettings::read(cfg.telemetry.as_ref().unwrap());
    assert!(problems.iter().all(|(_, _, e)| !e), "{problems:?}");
    (settings, text, objs.deployment)
}

/// A shared MCPTelemetryConfig becomes a `telemetry` section the gateway traces with: the
/// reference's service name, the credential as a variable from its Secret (never in the
/// ConfigMap), the resource attributes; the status names the config's hash.
#[test]
fn a_telemetry_config_ref_renders_a_tracing_section_with_secret_headers_as_env() {
    let file = toolhive_shapes().join("virtual-mcps/vmcp_telemetry_config_ref.yaml");
    let (s, text, deployment) = rendered_telemetry(&file);
    assert!(s.traces());
    assert_eq!(s.endpoint.as_deref(), Some("https://otel.labs.svc:4318"));
    assert_eq!(
        (s.service_name.as_str(), s.sampling_rate),
        ("traced-gateway", 0.25)
    );
    assert_eq!(s.headers.get("x-tenant").map(String::as_str), Some("labs"));
    assert_eq!(
        s.headers_from_env.get("authorization").map(String::as_str),
        Some("VMCP_OTEL_HEADER_0")
    );
    assert_eq!(
        s.custom_attributes
            .get("deployment.environment")
            .map(String::as_str),
        Some("labs")
    );
    assert!(!text.contains("labs-collector-credential"), "{text}");
    let env = deployment.spec.unwrap().template.spec.unwrap().containers[0]
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
        ("labs-otel-token", "token")
    );
    assert!(var.value.is_none());
}

#[test]
fn toolhive_virtual_mcp_examples_render_or_name_the_unsupported_field() {
    let Some(samples) = toolhive_samples() else {
        return;
    };
    let outcomes = check_dir(&samples.join("virtual-mcps"));
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
        // Its MCPOIDCConfig is not in the file (nor the client Secret of the next two).
        "vmcp_inline_incoming_auth.yaml inline-auth-vmcp: stopped (OIDCConfigRefValidated=OIDCConfigRefNotFound: MCPOIDCConfig default/inline-auth-oidc-config referenced by spec.incomingAuth.oidcConfigRef not found)",
        "vmcp_optimizer_all_options.yaml optimizer-vmcp: refused (spec.config.optimizer, spec.embeddingServerRef)",
        "vmcp_optimizer_openai.yaml optimizer-vmcp: refused (spec.config.optimizer)",
        "vmcp_optimizer_quickstart.yaml optimizer-vmcp: refused (spec.embeddingServerRef)",
        "vmcp_production_full.yaml production-vmcp: stopped (OIDCConfigRefValidated=OIDCConfigRefNotFound: MCPOIDCConfig production/production-oidc-config referenced by spec.incomingAuth.oidcConfigRef not found)",
        "vmcp_simple_discovered.yaml simple-vmcp: rendered, 1 policies",
        "vmcp_with_oidcconfig_ref.yaml shared-auth-vmcp: stopped (OIDCConfigRefValidated=OIDCConfigRefNotValid: MCPOIDCConfig default/corporate-idp is not valid: spec.inline.clientSecretRef: Secret default/oidc-secret not found)",
        "vmcp_with_telemetry_ref.yaml telemetry-demo-vmcp: rendered, 0 policies",
    ];
    assert_eq!(outcomes, expected);
    let rendered = outcomes.iter().filter(|o| o.contains(": rendered")).count();
    assert_eq!((rendered, outcomes.len() - rendered), (5, 10));
    // The telemetry sample traces to its collector under the reference's service name.
    let (s, _, _) = rendered_telemetry(&samples.join("virtual-mcps/vmcp_with_telemetry_ref.yaml"));
    assert!(s.traces());
    assert_eq!(
        s.endpoint.as_deref(),
        Some("http://otel-collector-opentelemetry-collector.monitoring.svc.cluster.local:4318")
    );
    assert_eq!(
        (s.service_name.as_str(), s.sampling_rate),
        ("telemetry-demo-vmcp", 0.1)
    );
    // With the Secret the file leaves out, the shared-provider sample renders its OIDC block.
    let file = samples.join("virtual-mcps/vmcp_with_oidcconfig_ref.yaml");
    let text = std::fs::read_to_string(&file).unwrap()
        + "\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: oidc-secret, namespace: default}\nstringData: {client-secret: x}\n";
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sample.yaml"), text).unwrap();
    let outcomes = check_dir(dir.path());
    assert_eq!(
        outcomes,
        ["sample.yaml shared-auth-vmcp: rendered, 1 policies"]
    );
}

/// The inline Cedar policies a manifest's VirtualMCPServers carry, by object name, as written.
fn written_policies(file: &Path) -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let v: serde_json::Value = serde::Deserialize::deserialize(doc).unwrap();
        if v["kind"] != "VirtualMCPServer" {
            continue;
        }
        let policies = v["spec"]["incomingAuth"]["authzConfig"]["inline"]["policies"]
            .as_array()
            .map(|p| p.iter().map(|p| p.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default();
        out.push((v["metadata"]["name"].as_str().unwrap().to_owned(), policies));
    }
    out
}

/// Every VirtualMCPServer of `file` renders a gateway config that carries its inline policies
/// as written, as Cedar, and passes the gateway's validator (which parses the policies as the
/// gateway does at startup). Returns the policies per VirtualMCPServer.
fn assert_policies_rendered_as_written(file: &Path) -> Vec<Vec<String>> {
    let written = written_policies(file);
    let outcomes = render_manifests(read_manifests(file).unwrap(), &Settings::default());
    assert_eq!(outcomes.len(), written.len(), "{}", file.display());
    let mut out = Vec::new();
    for (o, (name, policies)) in outcomes.into_iter().zip(written) {
        assert_eq!(o.name, name);
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
        assert!(cfg.validate().is_ok(), "{} {name}", file.display());
        let authz = cfg.incoming_auth.as_ref().unwrap().authz.as_ref().unwrap();
        assert_eq!(authz.authz_type, Some(vmcp_config::AuthzType::Cedar));
        assert_eq!(authz.policies, policies, "{} {name}", file.display());
        assert_eq!(
            authz.parse_cedar().unwrap().policies.policies().count(),
            policies.len()
        );
        out.push(policies);
    }
    out
}

/// Our authorization shapes: one permit-all policy, and three multi-line and conditional ones.
#[test]
fn authz_shapes_render_their_policies() {
    let dir = toolhive_shapes().join("virtual-mcps");
    assert_eq!(
        assert_policies_rendered_as_written(&dir.join("vmcp_discovered_permit_all.yaml")),
        [["permit(principal, action, resource);"]]
    );
    let policies = assert_policies_rendered_as_written(&dir.join("vmcp_service_and_pod.yaml"));
    assert_eq!(policies.len(), 1);
    assert_eq!(policies[0].len(), 3);
    assert!(policies[0][0].contains("when {"), "{policies:?}");
}

/// The two samples the brief names: their gateway config carries ToolHive's policy as
/// written and passes the gateway's validator.
#[test]
fn toolhive_authz_samples_render_their_policies() {
    let Some(samples) = toolhive_samples() else {
        return;
    };
    for (file, count) in [
        ("vmcp_simple_discovered.yaml", 1),
        ("vmcp_conflict_resolution.yaml", 3),
    ] {
        let policies =
            assert_policies_rendered_as_written(&samples.join("virtual-mcps").join(file));
        assert_eq!(policies.len(), count, "{file}");
        for p in policies {
            assert_eq!(p, ["permit(principal, action, resource);"], "{file}");
        }
    }
}

/// Entries render, and in the mixed group (static mode) `entry` names an entry backend (the
/// MCPServer has no status.url offline, so it is not a backend).
fn check_entries(dir: &Path, mixed_group: &str, entry: &str) {
    let outcomes = check_dir(dir);
    assert!(
        outcomes.iter().any(|o| o.contains(": rendered")),
        "{outcomes:?}"
    );
    let outcomes = render_manifests(
        read_manifests(&dir.join(mixed_group)).unwrap(),
        &Settings::default(),
    );
    let cfg = outcomes[0]
        .rendered
        .config
        .as_ref()
        .expect("mixed group renders");
    let b = cfg.backend(entry).expect("entry backend");
    assert_eq!(b.backend_type, Some(vmcp_config::BackendType::Entry));
}

#[test]
fn entry_shapes_render() {
    check_entries(
        &toolhive_shapes().join("mcp-server-entries"),
        "entry_mixed_group.yaml",
        "arxiv-search",
    );
}

#[test]
fn toolhive_entry_examples_render() {
    let Some(samples) = toolhive_samples() else {
        return;
    };
    check_entries(
        &samples.join("mcp-server-entries"),
        "mcpserverentry_mixed_group.yaml",
        "context7",
    );
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

/// Every MCPExternalAuthConfig of `dir`, used by an MCPServerEntry of a VirtualMCPServer of its
/// own (static mode, OIDC callers), rendered: the entry's backend gets the strategy
/// of the config's type with its secret as an env `secretKeyRef`, or — only for fields vmcp
/// refuses on purpose — the backend is left out with a condition naming the field and the
/// config. No Secret value of the files appears in anything rendered. Returns one line per
/// config.
/// Fails unless one of `outcomes` (of [`check_external_auth`]) contains `want`.
fn assert_outcome(outcomes: &[String], want: &str) {
    assert!(
        outcomes.iter().any(|o| o.contains(want)),
        "no outcome contains {want:?}: {outcomes:#?}"
    );
}

fn check_external_auth(dir: &Path) -> Vec<String> {
    use vmcp_api::manifest::{Manifest, parse_manifests};
    let mut outcomes = Vec::new();
    for f in files_of(dir) {
        let text = std::fs::read_to_string(&f).unwrap();
        let manifests = read_manifests(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let secret_values: Vec<String> = manifests
            .iter()
            .filter_map(|m| match m {
                Manifest::Other(v) if v["kind"] == "Secret" => {
                    v["stringData"].as_object().map(|d| {
                        d.values()
                            .filter_map(|s| s.as_str().map(str::to_owned))
                            .collect::<Vec<_>>()
                    })
                }
                _ => None,
            })
            .flatten()
            .collect();
        for m in &manifests {
            let Manifest::ExternalAuth(cfg) = m else {
                continue;
            };
            let name = cfg.metadata.name.clone().unwrap();
            let ns = cfg.metadata.namespace.clone().unwrap_or("default".into());
            let at = format!("{} {name}", f.display());
            let problems = vmcp_core::auth::spec_problems(&cfg.spec);
            // The Secrets it names that the file does not hold (ToolHive's samples leave them
            // to the user), with a placeholder value.
            let spec = &cfg.spec;
            let refs = spec
                .header_injection
                .as_ref()
                .map(|h| h.value_secret_ref.clone())
                .into_iter()
                .chain(
                    spec.bearer_token
                        .as_ref()
                        .map(|b| b.token_secret_ref.clone()),
                )
                .chain(
                    spec.token_exchange
                        .as_ref()
                        .and_then(|t| vmcp_core::auth::normalized_token_exchange(t).ok())
                        .and_then(|t| t.client_secret_ref),
                );
            let mut extra = String::new();
            for r in refs {
                let held = manifests.iter().any(|m| {
                    matches!(m, Manifest::Other(v) if v["kind"] == "Secret" && v["metadata"]["name"] == r.name.as_str())
                });
                if !held && !extra.contains(&format!("name: {},", r.name)) {
                    extra.push_str(&format!(
                        "---\napiVersion: v1\nkind: Secret\nmetadata: {{name: {}, namespace: {ns}}}\nstringData: {{{}: vmcp-compat-placeholder}}\n",
                        r.name, r.key
                    ));
                }
            }
            let wrap = format!(
                "{text}\n{extra}---\napiVersion: toolhive.stacklok.dev/v1beta1\nkind: MCPOIDCConfig\nmetadata: {{name: vmcp-compat-idp, namespace: {ns}}}\nspec: {{type: inline, inline: {{issuer: 'https://idp.compat.example'}}}}\n---\napiVersion: toolhive.stacklok.dev/v1beta1\nkind: MCPGroup\nmetadata: {{name: vmcp-compat-{name}, namespace: {ns}}}\nspec: {{}}\n---\napiVersion: toolhive.stacklok.dev/v1beta1\nkind: MCPServerEntry\nmetadata: {{name: vmcp-compat-{name}, namespace: {ns}}}\nspec: {{remoteUrl: 'https://{name}.compat.example/mcp', transport: streamable-http, groupRef: {{name: vmcp-compat-{name}}}, externalAuthConfigRef: {{name: {name}}}}}\n---\napiVersion: toolhive.stacklok.dev/v1beta1\nkind: VirtualMCPServer\nmetadata: {{name: vmcp-compat-{name}, namespace: {ns}}}\nspec: {{groupRef: {{name: vmcp-compat-{name}}}, incomingAuth: {{type: oidc, oidcConfigRef: {{name: vmcp-compat-idp, audience: vmcp}}}}, outgoingAuth: {{source: inline}}}}\n"
            );
            let wrapped = parse_manifests(&wrap, &at).unwrap_or_else(|e| panic!("{at}: {e}"));
            let outcome = render_manifests(wrapped, &Settings::default())
                .into_iter()
                .find(|o| o.name == format!("vmcp-compat-{name}"))
                .unwrap_or_else(|| panic!("{at}: not rendered"));
            let yaml = to_yaml(&outcome.documents());
            for v in &secret_values {
                assert!(
                    !yaml.contains(v.as_str()),
                    "{at}: a Secret value is in the render"
                );
            }
            let backend = outcome
                .rendered
                .config
                .as_ref()
                .and_then(|c| c.backend(&format!("vmcp-compat-{name}")).map(|_| c));
            match backend {
                Some(c) => {
                    assert!(problems.is_empty(), "{at}: rendered despite {problems:?}");
                    let key = format!("vmcp-compat-{name}");
                    let strategy = c
                        .outgoing_auth
                        .as_ref()
                        .and_then(|o| o.backends.get(&key))
                        .unwrap_or_else(|| panic!("{at}: no strategy for the backend"));
                    let env = match (&strategy.token_exchange, &strategy.header_injection) {
                        (Some(t), _) => {
                            assert!(
                                t.client_secret.is_empty() && !t.token_url.is_empty(),
                                "{at}"
                            );
                            t.client_secret_env.clone()
                        }
                        (_, Some(h)) => {
                            assert!(h.header_value.is_empty(), "{at}: value in the ConfigMap");
                            h.header_value_env.clone()
                        }
                        _ => String::new(),
                    };
                    if !env.is_empty() {
                        assert!(
                            yaml.contains(&format!("name: {env}")) && yaml.contains("secretKeyRef"),
                            "{at}: env {env} is not from a Secret"
                        );
                    }
                    let kind = strategy.strategy_type.map_or("none", |t| t.as_str());
                    outcomes.push(format!("{at}: rendered as {kind}"));
                }
                None => {
                    assert!(
                        !problems.is_empty(),
                        "{at}: left out without a problem: {:?}",
                        outcome.rendered.status.conditions
                    );
                    for p in &problems {
                        assert!(
                            p.contains("externalTokenHeaderName"),
                            "{at}: refused for {p}"
                        );
                    }
                    let c = outcome
                        .rendered
                        .status
                        .conditions
                        .iter()
                        .find(|c| !c.ok && c.message.contains("externalTokenHeaderName"))
                        .unwrap_or_else(|| {
                            panic!(
                                "{at}: no condition names the field: {:?}",
                                outcome.rendered.status.conditions
                            )
                        });
                    assert!(c.message.contains(&name), "{at}: {}", c.message);
                    outcomes.push(format!("{at}: refused (externalTokenHeaderName)"));
                }
            }
        }
    }
    outcomes
}

#[test]
fn external_auth_shapes_render_to_working_strategies() {
    let outcomes = check_external_auth(&toolhive_shapes().join("external-auth"));
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| o.contains("rendered as"))
            .count(),
        2,
        "{outcomes:#?}"
    );
    assert_outcome(&outcomes, "ledger-bearer: rendered as header_injection");
    assert_outcome(&outcomes, "crm-exchange-legacy: refused");
}

#[test]
fn toolhive_external_auth_samples_render_to_working_strategies() {
    let Some(samples) = toolhive_samples() else {
        return;
    };
    let mut outcomes = check_external_auth(&samples.join("external-auth"));
    let entries = check_external_auth(&samples.join("mcp-server-entries"));
    assert_outcome(&entries, "salesforce-auth: rendered as token_exchange");
    outcomes.extend(entries);
    assert_outcome(&outcomes, "api-bearer-auth: rendered as header_injection");
    assert_outcome(
        &outcomes,
        "oauth-token-exchange: rendered as token_exchange",
    );
}
