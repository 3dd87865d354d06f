#!/bin/bash
# Container entry point (run by tini as uid 1000): prepare the tmpfs home, then exec the server.
# The root filesystem is read-only; everything written here lands on the tmpfs mounts.
set -euo pipefail
# Nothing the server reads at start lives in the writable home: configuration, kernel specs and
# extensions come from read-only paths, IPython's profile and the notebook-trust folder from the
# fresh /tmp (the trust secret itself stays in the server's memory: vce.sandbox.hardening).
# $IPYTHONDIR is not created here: if it exists at server start, jupyter_core tries to
# "migrate" it into the read-only /etc/jupyter and the server stops.
mkdir -p "$JUPYTER_RUNTIME_DIR" "$MPLCONFIGDIR" "$XDG_CACHE_HOME" \
    "$JUPYTERLAB_SETTINGS_DIR" "$JUPYTERLAB_WORKSPACES_DIR" 2>/dev/null || true
# Fail closed without a separate check (which cost a 1.3 s interpreter start per spawn): the
# server config names vce's contents manager class, so when the hardening cannot be imported the
# server stops with "Bad config" before it listens (tests/e2e/sandbox/test_sandbox_image.py).
# A new home gets the getting-started notebook; an existing one keeps the researcher's copy.
if [ ! -e "$HOME/getting-started.ipynb" ] && [ -w "$HOME" ]; then
    cp /opt/vce/share/vce/getting-started.ipynb "$HOME/getting-started.ipynb"
fi
cd "$HOME"
exec "$@"
