//! Reading and writing back a config loses nothing and adds nothing.

use vmcp_config::{Config, GoDuration};

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn yaml_value(text: &str) -> serde_yaml::Value {
    serde_yaml::from_str(text).expect("valid YAML")
}

fn assert_round_trip(name: &str) -> Config {
    let text = fixture(name);
    let cfg = Config::from_yaml_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let written = cfg.to_yaml_string().expect("serialises");
    assert_eq!(
        yaml_value(&written),
        yaml_value(&text),
        "{name}: YAML value changed:\n{written}"
    );
    let again = Config::from_yaml_str(&written).expect("own output parses strictly");
    assert_eq!(again, cfg, "{name}: Rust value changed");
    cfg
}

#[test]
fn full_config_round_trips() {
    let cfg = assert_round_trip("full.yaml");
    assert_eq!(cfg.backends.len(), 3);
    // Every field is valid.
    let report = cfg.validate();
    assert!(report.problems.is_empty(), "unexpected problems:\n{report}");
}

#[test]
fn unsupported_sections_round_trip_losslessly() {
    let cfg = assert_round_trip("unsupported.yaml");
    assert_eq!(cfg.composite_tools.len(), 1);
    assert_eq!(cfg.composite_tool_refs[0].name, "shared-workflow");
    assert_eq!(
        cfg.rate_limiting.as_ref().unwrap()["shared"]["maxTokens"],
        100
    );
}

#[test]
fn json_and_yaml_agree() {
    let cfg = Config::from_yaml_str(&fixture("full.yaml")).unwrap();
    let json = serde_json::to_value(&cfg).unwrap();
    assert_eq!(Config::from_json_value(json).unwrap(), cfg);
}

#[test]
fn durations_are_written_like_go() {
    let cfg = Config::from_yaml_str(
        "name: n\ngroupRef: g\noperational:\n  timeouts:\n    default: 60s\n    perWorkload:\n      a: 1.5s\n      b: 100ms\n      c: 90m\n",
    )
    .unwrap();
    let t = cfg.operational.as_ref().unwrap().timeouts.as_ref().unwrap();
    assert_eq!(t.default, Some(GoDuration::from_secs(60)));
    let out = cfg.to_yaml_string().unwrap();
    assert!(out.contains("default: 1m0s"), "{out}");
    assert!(out.contains("a: 1.5s"), "{out}");
    assert!(out.contains("b: 100ms"), "{out}");
    assert!(out.contains("c: 1h30m0s"), "{out}");
}

#[test]
fn conflict_resolution_is_always_written() {
    let cfg = Config::from_yaml_str("name: n\ngroupRef: g\naggregation: {}\n").unwrap();
    let out = cfg.to_yaml_string().unwrap();
    assert!(out.contains("conflictResolution: prefix"), "{out}");
    // Nothing else appears for unset fields.
    assert!(!out.contains("null"), "{out}");
}

#[test]
fn defaults_produce_toolhive_operational_block() {
    let cfg = Config::from_yaml_str("name: n\ngroupRef: g\n")
        .unwrap()
        .with_defaults();
    let written = yaml_value(&cfg.to_yaml_string().unwrap());
    let expected = yaml_value(
        r#"
name: n
groupRef: g
aggregation:
  conflictResolution: prefix
  conflictResolutionConfig:
    prefixFormat: '{workload}_'
operational:
  timeouts:
    default: 30s
  failureHandling:
    healthCheckInterval: 30s
    unhealthyThreshold: 3
    statusReportingInterval: 30s
    partialFailureMode: fail
    circuitBreaker:
      failureThreshold: 5
      timeout: 1m0s
"#,
    );
    assert_eq!(written, expected);
}

