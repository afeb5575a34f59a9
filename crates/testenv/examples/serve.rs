//! Starts the test API server and keeps it running until Enter or Ctrl-C,
//! for poking at it by hand (`KUBECONFIG=... kubectl ...`) and for measuring
//! its start-up time and memory (docs/TESTING.md).
//!
//! `cargo run -p vmcp-testenv --example serve [-- --crds] [--controller-manager]`;
//! `--crds` also installs the project's CRDs from `deploy/crds/`,
//! `--controller-manager` starts kube-controller-manager (garbage collector,
//! namespace and ServiceAccount controllers).

use std::io::BufRead;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let env = vmcp_testenv::TestEnv::shared().await?;
    let version = env.client()?.apiserver_version().await?;
    println!("version:   {}", version.git_version);
    println!(
        "startup:   {:.2?} (spawn etcd -> /readyz ok)",
        env.startup_time()
    );
    if std::env::args().any(|arg| arg == "--crds") {
        let crds = env.install_crds().await?;
        println!("crds:      {} installed", crds.len());
    }
    if std::env::args().any(|arg| arg == "--controller-manager") {
        let took = env.start_controller_manager().await?;
        println!("kube-controller-manager: working after {took:.2?}");
    }
    println!("dir:       {}", env.dir().display());
    println!("KUBECONFIG={}", env.kubeconfig_path().display());
    println!("press Enter (or close stdin) to stop");
    tokio::task::spawn_blocking(|| {
        let _ = std::io::stdin().lock().lines().next();
    })
    .await
    .ok();
    Ok(())
}
