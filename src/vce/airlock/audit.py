"""Append-only, hash-chained audit log.

Each record stores the previous record's hash and ``sha256`` over the canonical JSON of its own
fields plus that previous hash, so editing, deleting or reordering any record breaks the chain
from that record on; :class:`~vce.airlock.models.AuditHead` pins the newest record so that
cutting off the tail is detected too. (Someone who can rewrite the whole database can rewrite
the whole chain: publish ``vce audit verify``'s head hash elsewhere to anchor it.)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from vce.airlock.models import AuditHead, AuditRecord

GENESIS = "0" * 64


def canonical(obj: Any) -> str:
    """Canonical JSON: sorted keys, no whitespace, UTF-8 kept, non-JSON values as strings.

    >>> canonical({"b": 1, "a": [1, "é"]})
    '{"a":[1,"é"],"b":1}'
    """
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def record_hash(
    seq: int, created: str, actor: str, action: str, subject: str, payload: str, prev: str
) -> str:
    """Return the hash a record with these fields must carry."""
    body = {
        "seq": seq,
        "created": created,
        "actor": actor,
        "action": action,
        "subject": subject,
        "payload": payload,
        "prev_hash": prev,
    }
    return hashlib.sha256(canonical(body).encode()).hexdigest()


def _lock(session: Session) -> None:
    """Serialize appenders (SQLite already holds the write lock from ``BEGIN IMMEDIATE``)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE audit_head IN EXCLUSIVE MODE"))


def append(
    session: Session, actor: str, action: str, subject: str, payload: dict[str, Any]
) -> AuditRecord:
    """Add one record to the chain inside the caller's transaction (commits with it)."""
    _lock(session)
    head = session.get(AuditHead, 1)
    seq, prev = (head.seq + 1, head.hash) if head else (1, GENESIS)
    created = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
    body = canonical(payload)
    digest = record_hash(seq, created, actor, action, subject, body, prev)
    rec = AuditRecord(
        seq=seq,
        created=created,
        actor=actor,
        action=action,
        subject=subject,
        payload=body,
        prev_hash=prev,
        hash=digest,
    )
    session.add(rec)
    if head is None:
        session.add(AuditHead(id=1, seq=seq, hash=digest))
    else:
        head.seq, head.hash = seq, digest
    session.flush()
    return rec


@dataclass(frozen=True)
class Verification:
    """Outcome of :func:`verify`: ``bad_seq`` is the first record that breaks the chain."""

    ok: bool
    records: int
    head: str
    bad_seq: int | None = None
    reason: str = ""


def verify(session: Session) -> Verification:
    """Walk the chain in ``seq`` order and report the first record that does not fit."""
    prev, expected_seq, count = GENESIS, 1, 0
    for rec in session.scalars(select(AuditRecord).order_by(AuditRecord.seq)):
        count += 1
        if rec.seq != expected_seq:
            return Verification(False, count, prev, expected_seq, f"record {expected_seq} missing")
        if rec.prev_hash != prev:
            return Verification(
                False, count, prev, rec.seq, "prev_hash does not match the record before it"
            )
        want = record_hash(
            rec.seq, rec.created, rec.actor, rec.action, rec.subject, rec.payload, rec.prev_hash
        )
        if want != rec.hash:
            return Verification(False, count, prev, rec.seq, "content does not match its hash")
        prev, expected_seq = rec.hash, expected_seq + 1
    head = session.get(AuditHead, 1)
    if head is None and count:
        return Verification(False, count, prev, 1, "audit head is missing")
    if head is not None and (head.seq != count or head.hash != prev):
        return Verification(
            False, count, prev, count + 1, f"records after {count} were removed (head {head.seq})"
        )
    return Verification(True, count, prev)


def export(session: Session) -> Iterator[str]:
    """Every record as one canonical JSON line (for regulators), oldest first."""
    for rec in session.scalars(select(AuditRecord).order_by(AuditRecord.seq)):
        yield canonical(
            {
                "seq": rec.seq,
                "created": rec.created,
                "actor": rec.actor,
                "action": rec.action,
                "subject": rec.subject,
                "payload": json.loads(rec.payload),
                "prev_hash": rec.prev_hash,
                "hash": rec.hash,
            }
        )
