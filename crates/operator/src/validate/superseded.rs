//! Keys of `spec.config` that the operator overwrites, so that none is dropped in silence.
//!
//! As in ToolHive, `name` and `groupRef` come from the VirtualMCPServer, `backends` from the
//! group's members (static mode) or the gateway's own discovery (dynamic mode), and
//! `incomingAuth`/`outgoingAuth` from `spec.incomingAuth`/`spec.outgoingAuth`. A value written
//! there anyway is named in the `Valid` condition. One case is an error, not a warning: a
//! `spec.config.incomingAuth` that asks for a different client authentication than
//! `spec.incomingAuth` would otherwise be served as the weaker of the two without a word.

use vmcp_config::{Config, IncomingAuthType};

/// What the user wrote into superseded keys of `spec.config`: (errors, warnings).
/// `oidc_from_config` says the gateway takes `spec.config.incomingAuth.oidc` as written (a
/// `type: oidc` without an `oidcConfigRef`), so that part is not ignored.
pub fn superseded_keys(
    written: &Config,
    vmcp_name: &str,
    group: &str,
    incoming: IncomingAuthType,
    oidc_from_config: bool,
) -> (Vec<String>, Vec<String>) {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    if !written.name.is_empty() && written.name != vmcp_name {
        warnings.push(format!(
            "spec.config.name ({}) is replaced by the VirtualMCPServer's name {vmcp_name}",
            written.name
        ));
    }
    if !written.group_ref.is_empty() && written.group_ref != group {
        warnings.push(format!(
            "spec.config.groupRef ({}) is replaced by spec.groupRef.name {group}",
            written.group_ref
        ));
    }
    if !written.backends.is_empty() {
        warnings.push(format!(
            "spec.config.backends ({} listed) is ignored: backends are the members of group {group}",
            written.backends.len()
        ));
    }
    if written.outgoing_auth.is_some() {
        warnings.push(
            "spec.config.outgoingAuth is ignored: spec.outgoingAuth decides backend authentication"
                .into(),
        );
    }
    if let Some(auth) = &written.incoming_auth {
        match auth.auth_type {
            Some(t) if t != incoming => errors.push(format!(
                "spec.config.incomingAuth: type {} conflicts with spec.incomingAuth (type {}), which is what the gateway would use; set the client authentication in spec.incomingAuth and remove spec.config.incomingAuth",
                t.as_str(),
                incoming.as_str()
            )),
            _ if oidc_from_config => warnings.push(
                "spec.config.incomingAuth.oidc is used as written because spec.incomingAuth names no oidcConfigRef; an MCPOIDCConfig reference is the preferred form"
                    .into(),
            ),
            _ => warnings.push(
                "spec.config.incomingAuth is ignored: spec.incomingAuth decides client authentication"
                    .into(),
            ),
        }
    }
    (errors, warnings)
}

#[cfg(test)]
mod tests {
    use vmcp_config::IncomingAuth;

    use super::*;

    #[test]
    fn superseded_keys_are_named_and_a_weaker_client_auth_is_an_error() {
        let (e, w) = superseded_keys(
            &Config::default(),
            "eng",
            "team",
            IncomingAuthType::Anonymous,
            false,
        );
        assert!(e.is_empty() && w.is_empty());

        let mut written = Config {
            name: "other".into(),
            group_ref: "team".into(),
            ..Config::default()
        };
        written.incoming_auth = Some(IncomingAuth {
            auth_type: Some(IncomingAuthType::Oidc),
            ..IncomingAuth::default()
        });
        let (e, w) = superseded_keys(&written, "eng", "team", IncomingAuthType::Anonymous, false);
        assert_eq!(
            w,
            vec!["spec.config.name (other) is replaced by the VirtualMCPServer's name eng"]
        );
        assert_eq!(e.len(), 1);
        assert!(e[0].starts_with("spec.config.incomingAuth: type oidc conflicts with spec.incomingAuth (type anonymous)"), "{e:?}");

        written.incoming_auth = Some(IncomingAuth {
            auth_type: Some(IncomingAuthType::Anonymous),
            ..IncomingAuth::default()
        });
        let (e, w) = superseded_keys(&written, "eng", "team", IncomingAuthType::Anonymous, false);
        assert!(e.is_empty());
        assert!(
            w[1].starts_with("spec.config.incomingAuth is ignored"),
            "{w:?}"
        );
    }
}
