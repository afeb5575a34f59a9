//! Decisions of the authorizer on real Cedar policies, one behaviour per test.

use serde_json::json;
use vmcp_config::{AuthzConfig, AuthzType};

use super::*;

fn authz_with(policies: &[&str], entities: &str, server: &str) -> Authorizer {
    let cfg = AuthzConfig {
        authz_type: Some(AuthzType::Cedar),
        policies: policies.iter().map(|p| p.to_string()).collect(),
        entities_json: entities.to_owned(),
        ..AuthzConfig::default()
    };
    let set = cfg.parse_cedar().expect("policies parse");
    Authorizer::new(set, &cfg, server).expect("authorizer builds")
}

fn authz(policies: &[&str]) -> Authorizer {
    authz_with(policies, "", "test")
}

fn tool(name: &str) -> Target<'_> {
    Target::tool(name, ToolHints::default(), None)
}

/// Decisions for (tool, prompt, resource) by the anonymous principal.
fn allows(a: &Authorizer, t: &Target<'_>) -> bool {
    a.allows(a.anonymous(), t)
}

#[test]
fn permit_all_allows_every_kind() {
    let a = authz(&["permit(principal, action, resource);"]);
    assert!(allows(&a, &tool("anything")));
    assert!(allows(&a, &Target::prompt("p")));
    assert!(allows(&a, &Target::resource("demo://x")));
}

#[test]
fn no_permit_means_deny() {
    let a =
        authz(&["permit(principal, action == Action::\"call_tool\", resource == Tool::\"echo\");"]);
    assert!(allows(&a, &tool("echo")));
    assert!(!allows(&a, &tool("add")));
    assert!(!allows(&a, &Target::prompt("echo")));
    assert!(!allows(&a, &Target::resource("echo")));
    // ToolHive's example-config action names nothing real: it permits nothing.
    let a = authz(&["permit(principal, action == Action::\"tools/call\", resource);"]);
    assert!(!allows(&a, &tool("echo")));
}

#[test]
fn forbid_overrides_permit() {
    let a = authz(&[
        "permit(principal, action, resource);",
        "forbid(principal, action == Action::\"call_tool\", resource == Tool::\"rm\");",
    ]);
    assert!(allows(&a, &tool("ls")));
    assert!(!allows(&a, &tool("rm")));
    assert!(
        allows(&a, &Target::prompt("rm")),
        "the forbid names a tool only"
    );
}

#[test]
fn arguments_are_in_the_context_and_on_the_resource() {
    let a = authz(&[
        "permit(principal, action == Action::\"call_tool\", resource == Tool::\"write\") when { context.arg_path like \"/tmp/*\" && context.arg_size < 10 };",
        "permit(principal, action == Action::\"call_tool\", resource == Tool::\"tag\") when { resource.arg_opts_present };",
    ]);
    let args = |v: serde_json::Value| v.as_object().unwrap().clone();
    let ok = args(json!({"path": "/tmp/x", "size": 3}));
    let big = args(json!({"path": "/tmp/x", "size": 30}));
    let elsewhere = args(json!({"path": "/etc/passwd", "size": 1}));
    let write = |m| Target::tool("write", ToolHints::default(), Some(m));
    assert!(allows(&a, &write(&ok)));
    assert!(!allows(&a, &write(&big)));
    assert!(!allows(&a, &write(&elsewhere)));
    // Without the argument the `when` clause cannot be evaluated: an error, so denied.
    assert!(matches!(
        a.decide(a.anonymous(), &tool("write")),
        Err(AuthzError::Evaluation(_))
    ));
    assert!(!allows(&a, &tool("write")));
    let opts = args(json!({"opts": {"deep": [1, 2]}}));
    assert!(allows(
        &a,
        &Target::tool("tag", ToolHints::default(), Some(&opts))
    ));
}

