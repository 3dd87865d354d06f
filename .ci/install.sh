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

install_docker() {  # Docker engine (the machine has only the client) — see images/README.md
    :
}

install_proxy() {  # configurable-http-proxy for JupyterHub
    :
}

install_postgres() {  # PostgreSQL server for the airlock's storage tests
    :
}

install_browser() {  # Debian's Chromium for Playwright (no browser download)
    :
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
