#!/usr/bin/env bash
# Installs the real MCP peers that the gateway's integration tests talk to, into a
# cache directory outside the repository, and prints where they are.
#
#   - @modelcontextprotocol/server-everything (npm): the reference MCP server, run as a
#     streamable-HTTP backend and as a legacy SSE backend;
#   - the official Python SDK `mcp` (PyPI) in a virtualenv: a real MCP client.
#
# Why a cache outside the repo: `cargo clean` must not throw it away and several
# checkouts can share it. The cache key is the pinned version, so bumping a pin below
# installs a fresh copy next to the old one. A second run with everything present
# does no network work and returns in well under a second.
#
# Environment:
#   VMCP_CACHE_DIR  cache root (default: $HOME/.cache/vmcp)
#
# Output: progress on stderr; on stdout, shell-style lines the tests read:
#   SERVER_EVERYTHING=<path to dist/index.js>
#   NODE=<path to node>
#   PYTHON=<path to the venv's python with mcp installed>
set -euo pipefail

SERVER_EVERYTHING_VERSION=2026.8.31
PY_MCP_VERSION=1.27.0

start=$SECONDS
log() { printf 'test-peers [%3ds]: %s\n' "$((SECONDS - start))" "$*" >&2; }
die() { log "error: $*"; exit 1; }

root="${VMCP_CACHE_DIR:-$HOME/.cache/vmcp}/peers"
npm_dir="$root/npm/server-everything-$SERVER_EVERYTHING_VERSION"
venv="$root/python/mcp-$PY_MCP_VERSION"

command -v node >/dev/null || die "node is required (Debian: apt-get install nodejs npm)"
command -v npm >/dev/null || die "npm is required"
command -v python3 >/dev/null || die "python3 is required"

# --- server-everything -----------------------------------------------------
entry="$npm_dir/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
if [[ -f "$entry" && -f "$npm_dir/.complete" ]]; then
    log "server-everything $SERVER_EVERYTHING_VERSION present"
else
    log "installing @modelcontextprotocol/server-everything@$SERVER_EVERYTHING_VERSION into $npm_dir"
    rm -rf "$npm_dir"
    mkdir -p "$npm_dir"
    printf '{"name":"vmcp-test-peers","private":true}\n' >"$npm_dir/package.json"
    npm install --prefix "$npm_dir" --no-audit --no-fund --loglevel=error \
        "@modelcontextprotocol/server-everything@$SERVER_EVERYTHING_VERSION" >&2
    [[ -f "$entry" ]] || die "install finished but $entry is missing"
    touch "$npm_dir/.complete"
fi

# --- Python SDK ------------------------------------------------------------
py="$venv/bin/python"
if [[ -x "$py" && -f "$venv/.complete" ]]; then
    log "python mcp $PY_MCP_VERSION present"
else
    log "creating venv with mcp==$PY_MCP_VERSION in $venv"
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check "mcp==$PY_MCP_VERSION" >&2
    "$py" -c 'import mcp.client.streamable_http' || die "mcp import failed in $venv"
    touch "$venv/.complete"
fi

log "done"
echo "SERVER_EVERYTHING=$entry"
echo "NODE=$(command -v node)"
echo "PYTHON=$py"
echo "BIND_LOOPBACK=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/bind-loopback.cjs"
