//! Whether the names the operator derives from a VirtualMCPServer's name are names the API
//! server accepts. The VirtualMCPServer itself only has to be a DNS subdomain (dots, up to 253
//! characters), but its Service `vmcp-<name>` must be a DNS label: no dots, at most 63
//! characters. Caught here it is a `Valid=False` condition naming the field; caught by the API
//! server it would be a write that fails on every retry, after the objects before it were
//! already written.

use crate::names::service_name;

/// The longest name a DNS label may have.
const MAX_LABEL: usize = 63;

/// Problems with `metadata.name` of a VirtualMCPServer, each naming the field.
pub fn check_virtual_server_name(name: &str) -> Vec<String> {
    let service = service_name(name);
    let mut problems = Vec::new();
    if service.len() > MAX_LABEL {
        problems.push(format!(
            "metadata.name: {} characters is too long: the gateway's Service {service} must be a DNS label of at most {MAX_LABEL} characters, so the name may have at most {}",
            name.len(),
            MAX_LABEL - (service.len() - name.len())
        ));
    }
    if name.contains('.') {
        problems.push(format!(
            "metadata.name: {name} contains '.', which the gateway's Service {service} (a DNS label) cannot; use '-' instead"
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names_must_be_dns_labels() {
        assert!(check_virtual_server_name("eng").is_empty());
        assert!(check_virtual_server_name(&"a".repeat(58)).is_empty());
        let long = check_virtual_server_name(&"a".repeat(59));
        assert_eq!(long.len(), 1);
        assert!(long[0].contains("at most 58"), "{long:?}");
        let dotted = check_virtual_server_name("team.eng");
        assert!(dotted[0].contains("contains '.'"), "{dotted:?}");
    }
}
