# Sourced by the scripts that build a test peer from a Go module in testenv/<name>/
# (scripts/hydra-build.sh, scripts/jaeger-build.sh): one cached, locked, checked build.
#
# go_tool_build NAME LABEL MODULE PACKAGE CGO TAGS LDFLAGS VERSION_ARGS MINUTES
#   NAME          binary name and cache directory under $VMCP_CACHE_DIR
#   LABEL         how progress lines name it (Hydra, Jaeger)
#   MODULE        the Go module whose version in testenv/NAME/go.mod keys the cache
#   PACKAGE       what `go build` builds
#   CGO           CGO_ENABLED (0 or 1)
#   TAGS          build tags, comma-separated (may be empty)
#   LDFLAGS       linker flags; `@VERSION@` is replaced by the module's version
#   VERSION_ARGS  arguments that make the binary print its version (checked against the module's)
#   MINUTES       how long a cold build takes on 2 cores, for the progress line
#
# The cache key is the version plus a short hash of go.mod, go.sum and the recipe, so a
# change to any of them builds afresh. Prints the binary's path on stdout; progress on stderr.
go_tool_build() {
    local name=$1 label=$2 module=$3 package=$4 cgo=$5 tags=$6 ldflags=$7 version_args=$8 minutes=$9
    local script_dir module_dir start=$SECONDS
    script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    module_dir=$(cd "$script_dir/../testenv/$name" && pwd)
    log() { printf '%s-build [%4ds]: %s\n' "$name" "$((SECONDS - start))" "$*" >&2; }
    die() { log "error: $*"; exit 1; }

    local version
    version=$(awk -v m="$module" '$1 == m && $2 ~ /^v/ { print $2; exit }' "$module_dir/go.mod")
    [[ -n "$version" ]] || die "$module not found in $module_dir/go.mod"
    ldflags=${ldflags//@VERSION@/$version}
    local recipe="$name; CGO_ENABLED=$cgo -tags $tags -mod=readonly -trimpath $ldflags"
    local recipe_hash
    recipe_hash=$( { cat "$module_dir/go.mod" "$module_dir/go.sum"; printf '%s\n' "$recipe"; } | sha256sum | cut -c1-10)

    local cache_root="${VMCP_CACHE_DIR:-$HOME/.cache/vmcp}/$name"
    local key="$name-${version#v}-${recipe_hash}"
    local dest="$cache_root/$key"
    local bin="$dest/$name"
    # shellcheck disable=SC2086 # VERSION_ARGS is a word list
    binary_ok() { [[ "$("$1" $version_args 2>/dev/null)" == *"$version"* ]]; }

    if binary_ok "$bin"; then
        printf '%s\n' "$bin"
        return 0
    fi
    command -v go >/dev/null 2>&1 || die "the Go toolchain is needed to build $label (see README: Requirements)"
    if [[ "$cgo" == 1 ]]; then
        command -v "${CC:-cc}" >/dev/null 2>&1 || die "a C compiler is needed to build $label (Debian: gcc)"
    fi

    mkdir -p "$cache_root"
    exec 9>"$cache_root/.$key.lock"
    if command -v flock >/dev/null 2>&1; then
        if ! flock -n 9; then
            log "another build of $key is running; waiting for it"
            flock 9
        fi
        if binary_ok "$bin"; then
            printf '%s\n' "$bin"
            return 0
        fi
    fi

    local tmp
    tmp=$(mktemp -d "$cache_root/.$key.tmp.XXXXXX")
    chmod 755 "$tmp"
    # shellcheck disable=SC2064 # expand now: $tmp is local
    trap "rm -rf '$tmp'" EXIT

    cd "$module_dir"
    log "building $label $version into $dest (a cold build takes ~$minutes min on 2 cores)..."
    local t=$SECONDS
    ( while sleep 30; do log "  still building $label ($((SECONDS - t))s so far)"; done ) &
    local ticker=$! status=0
    CGO_ENABLED=$cgo go build -mod=readonly -trimpath -tags "$tags" -ldflags "$ldflags" \
        -o "$tmp/$name" "$package" >&2 || status=$?
    kill "$ticker" 2>/dev/null
    wait "$ticker" 2>/dev/null || true
    ((status == 0)) || die "building $label failed (is the Go module proxy reachable?)"
    log "$label built in $((SECONDS - t))s"

    binary_ok "$tmp/$name" || die "the freshly built $name does not report $version"
    rm -rf "$dest"
    mv -T "$tmp" "$dest" || binary_ok "$bin" || die "could not install into $dest"
    trap - EXIT
    printf '%s\n' "$bin"
}
