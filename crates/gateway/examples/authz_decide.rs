//! Microbenchmark of one Cedar decision as the gateway makes it for a `tools/call`, in a
//! tight loop (so with hot caches: a lower bound of what a request pays).
//!
//! ```text
//! cargo run --release -p vmcp-gateway --example authz_decide [POLICY_FILE]
//! ```
//!
//! `POLICY_FILE` holds one policy per line (default: `permit(principal, action, resource);`).
//! Prints the time per decision evaluated every time (a principal that is not remembered)
//! and per remembered decision (the anonymous principal, no policy reading arguments).

use std::time::Instant;

use vmcp_config::{AuthzConfig, AuthzType};
use vmcp_gateway::authz::{Authorizer, ClaimMapping, Principal, Target, ToolHints};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let policies: Vec<String> = match std::env::args().nth(1) {
        Some(path) => std::fs::read_to_string(path)?
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned)
            .collect(),
        None => vec!["permit(principal, action, resource);".into()],
    };
    let cfg = AuthzConfig {
        authz_type: Some(AuthzType::Cedar),
        policies,
        ..AuthzConfig::default()
    };
    let set = cfg
        .parse_cedar()
        .map_err(|e| format!("policies do not parse: {e:?}"))?;
    let a = Authorizer::new(set, &cfg, "bench")?;
    let claims = serde_json::json!({"sub": "anonymous", "iss": "toolhive-local"});
    let fresh = Principal::from_claims(
        claims.as_object().ok_or("claims")?,
        &ClaimMapping::default(),
    )?;
    let args = serde_json::json!({"text": "hello"});
    let n = 20_000;
    for (what, who) in [("evaluated", &fresh), ("remembered", a.anonymous())] {
        let t = Instant::now();
        let mut allowed = 0;
        for i in 0..n {
            let name = if i % 2 == 0 { "b0_t0" } else { "b0_t1" };
            let target = Target::tool(name, ToolHints::default(), args.as_object());
            allowed += usize::from(a.allows(who, &target));
        }
        println!(
            "{what}: {:.2} µs per decision ({allowed} of {n} allowed)",
            t.elapsed().as_secs_f64() * 1e6 / n as f64
        );
    }
    Ok(())
}
