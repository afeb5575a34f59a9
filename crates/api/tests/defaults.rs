//! Defaults as the API server applies them (from the schema), and as Rust applies them when
//! reading a minimal object; both must agree with ToolHive's.

mod common;

use common::{defaulted, yaml};

#[test]
fn mcpserver_defaults() {
    let obj = yaml(
        "apiVersion: toolhive.stacklok.dev/v1beta1\nkind: MCPServer\nmetadata: {name: s}\nspec: {image: img}\n",
    );
    let d = defaulted("MCPServer", &obj);
    assert_eq!(d["spec"]["transport"], "stdio");
    assert_eq!(d["spec"]["proxyMode"], "streamable-http");
    assert_eq!(d["spec"]["proxyPort"], 8080);
    let typed: vmcp_api::MCPServer = serde_json::from_value(obj).unwrap();
    assert_eq!(serde_json::to_value(&typed.spec).unwrap(), d["spec"]);
}

#[test]
fn remote_proxy_defaults() {
    let obj = yaml(
        "apiVersion: toolhive.stacklok.dev/v1beta1\nkind: MCPRemoteProxy\nmetadata: {name: p}\nspec: {remoteUrl: 'https://x.example.com'}\n",
    );
    let d = defaulted("MCPRemoteProxy", &obj);
    assert_eq!(d["spec"]["transport"], "streamable-http");
    assert_eq!(d["spec"]["proxyPort"], 8080);
    assert_eq!(d["spec"]["allowPrivateEndpoint"], false);
    let typed: vmcp_api::MCPRemoteProxy = serde_json::from_value(obj).unwrap();
    assert_eq!(serde_json::to_value(&typed.spec).unwrap(), d["spec"]);
}

#[test]
fn entry_defaults_but_no_transport_default() {
    let obj = yaml(
        "apiVersion: toolhive.stacklok.dev/v1beta1\nkind: MCPServerEntry\nmetadata: {name: e}\nspec: {remoteUrl: 'https://x.example.com', transport: sse, groupRef: {name: g}}\n",
    );
    let d = defaulted("MCPServerEntry", &obj);
    assert_eq!(d["spec"]["allowPrivateEndpoint"], false);
    let schema = common::schema("MCPServerEntry");
    let spec = &schema["properties"]["spec"];
    assert!(
        spec["properties"]["transport"].get("default").is_none(),
        "transport must have no default"
    );
    let required: Vec<_> = spec["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for field in ["remoteUrl", "transport", "groupRef"] {
        assert!(required.contains(&field), "{field} must be required");
    }
    assert_eq!(spec["properties"]["remoteUrl"]["pattern"], "^https?://");
}

#[test]
fn virtual_server_defaults() {
    let obj = yaml(
        "apiVersion: toolhive.stacklok.dev/v1beta1\nkind: VirtualMCPServer\nmetadata: {name: v}\nspec:\n  groupRef: {name: g}\n  incomingAuth:\n    type: anonymous\n    authzConfig: {configMap: {name: cm}}\n  outgoingAuth: {}\n  sessionStorage: {provider: memory}\n",
    );
    let d = defaulted("VirtualMCPServer", &obj);
    let spec = &d["spec"];
    assert_eq!(spec["serviceType"], "ClusterIP");
    assert_eq!(spec["sessionAffinity"], "ClientIP");
    assert_eq!(spec["outgoingAuth"]["source"], "discovered");
    assert_eq!(spec["incomingAuth"]["authzConfig"]["type"], "configMap");
    assert_eq!(
        spec["incomingAuth"]["authzConfig"]["configMap"]["key"],
        "authz.json"
    );
    assert_eq!(spec["sessionStorage"]["db"], 0);
    let typed: vmcp_api::VirtualMCPServer = serde_json::from_value(obj).unwrap();
    assert_eq!(serde_json::to_value(&typed.spec).unwrap(), *spec);
}

#[test]
fn inline_authz_defaults_entities() {
    let obj = yaml(
        "apiVersion: toolhive.stacklok.dev/v1beta1\nkind: VirtualMCPServer\nmetadata: {name: v}\nspec:\n  groupRef: {name: g}\n  incomingAuth:\n    type: anonymous\n    authzConfig: {type: inline, inline: {policies: ['permit(principal, action, resource);']}}\n",
    );
    let d = defaulted("VirtualMCPServer", &obj);
    assert_eq!(
        d["spec"]["incomingAuth"]["authzConfig"]["inline"]["entitiesJson"],
        "[]"
    );
}

