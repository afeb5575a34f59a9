//! The advisory `SessionStorageWarning` condition (ToolHive's type and reasons): a client's
//! MCP session lives in the memory of the replica that created it, so with more than one
//! replica the session only works while the client keeps reaching that replica. vmcp has no
//! shared session store yet (a `redis` provider is accepted and reported as not supported),
//! so what keeps sessions working across replicas is the Service's `sessionAffinity:
//! ClientIP`, the default.

use vmcp_api::VirtualMCPServer;
use vmcp_api::virtual_server::{SessionAffinity, SessionStorageProvider};

use crate::status::Cond;

pub const SESSION_STORAGE_WARNING: &str = "SessionStorageWarning";

/// The condition for `vmcp`'s replicas, session storage and affinity. Advisory: `True`
/// means "read this", it never stops a render.
pub fn session_storage_warning(vmcp: &VirtualMCPServer) -> Cond {
    let replicas = vmcp.spec.replicas.unwrap_or(1);
    if replicas <= 1 {
        return Cond::fail(
            SESSION_STORAGE_WARNING,
            "SessionStorageWarningNotApplicable",
            "Single replica: sessions need no shared storage",
        );
    }
    let redis = vmcp
        .spec
        .session_storage
        .as_ref()
        .is_some_and(|s| s.provider == SessionStorageProvider::Redis);
    let storage = if redis {
        "spec.sessionStorage (redis) is not supported by vmcp yet, so sessions stay in each replica's memory"
    } else {
        "there is no shared session storage: sessions stay in each replica's memory"
    };
    let affinity = match vmcp.spec.session_affinity {
        SessionAffinity::ClientIP => {
            "the Service's sessionAffinity ClientIP keeps each client on one replica, so sessions work while that replica runs"
        }
        SessionAffinity::None => {
            "and sessionAffinity is None, so a client's requests reach other replicas that do not know its session; set sessionAffinity: ClientIP or run one replica"
        }
    };
    Cond::ok(
        SESSION_STORAGE_WARNING,
        "SessionStorageMissingForReplicas",
        format!("{replicas} replicas: {storage}; {affinity}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vmcp(extra: &str) -> VirtualMCPServer {
        serde_yaml::from_str(&format!(
            "apiVersion: toolhive.stacklok.dev/v1beta1\nkind: VirtualMCPServer\nmetadata: {{name: v, namespace: d}}\nspec:\n  groupRef: {{name: g}}\n  incomingAuth: {{type: anonymous}}\n{extra}"
        ))
        .unwrap()
    }

    #[test]
    fn replicas_without_shared_storage_are_an_advisory() {
        let one = session_storage_warning(&vmcp(""));
        assert!(!one.ok && one.reason == "SessionStorageWarningNotApplicable");
        let three = session_storage_warning(&vmcp("  replicas: 3\n"));
        assert!(three.ok && three.reason == "SessionStorageMissingForReplicas");
        assert!(three.message.contains("3 replicas") && three.message.contains("ClientIP keeps"));
        let no_affinity =
            session_storage_warning(&vmcp("  replicas: 2\n  sessionAffinity: None\n"));
        assert!(
            no_affinity
                .message
                .contains("set sessionAffinity: ClientIP"),
            "{no_affinity:?}"
        );
        let redis = session_storage_warning(&vmcp(
            "  replicas: 2\n  sessionStorage: {provider: redis, address: 'redis:6379'}\n",
        ));
        assert!(
            redis.message.contains("(redis) is not supported"),
            "{redis:?}"
        );
    }
}
