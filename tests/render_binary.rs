//! Runs the real `vmcp render` binary. The example manifests render to exactly the committed
//! golden files in `tests/golden/` (the review a GitOps pipeline would show: any change to
//! what the operator creates shows up as a diff there), a VirtualMCPServer that cannot be
//! rendered gives exit code 1 and one line naming it and why, and unreadable input a clear
//! error.
//!
//! After an intended change of the rendered objects: `VMCP_UPDATE_GOLDEN=1 cargo test --test
//! render_binary`, then review the diff of `tests/golden/`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{run, scratch};

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn render(path: &Path) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vmcp"));
    command
        .args(["render", "-f"])
        .arg(path)
        .env_remove("VMCP_GATEWAY_IMAGE")
        .env_remove("VMCP_ALLOW_LOOPBACK_ENDPOINTS");
    let out = run(command);
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Condition times are "now"; everything else of the output is deterministic.
fn without_times(text: &str) -> String {
    text.lines()
        .map(|l| match l.split_once("lastTransitionTime: ") {
            Some((head, _)) => format!("{head}lastTransitionTime: <time>"),
            None => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[test]
fn the_example_manifests_render_to_their_golden_files() {
    for example in ["remote-entries-static", "mixed-group-dynamic"] {
        let input = root().join(format!("examples/manifests/{example}.yaml"));
        let run = render(&input);
        assert_eq!(run.code, Some(0), "{example}: {}", run.stderr);
        assert_eq!(run.stderr, "", "{example}");
        let got = without_times(&run.stdout);
        let golden = root().join(format!("tests/golden/{example}.rendered.yaml"));
        if std::env::var_os("VMCP_UPDATE_GOLDEN").is_some() {
            std::fs::write(&golden, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&golden).unwrap_or_else(|e| {
            panic!("{}: {e} (VMCP_UPDATE_GOLDEN=1 writes it)", golden.display())
        });
        if got != want {
            let first = got
                .lines()
                .zip(want.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(got.lines().count().min(want.lines().count()));
            panic!(
                "{example}: render differs from {} from line {}:\n  got:  {:?}\n  want: {:?}\n(VMCP_UPDATE_GOLDEN=1 rewrites it after an intended change)",
                golden.display(),
                first + 1,
                got.lines().nth(first),
                want.lines().nth(first),
            );
        }
    }
}

#[test]
fn a_virtual_server_that_cannot_be_rendered_fails_the_run_by_name() {
    let dir = scratch("render-refused");
    let input = dir.join("refused.yaml");
    std::fs::write(
        &input,
        "apiVersion: toolhive.stacklok.dev/v1beta1\nkind: MCPGroup\nmetadata: {name: team, namespace: tools}\nspec: {}\n---\n\
         apiVersion: toolhive.stacklok.dev/v1beta1\nkind: VirtualMCPServer\nmetadata: {name: gw, namespace: tools}\n\
         spec: {groupRef: {name: team}, incomingAuth: {type: anonymous}, config: {aggregation: {conflictResoluton: prefix}}}\n",
    )
    .unwrap();
    let run = render(&input);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(
        run.stderr.lines().collect::<Vec<_>>(),
        [
            "VirtualMCPServer tools/gw: not rendered: spec.config.aggregation.conflictResoluton: unknown field"
        ]
    );
    // The status the operator would write is still printed, and no object.
    assert!(
        run.stdout.contains("kind: VirtualMCPServer"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("kind: Deployment"), "{}", run.stdout);
}

#[test]
fn unreadable_input_is_one_clear_error() {
    let dir = scratch("render-bad-input");
    let missing = dir.join("missing.yaml");
    let run = render(&missing);
    assert_ne!(run.code, Some(0));
    assert!(
        run.stderr.contains(&missing.display().to_string()),
        "{}",
        run.stderr
    );
    let garbage = dir.join("garbage.yaml");
    std::fs::write(&garbage, "kind: [unclosed\n").unwrap();
    let run = render(&garbage);
    assert_ne!(run.code, Some(0));
    assert!(
        run.stderr.contains("garbage.yaml") && run.stdout.is_empty(),
        "{} / {}",
        run.stderr,
        run.stdout
    );
    let empty_dir = dir.join("empty");
    std::fs::create_dir_all(&empty_dir).unwrap();
    let run = render(&empty_dir);
    assert!(
        run.stderr.contains("no VirtualMCPServer found"),
        "{}",
        run.stderr
    );
}
