#!/usr/bin/env bash
# The whole of vmcp on one machine, no cluster needed: a real kube-apiserver + etcd, the CRDs,
# `vmcp operator`, two MCP servers (server-everything; the second behind TLS with a CA made for
# this run), the quickstart manifests (examples/quickstart/) and the gateway `vmcp serve`
# running the config the operator rendered. Prints the gateway's URL and the aggregated tool
# list, then stays up until Ctrl-C, which stops every process it started.
#
#   scripts/demo.sh            run until Ctrl-C
#   scripts/demo.sh --check    exit 0 right after the tool list (also when CI=true)
#
# First run: builds kube-apiserver and etcd from their Go modules (about ten minutes on two
# cores, cached under ~/.cache/vmcp), installs the MCP peers from npm/PyPI and builds vmcp
# (debug). Later runs reuse all of it.
#
# Environment: VMCP_CACHE_DIR (cache root), CARGO_TARGET_DIR (build output; default
# $VMCP_CACHE_DIR/target), VMCP_DEMO_PORT (gateway port; 4483 when free).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# Same caches as scripts/test.sh: the build output lives outside the checkout.
export VMCP_CACHE_DIR="${VMCP_CACHE_DIR:-$HOME/.cache/vmcp}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$VMCP_CACHE_DIR/target}"
start=$SECONDS
log() { printf 'demo.sh [%4ds]: %s\n' "$((SECONDS - start))" "$*" >&2; }

args=()
for a in "$@"; do
    case "$a" in
        --check) args+=(--check) ;;
        -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) log "unknown argument: $a (try --help)"; exit 2 ;;
    esac
done

log "kube-apiserver + etcd: building or reusing the cached binaries (first run: ~10 min)"
VMCP_TESTENV_BIN="$(scripts/testenv-build.sh)"
export VMCP_TESTENV_BIN

log "MCP peers: installing or reusing server-everything (first run: npm/PyPI downloads)"
# Installed here so its progress shows; the demo locates them with the same script (a cached
# run takes well under a second), as the tests do.
scripts/test-peers.sh >/dev/null

# The same build as scripts/test.sh (whole workspace, all targets, both test tiers), so the two
# commands share one set of artifacts: building only the binary would resolve features
# differently and compile every dependency a second time.
log "vmcp and the demo: cargo build --workspace --all-targets --features live (first run: several minutes of compiling)"
cargo build --workspace --all-targets --features live --locked
target_dir="$CARGO_TARGET_DIR"
VMCP_BIN="$target_dir/debug/vmcp"
export VMCP_BIN

log "demo: $target_dir/debug/examples/demo"
# exec: Ctrl-C and SIGTERM reach the demo, which stops its children.
exec "$target_dir/debug/examples/demo" "${args[@]}"
