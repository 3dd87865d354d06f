#!/usr/bin/env bash
# Build the minimal Debian base image the researcher image starts FROM, without any registry:
# debootstrap bookworm (minbase) from the Debian mirror apt already uses, then `docker import`.
#
#   images/base/build-base.sh            -> prints the base image reference (vce-base:<recipe hash>)
#   images/base/build-base.sh --print    -> only print the reference, build nothing
#
# The tag is a hash of this recipe (script, suite, mirror, packages), so the base is rebuilt only
# when the recipe changes. The root filesystem tarball is cached in $VCE_IMAGE_CACHE
# (default images/.cache, gitignored) so a machine whose engine lost its images re-imports it in
# seconds instead of bootstrapping again. Real deployments pass their own base instead
# (BASE_IMAGE=debian:bookworm-slim images/build.sh) and never run this.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${VCE_IMAGE_CACHE:-$repo/images/.cache}
suite=${VCE_DEBIAN_SUITE:-bookworm}
packages=python3,python3-venv,ca-certificates,tini,bash,less,procps

debian_mirror() {  # the first Debian mirror apt is configured with (deb822 or one-line format)
    if [ -n "${VCE_DEBIAN_MIRROR:-}" ]; then echo "$VCE_DEBIAN_MIRROR"; return; fi
    local m
    m=$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk '{print $2}' | grep -v -- '-security' | grep -E '/debian/?$' | head -n1 || true)
    if [ -z "$m" ]; then
        m=$(grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | awk '{print $2}' | grep -E '/debian/?$' | head -n1 || true)
    fi
    echo "${m:-http://deb.debian.org/debian}"
}

mirror=$(debian_mirror)
security_mirror=${VCE_DEBIAN_SECURITY_MIRROR:-${mirror%/debian}/debian-security}
recipe_hash=$( { cat "$0"; echo "$suite $mirror $security_mirror $packages"; } | sha256sum | cut -c1-12)
ref="vce-base:$recipe_hash"

if [ "${1:-}" = --print ]; then echo "$ref"; exit 0; fi

if docker image inspect "$ref" >/dev/null 2>&1; then echo "$ref"; exit 0; fi

mkdir -p "$cache"
tarball="$cache/base-$recipe_hash.tar.gz"
if [ ! -s "$tarball" ]; then
    if ! command -v debootstrap >/dev/null; then
        if [ "$(id -u)" != 0 ]; then
            echo "build-base.sh: debootstrap is missing: apt-get install debootstrap" >&2
            exit 1
        fi
        apt-get update -qq && apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
    fi
    rootfs=$(mktemp -d "$cache/rootfs.XXXXXX")
    trap 'rm -rf "$rootfs"' EXIT
    echo "build-base.sh: debootstrap $suite from $mirror into $rootfs" >&2
    debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror" >&2
    # Security updates on top of the release, then drop what a container does not need.
    cat >"$rootfs/etc/apt/sources.list" <<SOURCES
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security_mirror $suite-security main
SOURCES
    cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
    chroot "$rootfs" /usr/bin/env DEBIAN_FRONTEND=noninteractive sh -c \
        'apt-get update -qq && apt-get -y -qq upgrade >/dev/null && apt-get clean' >&2
    : >"$rootfs/etc/resolv.conf"
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/log/*.log \
        "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
    tar -C "$rootfs" --numeric-owner -czf "$tarball.part" .
    mv "$tarball.part" "$tarball"
fi

echo "build-base.sh: importing $tarball as $ref" >&2
docker import \
    --change 'ENV LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' \
    "$tarball" "$ref" >/dev/null
echo "$ref"
