"""Handlers that answer the closed download routes with 403 and the export hint."""

from __future__ import annotations

import json
import os

from jupyter_server.base.handlers import APIHandler, JupyterHandler
from tornado import web

from vce.sandbox.hardening.refusal import EXPORT_HINT, log_refusal


class RefusedDownloadHandler(JupyterHandler):
    """403 for every method on ``/files/``, ``/view/`` and ``/nbconvert/``.

    It does not require a login: nobody may download, so there is nothing to authenticate, and
    answering unauthenticated probes the same way reveals nothing.
    """

    def _refuse(self) -> None:
        # One server per researcher and project: the hub's user name says who it was.
        user = os.environ.get("JUPYTERHUB_USER")
        log_refusal(self.log, f"{self.request.method} download", self.request.path, user)
        self.set_status(403)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps({"message": EXPORT_HINT, "reason": "downloads disabled"}))

    def check_xsrf_cookie(self) -> None:
        """No state changes happen here, so XSRF checks would only turn 403 into 403."""

    def prepare(self) -> None:
        """Refuse before any base-class preparation (auth redirects, etc.), for every method."""
        self._refuse()


class EmptyExporterListHandler(APIHandler):
    """``GET /api/nbconvert`` with no exporters, so JupyterLab offers no *Export As* entries."""

    @web.authenticated
    def get(self) -> None:
        """Answer with no exporters (the nbconvert routes themselves are refused)."""
        self.finish(json.dumps({}))
