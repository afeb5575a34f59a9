//! The gateway's ServiceAccount, Role and RoleBinding (`<name>-vmcp`).
//!
//! Least privilege per mode: in static mode (`outgoingAuth.source: inline`) the gateway only
//! reports status on its own VirtualMCPServer; in dynamic mode it also watches the group's
//! members and what they reference, read-only. Nothing here lets the gateway change a
//! backend definition.

use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};

use super::Mode;
use crate::names::rbac_name;

const API_GROUP: &str = "toolhive.stacklok.dev";

fn rule(group: &str, resources: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![group.to_string()]),
        resources: Some(resources.iter().map(|s| s.to_string()).collect()),
        verbs: verbs.iter().map(|s| s.to_string()).collect(),
        ..PolicyRule::default()
    }
}

/// The Role's rules for a mode.
pub fn rules(mode: Mode) -> Vec<PolicyRule> {
    let read = &["get", "list", "watch"];
    let own = [
        // list/watch: the gateway's status reporter watches its own object to restore health
        // fields a stale operator write may have reset.
        rule(API_GROUP, &["virtualmcpservers"], &["get", "list", "watch"]),
        rule(
            API_GROUP,
            &["virtualmcpservers/status"],
            &["get", "patch", "update"],
        ),
    ];
    match mode {
        Mode::Static => own.to_vec(),
        Mode::Dynamic => {
            let mut r = vec![
                rule("", &["configmaps", "secrets"], read),
                rule(
                    API_GROUP,
                    &[
                        "mcpgroups",
                        "mcpservers",
                        "mcpremoteproxies",
                        "mcpserverentries",
                        "mcpexternalauthconfigs",
                        "mcptoolconfigs",
                    ],
                    read,
                ),
            ];
            r.extend(own);
            r
        }
    }
}

pub fn service_account(
    meta: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    image_pull_secrets: Option<Vec<k8s_openapi::api::core::v1::LocalObjectReference>>,
) -> ServiceAccount {
    ServiceAccount {
        metadata: meta,
        image_pull_secrets,
        ..ServiceAccount::default()
    }
}

pub fn role(meta: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta, mode: Mode) -> Role {
    Role {
        metadata: meta,
        rules: Some(rules(mode)),
    }
}

pub fn role_binding(
    meta: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    vmcp: &str,
    namespace: &str,
) -> RoleBinding {
    RoleBinding {
        metadata: meta,
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: rbac_name(vmcp),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: rbac_name(vmcp),
            namespace: Some(namespace.to_string()),
            ..Subject::default()
        }]),
    }
}