#[test]
fn operator_style_static_config_parses_and_validates() {
    // The shape ToolHive's operator writes in static mode (4-space indentation, sorted
    // metadata), with `type: entry` added as vmcp's operator does.
    let text = r#"
name: eng-tools
groupRef: engineering-team
backends:
    - name: context7
      url: https://mcp.context7.com/mcp
      transport: streamable-http
      type: entry
      caBundlePath: /etc/toolhive/ca-bundles/context7/ca.crt
      metadata:
        group: engineering-team
        namespace: toolhive-system
        workload_type: server_entry
    - name: fetch
      url: http://mcp-fetch-proxy.toolhive-system.svc.cluster.local:8080/mcp
      transport: streamable-http
incomingAuth:
    type: anonymous
outgoingAuth:
    source: inline
    backends:
        context7:
            type: token_exchange
            tokenExchange:
                tokenUrl: https://idp.example.com/oauth2/token
                clientId: vmcp
                clientSecretEnv: TOOLHIVE_TOKEN_EXCHANGE_CLIENT_SECRET_CTX7_EXCHANGE
                audience: context7
                scopes:
                    - mcp:read
                subjectTokenType: urn:ietf:params:oauth:token-type:access_token
aggregation:
    conflictResolution: prefix
    conflictResolutionConfig:
        prefixFormat: '{workload}_'
operational:
    timeouts:
        default: 30s
    failureHandling:
        healthCheckInterval: 30s
        unhealthyThreshold: 3
        statusReportingInterval: 30s
        partialFailureMode: fail
        circuitBreaker:
            failureThreshold: 5
            timeout: 1m0s
"#;
    let cfg = Config::from_yaml_str(text).unwrap();
    let report = cfg.validate();
    assert!(report.problems.is_empty(), "{report}");
    let summary = cfg.summary().to_string();
    assert_eq!(
        summary,
        "eng-tools (group engineering-team): static, 2 backends (2 streamable-http, 0 sse; \
         1 entry), conflict resolution prefix, incoming auth anonymous, outgoing auth inline"
    );
}

#[test]
fn schema_describes_durations_and_preserved_sections() {
    let schema = schemars::schema_for!(Config);
    let v = serde_json::to_value(&schema).unwrap();
    let text = v.to_string();
    assert!(text.contains(vmcp_config::DURATION_PATTERN.replace('\\', "\\\\").as_str()));
    assert_eq!(
        v["properties"]["telemetry"]["x-kubernetes-preserve-unknown-fields"],
        true
    );
    assert_eq!(
        v["properties"]["compositeTools"]["items"]["x-kubernetes-preserve-unknown-fields"],
        true
    );
    assert_eq!(
        v["$defs"]["Transport"]["enum"],
        serde_json::json!(["sse", "streamable-http"])
    );
    assert_eq!(
        v["$defs"]["PartialFailureMode"]["enum"],
        serde_json::json!(["fail", "best_effort"])
    );
    // Required-looking strings carry no empty default into a CRD.
    assert!(!text.contains(r#""default":"""#), "{text}");
}

/// ToolHive's `backends[].type` enum is `entry;""`: an explicit empty string is "not an entry".
#[test]
fn an_empty_backend_type_means_not_an_entry() {
    let text = "name: n\ngroupRef: g\nbackends:\n  - {name: w, url: 'http://w/mcp', transport: sse, type: ''}\n  - {name: n, url: 'http://n/mcp', transport: sse, type: ~}\n  - {name: e, url: 'https://e/mcp', transport: sse, type: entry}\n";
    let cfg = Config::from_yaml_str(text).unwrap();
    let types: Vec<_> = cfg.backends.iter().map(|b| b.backend_type).collect();
    assert_eq!(types, [None, None, Some(vmcp_config::BackendType::Entry)]);
    // Written back without the key, as ToolHive's `omitempty` writes it; read again, the same.
    let written = cfg.to_yaml_string().unwrap();
    let value = yaml_value(&written);
    assert!(value["backends"][0].get("type").is_none(), "{written}");
    assert!(value["backends"][1].get("type").is_none(), "{written}");
    assert_eq!(value["backends"][2]["type"], "entry");
    assert_eq!(Config::from_yaml_str(&written).unwrap(), cfg);
    // JSON (spec.config) reads the same way.
    let json = serde_json::json!({"backends": [{"name": "w", "type": ""}]});
    assert_eq!(
        Config::from_json_value(json).unwrap().backends[0].backend_type,
        None
    );
    // A CA bundle is still only for entries.
    let cfg = Config::from_yaml_str(
        "name: n\ngroupRef: g\nincomingAuth: {type: anonymous}\nbackends:\n  - {name: w, url: 'http://w/mcp', transport: sse, type: '', caBundlePath: /etc/ca.pem}\n",
    )
    .unwrap();
    let report = cfg.validate();
    assert_eq!(
        report.to_string(),
        "error: backends[0].caBundlePath: only allowed when type is entry\n"
    );
}

#[test]
fn the_schema_lists_toolhives_backend_types() {
    let v = serde_json::to_value(schemars::schema_for!(Config)).unwrap();
    let backend = &v["$defs"]["Backend"]["properties"]["type"];
    assert_eq!(
        backend["enum"],
        serde_json::json!(["entry", ""]),
        "{backend}"
    );
}
