#!/usr/bin/env bash
# Builds Ory Hydra, the OAuth 2.0 server that issues the opaque access tokens of the gateway's
# RFC 7662 introspection tests, from the Go module in testenv/hydra/, into a cache directory
# outside the repository, and prints the binary's path on stdout.
#
# Why Hydra: Keycloak (the other identity provider of the tests) issues JWT access tokens
# only, and the gateway introspects only tokens that are not JWTs. Hydra's default access
# tokens are opaque (`ory_at_...`), and its admin API introspects them.
#
# The cache key is Hydra's version read from testenv/hydra/go.mod plus a short hash of
# go.mod, go.sum and the build flags (scripts/lib/go-tool-build.sh).
#
# Environment:
#   VMCP_CACHE_DIR  cache root (default: $HOME/.cache/vmcp)
#
# Output: progress on stderr; the path of the hydra binary as the only line on stdout.
set -euo pipefail
# shellcheck source=lib/go-tool-build.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/go-tool-build.sh"
# In-memory SQLite (`DSN=memory`) needs cgo and the sqlite tag, as Hydra's own build uses.
go_tool_build hydra Hydra github.com/ory/hydra/v2 github.com/ory/hydra/v2 1 \
    "sqlite,sqlite_omit_load_extension" \
    "-s -w -X github.com/ory/hydra/v2/driver/config.Version=@VERSION@" \
    version 5
