//! Every kind reads from YAML into Rust and back without losing or inventing anything, and our
//! examples/, our manifests in ToolHive's shapes (tests/fixtures/toolhive-shapes) and, when
//! `VMCP_TOOLHIVE_SAMPLES` names them, ToolHive's own sample manifests all parse.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;
use vmcp_api::manifest::{Manifest, parse_manifests};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Serialising a typed object and comparing it to the input as the API server would store it
/// (schema defaults applied), ignoring `null`s that YAML writes for empty keys.
///
/// A VirtualMCPServer's `spec.config` is the exception: Rust keeps it as written (an opaque
/// value the gateway parses and defaults itself), so it is compared without the server's
/// defaults.
fn assert_round_trip<T>(input: &Value, typed: &T, what: &str)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let kind = input["kind"].as_str().unwrap();
    let mut defaulted = common::defaulted(kind, input);
    if let Some(config) = input.pointer("/spec/config") {
        defaulted["spec"]["config"] = config.clone();
    }
    let input = &defaulted;
    let back = serde_json::to_value(typed).unwrap();
    assert_eq!(
        strip_nulls(input.clone()),
        strip_nulls(back.clone()),
        "{what}: YAML -> Rust -> YAML changed the object"
    );
    let again: T = serde_json::from_value(back).unwrap();
    assert_eq!(&again, typed, "{what}: second round trip differs");
}

fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

/// The quickstart's `${...}` templates (filled in by `examples/demo.rs`) with plausible values,
/// so its objects are the valid ones the demo applies.
fn with_templates_filled(text: &str) -> String {
    let re = regex::Regex::new(r"\$\{([A-Z_]+)\}").unwrap();
    re.replace_all(text, |c: &regex::Captures| {
        if c[1].ends_with("URL") {
            "http://127.0.0.1:3001/mcp".to_string()
        } else {
            "filled".to_string()
        }
    })
    .into_owned()
}

/// Round-trips every object of our kinds in `files`; returns how many were checked.
fn check_files(files: &[PathBuf]) -> usize {
    let mut checked = 0;
    for file in files {
        let text = with_templates_filled(&std::fs::read_to_string(file).unwrap());
        let manifests =
            parse_manifests(&text, &file.display().to_string()).unwrap_or_else(|e| panic!("{e}"));
        let raw: Vec<Value> = serde_yaml::Deserializer::from_str(&text)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .filter(|v: &Value| !v.is_null())
            .collect();
        assert_eq!(raw.len(), manifests.len());
        for (input, manifest) in raw.iter().zip(&manifests) {
            let what = format!("{} {}", file.display(), input["metadata"]["name"]);
            match manifest {
                Manifest::Group(o) => assert_round_trip(input, o, &what),
                Manifest::Entry(o) => assert_round_trip(input, o, &what),
                Manifest::Server(o) => assert_round_trip(input, o, &what),
                Manifest::RemoteProxy(o) => assert_round_trip(input, o, &what),
                Manifest::VirtualServer(o) => assert_round_trip(input, o, &what),
                Manifest::ExternalAuth(o) => assert_round_trip(input, o, &what),
                Manifest::ToolConfig(o) => assert_round_trip(input, o, &what),
                Manifest::OidcConfig(o) => assert_round_trip(input, o, &what),
                Manifest::AuthzConfig(o) => assert_round_trip(input, o, &what),
                Manifest::TelemetryConfig(o) => assert_round_trip(input, o, &what),
                Manifest::Other(_) => continue,
            }
            checked += 1;
        }
    }
    checked
}

#[test]
fn our_examples_round_trip() {
    let files = yaml_files(&repo_root().join("examples"));
    assert!(!files.is_empty());
    let checked = check_files(&files);
    assert!(checked >= 10, "only {checked} objects checked");
}

/// The manifests under `dir`, without the gateway config (not a Kubernetes object).
fn manifest_files(dir: &Path) -> Vec<PathBuf> {
    yaml_files(dir)
        .into_iter()
        .filter(|p| !p.ends_with("gateway-config/vmcp-config.yaml"))
        .collect()
}

