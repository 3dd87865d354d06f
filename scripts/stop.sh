#!/usr/bin/env bash
# `make stop`: stop what `make run` started — hub, proxy, airlock, reconciler, idle culler,
# sandbox containers, firewall rules and the sandbox network; and the Docker engine when
# `make run` started it and no other container is left. Home volumes and data stay.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
py=${VCE_PYTHON:-$repo/.venv/bin/python}
state=$repo/var
if [ -z "${VCE_CONFIG:-}" ] && [ -f "$state/config-path" ]; then
    export VCE_CONFIG=$(cat "$state/config-path")
fi
if ! docker info >/dev/null 2>&1; then
    echo "make stop: the Docker engine is not running; nothing to stop"
    exit 0
fi
"$py" -m vce.hub.deploy stop
if [ -f "$state/dockerd.started-by-make-run" ] && [ -z "$(docker ps -q)" ]; then
    echo "make stop: stopping the Docker engine make run started"
    kill "$(cat /var/run/docker.pid)" 2>/dev/null || true
    rm -f "$state/dockerd.started-by-make-run"
fi
