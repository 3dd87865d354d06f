#!/usr/bin/env bash
# Build the researcher image (images/notebook) on a machine with no container registry and no
# TLS inside `docker build`. Behind `make images` and the tests' `sandbox_image` fixture.
#
#   images/build.sh              build if needed; last stdout line is the image reference
#   images/build.sh --print-tag  print the reference the current inputs give, build nothing
#
# The tag is a hash of every input (Dockerfile and the files next to it, the pinned requirement
# list, the vce package sources, the hardening config, the base image reference), so a rebuild
# happens only when one of them changes; Docker's layer cache keeps a vce-only change to seconds.
# Environment: BASE_IMAGE (default: bootstrap vce-base locally), VCE_IMAGE_NAME (vce-notebook;
# the tests build vce-notebook-test so they never move a running system's :latest),
# VCE_IMAGE_CACHE (images/.cache: base rootfs tarball and wheelhouse, gitignored),
# UV (default .tools/bin/uv, the pinned uv `make setup` installs).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
name=${VCE_IMAGE_NAME:-vce-notebook}
cache=${VCE_IMAGE_CACHE:-$repo/images/.cache}
ctx=$repo/build/images/notebook
py=${VCE_PYTHON:-$repo/.venv/bin/python}
[ -x "$py" ] || py=python3
mode=${1:-build}
export UV=${UV:-$repo/.tools/bin/uv}
mkdir -p "$cache" "$ctx"

log() { echo "images/build.sh: $*" >&2; }
if [ ! -x "$UV" ]; then
    log "uv is missing at $UV (fix: run 'make setup', or set UV to a uv binary)"
    exit 1
fi

# Serialise concurrent builds (several test runs or engineers on one machine).
exec 9>"$cache/build.lock"
flock 9

if [ "$mode" != --print-tag ] && ! docker info >/dev/null 2>&1; then
    bash "$repo/scripts/docker-engine.sh"
fi

base=${BASE_IMAGE:-$(bash images/base/build-base.sh --print)}

# Inputs that decide the image, hashed in a fixed order.
"$py" images/wheelhouse.py "$ctx/requirements.txt" "$cache/wheelhouse" --print-only
hardening=src/vce/sandbox/hardening/jupyter_server_config.json
inputs_hash=$(
    {
        echo "base $base"
        sha256sum "$ctx/requirements.txt" | cut -d' ' -f1
        find images/notebook pyproject.toml policies src/vce -type f \
            ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 \
            | LC_ALL=C sort -z | xargs -0 sha256sum
    } | sha256sum | cut -c1-16
)
ref="$name:$inputs_hash"
if [ "$mode" = --print-tag ]; then echo "$ref"; exit 0; fi

if docker image inspect "$ref" >/dev/null 2>&1; then
    size=$(docker image inspect "$ref" --format '{{.Size}}')
    log "$ref is up to date (inputs unchanged), size $(( size / 1024 / 1024 )) MiB"
    docker tag "$ref" "$name:latest"
    echo "$ref"
    exit 0
fi

start=$(date +%s)
if [ -z "${BASE_IMAGE:-}" ]; then
    base=$(bash images/base/build-base.sh)
fi

# Never let `docker build` reach for a registry: the base must already be on this engine.
if ! docker image inspect "$base" >/dev/null 2>&1; then
    log "base image $base is not on this Docker engine; load or pull it first (docker load / docker pull)"
    exit 1
fi

# Wheelhouse: download only when the pinned list changed since the last download.
req_hash=$(sha256sum "$ctx/requirements.txt" | cut -d' ' -f1)
if [ "$(cat "$cache/wheelhouse.stamp" 2>/dev/null)" != "$req_hash" ]; then
    log "downloading wheels for the image's Python (3.11, manylinux x86_64) into $cache/wheelhouse"
    "$py" images/wheelhouse.py "$ctx/requirements.txt" "$cache/wheelhouse"
    echo "$req_hash" >"$cache/wheelhouse.stamp"
fi

# Build context: only what the Dockerfile copies (hard links, no copies of the wheelhouse).
rm -rf "$ctx/wheelhouse" "$ctx/dist"
mkdir -p "$ctx/dist"
"$py" images/wheelhouse.py --select "$ctx/requirements.txt" "$cache/wheelhouse" "$ctx/wheelhouse"
"$UV" build --quiet --wheel --out-dir "$ctx/dist" "$repo" >&2
cp images/notebook/Dockerfile images/notebook/start.sh images/notebook/getting-started.ipynb "$ctx/"
cp "$hardening" "$ctx/jupyter_server_config.json"

log "building $ref FROM $base"
DOCKER_BUILDKIT=0 docker build --quiet \
    --build-arg "BASE_IMAGE=$base" \
    --label "org.vce.inputs-hash=$inputs_hash" \
    --label "org.vce.base-image=$base" \
    --tag "$ref" --tag "$name:latest" "$ctx" 2>&1 >/dev/null \
    | { grep -v -e 'legacy builder is deprecated' -e 'BuildKit is currently disabled' \
        -e 'environment-variable' -e '^ *$' >&2 || true; }
elapsed=$(( $(date +%s) - start ))
# Drop superseded tags so rebuilds do not pile up (an image a container still uses stays).
docker image ls "$name" --format '{{.Repository}}:{{.Tag}}' \
    | grep -v -e ":$inputs_hash\$" -e ':latest$' | xargs -r docker image rm >/dev/null 2>&1 || true
size=$(docker image inspect "$ref" --format '{{.Size}}')
log "built $ref in ${elapsed}s, size $(( size / 1024 / 1024 )) MiB"
echo "$ref"
