#!/usr/bin/env bash
# Runs every test of the project on a fresh machine or a warm one.
#
# It installs what the tests need (nothing by hand): the real kube-apiserver and etcd built from
# their Go modules, and the MCP test peers from npm and PyPI. Everything is cached outside the
# repository under $VMCP_CACHE_DIR (default ~/.cache/vmcp), so the second run is fast.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export VMCP_CACHE_DIR="${VMCP_CACHE_DIR:-$HOME/.cache/vmcp}"
# Build output is a cache too: outside the checkout, shared with scripts/demo.sh.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$VMCP_CACHE_DIR/target}"
# A CI run is one cold build: incremental state would only add gigabytes of disk.
if [[ "${CI:-}" == "true" ]]; then export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"; fi
start=$SECONDS
step() { printf '\n==> [%4ds] %s\n' "$((SECONDS - start))" "$*" >&2; }

for tool in cargo go; do
    command -v "$tool" >/dev/null || { echo "error: '$tool' is required (see README: Requirements)" >&2; exit 1; }
done

# ToolHive's own example manifests are not part of the repository; where a checkout has them
# beside it (../shared/compat/toolhive), the compatibility tests read them as well as our own
# manifests in their shapes (tests/fixtures/toolhive-shapes), which they always read.
if [[ -z "${VMCP_TOOLHIVE_SAMPLES:-}" && -d ../shared/compat/toolhive ]]; then
    VMCP_TOOLHIVE_SAMPLES="$(cd ../shared/compat/toolhive && pwd)"
    export VMCP_TOOLHIVE_SAMPLES
fi
if [[ -z "${VMCP_TOOLHIVE_SAMPLES:-}" ]]; then
    echo "toolhive samples: skipped (VMCP_TOOLHIVE_SAMPLES not set; the check reads ToolHive's example manifests when they are beside the checkout)" >&2
elif [[ -d "$VMCP_TOOLHIVE_SAMPLES" ]]; then
    echo "toolhive samples: reading $VMCP_TOOLHIVE_SAMPLES" >&2
else
    echo "toolhive samples: skipped (VMCP_TOOLHIVE_SAMPLES=$VMCP_TOOLHIVE_SAMPLES is not a directory)" >&2
fi

mkdir -p "$CARGO_TARGET_DIR"
free_gb=$(( $(df -Pk "$CARGO_TARGET_DIR" | awk 'NR==2 {print $4}') / 1048576 ))
echo "build output: $CARGO_TARGET_DIR (${free_gb} GB free; a cold build needs about 8 GB)" >&2
if (( free_gb < 8 )); then
    echo "warning: less than 8 GB free under $CARGO_TARGET_DIR; the build may fail for lack of disk" >&2
fi

step "kube-apiserver, kube-controller-manager and etcd for integration tests (cold build ~10 min on 2 cores, then cached)"
VMCP_TESTENV_BIN="$(scripts/testenv-build.sh)"
export VMCP_TESTENV_BIN

if [[ -x scripts/test-peers.sh ]]; then
    step "MCP test peers from npm and PyPI (cached)"
    scripts/test-peers.sh >/dev/null
fi

step "Keycloak 26.7.3 from Maven Central and a JDK 21+ for the OIDC tests (cached)"
scripts/keycloak.sh >/dev/null

step "Ory Hydra from its Go module for the introspection tests (cold build ~5 min on 2 cores, then cached)"
VMCP_HYDRA_BIN="$(scripts/hydra-build.sh)"
export VMCP_HYDRA_BIN

step "Jaeger from its Go module for the trace tests (cold build ~6 min on 2 cores, then cached)"
VMCP_JAEGER_BIN="$(scripts/jaeger-build.sh)"
export VMCP_JAEGER_BIN

if [[ -x scripts/conformance-peers.sh ]]; then
    step "MCP conformance suite and Node 22 from npm (cached)"
    scripts/conformance-peers.sh >/dev/null
fi

if cargo fmt --version >/dev/null 2>&1; then
    step "cargo fmt --check (house style; run 'cargo fmt --all' to fix)"
    cargo fmt --all --check
fi

# Both tiers: the fast one (what plain `cargo test` runs) and the live one, the tests that start
# real processes, which `--features live` turns on (docs/TESTING.md, "Tiers").
if cargo clippy --version >/dev/null 2>&1; then
    step "cargo clippy (workspace, all targets, warnings are errors)"
    cargo clippy --workspace --locked --all-targets --features live -- -D warnings
fi

step "cargo build (workspace, tests of both tiers included)"
cargo build --workspace --locked --all-targets --features live

step "cargo test (fast and live tiers)"
cargo test --workspace --locked --no-fail-fast --features live

step "quickstart demo, check mode (the README's first command, run to the tool list)"
scripts/demo.sh --check

step "all tests passed"