#[test]
fn toolhive_shapes_round_trip() {
    let checked = check_files(&manifest_files(&vmcp_testenv::toolhive_shapes()));
    // 13 MCPServers, 12 VirtualMCPServers, 10 groups, 4 entries, 4 auth configs, 3 OIDC
    // configs, 2 telemetry configs, 1 authorization config, ...
    assert_eq!(checked, 51, "objects of our kinds checked");
}

#[test]
fn toolhive_samples_round_trip() {
    let Some(dir) = vmcp_testenv::toolhive_samples() else {
        return;
    };
    let checked = check_files(&manifest_files(&dir));
    // 48 MCPServers, 16 VirtualMCPServers, 15 groups, 5 entries, 5 auth configs, ...
    assert!(checked >= 90, "only {checked} ToolHive objects checked");
}

/// Per kind of ours, every field path (see `vmcp_testenv::field_paths`) of the objects in
/// `files`, with their apiVersion.
fn paths_by_kind(files: &[PathBuf]) -> BTreeMap<String, BTreeSet<String>> {
    let kinds: Vec<String> = vmcp_api::crd::all_crds()
        .into_iter()
        .map(|c| c.spec.names.kind)
        .collect();
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let text = std::fs::read_to_string(file).unwrap();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let v: Value = serde::Deserialize::deserialize(doc).unwrap();
            let Some(kind) = v["kind"].as_str().filter(|k| kinds.iter().any(|o| o == k)) else {
                continue;
            };
            let paths = out.entry(kind.to_owned()).or_default();
            paths.insert(format!(
                "apiVersion={}",
                v["apiVersion"].as_str().unwrap_or("")
            ));
            let object = serde_json::json!({"metadata": v["metadata"], "spec": v["spec"]});
            paths.extend(vmcp_testenv::field_paths(&object));
        }
    }
    out
}

/// Our manifests in ToolHive's shapes have every kind and every field of ours that ToolHive's
/// samples use (user-named map keys aside, enum values included), so that the tests run on
/// them fail wherever the same tests on the samples would. When this fails, add the missing
/// field to a manifest of ours under tests/fixtures/toolhive-shapes — with our own values.
#[test]
fn toolhive_shapes_cover_every_field_of_the_samples() {
    let Some(dir) = vmcp_testenv::toolhive_samples() else {
        return;
    };
    let ours = paths_by_kind(&manifest_files(&vmcp_testenv::toolhive_shapes()));
    let theirs = paths_by_kind(&manifest_files(&dir));
    // Ours may hold kinds the samples lack (the samples have no MCPAuthzConfig).
    let lacking: Vec<&String> = theirs.keys().filter(|k| !ours.contains_key(*k)).collect();
    assert!(
        lacking.is_empty(),
        "kinds of the samples our shapes lack: {lacking:?}"
    );
    let mut missing = Vec::new();
    for (kind, paths) in &theirs {
        for path in paths.difference(&ours[kind]) {
            missing.push(format!("{kind} {path}"));
        }
    }
    assert!(
        missing.is_empty(),
        "fields of the samples our shapes lack: {missing:#?}"
    );
}

#[test]
fn unknown_mcpserver_fields_are_kept() {
    let input = common::yaml(
        r#"
apiVersion: toolhive.stacklok.dev/v1beta1
kind: MCPServer
metadata: {name: s}
spec:
  image: img
  transport: sse
  resources: {limits: {cpu: 100m}}
  env: [{name: A, value: b}]
"#,
    );
    let server: vmcp_api::MCPServer = serde_json::from_value(input.clone()).unwrap();
    assert_eq!(server.spec.extra["resources"]["limits"]["cpu"], "100m");
    assert_eq!(
        serde_json::to_value(&server).unwrap()["spec"]["env"],
        input["spec"]["env"]
    );
}

#[test]
fn snake_case_token_exchange_keys_are_kept_for_the_controller_to_report() {
    let input = common::yaml(
        r#"
apiVersion: toolhive.stacklok.dev/v1beta1
kind: MCPExternalAuthConfig
metadata: {name: x}
spec:
  type: tokenExchange
  tokenExchange:
    token_url: https://idp.example.com/token
    audience: backend
"#,
    );
    let cfg: vmcp_api::MCPExternalAuthConfig = serde_json::from_value(input).unwrap();
    let te = cfg.spec.token_exchange.unwrap();
    assert_eq!(te.token_url, None);
    assert!(te.unknown.contains_key("token_url"));
}

