"""The one message every refused download shows, and the log line every refusal writes."""

from __future__ import annotations

import logging

EXPORT_HINT = (
    "Downloads are disabled in the VCE sandbox: data leaves only through a reviewed export. "
    "In a notebook, run vce.request_export(sql, name=..., purpose=...) for a query result or "
    "vce.request_file_export(path, name=..., purpose=...) for a file you made; once a reviewer "
    "approves it, download it from the airlock."
)

REFUSAL_MARKER = "VCE-REFUSED"
"""Grep-able marker in the server log for every refused request."""


def log_refusal(log: logging.Logger, what: str, path: str, user: str | None) -> None:
    """Record a refused attempt (who, what, which path) at warning level."""
    log.warning("%s %s path=%r user=%s", REFUSAL_MARKER, what, path, user or "-")
