"""Caps on what JupyterLab's HTTP APIs return: lab workspaces and settings, and the contents API.

Applied as a Tornado output transform, which sees the status and the body of every response of
the server, whichever handler produced it:

- ``/lab/api/workspaces`` and ``/lab/api/settings``: at most 1 MiB per response. Both read JSON
  files from the home folder, which the kernel can write: a 42 MB "workspace" went out in
  0.6 s. Real workspaces and settings are a few KiB.
- ``/api/contents``: a byte budget per server start (256 MiB) over every response, on top of
  the per-file cap of :mod:`.contents`, so a file split into pieces under the cap — or data
  spelled out in file names of a listing — stops at the budget. Once spent, only responses
  up to 64 KiB pass (listings, metadata, small notebooks), so the file browser keeps working.

Refusals answer 403 with a message and are recorded (:func:`.refusal.log_refusal`).
"""

from __future__ import annotations

import json
import logging
import os
import re
from typing import Any

from tornado import httputil
from tornado.web import OutputTransform

from vce.sandbox.hardening.budget import KiB, MiB, budget
from vce.sandbox.hardening.refusal import EXPORT_HINT, log_refusal

CAPPED_LAB_API = re.compile(r"/lab/api/(workspaces|settings)(/|$)")
CONTENTS_API = re.compile(r"/api/contents(/|$)")
LAB_API_CAP = 1 * MiB
CONTENTS_BUDGET = 256 * MiB
CONTENTS_SMALL = 64 * KiB


class ResponseGuard(OutputTransform):
    """Refuse oversized lab-API responses; count contents-API responses against the budget."""

    contents_budget = CONTENTS_BUDGET
    """Set from ``CappedFileContentsManager.session_budget_bytes`` by :func:`install`."""

    def __init__(self, request: httputil.HTTPServerRequest) -> None:
        super().__init__(request)
        self.path = request.path
        self.capped = bool(CAPPED_LAB_API.search(request.path))
        self.counted = bool(CONTENTS_API.search(request.path))
        self.refused = False

    def _refusal(
        self, headers: httputil.HTTPHeaders, what: str, size: int
    ) -> tuple[int, httputil.HTTPHeaders, bytes]:
        log_refusal(_log(), what, self.path, os.environ.get("JUPYTERHUB_USER"), size)
        body = json.dumps({"message": f"{what}. {EXPORT_HINT}", "reason": "over the limit"})
        data = body.encode()
        headers["Content-Type"] = "application/json; charset=UTF-8"
        headers["Content-Length"] = str(len(data))
        headers.pop("Etag", None)
        self.refused = True
        return 403, headers, data

    def transform_first_chunk(
        self, status_code: int, headers: httputil.HTTPHeaders, chunk: bytes, finishing: bool
    ) -> tuple[int, httputil.HTTPHeaders, bytes]:
        """Decide on the first (for these JSON APIs: the whole) body."""
        size = len(chunk)
        if self.capped and size > LAB_API_CAP:
            return self._refusal(
                headers, f"response of {size} bytes over the {LAB_API_CAP}-byte cap", size
            )
        if self.counted and status_code < 300:
            spent = budget("contents API", self.contents_budget, CONTENTS_SMALL)
            if not spent.take(size):
                return self._refusal(
                    headers,
                    f"contents API budget of {spent.limit} bytes per server start spent",
                    size,
                )
        return status_code, headers, chunk

    def transform_chunk(self, chunk: bytes, finishing: bool) -> bytes:
        """Later chunks of a refused (or streamed and over-budget) response are dropped."""
        if self.refused:
            return b""
        if (self.capped or self.counted) and chunk:
            spent = budget("contents API", self.contents_budget, CONTENTS_SMALL)
            if self.capped or not spent.take(len(chunk)):
                return b""  # these APIs never stream; a streamed body is cut, not completed
        return chunk


def _log() -> logging.Logger:
    return logging.getLogger("ServerApp")


def install(web_app: Any, contents_budget: int = CONTENTS_BUDGET) -> None:
    """Add the guard to the server's Tornado application (first, before any compression)."""
    ResponseGuard.contents_budget = contents_budget
    if ResponseGuard not in web_app.transforms:
        web_app.transforms.insert(0, ResponseGuard)
