#!/usr/bin/env bash
# Install and start what the test suite needs on a fresh Debian 12 machine, as root.
# Idempotent: each step checks before it installs, so it is cheap on a machine that has it all.
# One function per prerequisite; `make run` reuses the ones it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

apt_updated=0
apt_install() {  # apt_install PKG... — install only what is missing
    local missing=()
    for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$apt_updated" = 0 ]; then apt-get update -qq; apt_updated=1; fi
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_uv() {
    command -v uv >/dev/null || python3 -m pip install -q uv==0.13.9
}

install_docker() {  # Docker engine (the machine has only the client) + the researcher image
    bash scripts/docker-engine.sh   # installs Debian's docker.io, starts dockerd in the background
    make --no-print-directory images  # no registry here: bootstraps the base, builds offline
}

install_proxy() {  # configurable-http-proxy for JupyterHub (Node from Debian, proxy from npm)
    command -v configurable-http-proxy >/dev/null && return 0
    command -v node >/dev/null || apt_install nodejs
    command -v npm >/dev/null || apt_install npm  # NodeSource's nodejs bundles npm; Debian's does not
    npm install -g --no-fund --no-audit configurable-http-proxy@4.6.3 >/dev/null
}

install_postgres() {  # PostgreSQL server for the airlock's storage tests, on loopback only
    apt_install postgresql
    local ver
    ver=$(ls /usr/lib/postgresql | sort -n | tail -1)
    pg_lsclusters -h | grep -q "^$ver main" || pg_createcluster "$ver" main >/dev/null
    pg_ctlcluster "$ver" main status >/dev/null 2>&1 || pg_ctlcluster "$ver" main start
    # A password role the tests connect as over TCP loopback (VCE_TEST_POSTGRES_URL default).
    su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='vce'\"" | grep -q 1 \
        || su postgres -c "psql -qc \"CREATE ROLE vce LOGIN CREATEDB PASSWORD 'vce'\""
}

install_browser() {  # Debian's Chromium for Playwright (no browser download)
    apt_install chromium
}

if [ "${1:-all}" = all ]; then
    install_uv
    install_docker
    install_proxy
    install_postgres
    install_browser
else
    for step in "$@"; do "install_$step"; done
fi
