"""The one message every refused download shows, and the record every refusal leaves."""

from __future__ import annotations

import logging

from vce.sandbox.hardening.report import report_refusal

EXPORT_HINT = (
    "Downloads are disabled in the VCE sandbox: data leaves only through a reviewed export. "
    "In a notebook, run vce.request_export(sql, name=..., purpose=...) for a query result or "
    "vce.request_file_export(path, name=..., purpose=...) for a file you made; once a reviewer "
    "approves it, download it from the airlock."
)

REFUSAL_MARKER = "VCE-REFUSED"
"""Grep-able marker in the server log for every refused request."""


def log_refusal(
    log: logging.Logger, what: str, path: str, user: str | None, size: int | None = None
) -> None:
    """Record a refused attempt in the server log and in the airlock's audit chain.

    The audit chain (:mod:`.report`) outlives the container; the server log does not.
    """
    log.warning("%s %s path=%r user=%s", REFUSAL_MARKER, what, path, user or "-")
    report_refusal(log, what, path, size)
