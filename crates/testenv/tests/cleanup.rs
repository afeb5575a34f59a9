//! Nothing outlives a test binary that is killed outright: no destructor runs after SIGKILL,
//! so only the PDEATHSIG of the server processes and the reaper (crates/testenv/src/process.rs)
//! stand between a killed test run and leftover etcd, kube-apiserver and
//! kube-controller-manager processes and temp dirs.
//!
//! The test runs this same test binary again as the "owner" (selected by an environment
//! variable), which starts the server and the controller manager, prints the server's temp
//! dir and then waits to be killed.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vmcp_testenv::TestEnv;

const OWNER_ENV: &str = "VMCP_TESTENV_CLEANUP_OWNER";
const DIR_LINE: &str = "vmcp-testenv-cleanup-dir=";

/// Pids of the processes whose command line names `dir` (every server process's does).
fn processes_naming(dir: &Path) -> Vec<u32> {
    let needle = dir.to_string_lossy().into_owned();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if String::from_utf8_lossy(&cmdline).contains(&needle) {
            pids.push(pid);
        }
    }
    pids
}

async fn be_the_owner() {
    let env = TestEnv::shared().await.expect("server");
    env.start_controller_manager()
        .await
        .expect("controller manager");
    println!("{DIR_LINE}{}", env.dir().display());
    tokio::time::sleep(Duration::from_secs(600)).await;
    panic!("the owner was not killed within 10 minutes");
}

#[tokio::test]
async fn a_killed_test_binary_leaves_no_process_and_no_temp_dir() {
    if std::env::var_os(OWNER_ENV).is_some() {
        return be_the_owner().await;
    }
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "a_killed_test_binary_leaves_no_process_and_no_temp_dir",
            "--nocapture",
        ])
        .env(OWNER_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut owner = vmcp_testenv::Process::spawn("the owner", command).unwrap();
    let stdout = owner.child_mut().stdout.take().unwrap();
    let dir = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|line| line.strip_prefix(DIR_LINE).map(PathBuf::from))
    })
    .await
    .unwrap()
    .expect("the owner printed its server's temp dir");

    let before = processes_naming(&dir);
    // etcd, kube-apiserver and kube-controller-manager (the reaper names the dir too).
    assert!(
        before.len() >= 3,
        "server processes of {}: {before:?}",
        dir.display()
    );
    assert!(dir.is_dir());

    // SIGKILL: no destructor, no atexit, no signal handler runs in the owner.
    owner.kill();

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = processes_naming(&dir);
        if left.is_empty() && !dir.exists() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "30 s after SIGKILL of the owner: processes {left:?} left, temp dir exists: {}",
            dir.exists()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
