#!/usr/bin/env bash
# Installs the real MCP peers that the gateway's integration tests talk to, into a
# cache directory outside the repository, and prints where they are.
#
#   - @modelcontextprotocol/server-everything (npm): the reference MCP server, run as a
#     streamable-HTTP backend and as a legacy SSE backend;
#   - the official Python SDK `mcp` (PyPI) in a virtualenv: a real MCP client (1.x, the
#     2025 revisions), and 2.x in a second one: client and server of both 2025-11-25 and
#     2026-07-28.
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
#   PYTHON_MODERN=<path to the venv's python with mcp 2.x installed>
set -euo pipefail

SERVER_EVERYTHING_VERSION=2026.8.31
PY_MCP_VERSION=1.27.0
PY_MCP_MODERN_VERSION=2.3.0

start=$SECONDS
log() { printf 'test-peers [%3ds]: %s\n' "$((SECONDS - start))" "$*" >&2; }
die() { log "error: $*"; exit 1; }

root="${VMCP_CACHE_DIR:-$HOME/.cache/vmcp}/peers"
npm_dir="$root/npm/server-everything-$SERVER_EVERYTHING_VERSION"
venv="$root/python/mcp-$PY_MCP_VERSION"
modern_venv="$root/python/mcp-$PY_MCP_MODERN_VERSION"

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
# venv DIR VERSION IMPORT: a virtualenv in DIR with mcp==VERSION, checked by importing IMPORT.
venv() {
    local dir=$1 version=$2 import=$3
    if [[ -x "$dir/bin/python" && -f "$dir/.complete" ]]; then
        log "python mcp $version present"
        return
    fi
    log "creating venv with mcp==$version in $dir"
    rm -rf "$dir"
    mkdir -p "$(dirname "$dir")"
    python3 -m venv "$dir" >&2
    "$dir/bin/pip" install --quiet --disable-pip-version-check "mcp==$version" >&2
    "$dir/bin/python" -c "import $import" || die "mcp import failed in $dir"
    touch "$dir/.complete"
}
venv "$venv" "$PY_MCP_VERSION" mcp.client.streamable_http
venv "$modern_venv" "$PY_MCP_MODERN_VERSION" "mcp.client.client, mcp.server.mcpserver"
py="$venv/bin/python"
py_modern="$modern_venv/bin/python"

log "done"
echo "SERVER_EVERYTHING=$entry"
echo "NODE=$(command -v node)"
echo "PYTHON=$py"
echo "PYTHON_MODERN=$py_modern"
echo "BIND_LOOPBACK=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/bind-loopback.cjs"