#[test]
fn annotations_are_resource_attributes() {
    let a = authz(&[
        "permit(principal, action == Action::\"call_tool\", resource) when { resource has readOnlyHint && resource.readOnlyHint };",
        "forbid(principal, action, resource) when { resource has destructiveHint && resource.destructiveHint };",
    ]);
    let hints = |read_only, destructive| ToolHints {
        read_only,
        destructive,
        ..ToolHints::default()
    };
    assert!(allows(
        &a,
        &Target::tool("get", hints(Some(true), None), None)
    ));
    assert!(!allows(
        &a,
        &Target::tool("get", hints(Some(false), None), None)
    ));
    assert!(!allows(&a, &Target::tool("get", hints(None, None), None)));
    assert!(!allows(
        &a,
        &Target::tool("get", hints(Some(true), Some(true)), None)
    ));
    // ToolHive's own example style, without `has`: a tool that lacks the hint is an
    // evaluation error, and so is denied.
    let a = authz(&[
        "permit(principal, action == Action::\"call_tool\", resource) when { resource.readOnlyHint == true };",
    ]);
    assert!(allows(
        &a,
        &Target::tool("get", hints(Some(true), None), None)
    ));
    assert!(a.decide(a.anonymous(), &tool("plain")).is_err());
    // Hints come from the advertised tool object; a non-boolean is no hint.
    let t = json!({"name": "x", "annotations": {"readOnlyHint": true, "destructiveHint": "yes"}});
    assert_eq!(
        ToolHints::of_tool(t.as_object().unwrap()),
        hints(Some(true), None)
    );
}

#[test]
fn the_anonymous_principal_is_toolhives() {
    let a = authz(&[
        "permit(principal == Client::\"anonymous\", action == Action::\"call_tool\", resource) when { context.claim_iss == \"toolhive-local\" && principal.claim_email == \"anonymous@localhost\" };",
    ]);
    assert!(allows(&a, &tool("echo")));
    let a = authz(&["permit(principal == Client::\"alice\", action, resource);"]);
    assert!(!allows(&a, &tool("echo")));
}

#[test]
fn entities_json_provides_group_hierarchy_and_data() {
    let entities = r#"[
        {"uid": {"type": "THVGroup", "id": "eng"}, "attrs": {}, "parents": [{"type": "THVGroup", "id": "all"}]},
        {"uid": {"type": "THVGroup", "id": "all"}, "attrs": {}, "parents": []},
        {"uid": {"type": "Settings", "id": "tools"}, "attrs": {"open": ["echo", "add"]}, "parents": []}
    ]"#;
    let a = authz_with(
        &[
            "permit(principal in THVGroup::\"all\", action == Action::\"get_prompt\", resource);",
            "permit(principal, action == Action::\"call_tool\", resource) when { Settings::\"tools\".open.contains(resource.name) };",
        ],
        entities,
        "test",
    );
    assert!(allows(&a, &tool("echo")));
    assert!(!allows(&a, &tool("rm")));
    // The anonymous principal is in no group.
    assert!(!allows(&a, &Target::prompt("p")));
    // A principal whose group claim names `eng` is in `all` through the hierarchy.
    let claims = json!({"sub": "alice", "groups": ["eng"]});
    let alice =
        Principal::from_claims(claims.as_object().unwrap(), &ClaimMapping::default()).unwrap();
    assert!(a.allows(&alice, &Target::prompt("p")));
}

#[test]
fn request_entities_replace_entities_json_ones() {
    // As in ToolHive, the principal is built from the identity: an entitiesJson entry for
    // the same UID does not add groups to it.
    let entities = r#"[{"uid": {"type": "Client", "id": "anonymous"}, "attrs": {}, "parents": [{"type": "THVGroup", "id": "admins"}]}]"#;
    let a = authz_with(
        &["permit(principal in THVGroup::\"admins\", action, resource);"],
        entities,
        "test",
    );
    assert!(!allows(&a, &tool("echo")));
}

#[test]
fn resources_are_scoped_to_the_server() {
    let policies = ["permit(principal, action, resource in MCP::\"test\");"];
    assert!(allows(&authz_with(&policies, "", "test"), &tool("echo")));
    assert!(!allows(&authz_with(&policies, "", "other"), &tool("echo")));
    assert!(!allows(&authz_with(&policies, "", ""), &tool("echo")));
}