#[test]
fn status_phase_defaults_to_pending() {
    let group: vmcp_api::MCPGroupStatus = serde_json::from_value(serde_json::json!({})).unwrap();
    assert_eq!(group.phase, vmcp_api::group::MCPGroupPhase::Pending);
    let entry: vmcp_api::MCPServerEntryStatus =
        serde_json::from_value(serde_json::json!({})).unwrap();
    assert_eq!(entry.phase, vmcp_api::entry::MCPServerEntryPhase::Pending);
    // ...and the API server says so too, for these and for VirtualMCPServer.
    for kind in ["MCPGroup", "MCPServerEntry", "VirtualMCPServer"] {
        let schema = common::schema(kind);
        assert_eq!(
            schema["properties"]["status"]["properties"]["phase"]["default"], "Pending",
            "{kind}"
        );
    }
}

/// The API server's defaults inside `spec.config` (ToolHive's CRD defaults) never change the
/// configuration the gateway runs with: the gateway's own defaults are the same values.
#[test]
fn spec_config_defaults_change_nothing_the_gateway_runs_with() {
    let mut configs = vec![
        serde_json::json!({
            "aggregation": {"conflictResolution": "priority", "conflictResolutionConfig": {"priorityOrder": ["a"]}},
            "operational": {"failureHandling": {"circuitBreaker": {"enabled": true}}, "timeouts": {}},
        }),
        serde_json::json!({"aggregation": {"conflictResolutionConfig": {}}}),
        serde_json::json!({"backends": [{"name": "a", "url": "http://a", "transport": "sse"}]}),
    ];
    // Every `spec.config` of our manifests in ToolHive's shapes, and of ToolHive's samples
    // when they are beside the checkout.
    let shapes = vmcp_testenv::toolhive_shapes().join("virtual-mcps");
    let from_shapes = spec_configs(&shapes);
    assert_eq!(from_shapes.len(), 12, "{}", shapes.display());
    configs.extend(from_shapes);
    if let Some(samples) = vmcp_testenv::toolhive_samples() {
        let from_samples = spec_configs(&samples.join("virtual-mcps"));
        assert!(from_samples.len() > 10, "{}", samples.display());
        configs.extend(from_samples);
    }
    for config in configs {
        let object = serde_json::json!({
            "apiVersion": "toolhive.stacklok.dev/v1beta1", "kind": "VirtualMCPServer",
            "metadata": {"name": "v"},
            "spec": {"groupRef": {"name": "g"}, "incomingAuth": {"type": "anonymous"}, "config": config},
        });
        let served = defaulted("VirtualMCPServer", &object)["spec"]["config"].clone();
        let effective = |v: serde_json::Value| {
            vmcp_config::Config::from_json_value_lenient(v)
                .unwrap()
                .0
                .with_defaults()
        };
        assert_eq!(effective(served), effective(config.clone()), "{config}");
    }
}

/// The `spec.config` of every VirtualMCPServer in the manifests of `dir`.
fn spec_configs(dir: &std::path::Path) -> Vec<serde_json::Value> {
    let mut configs = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|f| f.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let v: serde_json::Value = serde::Deserialize::deserialize(doc).unwrap();
            if v["kind"] == "VirtualMCPServer" && v["spec"]["config"].is_object() {
                configs.push(v["spec"]["config"].clone());
            }
        }
    }
    configs
}

/// ToolHive's CRD defaults `healthCheckTimeout` to 10s, but its Go defaults (and the gateway's)
/// leave it unset, which here means the backend's call timeout. A CRD default would change what
/// the operator renders, and turn every `healthCheckInterval` of 10s or less into a validation
/// error (the timeout must be shorter than the interval), so vmcp's CRD has none.
#[test]
fn health_check_timeout_has_no_crd_default() {
    let schema = common::schema("VirtualMCPServer");
    let fh = schema
        .pointer("/properties/spec/properties/config/properties/operational/properties/failureHandling/properties")
        .unwrap();
    assert!(
        fh["healthCheckTimeout"].get("default").is_none(),
        "{}",
        fh["healthCheckTimeout"]
    );
}