#[test]
fn bad_manifests_name_document_object_and_field() {
    let text = r#"
apiVersion: toolhive.stacklok.dev/v1beta1
kind: MCPGroup
metadata: {name: ok}
---
apiVersion: toolhive.stacklok.dev/v1beta1
kind: MCPServerEntry
metadata: {name: broken}
spec:
  remoteUrl: https://x.example.com
  transport: websocket
  groupRef: {name: g}
"#;
    let err = parse_manifests(text, "entries.yaml")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("entries.yaml: document 2 (MCPServerEntry broken): spec.transport:"),
        "{err}"
    );
    assert!(err.contains("websocket"), "{err}");

    let err = parse_manifests("a: [1,\n", "bad.yaml")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("bad.yaml: document 1: invalid YAML"),
        "{err}"
    );

    // A number out of range is not a float for the YAML parser: it stays the text written,
    // which is what a string field wants...
    let parsed = parse_manifests(
        "apiVersion: toolhive.stacklok.dev/v1beta1\nkind: MCPGroup\nmetadata: {name: g}\nspec: {description: 3.5e400}\n",
        "g.yaml",
    )
    .unwrap();
    let [Manifest::Group(group)] = parsed.as_slice() else {
        panic!("{parsed:?}")
    };
    assert_eq!(group.spec.description.as_deref(), Some("3.5e400"));
    // ...while an integer out of range cannot become JSON at all: an error naming the field.
    let err = parse_manifests(
        "apiVersion: toolhive.stacklok.dev/v1beta1\nkind: MCPServer\nmetadata: {name: s}\nspec: {image: i, proxyPort: 99999999999999999999}\n",
        "s.yaml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with(
            "s.yaml: document 1: invalid YAML: spec.proxyPort: JSON number out of range"
        ),
        "{err}"
    );
}

/// Every status field of the kinds vmcp writes status for, read into Rust and written back.
#[test]
fn statuses_round_trip() {
    let condition = "{type: Ready, status: 'True', reason: DeploymentReady, message: ok, lastTransitionTime: '2026-01-02T03:04:05Z', observedGeneration: 3}";
    let documents = [
        format!(
            r#"
apiVersion: toolhive.stacklok.dev/v1beta1
kind: VirtualMCPServer
metadata: {{name: v, namespace: ns}}
spec: {{groupRef: {{name: g}}, incomingAuth: {{type: anonymous}}}}
status:
  conditions: [{condition}]
  observedGeneration: 3
  phase: Degraded
  message: 1 of 2 backends unhealthy
  url: http://vmcp-v.ns.svc.cluster.local:4483
  backendCount: 1
  authzConfigHash: a1
  oidcConfigHash: o1
  telemetryConfigHash: t1
  discoveredBackends:
    - name: fetch
      url: http://mcp-fetch-proxy.ns.svc.cluster.local:8080/mcp
      transport: streamable-http
      type: MCPServer
      status: ready
      authConfigRef: auth
      authType: token_exchange
      lastHealthCheck: '2026-01-02T03:04:06Z'
      message: healthy
      circuitBreakerState: half-open
      circuitLastChanged: '2026-01-02T03:00:00Z'
      consecutiveFailures: 2
      mcpRevision: '2025-11-25'
    - {{name: remote, status: unavailable, circuitBreakerState: open}}
"#
        ),
        format!(
            r#"
apiVersion: toolhive.stacklok.dev/v1beta1
kind: MCPServerEntry
metadata: {{name: e, namespace: ns}}
spec: {{remoteUrl: 'https://mcp.example.com/mcp', transport: sse, groupRef: {{name: g}}}}
status:
  observedGeneration: 2
  phase: Failed
  conditions: [{condition}]
"#
        ),
        format!(
            r#"
apiVersion: toolhive.stacklok.dev/v1beta1
kind: MCPGroup
metadata: {{name: g, namespace: ns}}
spec: {{description: team}}
status:
  observedGeneration: 1
  phase: Ready
  servers: [a, b]
  serverCount: 2
  remoteProxies: [p]
  remoteProxyCount: 1
  entries: [e]
  entryCount: 1
  conditions: [{condition}]
"#
        ),
    ];
    for text in &documents {
        let input = common::yaml(text);
        let what = format!("{} status", input["kind"]);
        match parse_manifests(text, "status.yaml").unwrap().as_slice() {
            [Manifest::VirtualServer(o)] => {
                assert!(o.status.is_some());
                assert_round_trip(&input, o, &what)
            }
            [Manifest::Entry(o)] => {
                assert!(o.status.is_some());
                assert_round_trip(&input, o, &what)
            }
            [Manifest::Group(o)] => {
                assert!(o.status.is_some());
                assert_round_trip(&input, o, &what)
            }
            other => panic!("{other:?}"),
        }
    }
}

