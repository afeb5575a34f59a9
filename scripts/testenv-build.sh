#!/usr/bin/env bash
# Builds the real kube-apiserver, kube-controller-manager and etcd that vmcp's
# integration tests run against, from the Go module in testenv/, into a cache
# directory outside the repository, and prints that bin directory on stdout.
#
# Why a cache outside the repo: a cold build takes minutes, `cargo clean` must
# not throw it away, and several checkouts of the project can share it.
# The cache key is the pair of versions read from testenv/go.mod, the one place
# they are pinned, plus a short hash of everything else that decides what gets
# built (go.mod, go.sum, the list of binaries and their flags): bumping a
# version or a dependency builds a fresh set, an unchanged module reuses it.
#
# Environment:
#   VMCP_CACHE_DIR  cache root (default: $HOME/.cache/vmcp)
#
# Output: progress on stderr; the bin directory (holding kube-apiserver and
# etcd) as the only line on stdout, so callers can capture it.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
module_dir=$(cd "$script_dir/../testenv" && pwd)
start=$SECONDS

log() { printf 'testenv-build [%4ds]: %s\n' "$((SECONDS - start))" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- versions: the single source of truth is testenv/go.mod -----------------
module_version() {
    # Matches "	<module> vX.Y.Z" in a require block or a one-line require.
    awk -v m="$1" '($1 == m && $2 ~ /^v/) { print $2; exit } ($1 == "require" && $2 == m) { print $3; exit }' \
        "$module_dir/go.mod"
}
k8s_version=$(module_version k8s.io/kubernetes)
etcd_version=$(module_version go.etcd.io/etcd/server/v3)
[[ -n "$k8s_version" ]] || die "k8s.io/kubernetes not found in $module_dir/go.mod"
[[ -n "$etcd_version" ]] || die "go.etcd.io/etcd/server/v3 not found in $module_dir/go.mod"

# What is built and how; part of the cache key (see the header).
recipe="kube-apiserver kube-controller-manager etcd; CGO_ENABLED=0 -mod=readonly -trimpath -s -w; version stamps v2"
recipe_hash=$( { cat "$module_dir/go.mod" "$module_dir/go.sum"; printf '%s\n' "$recipe"; } | sha256sum | cut -c1-10)

cache_root="${VMCP_CACHE_DIR:-$HOME/.cache/vmcp}/testenv"
key="k8s-${k8s_version#v}-etcd-${etcd_version#v}-${recipe_hash}"
dest="$cache_root/$key"
bin="$dest/bin"

# --- fast path: binaries present and they run ---------------------------------
# Checking `--version` output (not just existence) catches a truncated or
# foreign binary and a directory built from different versions.
binaries_ok() {
    local dir=$1 out
    for k in kube-apiserver kube-controller-manager; do
        out=$("$dir/$k" --version 2>/dev/null) || return 1
        [[ "$out" == *"$k8s_version"* ]] || return 1
    done
    out=$("$dir/etcd" --version 2>/dev/null) || return 1
    [[ "$out" == *"${etcd_version#v}"* ]] || return 1
}

if binaries_ok "$bin"; then
    printf '%s\n' "$bin"
    exit 0
fi

# --- slow path: build ---------------------------------------------------------
command -v go >/dev/null 2>&1 ||
    die "the Go toolchain is needed to build kube-apiserver and etcd (Go >= 1.25; see docs/TESTING.md), or set VMCP_TESTENV_BIN to a directory holding both binaries"

mkdir -p "$cache_root"

# Serialise concurrent builders (two test binaries, two checkouts): the second
# waits and then finds the first one's result on the fast path.
exec 9>"$cache_root/.$key.lock"
if command -v flock >/dev/null 2>&1; then
    if ! flock -n 9; then
        log "another build of $key is running; waiting for it"
        flock 9
    fi
    if binaries_ok "$bin"; then
        printf '%s\n' "$bin"
        exit 0
    fi
fi

tmp=$(mktemp -d "$cache_root/.$key.tmp.XXXXXX")
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT

# Reproducible, small, static binaries: no local paths, no symbol tables, no
# cgo (so no C toolchain is needed). -mod=readonly on the command line wins
# over any GOFLAGS in the caller's environment and fails loudly instead of
# silently rewriting the committed go.mod/go.sum.
export CGO_ENABLED=0
goflags=(-mod=readonly -trimpath)

# kube-apiserver reports this version on /version and `--version`; without it
# the binary claims v0.0.0-master. Kubernetes' own build sets the same vars
# (hack/lib/version.sh).
k8s_minor=${k8s_version#v1.}
k8s_minor=${k8s_minor%%.*}
k8s_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    k8s_ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor -X $pkg.gitTreeState=clean"
done

# `go build` prints nothing while it compiles (minutes for kube-apiserver), so
# a background ticker says it is still working, every 30 s, until it returns.
with_heartbeat() {
    local what=$1 started=$SECONDS ticker
    shift
    ( while sleep 30; do log "  still building $what ($((SECONDS - started))s so far)"; done ) &
    ticker=$!
    local status=0
    "$@" || status=$?
    kill "$ticker" 2>/dev/null
    wait "$ticker" 2>/dev/null || true
    return "$status"
}

cd "$module_dir"
log "building $key into $dest (a cold build takes ~8-12 min on 2 cores and ~2.5 GB of Go caches; later builds reuse them)"

log "fetching Go module sources (first time only)..."
t=$SECONDS
go list "${goflags[@]}" -deps k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager go.etcd.io/etcd/server/v3 >/dev/null ||
    die "fetching Go modules failed in $module_dir (is the Go module proxy reachable?)"
log "sources ready in $((SECONDS - t))s"

log "building etcd $etcd_version (cold build takes ~1-2 min on 2 cores)..."
t=$SECONDS
with_heartbeat etcd go build "${goflags[@]}" -ldflags="-s -w" -o "$tmp/bin/etcd" go.etcd.io/etcd/server/v3 >&2 ||
    die "building etcd failed"
log "etcd built in $((SECONDS - t))s"

log "building kube-apiserver $k8s_version (cold build takes ~8 min on 2 cores)..."
t=$SECONDS
with_heartbeat kube-apiserver go build "${goflags[@]}" -ldflags="$k8s_ldflags" -o "$tmp/bin/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver >&2 ||
    die "building kube-apiserver failed"
log "kube-apiserver built in $((SECONDS - t))s"

# Only the garbage collector, namespace and ServiceAccount controllers are run
# (crates/testenv), so tests can watch owner references do their work.
log "building kube-controller-manager $k8s_version (~2 min more, most packages are shared with kube-apiserver)..."
t=$SECONDS
with_heartbeat kube-controller-manager go build "${goflags[@]}" -ldflags="$k8s_ldflags" -o "$tmp/bin/kube-controller-manager" k8s.io/kubernetes/cmd/kube-controller-manager >&2 ||
    die "building kube-controller-manager failed"
log "kube-controller-manager built in $((SECONDS - t))s"

binaries_ok "$tmp/bin" || die "the freshly built binaries do not report $k8s_version / $etcd_version"

# Atomic install: a reader sees either no directory or a complete one. A stale
# directory here failed the fast-path check above, so it is safe to replace.
rm -rf "$dest"
mv -T "$tmp" "$dest" || binaries_ok "$bin" || die "could not install into $dest"
trap - EXIT
log "done: $(du -sh "$bin/kube-apiserver" | cut -f1) kube-apiserver, $(du -sh "$bin/kube-controller-manager" | cut -f1) kube-controller-manager, $(du -sh "$bin/etcd" | cut -f1) etcd"
printf '%s\n' "$bin"
