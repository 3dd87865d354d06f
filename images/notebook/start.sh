#!/bin/bash
# Container entry point (run by tini as uid 1000): prepare the tmpfs home, then exec the server.
# The root filesystem is read-only; everything written here lands on the tmpfs mounts.
set -euo pipefail
mkdir -p "$HOME" "$JUPYTER_RUNTIME_DIR" "$MPLCONFIGDIR" "$XDG_CACHE_HOME" \
    "$JUPYTERLAB_SETTINGS_DIR" "$JUPYTERLAB_WORKSPACES_DIR" 2>/dev/null || true
# A new home gets the getting-started notebook; an existing one keeps the researcher's copy.
if [ ! -e "$HOME/getting-started.ipynb" ] && [ -w "$HOME" ]; then
    cp /opt/vce/share/vce/getting-started.ipynb "$HOME/getting-started.ipynb"
fi
cd "$HOME"
exec "$@"
