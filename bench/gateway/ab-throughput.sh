#!/usr/bin/env bash
# Side-by-side throughput of two or more gateway binaries on a noisy machine: runs
# `vmcp-bench-gateway throughput` once per binary per round, alternating, and prints the
# "client → gateway → backend" row of each run prefixed with the round and the binary.
#
#   bench/gateway/ab-throughput.sh ROUNDS BENCH VMCP_A VMCP_B [VMCP_C ...]
#
# Environment: SECONDS_PER_RUN (default 8), CONCURRENCY (default 16).
set -euo pipefail
rounds=$1 bench=$2
shift 2
for i in $(seq 1 "$rounds"); do
  for vmcp in "$@"; do
    out=$("$bench" throughput --seconds "${SECONDS_PER_RUN:-8}" \
      --concurrency "${CONCURRENCY:-16}" --vmcp "$vmcp")
    echo "$i $vmcp $(printf '%s\n' "$out" | grep 'gateway → backend')"
  done
done
