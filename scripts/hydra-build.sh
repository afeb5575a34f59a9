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
# go.mod, go.sum and the build flags, as in scripts/testenv-build.sh.
#
# Environment:
#   VMCP_CACHE_DIR  cache root (default: $HOME/.cache/vmcp)
#
# Output: progress on stderr; the path of the hydra binary as the only line on stdout.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
module_dir=$(cd "$script_dir/../testenv/hydra" && pwd)
start=$SECONDS

log() { printf 'hydra-build [%4ds]: %s\n' "$((SECONDS - start))" "$*" >&2; }
die() { log "error: $*"; exit 1; }

version=$(awk '$1 == "github.com/ory/hydra/v2" && $2 ~ /^v/ { print $2; exit }' "$module_dir/go.mod")
[[ -n "$version" ]] || die "github.com/ory/hydra/v2 not found in $module_dir/go.mod"

# In-memory SQLite (`DSN=memory`) needs cgo and the sqlite tag, as Hydra's own build uses.
tags="sqlite,sqlite_omit_load_extension"
ldflags="-s -w -X github.com/ory/hydra/v2/driver/config.Version=$version"
recipe="hydra; CGO_ENABLED=1 -tags $tags -mod=readonly -trimpath $ldflags"
recipe_hash=$( { cat "$module_dir/go.mod" "$module_dir/go.sum"; printf '%s\n' "$recipe"; } | sha256sum | cut -c1-10)

cache_root="${VMCP_CACHE_DIR:-$HOME/.cache/vmcp}/hydra"
key="hydra-${version#v}-${recipe_hash}"
dest="$cache_root/$key"
bin="$dest/hydra"

binary_ok() { [[ "$("$1" version 2>/dev/null)" == *"$version"* ]]; }

if binary_ok "$bin"; then
    printf '%s\n' "$bin"
    exit 0
fi

command -v go >/dev/null 2>&1 || die "the Go toolchain is needed to build Hydra (see README: Requirements)"
command -v "${CC:-cc}" >/dev/null 2>&1 || die "a C compiler is needed to build Hydra's SQLite driver (Debian: gcc)"

mkdir -p "$cache_root"
exec 9>"$cache_root/.$key.lock"
if command -v flock >/dev/null 2>&1; then
    if ! flock -n 9; then
        log "another build of $key is running; waiting for it"
        flock 9
    fi
    if binary_ok "$bin"; then
        printf '%s\n' "$bin"
        exit 0
    fi
fi

tmp=$(mktemp -d "$cache_root/.$key.tmp.XXXXXX")
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT

cd "$module_dir"
log "building Hydra $version into $dest (a cold build takes ~5 min on 2 cores)..."
t=$SECONDS
( while sleep 30; do log "  still building Hydra ($((SECONDS - t))s so far)"; done ) &
ticker=$!
status=0
CGO_ENABLED=1 go build -mod=readonly -trimpath -tags "$tags" -ldflags "$ldflags" \
    -o "$tmp/hydra" github.com/ory/hydra/v2 >&2 || status=$?
kill "$ticker" 2>/dev/null
wait "$ticker" 2>/dev/null || true
((status == 0)) || die "building Hydra failed (is the Go module proxy reachable?)"
log "Hydra built in $((SECONDS - t))s"

binary_ok "$tmp/hydra" || die "the freshly built hydra does not report $version"
rm -rf "$dest"
mv -T "$tmp" "$dest" || binary_ok "$bin" || die "could not install into $dest"
trap - EXIT
printf '%s\n' "$bin"