/// A document that is not a Kubernetes object, or names a version vmcp does not serve, is an
/// error naming the file and document: dropping it silently would hide a typo (`vmcp render`
/// would print nothing for a VirtualMCPServer whose apiVersion was forgotten).
#[test]
fn documents_that_are_not_objects_are_errors_naming_them() {
    let cases = [
        (
            "kind: VirtualMCPServer\nmetadata: {name: gw}\n",
            "m.yaml: document 1: apiVersion is not set",
        ),
        (
            "apiVersion: toolhive.stacklok.dev/v1beta1\nmetadata: {name: gw}\n",
            "m.yaml: document 1: kind is not set",
        ),
        (
            "apiVersion: '  '\nkind: MCPGroup\n",
            "m.yaml: document 1: apiVersion is not set",
        ),
        (
            "apiVersion: 1\nkind: MCPGroup\n",
            "m.yaml: document 1: apiVersion: expected a string, got 1",
        ),
        (
            "- apiVersion: v1\n  kind: ConfigMap\n",
            "m.yaml: document 1: not a Kubernetes object",
        ),
        ("just text\n", "m.yaml: document 1: not a Kubernetes object"),
        (
            "apiVersion: toolhive.stacklok.dev/v2\nkind: MCPGroup\nmetadata: {name: g}\n",
            "m.yaml: document 1: apiVersion toolhive.stacklok.dev/v2: version \"v2\" of toolhive.stacklok.dev is not served (served: v1beta1, v1alpha1)",
        ),
        (
            "apiVersion: toolhive.stacklok.dev\nkind: MCPGroup\nmetadata: {name: g}\n",
            "m.yaml: document 1: apiVersion toolhive.stacklok.dev: version \"\" of",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n42\n",
            "m.yaml: document 2: not a Kubernetes object",
        ),
    ];
    for (text, want) in cases {
        let err = parse_manifests(text, "m.yaml").unwrap_err().to_string();
        assert!(err.starts_with(want), "{text:?}: {err}");
    }
    // Objects of other API groups, and kinds of ToolHive's that vmcp does not define, pass.
    let parsed = parse_manifests(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n---\napiVersion: toolhive.stacklok.dev/v1alpha1\nkind: EmbeddingServer\nmetadata: {name: o}\n---\napiVersion: toolhive.stacklok.dev/v1alpha1\nkind: MCPGroup\nmetadata: {name: g}\n",
        "m.yaml",
    )
    .unwrap();
    assert!(
        matches!(
            parsed.as_slice(),
            [Manifest::Other(_), Manifest::Other(_), Manifest::Group(_)]
        ),
        "{parsed:?}"
    );
}

#[test]
fn an_object_of_ours_without_a_name_is_an_error() {
    for meta in [
        "metadata: {}\n",
        "",
        "metadata: {name: ''}\n",
        "metadata: {generateName: g-}\n",
    ] {
        let text = format!("apiVersion: toolhive.stacklok.dev/v1beta1\nkind: MCPGroup\n{meta}");
        let err = parse_manifests(&text, "g.yaml").unwrap_err().to_string();
        assert_eq!(
            err,
            "g.yaml: document 1: MCPGroup: metadata.name: Required value (generateName is not supported)",
            "{meta:?}"
        );
    }
}
