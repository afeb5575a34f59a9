//! Bad files get a clear error naming the key, never a panic.

use std::io::Write;
use std::time::Instant;

use vmcp_config::{Config, LoadError, MAX_CONFIG_BYTES, load_file};

fn err(text: &str) -> LoadError {
    Config::from_yaml_str(text).expect_err("should fail")
}

#[test]
fn unknown_keys_are_errors_with_their_paths() {
    let e = err("name: x\nbackends:\n  - name: a\n    url: http://a\n    transprot: sse\n");
    assert!(
        matches!(&e, LoadError::UnknownFields { paths } if paths == &["backends[0].transprot"])
    );
    assert_eq!(e.to_string(), "backends[0].transprot: unknown field");
    assert_eq!(e.path(), Some("backends[0].transprot"));
}

#[test]
fn every_unknown_key_is_reported_at_once() {
    let text = "nmae: x\noutgoingAuth:\n  source: inline\n  backends:\n    a:\n      type: header_injection\n      headerInjection:\n        headerName: X\n        value: y\noperational:\n  failureHandling:\n    circuitBreaker:\n      enable: true\n";
    let LoadError::UnknownFields { paths } = err(text) else {
        panic!()
    };
    assert_eq!(
        paths,
        [
            "nmae",
            "outgoingAuth.backends.a.headerInjection.value",
            "operational.failureHandling.circuitBreaker.enable",
        ]
    );
}

#[test]
fn lenient_parsing_returns_unknown_keys() {
    let (cfg, unknown) =
        Config::from_yaml_str_lenient("name: x\nfutureField: 1\naggregation:\n  newKnob: true\n")
            .unwrap();
    assert_eq!(cfg.name, "x");
    assert_eq!(unknown, ["futureField", "aggregation.newKnob"]);
    let (_, unknown) =
        Config::from_json_value_lenient(serde_json::json!({"name": "x", "zzz": {}})).unwrap();
    assert_eq!(unknown, ["zzz"]);
    let e = Config::from_json_value(serde_json::json!({"name": "x", "zzz": {}})).unwrap_err();
    assert_eq!(e.to_string(), "zzz: unknown field");
}

