use super::*;

#[test]
fn unsupported_sections() {
    let path = format!(
        "{}/tests/fixtures/unsupported.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let cfg = Config::load_file(&path).unwrap();
    let report = cfg.validate();
    assert_only(
        &report.problems,
        &[
            (
                Severity::Error,
                "compositeTools: composite tools are not supported yet (1 defined)",
            ),
            (
                Severity::Error,
                "compositeToolRefs: composite tools are not supported yet (1 referenced)",
            ),
            (
                Severity::Error,
                "optimizer: the tool optimizer is not supported yet (remove the section)",
            ),
            (
                Severity::Error,
                "codeMode.enabled: code mode is not supported yet",
            ),
            (
                Severity::Error,
                "rateLimiting: rate limiting is not supported yet; the limits would not be enforced",
            ),
            (
                Severity::Warning,
                "sessionStorage: shared session storage is not supported yet: sessions stay in this replica's memory (run one replica or use sticky sessions)",
            ),
        ],
    );
    assert!(
        report
            .problems
            .iter()
            .all(|p| p.kind == ProblemKind::NotSupported)
    );
    assert!(!report.is_ok());

    // Disabled or harmless forms pass.
    let ps = with(
        "codeMode: {enabled: false}\naudit: {enabled: false}\nsessionStorage: {provider: memory}\n",
    );
    assert_only(&ps, &[]);
}

#[test]
fn audit_sections_are_read_and_their_mistakes_named() {
    let ps = with(
        "audit: {enabled: true, eventTypes: [mcp_tool_call, mcp_tool], maxDataSize: -1, logFile: audit.log, colour: red}\n",
    );
    assert_only(
        &ps,
        &[
            (Severity::Error, "audit.colour: unknown key"),
            (
                Severity::Error,
                "audit.eventTypes[1]: unknown event type \"mcp_tool\"; known: mcp_initialize, mcp_tool_call, mcp_tools_list, mcp_resource_read, mcp_resources_list, mcp_prompt_get, mcp_prompts_list, mcp_notification, mcp_ping, mcp_logging, mcp_completion, mcp_roots_list_changed, mcp_request, http_request",
            ),
            (
                Severity::Error,
                "audit.maxDataSize: must be a number of bytes from 0 to 16777216",
            ),
            (
                Severity::Error,
                "audit.logFile: must be an absolute file path",
            ),
        ],
    );
    assert_only(
        &with("audit: {enabled: true, event_types: [mcp_tool_call], include_request_data: true}\n"),
        &[],
    );
}

#[test]
fn session_storage_without_a_provider_is_not_memory() {
    let ps = with("sessionStorage: {address: 'redis:6379'}\n");
    assert_single(
        &ps,
        Severity::Warning,
        "sessionStorage",
        "shared session storage is not supported yet",
    );
    assert_eq!(ps[0].kind, ProblemKind::NotSupported);
}
