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
}
