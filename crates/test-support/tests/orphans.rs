//! A child started through the launcher does not outlive a test binary that is SIGKILLed
//! (no destructor, no handler runs): the test starts its own binary again as the "owner",
//! which launches a long `sleep` with `Process::spawn` from a test thread and prints its pid;
//! the owner is killed, and the sleep must be gone within seconds. (With a plain
//! `Command::spawn`, or the launcher's PDEATHSIG removed, the sleep is left running.)

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vmcp_test_support::Process;

const OWNER_ENV: &str = "VMCP_TEST_SUPPORT_ORPHANS_OWNER";
const PID_LINE: &str = "sleep pid: ";

/// Whether `pid` runs (a zombie, waiting for an init that may never reap it, counts as gone).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat.rsplit_once(") ").map_or("", |(_, rest)| rest);
        !state.starts_with('Z') && !state.starts_with('X')
    })
}

#[test]
fn a_launched_child_dies_with_a_killed_test_binary() {
    if std::env::var_os(OWNER_ENV).is_some() {
        let mut sleep = Command::new("sleep");
        sleep.arg("600");
        let child = Process::spawn("sleep", sleep).unwrap();
        println!("{PID_LINE}{}", child.id());
        std::thread::sleep(Duration::from_secs(600));
        panic!("the owner was not killed within 10 minutes");
    }
    let mut owner = Command::new(std::env::current_exe().unwrap());
    owner
        .args([
            "--exact",
            "a_launched_child_dies_with_a_killed_test_binary",
            "--nocapture",
        ])
        .env(OWNER_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut owner = Process::spawn("the owner", owner).unwrap();
    let stdout = owner.child_mut().stdout.take().unwrap();
    let pid: u32 = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix(PID_LINE).and_then(|p| p.trim().parse().ok()))
        .expect("the owner printed the pid of its child");
    assert!(running(pid), "the owner's child runs");

    // SIGKILL, and reaped: nothing of the owner runs any more.
    owner.kill();
    let deadline = Instant::now() + Duration::from_secs(10);
    while running(pid) {
        assert!(
            Instant::now() < deadline,
            "the owner's child {pid} still runs 10 s after the owner was killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
