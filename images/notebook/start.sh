#!/bin/bash
# Container entry point (run by tini as uid 1000): prepare the tmpfs home, then exec the server.
# The root filesystem is read-only; everything written here lands on the tmpfs mounts.
set -euo pipefail
# The notebook-signing key lives in $HOME/.local/share/jupyter (NotebookNotary.data_dir in the
# hardening config): JUPYTER_DATA_DIR itself is read-only so nobody can add kernel specs.
mkdir -p "$HOME/.local/share/jupyter" "$JUPYTER_RUNTIME_DIR" "$MPLCONFIGDIR" "$XDG_CACHE_HOME" \
    "$JUPYTERLAB_SETTINGS_DIR" "$JUPYTERLAB_WORKSPACES_DIR" 2>/dev/null || true
# Fail closed: a server without its hardening extension must not start.
if ! python -c "import vce.sandbox.hardening" 2>/tmp/vce-hardening-import.log; then
    echo "vce-start: the Jupyter hardening extension cannot be imported; refusing to start:" >&2
    cat /tmp/vce-hardening-import.log >&2
    exit 1
fi
# A new home gets the getting-started notebook; an existing one keeps the researcher's copy.
if [ ! -e "$HOME/getting-started.ipynb" ] && [ -w "$HOME" ]; then
    cp /opt/vce/share/vce/getting-started.ipynb "$HOME/getting-started.ipynb"
fi
cd "$HOME"
exec "$@"