#[test]
fn resource_uris_are_sanitised_like_toolhive_and_kept_as_uri() {
    let a = authz(&[
        "permit(principal, action == Action::\"read_resource\", resource == Resource::\"demo___resource_static_1\");",
        "permit(principal, action == Action::\"read_resource\", resource) when { resource.uri like \"file:///srv/*\" };",
    ]);
    assert!(allows(&a, &Target::resource("demo://resource/static/1")));
    assert!(allows(&a, &Target::resource("file:///srv/a.txt")));
    assert!(!allows(&a, &Target::resource("file:///etc/hosts")));
    assert_eq!(
        resource_id(&Target::resource("a:b/c\\d?e&f=g#h i.j")),
        "a_b_c_d_e_f_g_h_i_j"
    );
    assert_eq!(resource_id(&tool("x.y")), "x.y", "tool names are kept");
}

#[test]
fn standard_attributes_cannot_be_overridden_by_arguments() {
    let a = authz(&[
        "permit(principal, action, resource) when { resource.name == \"safe\" && resource.operation == \"call\" && resource.feature == \"tool\" };",
    ]);
    let args = json!({"name": "x"});
    let spoof = Target::tool("rm", ToolHints::default(), args.as_object());
    assert!(!allows(&a, &spoof));
    assert!(allows(&a, &tool("safe")));
}

#[test]
fn argument_readers_are_recognised_conservatively() {
    for (policy, reads) in [
        ("permit(principal, action, resource);", false),
        (
            "permit(principal, action, resource) when { context.claim_sub == \"a\" };",
            false,
        ),
        (
            "permit(principal, action, resource) when { context has claim_groups };",
            false,
        ),
        (
            "permit(principal, action, resource) when { context .claim_sub == \"a\" };",
            false,
        ),
        (
            "permit(principal, action, resource) when { context.arg_a > 1 };",
            true,
        ),
        (
            "permit(principal, action, resource) when { resource has arg_path };",
            true,
        ),
        (
            "permit(principal, action, resource) when { context == {} };",
            true,
        ),
        (
            "permit(principal, action, resource) when { context[\"claim_sub\"] == \"a\" };",
            true,
        ),
        (
            "permit(principal, action, resource) when { resource.name == \"contextual\" };",
            false,
        ),
        (
            "permit(principal, action, resource) when { resource.name == \"context\" };",
            true,
        ),
    ] {
        assert_eq!(reads_arguments(policy), reads, "{policy}");
    }
}

#[test]
fn remembered_decisions_are_the_decisions() {
    let a = authz(&[
        "permit(principal, action == Action::\"call_tool\", resource) when { resource has readOnlyHint && resource.readOnlyHint };",
        "forbid(principal, action == Action::\"call_tool\", resource == Tool::\"rm\");",
    ]);
    let ro = ToolHints {
        read_only: Some(true),
        ..ToolHints::default()
    };
    let args = json!({"x": 1});
    for _ in 0..2 {
        // Same name, other hints: another decision, not a remembered one.
        assert!(allows(&a, &Target::tool("get", ro, None)));
        assert!(!allows(
            &a,
            &Target::tool("get", ToolHints::default(), None)
        ));
        assert!(!allows(&a, &Target::tool("rm", ro, None)));
        // No policy reads arguments, so a call with them is the same decision.
        assert!(allows(&a, &Target::tool("get", ro, args.as_object())));
    }
    // Another principal is decided, not looked up.
    let claims = json!({"sub": "alice"});
    let alice =
        Principal::from_claims(claims.as_object().unwrap(), &ClaimMapping::default()).unwrap();
    assert!(a.allows(&alice, &Target::tool("get", ro, None)));
    assert!(!a.allows(&alice, &Target::tool("rm", ro, None)));
}

#[test]
fn the_memo_is_bounded() {
    let mut memo = Memo::default();
    let names: Vec<String> = (0..=MEMO_MAX).map(|i| format!("t{i}")).collect();
    for n in &names {
        memo.insert(&tool(n), true);
    }
    // The entry past the bound started it afresh.
    assert_eq!(memo.len, 1);
    assert_eq!(memo.get(&tool(&names[MEMO_MAX])), Some(true));
    assert_eq!(memo.get(&tool("t0")), None);
    memo.insert(&tool(&names[MEMO_MAX]), false);
    assert_eq!(
        (memo.len, memo.get(&tool(&names[MEMO_MAX]))),
        (1, Some(false))
    );
}