#[test]
fn wrong_types_name_the_key_and_position() {
    let e = err("name: x\nbackends:\n  - name: a\n    url: http://a\n    transport: grpc\n");
    assert_eq!(e.path(), Some("backends[0].transport"));
    let msg = e.to_string();
    assert!(
        msg.starts_with("backends[0].transport: unknown variant `grpc`"),
        "{msg}"
    );
    assert!(msg.ends_with("(at line 5, column 16)"), "{msg}");
    let loc = e.location().unwrap();
    assert_eq!((loc.line, loc.column), (5, 16));

    let e = err("operational:\n  failureHandling:\n    unhealthyThreshold: three\n");
    assert_eq!(
        e.path(),
        Some("operational.failureHandling.unhealthyThreshold")
    );
    assert!(
        e.to_string().contains("invalid type: string \"three\""),
        "{e}"
    );

    let e = err("backends:\n  name: a\n");
    assert_eq!(e.path(), Some("backends"));
    assert!(e.to_string().contains("expected a sequence"), "{e}");

    let e = err("aggregation:\n  excludeAllTools: maybe\n");
    assert_eq!(e.path(), Some("aggregation.excludeAllTools"));

    let e = err("outgoingAuth:\n  backends:\n    my.api:\n      type: basic\n");
    assert_eq!(e.path(), Some(r#"outgoingAuth.backends["my.api"].type"#));
    assert!(
        e.to_string()
            .starts_with(r#"outgoingAuth.backends["my.api"].type: unknown variant `basic`"#),
        "{e}"
    );
}

#[test]
fn bad_durations_name_the_key() {
    for (value, needle) in [
        ("30", "without a unit"),
        ("-5s", "negative"),
        ("5d", "unknown unit"),
        ("''", "empty"),
        ("99999999999h", "too large"),
        ("1.5.5s", "invalid duration"),
    ] {
        let e = err(&format!(
            "operational:\n  timeouts:\n    default: {value}\n"
        ));
        assert_eq!(e.path(), Some("operational.timeouts.default"), "{value}");
        assert!(e.to_string().contains(needle), "{value}: {e}");
    }
    let e = err("operational:\n  timeouts:\n    default: 30\n");
    assert!(
        e.to_string().contains("without a unit") || e.to_string().contains("duration string"),
        "{e}"
    );
}

#[test]
fn malformed_yaml_is_a_syntax_error() {
    for text in [
        "name: [unclosed\n",
        "\t- tab",
        "a: b: c\n",
        "key: 'unterminated\n",
        "{a: 1\n",
    ] {
        let e = err(text);
        assert!(matches!(e, LoadError::Syntax { .. }), "{text:?}: {e:?}");
        assert!(e.to_string().starts_with("malformed YAML: "), "{e}");
    }
    let e = err("a: 1\n---\nb: 2\n");
    assert!(e.to_string().contains("more than one document"), "{e}");
}

#[test]
fn the_document_must_be_a_mapping() {
    for text in ["- a\n- b\n", "just a string", "42"] {
        let e = err(text);
        assert!(
            e.to_string().starts_with("the config must be a mapping"),
            "{text:?}: {e}"
        );
    }
}

#[test]
fn empty_files_say_so() {
    for text in [
        "",
        "\n\n",
        "# comment only\n",
        "---\n",
        "--- # c\n...\n",
        "null\n",
        "~",
    ] {
        let e = err(text);
        assert!(matches!(e, LoadError::Empty), "{text:?}: {e:?}");
        assert_eq!(e.to_string(), "config file is empty");
    }
    assert!(matches!(
        Config::from_json_value(serde_json::Value::Null),
        Err(LoadError::Empty)
    ));
}

#[test]
fn load_file_reads_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("config.yaml");
    std::fs::write(&good, "name: a\ngroupRef: g\n").unwrap();
    assert_eq!(load_file(&good).unwrap().name, "a");

    let missing = dir.path().join("missing.yaml");
    let e = load_file(&missing).unwrap_err();
    assert!(matches!(e, LoadError::Read { .. }));
    assert!(e.to_string().contains("missing.yaml"), "{e}");

    let e = load_file(dir.path()).unwrap_err();
    assert!(matches!(e, LoadError::Read { .. }), "{e:?}");

    let latin1 = dir.path().join("latin1.yaml");
    std::fs::write(&latin1, b"name: caf\xe9\n").unwrap();
    let e = load_file(&latin1).unwrap_err();
    assert!(matches!(e, LoadError::NotUtf8 { offset: 9 }), "{e:?}");

    let empty = dir.path().join("empty.yaml");
    std::fs::write(&empty, "").unwrap();
    assert_eq!(
        load_file(&empty).unwrap_err().to_string(),
        "config file is empty"
    );
}

#[test]
fn a_50_mib_file_is_refused_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.yaml");
    {
        let mut f = std::fs::File::create(&path).unwrap();
        let line = "# padding padding padding padding padding padding padding padding\n";
        let chunk = line.repeat(16 * 1024);
        let mut written = 0u64;
        while written < 50 * 1024 * 1024 {
            f.write_all(chunk.as_bytes()).unwrap();
            written += chunk.len() as u64;
        }
    }
    let started = Instant::now();
    let e = load_file(&path).unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(e, LoadError::TooLarge { size: Some(s), limit } if s > limit && limit == MAX_CONFIG_BYTES)
    );
    let msg = e.to_string();
    assert!(
        msg.contains("larger than the limit of 16777216 bytes (16 MiB)"),
        "{msg}"
    );
    // Not a timing assertion: only printed, to show it is refused before reading.
    eprintln!("refused in {took:?}: {msg}");

    // The same limit applies to text handed over directly.
    let text = "#".repeat(MAX_CONFIG_BYTES as usize + 1);
    assert!(matches!(
        Config::from_yaml_str(&text),
        Err(LoadError::TooLarge { .. })
    ));
}

