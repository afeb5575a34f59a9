#!/usr/bin/env bash
# Installs the Keycloak that vmcp's OIDC tests run as their identity provider,
# into a cache directory outside the repository, and prints where it is and
# which JDK runs it.
#
# Why a cache outside the repo: the distribution is a 170 MB zip; `cargo clean`
# must not throw it away and several checkouts of the project can share it
# (the same reasoning as scripts/testenv-build.sh for kube-apiserver).
# The zip comes from Maven Central and is checked against the .sha1 published
# next to it before it is unpacked.
#
# Environment:
#   VMCP_CACHE_DIR  cache root (default: $HOME/.cache/vmcp)
#   JAVA_HOME       used if it holds a JDK >= 21; otherwise /usr/lib/jvm is searched
#
# Output: progress on stderr; on stdout exactly two lines,
#   KEYCLOAK_HOME=<dir holding bin/kc.sh>
#   JAVA_HOME=<a JDK >= 21>
set -euo pipefail

version=26.7.3
min_java=21
base_url="https://repo1.maven.org/maven2/org/keycloak/keycloak-quarkus-dist/$version"
zip_name="keycloak-quarkus-dist-$version.zip"
start=$SECONDS

log() { printf 'keycloak [%4ds]: %s\n' "$((SECONDS - start))" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- a JDK >= 21 ----------------------------------------------------------------
# `java -version` prints e.g. `openjdk version "25.0.1" 2025-10-21` or
# `java version "1.8.0_392"` on stderr; the major is the first number, or the
# second for the old 1.x scheme.
java_major() {
    local out v
    out=$("$1/bin/java" -version 2>&1) || return 1
    v=$(printf '%s\n' "$out" | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n1)
    [[ -n "$v" ]] || return 1
    if [[ "$v" == 1.* ]]; then v=${v#1.}; fi
    printf '%s\n' "${v%%[.+-]*}"
}

java_ok() {
    local major
    [[ -x "$1/bin/java" ]] || return 1
    major=$(java_major "$1") || return 1
    [[ "$major" =~ ^[0-9]+$ ]] && ((major >= min_java))
}

find_java() {
    if [[ -n "${JAVA_HOME:-}" ]] && java_ok "$JAVA_HOME"; then
        printf '%s\n' "$JAVA_HOME"
        return 0
    fi
    local best="" best_major=0 d m
    for d in /usr/lib/jvm/*/; do
        d=${d%/}
        java_ok "$d" || continue
        m=$(java_major "$d")
        if ((m > best_major)); then best=$d best_major=$m; fi
    done
    [[ -n "$best" ]] || return 1
    printf '%s\n' "$best"
}

java_home=$(find_java) ||
    die "Keycloak $version needs a JDK >= $min_java: JAVA_HOME (${JAVA_HOME:-unset}) is not one and none was found under /usr/lib/jvm; install one (e.g. temurin-25-jdk) or set JAVA_HOME"

cache_root="${VMCP_CACHE_DIR:-$HOME/.cache/vmcp}/keycloak"
dest="$cache_root/keycloak-$version"

# --- fast path: already unpacked --------------------------------------------------
# The marker is written last, after the rename, so a half-unpacked directory is
# never taken for a complete one.
installed() { [[ -x "$dest/bin/kc.sh" && -f "$dest/.vmcp-complete" ]]; }

emit() {
    printf 'KEYCLOAK_HOME=%s\nJAVA_HOME=%s\n' "$dest" "$java_home"
    exit 0
}

installed && emit

# --- slow path: download, verify, unpack -----------------------------------------
command -v curl >/dev/null 2>&1 || die "curl is needed to download Keycloak"
command -v unzip >/dev/null 2>&1 || command -v python3 >/dev/null 2>&1 ||
    die "unzip (or python3) is needed to unpack Keycloak"

mkdir -p "$cache_root"
exec 9>"$cache_root/.keycloak-$version.lock"
if command -v flock >/dev/null 2>&1; then
    if ! flock -n 9; then
        log "another install of Keycloak $version is running; waiting for it"
        flock 9
    fi
    installed && emit
fi

tmp=$(mktemp -d "$cache_root/.keycloak-$version.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

log "downloading $base_url/$zip_name"
curl -fSL --retry 3 --proto '=https' -o "$tmp/$zip_name.sha1" "$base_url/$zip_name.sha1" 2>/dev/null ||
    die "could not download $base_url/$zip_name.sha1"
# Progress bar on stderr (curl's default when stdout is not the target).
curl -fL --retry 3 --proto '=https' --progress-bar -o "$tmp/$zip_name" "$base_url/$zip_name" ||
    die "could not download $base_url/$zip_name"

want=$(tr -dc '0-9a-f' <"$tmp/$zip_name.sha1" | cut -c1-40)
got=$(sha1sum "$tmp/$zip_name" | cut -d' ' -f1)
[[ ${#want} -eq 40 ]] || die "$zip_name.sha1 does not hold a SHA-1"
[[ "$want" == "$got" ]] || die "$zip_name: SHA-1 $got does not match the published $want"
log "SHA-1 $got verified; unpacking"

mkdir "$tmp/unpack"
if command -v unzip >/dev/null 2>&1; then
    unzip -q "$tmp/$zip_name" -d "$tmp/unpack"
else
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' \
        "$tmp/$zip_name" "$tmp/unpack"
fi
[[ -f "$tmp/unpack/keycloak-$version/bin/kc.sh" ]] || die "$zip_name does not hold keycloak-$version/bin/kc.sh"
# Python's zipfile drops the executable bits.
chmod +x "$tmp/unpack/keycloak-$version/bin/"*.sh

rm -rf "$dest"
mv "$tmp/unpack/keycloak-$version" "$dest"
touch "$dest/.vmcp-complete"
log "installed in $dest"
emit
