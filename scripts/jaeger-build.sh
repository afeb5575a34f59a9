#!/usr/bin/env bash
# Builds Jaeger (the all-in-one `jaeger` binary: OTLP receiver, in-memory storage, HTTP query
# API), the trace backend of the gateway's OpenTelemetry tests, from the Go module in
# testenv/jaeger/, into a cache directory outside the repository, and prints the binary's
# path on stdout (progress on stderr). The cache key is Jaeger's version read from
# testenv/jaeger/go.mod plus a hash of go.mod, go.sum and the build flags.
#
# Environment:
#   VMCP_CACHE_DIR  cache root (default: $HOME/.cache/vmcp)
set -euo pipefail
# shellcheck source=lib/go-tool-build.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/go-tool-build.sh"
go_tool_build jaeger Jaeger github.com/jaegertracing/jaeger \
    github.com/jaegertracing/jaeger/cmd/jaeger 0 "" \
    "-s -w -X github.com/jaegertracing/jaeger/internal/version.latestVersion=@VERSION@" \
    version 6
