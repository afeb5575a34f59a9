//! `vmcp`: one binary for the gateway, the operator and their tools.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "vmcp", version, about = "Kubernetes-native Virtual MCP Server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print every CRD as YAML, or write one file per CRD into a directory.
    Crds {
        /// Write `<group>_<plural>.yaml` files into this directory instead of printing.
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
    /// Check a gateway config file: print every problem with its path, or a short summary.
    Validate {
        /// Path of the gateway's config.yaml.
        #[arg(short, long)]
        config: PathBuf,
    },
    /// Run the gateway: serve the aggregated MCP endpoint at /mcp.
    Serve {
        /// Path of the gateway's config.yaml.
        #[arg(short, long)]
        config: PathBuf,
        /// Address to bind.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// Port to bind.
        #[arg(long, default_value_t = 4483)]
        port: u16,
        /// Debug logging.
        #[arg(long)]
        debug: bool,
        /// Largest request body accepted at /mcp, in bytes (larger ones get HTTP 413).
        #[arg(long, default_value_t = vmcp_gateway::DEFAULT_BODY_LIMIT, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1024..=1024 * 1024 * 1024))]
        max_body_bytes: usize,
        #[command(flatten)]
        limits: LimitFlags,
        /// Host names (`name` or `name:port`) the gateway answers to besides localhost and IP
        /// addresses; comma-separated or repeated, added to those of VMCP_ALLOWED_HOSTS. Any
        /// other Host gets HTTP 403.
        #[arg(long, value_delimiter = ',')]
        allowed_hosts: Vec<String>,
        /// Browser origins (`scheme://host[:port]`) allowed besides loopback ones;
        /// comma-separated or repeated, added to those of VMCP_ALLOWED_ORIGINS. A request with
        /// any other Origin gets HTTP 403.
        #[arg(long, value_delimiter = ',')]
        allowed_origins: Vec<String>,
        /// Let entries with allowPrivateEndpoint reach loopback addresses (127.0.0.0/8, ::1);
        /// local development and tests only, as the operator's flag of the same name.
        #[arg(long, env = "VMCP_ALLOW_LOOPBACK_ENDPOINTS")]
        allow_loopback_endpoints: bool,
    },
    /// Run the operator: the MCPGroup, MCPServerEntry and VirtualMCPServer controllers.
    Operator(vmcp_operator::run::OperatorArgs),
    /// Print the objects the operator would create for manifests, without a cluster.
    Render {
        /// A manifest file, or a directory of *.yaml / *.yml / *.json manifests.
        #[arg(short = 'f', long = "filename")]
        path: PathBuf,
    },
    /// Print the version.
    Version,
}

/// The gateway's resource bounds (`docs/GATEWAY.md`, "Limits"); each flag can also be set by
/// its `VMCP_` variable, as a Deployment sets them.
#[derive(clap::Args)]
struct LimitFlags {
    /// Client connections served at once (lowered to fit the file-descriptor limit); more wait
    /// in the listen backlog while the longest-idle connection is closed to make room.
    #[arg(long, env = "VMCP_MAX_CONNECTIONS", default_value_t = vmcp_gateway::limits::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Time a client has to send a request head (Go-style duration, e.g. 10s).
    #[arg(long, env = "VMCP_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = duration)]
    header_read_timeout: Duration,
    /// Time a kept-alive connection may wait for its next request.
    #[arg(long, env = "VMCP_IDLE_TIMEOUT", default_value = "60s", value_parser = duration)]
    idle_timeout: Duration,
    /// Time a client has to send a request body once its head arrived (then HTTP 408).
    #[arg(long, env = "VMCP_BODY_READ_TIMEOUT", default_value = "30s", value_parser = duration)]
    body_read_timeout: Duration,
    /// Client sessions held at once (then initialize gets HTTP 503).
    #[arg(long, env = "VMCP_MAX_SESSIONS", default_value_t = vmcp_gateway::limits::DEFAULT_MAX_SESSIONS)]
    max_sessions: usize,
    /// Life of a session that makes no request after initialize.
    #[arg(long, env = "VMCP_UNUSED_SESSION_TTL", default_value = "60s", value_parser = duration)]
    unused_session_ttl: Duration,
    /// Client sessions with backend sessions of their own (sampling, elicitation, roots,
    /// logging/setLevel) held at once.
    #[arg(long, env = "VMCP_MAX_DEDICATED_SESSIONS", default_value_t = vmcp_gateway::limits::DEFAULT_MAX_DEDICATED_SESSIONS)]
    max_dedicated_sessions: usize,
    /// Backend reply bytes buffered at once across all calls.
    #[arg(long, env = "VMCP_REPLY_BUDGET_BYTES", default_value_t = vmcp_gateway::limits::DEFAULT_REPLY_BUDGET_BYTES)]
    reply_budget_bytes: usize,
    /// Largest single backend reply, in bytes.
    #[arg(long, env = "VMCP_MAX_REPLY_BYTES", default_value_t = vmcp_gateway::limits::DEFAULT_MAX_REPLY_BYTES)]
    max_reply_bytes: usize,
    /// Entries per page of the tool, resource, template and prompt lists the gateway answers
    /// (clients follow `nextCursor`).
    #[arg(long, env = "VMCP_LIST_PAGE_SIZE", default_value_t = vmcp_gateway::limits::DEFAULT_LIST_PAGE_SIZE)]
    list_page_size: usize,
}

