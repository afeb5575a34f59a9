//! The shared server belongs to the test binary, not to the test that
//! happened to start it. `#[tokio::test]` gives every test its own runtime
//! and thread; if the server processes were tied to the first one (on Linux,
//! PR_SET_PDEATHSIG fires when the spawning *thread* exits), every later test
//! would find a dead server. This file is its own test binary with this single
//! test, so it is certain to be the one that starts the server.

use std::{thread, time::Duration};

use vmcp_testenv::TestEnv;

fn on_a_fresh_thread_and_runtime() -> String {
    thread::spawn(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let env = TestEnv::shared().await.unwrap();
            env.namespace("lifetime").await.unwrap()
        })
        // The runtime, its blocking pool and this thread all end here.
    })
    .join()
    .unwrap()
}

#[test]
fn server_outlives_the_thread_and_runtime_that_started_it() {
    let first = on_a_fresh_thread_and_runtime();
    // Give a kernel-delivered SIGKILL time to land if it were coming.
    thread::sleep(Duration::from_secs(1));
    let second = on_a_fresh_thread_and_runtime();
    assert_ne!(first, second);
}
