use super::*;

#[test]
fn aggregation_prefix_rules() {
    let ps = with(
        "aggregation:\n  conflictResolutionConfig: {prefixFormat: 'x_', priorityOrder: [alpha]}\n",
    );
    assert_only(
        &ps,
        &[
            (
                Severity::Error,
                "aggregation.conflictResolutionConfig.prefixFormat: must contain {workload} (got \"x_\")",
            ),
            (
                Severity::Warning,
                "aggregation.conflictResolutionConfig.priorityOrder: ignored because conflictResolution is prefix",
            ),
        ],
    );
    let ps = with("aggregation:\n  conflictResolutionConfig: {prefixFormat: '{workload} / '}\n");
    assert_only(
        &ps,
        &[(
            Severity::Error,
            "aggregation.conflictResolutionConfig.prefixFormat: \"{workload} / \" would make invalid tool names: outside {workload} use only letters, digits, '_', '-' and '.'",
        )],
    );
    assert_only(
        &with("aggregation:\n  conflictResolutionConfig: {prefixFormat: 'mcp.{workload}.'}\n"),
        &[],
    );
}

#[test]
fn aggregation_priority_and_manual_rules() {
    let ps = with("aggregation:\n  conflictResolution: priority\n");
    assert_only(
        &ps,
        &[(
            Severity::Error,
            "aggregation.conflictResolutionConfig.priorityOrder: required with at least one backend when conflictResolution is priority",
        )],
    );
    let ps = with(
        "aggregation:\n  conflictResolution: priority\n  conflictResolutionConfig: {priorityOrder: [alpha, alpha, '', omega]}\n",
    );
    assert_only(
        &ps,
        &[
            (
                Severity::Error,
                "aggregation.conflictResolutionConfig.priorityOrder[1]: \"alpha\" is listed more than once",
            ),
            (
                Severity::Error,
                "aggregation.conflictResolutionConfig.priorityOrder[2]: backend name must not be empty",
            ),
            (
                Severity::Warning,
                "aggregation.conflictResolutionConfig.priorityOrder[3]: no backend named \"omega\" is listed in backends",
            ),
        ],
    );
    let ps = with(
        "aggregation:\n  conflictResolution: priority\n  defaultToolVisibility: deny\n  conflictResolutionConfig: {priorityOrder: [alpha, beta]}\n  tools: [{workload: alpha}]\n",
    );
    assert_only(
        &ps,
        &[(
            Severity::Error,
            "aggregation.conflictResolutionConfig.priorityOrder[1]: \"beta\" has no tools entry, so defaultToolVisibility: deny hides all its tools",
        )],
    );
    let ps = with("aggregation:\n  conflictResolution: manual\n");
    assert_only(
        &ps,
        &[(
            Severity::Error,
            "aggregation.tools: required with at least one entry when conflictResolution is manual",
        )],
    );
}

#[test]
fn aggregation_tool_rules() {
    let ps = with(
        r#"aggregation:
  tools:
    - workload: alpha
      filter: [a, ""]
      overrides:
        a: {name: "bad name"}
        b: {}
        c: {name: same}
        d: {name: same}
        e: {annotations: {readOnlyHint: true}}
    - workload: alpha
    - workload: ""
    - workload: omega
      toolConfigRef: {name: cfg}
    - workload: beta
      excludeAll: true
      filter: [x]
"#,
    );
    assert_only(
        &ps,
        &[
            (
                Severity::Error,
                "aggregation.tools[0].filter[1]: tool name must not be empty",
            ),
            (
                Severity::Error,
                "aggregation.tools[0].overrides.a.name: \"bad name\" is not a valid MCP tool name: use 1-128 letters, digits, '_', '-' or '.'",
            ),
            (
                Severity::Error,
                "aggregation.tools[0].overrides.b: set at least one of name, description or annotations",
            ),
            (
                Severity::Error,
                "aggregation.tools[0].overrides.d.name: \"c\" is renamed to \"same\" too",
            ),
            (
                Severity::Error,
                "aggregation.tools[1].workload: \"alpha\" already has an entry (tools[0])",
            ),
            (Severity::Error, "aggregation.tools[2].workload: required"),
            (
                Severity::Warning,
                "aggregation.tools[3].workload: no backend named \"omega\" is listed in backends",
            ),
            (
                Severity::Error,
                "aggregation.tools[3].toolConfigRef: is not supported yet: the gateway cannot read MCPToolConfig resources; give filter and overrides inline",
            ),
            (
                Severity::Warning,
                "aggregation.tools[4].excludeAll: hides every tool, so filter and overrides have no effect",
            ),
        ],
    );
}

#[test]
fn prefix_format_is_ignored_by_other_strategies() {
    let ps = with(
        "aggregation:\n  conflictResolution: priority\n  conflictResolutionConfig: {prefixFormat: 'mcp_{workload}_', priorityOrder: [alpha]}\n",
    );
    assert_single(
        &ps,
        Severity::Warning,
        "aggregation.conflictResolutionConfig.prefixFormat",
        "ignored because conflictResolution is priority",
    );
}

#[test]
fn the_default_prefix_format_is_not_worth_a_warning() {
    // The API server writes the CRD default into every conflictResolutionConfig.
    let ps = with(
        "aggregation:\n  conflictResolution: priority\n  conflictResolutionConfig: {prefixFormat: '{workload}_', priorityOrder: [alpha]}\n",
    );
    assert_only(&ps, &[]);
}

#[test]
fn tool_config_ref_names_its_config() {
    let ps = with("aggregation:\n  tools: [{workload: alpha, toolConfigRef: {}}]\n");
    assert_has(
        &ps,
        Severity::Error,
        "aggregation.tools[0].toolConfigRef.name",
        "required",
    );
    // The reference itself is not supported yet either.
    assert_has(
        &ps,
        Severity::Error,
        "aggregation.tools[0].toolConfigRef",
        "is not supported yet",
    );
    assert_eq!(ps.len(), 2, "{}", rendered(&ps).join("\n"));
}

#[test]
fn an_override_names_its_tool() {
    let ps =
        with("aggregation:\n  tools: [{workload: alpha, overrides: {\"\": {name: renamed}}}]\n");
    assert_single(
        &ps,
        Severity::Error,
        r#"aggregation.tools[0].overrides[""]"#,
        "tool name must not be empty",
    );
}