impl From<LimitFlags> for vmcp_gateway::Limits {
    fn from(f: LimitFlags) -> Self {
        vmcp_gateway::Limits {
            max_connections: f.max_connections,
            header_read_timeout: f.header_read_timeout,
            idle_timeout: f.idle_timeout,
            body_read_timeout: f.body_read_timeout,
            max_sessions: f.max_sessions,
            unused_session_ttl: f.unused_session_ttl,
            max_dedicated_sessions: f.max_dedicated_sessions,
            reply_budget_bytes: f.reply_budget_bytes,
            max_reply_bytes: f.max_reply_bytes,
            list_page_size: f.list_page_size,
        }
    }
}

fn duration(s: &str) -> Result<Duration, String> {
    let d = vmcp_config::GoDuration::parse(s).map_err(|e| e.to_string())?;
    if d.is_zero() {
        return Err("must be greater than zero".into());
    }
    Ok(d.0)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Crds { out_dir } => crds(out_dir)?,
        Command::Validate { config } => return Ok(validate(&config)),
        Command::Serve {
            config,
            host,
            port,
            debug,
            max_body_bytes,
            limits,
            allowed_hosts,
            allowed_origins,
            allow_loopback_endpoints,
        } => {
            let opts = vmcp_gateway::ServeOptions {
                config,
                host,
                port,
                debug,
                max_body_bytes,
                limits: limits.into(),
                allowed_hosts: with_env_list(allowed_hosts, "VMCP_ALLOWED_HOSTS"),
                allowed_origins: with_env_list(allowed_origins, "VMCP_ALLOWED_ORIGINS"),
                allow_loopback_endpoints,
            };
            vmcp_gateway::run_with(opts, vmcp_gateway_kube::attach)?
        }
        Command::Operator(args) => vmcp_operator::run::main_blocking(args)?,
        Command::Render { path } => {
            if !vmcp_operator::offline::print_render(&path)? {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Version => println!("vmcp {}", env!("CARGO_PKG_VERSION")),
    }
    Ok(ExitCode::SUCCESS)
}

/// The flag's entries plus the variable's: the operator passes the Service's names as flags,
/// and a `podTemplateSpec` can add more through the env var (env vars merge by name, args do
/// not) without repeating them.
fn with_env_list(mut from_flags: Vec<String>, var: &str) -> Vec<String> {
    if let Ok(v) = std::env::var(var) {
        from_flags.extend(v.split(',').map(str::to_owned));
    }
    from_flags
}

fn crds(out_dir: Option<PathBuf>) -> anyhow::Result<()> {
    for crd in vmcp_api::crd::all_crds() {
        let yaml = vmcp_api::crd::to_yaml(&crd)?;
        match &out_dir {
            Some(dir) => {
                let path = dir.join(vmcp_api::crd::file_name(&crd));
                std::fs::write(&path, yaml)
                    .with_context(|| format!("writing {}", path.display()))?;
                eprintln!("wrote {}", path.display());
            }
            None => print!("{yaml}"),
        }
    }
    Ok(())
}

/// Exit codes: 0 valid (warnings allowed), 1 invalid or unreadable. Unknown keys are reported
/// with the rule problems of the rest of the file, so one run shows everything to fix.
fn validate(path: &std::path::Path) -> ExitCode {
    let (config, report) = match vmcp_config::check_file(path) {
        Ok(checked) => checked,
        Err(err) => {
            eprintln!("{}: {err}", path.display());
            return ExitCode::FAILURE;
        }
    };
    // `check_file` ran the same rules `vmcp serve` starts from, Cedar policies parsed included.
    for problem in &report.problems {
        eprintln!("{}: {}: {problem}", path.display(), problem.severity);
    }
    if report.has_errors() {
        let errors = report.errors().count();
        eprintln!(
            "{}: invalid ({errors} error{})",
            path.display(),
            if errors == 1 { "" } else { "s" }
        );
        return ExitCode::FAILURE;
    }
    println!("{}: valid: {}", path.display(), config.summary());
    ExitCode::SUCCESS
}
