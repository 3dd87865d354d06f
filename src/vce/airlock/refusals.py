"""Refusals reported by sandboxes: a persistent, per-user record administrators can read.

A sandbox's Jupyter server refuses downloads, oversized reads and bulk kernel traffic
(:mod:`vce.sandbox.hardening`); its own log vanishes with the container. Each refusal is
posted here with the server's hub token and appended to the audit chain as
``sandbox.refused`` (actor: the researcher the token belongs to), where ``vce audit export``
shows it next to every other decision.

The token is also readable by the researcher's own kernel, so the endpoint takes at most
:data:`DAILY_LIMIT` records per user per UTC day: past that it answers 429 and writes one
``sandbox.refusals_capped`` record, so flooding the log is itself visible and bounded.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select

from vce.airlock import audit
from vce.airlock.authz import Principal
from vce.airlock.errors import Invalid, TooManyRequests
from vce.airlock.models import AuditRecord

ACTION = "sandbox.refused"
CAPPED_ACTION = "sandbox.refusals_capped"
DAILY_LIMIT = 200
FIELDS = {"project": 100, "what": 300, "path": 500}


def _clean(body: dict[str, Any]) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    for key, longest in FIELDS.items():
        value = body.get(key, "")
        if not isinstance(value, str):
            raise Invalid(f"{key} must be a string")
        payload[key] = value[:longest]
    if not payload["what"]:
        raise Invalid("what is required: the refusal's description")
    size = body.get("bytes")
    if size is not None:
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise Invalid("bytes must be a non-negative integer")
        payload["bytes"] = size
    return payload


def record(db: Any, who: Principal, body: dict[str, Any]) -> dict[str, Any]:
    """Append one refusal of ``who``'s sandbox to the audit chain (429 past the daily limit)."""
    payload = _clean(body)
    today = dt.datetime.now(dt.UTC).date().isoformat()
    with db.session() as s:  # one transaction, committed when the block ends
        count = _today(s, ACTION, who.name, today)
        if count >= DAILY_LIMIT:
            if not _today(s, CAPPED_ACTION, who.name, today):
                audit.append(s, who.name, CAPPED_ACTION, f"user:{who.name}", {"limit": DAILY_LIMIT})
            seq = None
        else:
            seq = audit.append(s, who.name, ACTION, f"user:{who.name}", payload).seq
    if seq is None:
        raise TooManyRequests(f"more than {DAILY_LIMIT} refusals today; no more are recorded")
    return {"recorded": seq}


def _today(s: Any, action: str, actor: str, today: str) -> int:
    return int(
        s.scalar(
            select(func.count())
            .select_from(AuditRecord)
            .where(
                AuditRecord.action == action,
                AuditRecord.actor == actor,
                AuditRecord.created >= today,
            )
        )
        or 0
    )
