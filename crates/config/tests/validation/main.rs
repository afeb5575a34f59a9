//! Each validation rule reports its problem with the path of the offending key.
//!
//! One module per section of `crates/config/src/validate`; every rule there has a test that
//! asserts the exact path and the message (or a fragment of it, where other work may reword the
//! rest). The tables of the older tests check many rules of a section at once; the small tests
//! each pin one rule.

mod aggregation;
mod backends;
mod incoming;
mod operational;
mod outgoing;
mod unsupported;

use vmcp_config::{Config, Problem, ProblemKind, Severity};

/// A valid static config that each test bends in one place.
const BASE: &str = r#"
name: gw
groupRef: team
backends:
  - {name: alpha, url: "http://alpha:8080/mcp", transport: streamable-http}
  - {name: beta, url: "http://beta:8080/sse", transport: sse}
  - {name: gamma, url: "https://gamma.example/mcp", transport: streamable-http, type: entry, caBundlePath: /etc/ca/gamma.pem}
incomingAuth:
  type: anonymous
outgoingAuth:
  source: inline
"#;

fn problems(yaml: &str) -> Vec<Problem> {
    let cfg = Config::from_yaml_str(yaml).unwrap_or_else(|e| panic!("parse: {e}\n{yaml}"));
    cfg.validate().problems
}

/// BASE plus `extra`; lines indented by two spaces continue `outgoingAuth`.
fn with(extra: &str) -> Vec<Problem> {
    problems(&format!("{BASE}{extra}"))
}

/// BASE with `incomingAuth` replaced by `body` (the lines under `incomingAuth:`).
fn incoming(body: &str) -> Vec<Problem> {
    let base = BASE.replace("incomingAuth:\n  type: anonymous\n", "");
    problems(&format!("{base}incomingAuth:\n{body}"))
}

/// BASE with one outgoing strategy for backend `alpha` (a YAML flow mapping).
fn strategy(flow: &str) -> Vec<Problem> {
    with(&format!("  backends:\n    alpha: {flow}\n"))
}

fn rendered(ps: &[Problem]) -> Vec<String> {
    ps.iter().map(|p| format!("{}: {p}", p.severity)).collect()
}

#[track_caller]
fn assert_only(ps: &[Problem], expected: &[(Severity, &str)]) {
    let all = rendered(ps);
    let want: Vec<String> = expected.iter().map(|(s, m)| format!("{s}: {m}")).collect();
    assert_eq!(all, want);
}

/// Asserts that some problem has exactly this severity and path and a message containing
/// `fragment`; returns it.
#[track_caller]
fn assert_has<'p>(
    ps: &'p [Problem],
    severity: Severity,
    path: &str,
    fragment: &str,
) -> &'p Problem {
    ps.iter()
        .find(|p| p.severity == severity && p.path == path && p.message.contains(fragment))
        .unwrap_or_else(|| {
            panic!(
                "no {severity} at {path:?} containing {fragment:?}; got:\n{}",
                rendered(ps).join("\n")
            )
        })
}

/// Asserts that this is the only problem.
#[track_caller]
fn assert_single(ps: &[Problem], severity: Severity, path: &str, fragment: &str) {
    assert_has(ps, severity, path, fragment);
    assert_eq!(
        ps.len(),
        1,
        "expected one problem, got:\n{}",
        rendered(ps).join("\n")
    );
}

#[test]
fn base_is_clean() {
    assert_only(&problems(BASE), &[]);
}

#[test]
fn name_group_and_incoming_auth_are_required() {
    let ps = problems("backends: []\n");
    assert_only(
        &ps,
        &[
            (Severity::Error, "name: required"),
            (Severity::Error, "groupRef: required"),
            (
                Severity::Error,
                "incomingAuth: required (use type: anonymous to accept unauthenticated clients)",
            ),
        ],
    );
}

#[test]
fn report_helpers() {
    let cfg = Config::from_yaml_str(&format!(
        "{BASE}telemetry: {{enablePrometheusMetricsPath: false}}\n"
    ))
    .unwrap();
    let report = cfg.validate();
    assert!(report.is_ok());
    assert_eq!(report.warnings().count(), 1);
    assert_eq!(report.errors().count(), 0);
    assert_eq!(
        report.to_string(),
        "warning: telemetry.enablePrometheusMetricsPath: /metrics is always served on the gateway's port\n"
    );
    assert_eq!(report.clone().into_result().unwrap().len(), 1);

    let cfg = Config::from_yaml_str("name: x\n").unwrap();
    let report = cfg.validate();
    assert!(!report.is_ok());
    assert_eq!(report.into_result().unwrap_err().len(), 2);
}
