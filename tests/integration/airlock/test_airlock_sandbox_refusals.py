"""Refusals a sandbox reports land in the audit chain, bounded per user per day."""

from __future__ import annotations

import pytest

from vce.airlock import audit, refusals
from vce.airlock.authz import Principal
from vce.airlock.errors import Invalid, TooManyRequests
from vce.airlock.models import AuditRecord


def _actions(airlock, actor: str) -> list[str]:
    with airlock.db.session() as s:
        return [r.action for r in s.query(AuditRecord).filter(AuditRecord.actor == actor)]


def test_a_refusal_is_an_audit_record_of_its_researcher(airlock) -> None:
    body = {"project": "p1", "what": "GET download", "path": "/files/x.csv", "bytes": 3}
    refusals.record(airlock.db, Principal("alice"), body)
    with airlock.db.session() as s:
        (rec,) = s.query(AuditRecord).filter(AuditRecord.action == refusals.ACTION).all()
        assert (rec.actor, rec.subject) == ("alice", "user:alice")
        assert '"path":"/files/x.csv"' in rec.payload
        assert audit.verify(s).ok


def test_flooding_stops_at_the_daily_limit_and_says_so_once(airlock, monkeypatch) -> None:
    monkeypatch.setattr(refusals, "DAILY_LIMIT", 5)
    for _ in range(5):
        refusals.record(airlock.db, Principal("amy"), {"what": "x"})
    for _ in range(3):
        with pytest.raises(TooManyRequests):
            refusals.record(airlock.db, Principal("amy"), {"what": "x"})
    actions = _actions(airlock, "amy")
    assert actions.count(refusals.ACTION) == 5 and actions.count(refusals.CAPPED_ACTION) == 1
    refusals.record(airlock.db, Principal("bob"), {"what": "x"})  # others are unaffected


def test_a_malformed_report_is_refused(airlock) -> None:
    with pytest.raises(Invalid):
        refusals.record(airlock.db, Principal("alice"), {"what": ""})
    with pytest.raises(Invalid):
        refusals.record(airlock.db, Principal("alice"), {"what": "x", "bytes": -1})
