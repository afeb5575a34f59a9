//! The `vmcp` processes as the operator's Deployments run them, for tests, benches and the
//! demo that start the real binary: one place that knows their flags and environment. These
//! build the [`Command`]; start it with [`vmcp_testenv::Process`].

use std::path::Path;
use std::process::Command;

use vmcp_testenv::free_port;

/// `vmcp operator` for namespace `ns` with the API credentials of `kubeconfig`: leader
/// election off, loopback entries allowed (every MCP server of the tests listens on
/// 127.0.0.1), health and metrics on a free loopback port.
pub fn operator_command(vmcp: &Path, kubeconfig: &Path, ns: &str) -> Command {
    let mut command = Command::new(vmcp);
    command
        .args(["operator", "--no-leader-election", "--watch-namespace", ns])
        .args(["--health-addr", &format!("127.0.0.1:{}", free_port())])
        .env("KUBECONFIG", kubeconfig)
        .env("VMCP_ALLOW_LOOPBACK_ENDPOINTS", "true");
    command
}

/// `vmcp serve` on config file `cfg` at 127.0.0.1:`port` for VirtualMCPServer `name` in `ns`,
/// with the API credentials of `kubeconfig` (`VMCP_NAME`, `VMCP_NAMESPACE`, `KUBECONFIG`, as
/// the operator's Deployment sets them).
pub fn serve_command(
    vmcp: &Path,
    cfg: &Path,
    port: u16,
    name: &str,
    ns: &str,
    kubeconfig: &Path,
) -> Command {
    let mut command = Command::new(vmcp);
    command
        .args(["serve", "--config"])
        .arg(cfg)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .env("VMCP_NAME", name)
        .env("VMCP_NAMESPACE", ns)
        .env("KUBECONFIG", kubeconfig)
        // Every MCP server of the tests, the demo and the benches listens on 127.0.0.1: the
        // gateway's counterpart of the operator's VMCP_ALLOW_LOOPBACK_ENDPOINTS.
        .env("VMCP_ALLOW_LOOPBACK_ENDPOINTS", "true");
    command
}
