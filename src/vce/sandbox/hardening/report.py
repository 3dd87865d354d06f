"""Send every refusal to the airlock, so it lands in the audit chain administrators read.

The server's log lives and dies with the container; the airlock's audit chain does not. Each
refusal is posted, in the background, to ``<VCE_AIRLOCK_URL>api/sandbox/refusals`` with the
server's hub token (the airlock rate-limits per user per day and records
``sandbox.refused``). A failure to report is logged and never delays or changes the refusal
itself: the request is refused either way.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import urllib.request
from typing import Any

PATH = "api/sandbox/refusals"
TIMEOUT_S = 5


def refusal_url(environ: dict[str, str] | None = None) -> str | None:
    """Where refusals go, or ``None`` outside a managed sandbox (no airlock configured)."""
    env = os.environ if environ is None else environ
    base = env.get("VCE_AIRLOCK_URL", "")
    if not base or not env.get("JUPYTERHUB_API_TOKEN"):
        return None
    return base.rstrip("/") + "/" + PATH


def _post(url: str, token: str, body: dict[str, Any], log: logging.Logger) -> None:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            response.read()
    except Exception as exc:
        log.warning("vce-hardening: could not report a refusal to the airlock: %s", exc)


def report_refusal(log: logging.Logger, what: str, path: str, size: int | None = None) -> None:
    """Post one refusal in a daemon thread (fire and forget)."""
    url = refusal_url()
    if url is None:
        return
    body: dict[str, Any] = {"project": os.environ.get("VCE_PROJECT", ""), "what": what}
    body["path"] = path[:500]
    if size is not None:
        body["bytes"] = size
    token = os.environ["JUPYTERHUB_API_TOKEN"]
    threading.Thread(target=_post, args=(url, token, body, log), daemon=True).start()
