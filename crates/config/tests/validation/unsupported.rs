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
                Severity::Error,
                "audit: audit logging is not supported yet; no audit events would be written (set enabled: false or remove the section)",
            ),
            (
                Severity::Warning,
                "telemetry: telemetry settings are not supported yet and are ignored",
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
