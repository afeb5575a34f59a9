//! Runs the real `vmcp validate` binary: exit code 0 and a summary for a good config, exit
//! code 1 and one `file: severity: path: message` line per problem for a bad one, and a
//! one-line error for files it cannot read.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{run, scratch};

/// What one run printed.
struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Run {
    fn stderr_lines(&self) -> Vec<&str> {
        self.stderr.lines().collect()
    }
}

fn validate(path: &Path) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vmcp"));
    command.args(["validate", "--config"]).arg(path);
    let out = run(command);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "exit code {:?}",
        out.status
    );
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_good_config_prints_its_summary() {
    let dir = scratch("validate-good");
    let cfg = write(
        &dir,
        "config.yaml",
        "name: gw\ngroupRef: team\nincomingAuth: {type: anonymous}\n\
         outgoingAuth: {source: inline, default: {type: unauthenticated}}\n\
         backends:\n\
         - {name: a, url: 'https://a.example.com/mcp', transport: streamable-http, type: entry, caBundlePath: /etc/ca/a.pem}\n\
         - {name: b, url: 'http://b:8080/sse', transport: sse}\n\
         telemetry: {endpoint: 'otel:4317', enablePrometheusMetricsPath: false}\n",
    );
    let run = validate(&cfg);
    assert!(run.ok, "{}", run.stderr);
    let shown = cfg.display();
    assert_eq!(
        run.stdout,
        format!(
            "{shown}: valid: gw (group team): static, 2 backends (1 streamable-http, 1 sse; 1 entry), \
             conflict resolution prefix, incoming auth anonymous, outgoing auth inline\n"
        )
    );
    // Warnings do not fail the run, but they are shown.
    assert_eq!(
        run.stderr_lines(),
        [format!(
            "{shown}: warning: telemetry.enablePrometheusMetricsPath: /metrics is always served on the gateway's port"
        )]
    );
}

#[test]
fn a_bad_config_prints_every_problem_with_its_path() {
    let dir = scratch("validate-bad");
    // An unknown key, a misspelt one, and rule problems in the parts that did parse: all of
    // them are shown in one run.
    let cfg = write(
        &dir,
        "config.yaml",
        "name: gw\ngroupRef: team\nbogus: 1\nincomingAuth: {type: anonymous}\noutgoingAuth: {source: inline}\n\
         backends:\n\
         - {name: a, url: 'https://a.example.com', transport: sse, caBundlePath: /etc/ca.pem}\n\
         - {name: b, url: 'ftp://b', transprot: sse}\n\
         operational: {timeouts: {default: 0s}}\n",
    );
    let run = validate(&cfg);
    assert!(!run.ok);
    assert_eq!(run.stdout, "");
    let shown = cfg.display();
    let want: Vec<String> = [
        "error: bogus: unknown field",
        "error: backends[1].transprot: unknown field",
        "error: backends[0].caBundlePath: only allowed when type is entry",
        "error: backends[1].url: must be an http or https URL, not ftp",
        "error: backends[1].transport: required (sse or streamable-http)",
        "error: operational.timeouts.default: must be greater than 0s",
        "invalid (6 errors)",
    ]
    .iter()
    .map(|l| format!("{shown}: {l}"))
    .collect();
    assert_eq!(run.stderr_lines(), want);
}

#[test]
fn a_type_error_is_one_problem_among_the_others() {
    let dir = scratch("validate-type");
    let cfg = write(
        &dir,
        "config.yaml",
        "name: gw\nbogus: 1\nbackends:\n  - {name: a, transport: grpc}\n",
    );
    let run = validate(&cfg);
    assert!(!run.ok);
    let shown = cfg.display();
    let want: Vec<String> = [
        "error: backends[0].transport: unknown variant `grpc`, expected `sse` or `streamable-http` (at line 4, column 26)",
        "error: bogus: unknown field",
        "error: groupRef: required",
        "error: backends[0].url: required",
        "error: incomingAuth: required (use type: anonymous to accept unauthenticated clients)",
        "invalid (5 errors)",
    ]
    .iter()
    .map(|l| format!("{shown}: {l}"))
    .collect();
    assert_eq!(run.stderr_lines(), want);
}

#[test]
fn unreadable_files_get_one_clear_line() {
    let dir = scratch("validate-unreadable");
    let missing = dir.join("missing.yaml");
    let empty = write(&dir, "empty.yaml", "# nothing but a comment\n");
    let huge = dir.join("huge.yaml");
    // Sparse: the size is refused before anything is read.
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(17 * 1024 * 1024)
        .unwrap();
    let cases: [(&Path, String); 4] = [
        (
            &missing,
            format!(
                "cannot read config file {}: No such file or directory",
                missing.display()
            ),
        ),
        (
            &dir,
            format!(
                "cannot read config file {}: it is a directory",
                dir.display()
            ),
        ),
        (&empty, "config file is empty".into()),
        (
            &huge,
            "config file is 17825792 bytes, larger than the limit of 16777216 bytes (16 MiB)"
                .into(),
        ),
    ];
    for (path, message) in cases {
        let run = validate(path);
        assert!(!run.ok, "{}", path.display());
        assert_eq!(run.stdout, "");
        let lines = run.stderr_lines();
        assert_eq!(lines.len(), 1, "{}", run.stderr);
        let want = format!("{}: {message}", path.display());
        assert!(
            lines[0].starts_with(&want),
            "{:?} does not start with {want:?}",
            lines[0]
        );
    }
}

/// A gateway config in the shape of ToolHive's own parses and follows every rule; what is
/// reported is only what this vmcp states it does not support, as warnings.
#[test]
fn toolhive_gateway_shape_is_valid_with_warnings_only() {
    valid_with_unsupported_warnings(
        &vmcp_testenv::toolhive_shapes().join("gateway-config/vmcp-config.yaml"),
    );
}

/// The same for ToolHive's own gateway config, when it is beside the checkout.
#[test]
fn toolhive_gateway_sample_is_valid_with_warnings_only() {
    let Some(samples) = vmcp_testenv::toolhive_samples() else {
        return;
    };
    valid_with_unsupported_warnings(&samples.join("gateway-config/vmcp-config.yaml"));
}

fn valid_with_unsupported_warnings(sample: &Path) {
    let run = validate(sample);
    assert!(run.ok, "{}", run.stderr);
    let shown = sample.display().to_string();
    for line in run.stderr_lines() {
        let rest = line
            .strip_prefix(&format!("{shown}: "))
            .unwrap_or_else(|| panic!("line without the file name: {line}"));
        assert!(!rest.starts_with("error: "), "{}", run.stderr);
        if let Some(problem) = rest.strip_prefix("warning: ") {
            assert!(
                problem.contains("not supported")
                    || problem.contains("not used")
                    // The samples' collector is on loopback.
                    || problem.contains("unless allowPrivateEndpoint"),
                "a warning that is not about an unsupported feature: {problem}"
            );
        }
    }
}