#[cfg(unix)]
#[test]
fn an_endless_stream_is_cut_at_the_limit() {
    // /dev/zero reports size 0 and never ends; the read is capped.
    let e = load_file("/dev/zero").unwrap_err();
    assert!(matches!(e, LoadError::TooLarge { size: None, .. }), "{e:?}");
}

#[test]
fn hostile_yaml_does_not_panic() {
    // Deep nesting, alias bombs, odd scalars: each is an error or a value, never a panic.
    let deep = format!("telemetry: {}1{}\n", "[".repeat(10_000), "]".repeat(10_000));
    let deep_map = format!(
        "telemetry:\n  a: {}\n",
        "{b: ".repeat(5_000) + "1" + &"}".repeat(5_000)
    );
    let bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n";
    let inputs = [
        deep.as_str(),
        deep_map.as_str(),
        bomb,
        "name: *missing\n",
        "name: !!binary aGVsbG8=\n",
        "name: !custom x\n",
        "? [complex, key]\n: value\n",
        "backends: [~]\n",
        "backends:\n  - 12\n",
        "operational:\n  failureHandling:\n    unhealthyThreshold: 99999999999999999999999\n",
        "metadata:\n  1: 2\n",
        "<<: {name: x}\n",
        "\u{feff}name: x\n",
        "\0",
    ];
    for text in inputs {
        let _ = Config::from_yaml_str(text);
        let _ = Config::from_yaml_str_lenient(text);
    }
    assert!(Config::from_yaml_str(&deep).is_err());
}

