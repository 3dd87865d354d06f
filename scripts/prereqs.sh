#!/usr/bin/env bash
# Install and start what the test suite needs on a fresh Debian 12 machine, as root: the Docker
# engine and the researcher image, configurable-http-proxy, PostgreSQL on loopback, Debian's
# Chromium. `make test` runs it before every run (the README's one test command), `make run`
# reuses the steps it needs (`bash scripts/prereqs.sh proxy`).
#
# Idempotent and quick when everything is there (each step checks before it installs); prints
# one line per step so a first run that downloads for minutes shows where it is.
#   scripts/prereqs.sh            every step
#   scripts/prereqs.sh STEP...    only these (docker, proxy, postgres, browser)
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
log() { echo "prereqs: $*" >&2; }

apt_updated=0
apt_install() {  # apt_install PKG... — install only what is missing
    local missing=()
    for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ]; then
        log "missing Debian packages: ${missing[*]}; installing them needs root" \
            "(fix: run as root, or apt-get install ${missing[*]})"
        exit 1
    fi
    log "installing ${missing[*]} from Debian"
    if [ "$apt_updated" = 0 ]; then apt-get update -qq; apt_updated=1; fi
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_docker() {  # Docker engine (the machine has only the client) + the tests' image
    bash scripts/docker-engine.sh   # installs Debian's docker.io, starts dockerd in the background
    # Under the tests' own name (tests/sandbox_container.py TEST_IMAGE_NAME), so building it
    # never moves the vce-notebook:latest a running `make run` system spawns from.
    local image="${VCE_TEST_IMAGE:-vce-notebook-test}"
    log "researcher image $image (first build takes minutes; cached while unchanged)"
    VCE_IMAGE_NAME="$image" bash images/build.sh >/dev/null
}

install_proxy() {  # configurable-http-proxy for JupyterHub (Node from Debian, proxy from npm)
    command -v configurable-http-proxy >/dev/null && return 0
    command -v node >/dev/null || apt_install nodejs
    command -v npm >/dev/null || apt_install npm  # NodeSource's nodejs bundles npm; Debian's does not
    log "installing configurable-http-proxy from npm"
    npm install -g --no-fund --no-audit configurable-http-proxy@4.6.3 >/dev/null
}

install_postgres() {  # PostgreSQL server for the airlock's storage tests, on loopback only
    apt_install postgresql
    local ver
    ver=$(ls /usr/lib/postgresql | sort -n | tail -1)
    pg_lsclusters -h | grep -q "^$ver main" || pg_createcluster "$ver" main >/dev/null
    if ! pg_ctlcluster "$ver" main status >/dev/null 2>&1; then
        log "starting PostgreSQL $ver"
        pg_ctlcluster "$ver" main start
    fi
    # A password role the tests connect as over TCP loopback (VCE_TEST_POSTGRES_URL default).
    su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='vce'\"" | grep -q 1 \
        || su postgres -c "psql -qc \"CREATE ROLE vce LOGIN CREATEDB PASSWORD 'vce'\""
}

install_browser() {  # Debian's Chromium for Playwright (no browser download)
    apt_install chromium
}

steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(docker proxy postgres browser)
for step in "${steps[@]}"; do
    declare -F "install_$step" >/dev/null || { log "unknown step '$step' (docker, proxy, postgres, browser)"; exit 2; }
    "install_$step"
done
log "ready: ${steps[*]}"
