#!/usr/bin/env bash
# `make run`: bring up the whole VCE system on this machine (Debian 12, as root) and print
# what to open. Idempotent: every step checks before it acts, so re-running is cheap and safe.
#
#   1. a Docker engine (scripts/docker-engine.sh installs and starts it if needed)
#   2. configurable-http-proxy (scripts/prereqs.sh proxy: Node from Debian, the proxy from npm)
#   3. the researcher image (make images) and the demo dataset (make datasets, once)
#   4. the deployment file var/vce.toml (created once; edit it or point VCE_CONFIG elsewhere)
#   5. sandbox network + host firewall + hub with proxy, airlock, reconciler and idle culler
#   6. demo accounts (passwords printed once) and the demo project
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
py=${VCE_PYTHON:-$repo/.venv/bin/python}
state=$repo/var
mkdir -p "$state"
log() { echo "make run: $*" >&2; }

if ! docker info >/dev/null 2>&1; then
    log "starting the Docker engine"
    bash scripts/docker-engine.sh
    touch "$state/dockerd.started-by-make-run"
fi

if ! command -v configurable-http-proxy >/dev/null 2>&1; then
    log "installing configurable-http-proxy"
    bash scripts/prereqs.sh proxy
fi

log "building the researcher image (cached when its inputs are unchanged)"
make --no-print-directory images >&2

if [ ! -f datasets/demo/manifest.json ]; then
    log "generating the demo dataset"
    make --no-print-directory datasets >&2
fi

if [ -z "${VCE_CONFIG:-}" ]; then
    if [ -f vce.toml ]; then
        export VCE_CONFIG=$repo/vce.toml
    else
        export VCE_CONFIG=$state/vce.toml
        if [ ! -f "$VCE_CONFIG" ]; then
            log "writing $VCE_CONFIG (the deployment file; see docs/reference/configuration.md)"
            cat >"$VCE_CONFIG" <<TOML
# VCE deployment written by \`make run\`; every setting: docs/reference/configuration.md
[hub]
state_dir = "$state"
admin_users = ["admin"]
reviewers = ["reviewer1", "reviewer2"]

[data]
root = "$repo/datasets"
TOML
        fi
    fi
fi
echo "$VCE_CONFIG" >"$state/config-path"

log "starting the hub (log: $state/hub.log)"
"$py" -m vce.hub.deploy start
"$py" -m vce.hub.demo