#[test]
fn deep_nesting_is_refused_before_parsing() {
    // libyaml's cost grows with nesting depth per token; the guard refuses such text at once.
    let text = format!("telemetry: {}\n", "[".repeat(1_000_000));
    let e = err(&text);
    assert!(matches!(e, LoadError::TooDeep { limit: 128, .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "collections are nested deeper than 128 levels (at line 1, column 140)"
    );
    let e = err(&format!("telemetry:\n  a: {}1\n", "{b: ".repeat(200)));
    assert!(matches!(e, LoadError::TooDeep { .. }), "{e:?}");
    // Moderate nesting in a kept-verbatim section is fine.
    let ok = format!("telemetry:\n  a: {}1{}\n", "[".repeat(20), "]".repeat(20));
    assert!(Config::from_yaml_str(&ok).is_ok());
}

#[test]
fn checking_reports_unknown_keys_together_with_rule_problems() {
    let text = "name: gw\ngroupRef: g\nbogus: 1\nincomingAuth: {type: anonymous}\noutgoingAuth: {source: inline}\n\
                backends:\n  - {name: a, url: 'https://a', transport: sse, caBundlePath: /etc/ca.pem, colour: red}\n";
    // Strict parsing stops at the unknown keys...
    let LoadError::UnknownFields { paths } = err(text) else {
        panic!()
    };
    assert_eq!(paths, ["bogus", "backends[0].colour"]);
    // ...checking reports them first, then validates what parsed.
    let (cfg, report) = Config::check_yaml_str(text).unwrap();
    assert_eq!(cfg.backends[0].name, "a");
    let lines: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(
        lines,
        [
            "bogus: unknown field",
            "backends[0].colour: unknown field",
            "backends[0].caBundlePath: only allowed when type is entry",
        ]
    );
    assert_eq!(
        report.problems[0].kind,
        vmcp_config::ProblemKind::UnknownField
    );
    assert!(report.has_errors());
    assert_eq!(vmcp_config::parse_and_validate(text).unwrap().1, report);

    // The file reader reports the same.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, text).unwrap();
    assert_eq!(vmcp_config::check_file(&path).unwrap().1, report);
}

#[test]
fn checking_reports_type_errors_with_unknown_keys_and_rule_problems() {
    // An unknown enum value, a bad enum in a list item, a string where a number belongs, a
    // bad duration, unknown keys and rule problems: one check reports all of them.
    let text = "name: gw\ngroupRef: g\nbogus: 1\nincomingAuth: {type: anonymous}\noutgoingAuth: {source: inline}\n\
                backends:\n  - {name: a, url: 'https://a', transport: sse, caBundlePath: /etc/ca.pem, colour: red}\n\
                \x20 - {name: b, url: 'https://b', transport: grpc}\n\
                \x20 - {name: c, url: 'ftp://c', transport: sse, type: remote}\n\
                operational:\n  failureHandling: {unhealthyThreshold: many, healthCheckInterval: soon}\n";
    // Strict parsing stops at the first.
    let e = err(text);
    assert_eq!(e.path(), Some("backends[1].transport"));
    let (_, report) = Config::check_yaml_str(text).unwrap();
    let lines: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(
        lines,
        [
            "backends[1].transport: unknown variant `grpc`, expected `sse` or `streamable-http` (at line 8, column 44)",
            "backends[2].type: unknown variant `remote`, expected `entry` or \"\" (not an entry)",
            "operational.failureHandling.unhealthyThreshold: invalid type: string \"many\", expected i64",
            "operational.failureHandling.healthCheckInterval: invalid duration \"soon\" (expected e.g. 30s, 1m30s, 1.5h, 500ms)",
            "bogus: unknown field",
            "backends[0].colour: unknown field",
            "backends[0].caBundlePath: only allowed when type is entry",
            "backends[2].url: must be an http or https URL, not ftp",
        ]
    );
    assert_eq!(report.problems[0].kind, vmcp_config::ProblemKind::Invalid);
    assert!(report.has_errors());
    assert_eq!(vmcp_config::parse_and_validate(text).unwrap().1, report);
    // Documents that are not a mapping, or not YAML, still stop the check.
    assert!(Config::check_yaml_str("- a\n- b\n").is_err());
    assert!(Config::check_yaml_str("").is_err());
    assert!(Config::check_yaml_str("a: [1,\n").is_err());
}

#[test]
fn checking_list_items_of_the_wrong_type_keeps_later_indices() {
    let text = "name: gw\ngroupRef: g\nincomingAuth: {type: anonymous}\noutgoingAuth: {source: inline}\n\
                passthroughHeaders: [{a: 1}, X-Ok]\n\
                backends:\n  - 5\n  - {name: b, url: 'https://b', transport: grpc}\n";
    let (cfg, report) = Config::check_yaml_str(text).unwrap();
    assert_eq!(cfg.passthrough_headers, ["X-Ok"]);
    let lines: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
    // The item that is not a mapping reads as an empty backend, whose rule problems its type
    // error already covers; the next item keeps its index.
    assert_eq!(
        lines,
        [
            "passthroughHeaders[0]: invalid type: map, expected a string (at line 5, column 22)",
            "backends[0]: invalid type: integer `5`, expected struct Backend",
            "backends[1].transport: unknown variant `grpc`, expected `sse` or `streamable-http`",
        ]
    );
}

#[test]
fn checking_gives_up_after_a_hundred_type_errors() {
    let mut text = String::from(
        "name: gw\ngroupRef: g\nincomingAuth: {type: anonymous}\noutgoingAuth: {source: inline}\nbackends:\n",
    );
    for i in 0..150 {
        text.push_str(&format!(
            "  - {{name: b{i}, url: 'https://b', transport: carrier-pigeon}}\n"
        ));
    }
    // Bounded work: past the limit the check stops with the first, as strict parsing does.
    let e = Config::check_yaml_str(&text).unwrap_err();
    assert_eq!(e.path(), Some("backends[0].transport"));
    text.truncate(text.find("  - {name: b100,").unwrap());
    let (_, report) = Config::check_yaml_str(&text).unwrap();
    assert_eq!(report.errors().count(), 100, "{report}");
}

#[test]
fn a_bad_backend_type_names_both_accepted_values() {
    let e = err("backends:\n  - {name: a, type: remote}\n");
    assert_eq!(e.path(), Some("backends[0].type"));
    assert!(
        e.to_string().starts_with(
            "backends[0].type: unknown variant `remote`, expected `entry` or \"\" (not an entry)"
        ),
        "{e}"
    );
    let e = err("backends:\n  - {name: a, type: 5}\n");
    assert_eq!(e.path(), Some("backends[0].type"));
    assert!(e.to_string().contains("expected `entry` or \"\""), "{e}");
}
