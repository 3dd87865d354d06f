"""The workflow on real storage (SQLite and PostgreSQL) with real trusted re-execution."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from airlock_hub import who
from sqlalchemy import select, update
from test_airlock_api import file_body

from vce.airlock import audit, projects
from vce.airlock.errors import Conflict, Forbidden, Invalid
from vce.airlock.models import AuditRecord, Event, Request, Vote
from vce.airlock.workflow import Airlock

GOOD_SQL = "SELECT region_code, count(*) AS videos FROM videos GROUP BY region_code"
BAD_SQL = "SELECT username FROM users"


def submit(
    a: Airlock,
    user: str = "alice",
    sql: str = GOOD_SQL,
    project: str = "p1",
    expect: str = "submitted",
) -> int:
    out = a.submit(
        who(user),
        {
            "kind": "query",
            "project": project,
            "name": "regions",
            "purpose": "videos per region",
            "sql": sql,
        },
    )
    assert out["state"] == expect, out
    return out["id"]


def checked(a: Airlock, **kw) -> int:
    rid = submit(a, **kw)
    a.process(rid)
    return rid


def test_passing_query_awaits_review_with_report_and_preview(airlock: Airlock) -> None:
    rid = checked(airlock)
    r = airlock.get(who("rev1"), rid)
    assert r["state"] == "awaiting_review", r["reasons"]
    assert r["report"]["checks"], "the check report lists the checks"
    assert r["preview"]["columns"] == ["region_code", "videos"]
    assert all(row[1] % 5 == 0 for row in r["preview"]["rows"]), "counts are rounded to 5"
    assert r["provenance"]["datasets"][0]["version"] is not None
    assert [e["to"] for e in r["events"]] == ["submitted", "checking", "awaiting_review"]


def test_statically_denied_query_says_why_at_once_and_can_be_resubmitted(airlock: Airlock) -> None:
    rid = submit(airlock, sql=BAD_SQL, expect="denied")
    r = airlock.get(who("alice"), rid)
    assert r["state"] == "denied"
    assert any("identifier-output" in x for x in r["reasons"]) and r["preview"] is None
    assert airlock.process(rid) is None, "a denied request never reaches the trusted run"
    with pytest.raises(Forbidden):
        airlock.resubmit(who("amy"), rid, {"sql": GOOD_SQL})  # only the requester
    out = airlock.resubmit(who("alice"), rid, {"sql": GOOD_SQL})
    assert out["state"] == "submitted" and out["revision"] == 2
    airlock.process(rid)
    assert airlock.get(who("alice"), rid)["state"] == "submitted", "the trusted run is unseen"
    assert airlock.get(who("rev1"), rid)["state"] == "awaiting_review"


def test_blocked_by_the_trusted_run_goes_to_reviewers_not_the_researcher(
    airlock: Airlock,
) -> None:
    everything_suppressed = "SELECT count(*) AS n FROM videos WHERE audience = 'minor'"
    rid = checked(airlock, sql=everything_suppressed)
    staff = airlock.get(who("rev1"), rid)
    assert staff["state"] == "blocked" and staff["reasons"] and staff["can_review"]
    mine = airlock.get(who("alice"), rid)
    assert mine["state"] == "submitted" and mine["reasons"] == [] and mine["report"] is None
    assert [e["to"] for e in mine["events"]] == ["submitted"]
    with pytest.raises(Conflict, match="only denied or returned"):
        airlock.resubmit(who("alice"), rid, {"sql": GOOD_SQL})
    with pytest.raises(Conflict, match="released nothing"):
        airlock.vote(who("rev1"), rid, "approve")
    airlock.vote(who("rev1"), rid, "return", "every group is below the threshold; widen it")
    mine = airlock.get(who("alice"), rid)
    assert mine["state"] == "returned"
    assert [c["body"] for c in mine["comments"]] == ["every group is below the threshold; widen it"]
    assert [(e["from"], e["to"]) for e in mine["events"]] == [
        (None, "submitted"),
        ("submitted", "returned"),
    ]


def test_release_needs_n_distinct_eligible_approvals(airlock: Airlock) -> None:
    rid = checked(airlock)
    with pytest.raises(Forbidden):
        airlock.vote(who("rev3"), rid, "approve")  # reviewer on the project
    with pytest.raises(Forbidden):
        airlock.vote(who("alice"), rid, "approve")  # no review scope
    assert airlock.vote(who("rev1"), rid, "approve")["state"] == "awaiting_review"
    with pytest.raises(Conflict):
        airlock.vote(who("rev1"), rid, "approve")  # same reviewer twice
    assert airlock.vote(who("rev2"), rid, "approve")["state"] == "approved"
    assert airlock.release(rid)
    r = airlock.get(who("alice"), rid)
    assert r["state"] == "released" and r["approvals"] == 2


def test_requester_with_review_scope_never_approves_own(airlock: Airlock, settings) -> None:
    with airlock.db.session() as s:
        projects.create(s, "boss", "p3", "Reviewer's own research", "rev1")
        projects.grant(s, "boss", "p3", "demo")
    rid = checked(airlock, user="rev1", project="p3")
    with pytest.raises(Forbidden, match=r"own request|is on project"):
        airlock.vote(who("rev1"), rid, "approve")
    with airlock.db.session() as s:
        assert s.scalar(select(Vote).where(Vote.request_id == rid)) is None


def test_release_folder_manifest_matches_files(airlock: Airlock) -> None:
    rid = checked(airlock)
    airlock.vote(who("rev1"), rid, "approve")
    airlock.vote(who("rev2"), rid, "approve", "fine")
    assert airlock.release(rid)
    manifest = json.loads(airlock.release_file(who("alice"), rid, "manifest.json"))
    assert manifest["sql"] == GOOD_SQL
    assert manifest["policy"]["sha256"] and manifest["datasets"][0]["files"]
    assert {a["reviewer"] for a in manifest["approvals"]} == {"rev1", "rev2"}
    for name, meta in manifest["files"].items():
        data = airlock.release_file(who("alice"), rid, name)
        assert hashlib.sha256(data).hexdigest() == meta["sha256"]
    assert set(manifest["files"]) == {"result.csv", "result.parquet"}
    assert b"rev1" in airlock.release_file(who("amy"), rid, "README.md")
    with pytest.raises(Forbidden):
        airlock.release_file(who("rev1"), rid, "result.csv")  # reviewers are not members
    with pytest.raises(Forbidden):
        airlock.release_file(who("bob"), rid, "result.csv")


def test_return_and_reject_need_a_reason(airlock: Airlock) -> None:
    rid = checked(airlock)
    with pytest.raises(Invalid):
        airlock.vote(who("rev1"), rid, "return")
    assert airlock.vote(who("rev1"), rid, "return", "round the dates")["state"] == "returned"
    airlock.resubmit(who("alice"), rid, {"sql": GOOD_SQL})
    airlock.process(rid)
    assert airlock.vote(who("rev2"), rid, "reject", "no purpose")["state"] == "rejected"
    with pytest.raises(Conflict):
        airlock.resubmit(who("alice"), rid, {"sql": GOOD_SQL})


def test_private_comments_only_for_reviewers(airlock: Airlock) -> None:
    rid = checked(airlock)
    airlock.comment(who("rev1"), rid, "looks like a tracker to me", private=True)
    airlock.comment(who("alice"), rid, "happy to explain", private=False)
    with pytest.raises(Forbidden):
        airlock.comment(who("alice"), rid, "sneaky", private=True)
    with pytest.raises(Forbidden):
        airlock.comment(who("bob"), rid, "not my project")
    seen_by = {
        u: [c["body"] for c in airlock.get(who(u), rid)["comments"]]
        for u in ("alice", "rev2", "rev3")
    }
    assert seen_by["alice"] == ["happy to explain"]
    assert seen_by["rev3"] == ["happy to explain"]  # a reviewer on the project
    assert seen_by["rev2"] == ["looks like a tracker to me", "happy to explain"]


def test_file_export_checks_and_always_review(airlock: Airlock) -> None:
    def send(filename: str, content: bytes) -> tuple[dict, dict]:
        out = airlock.submit(who("alice"), file_body(filename, content, name=filename))
        airlock.process(out["id"])
        return out, airlock.get(who("rev1"), out["id"])

    _, ok = send("table.csv", b"region,n\nDE,3\nFR,120\n")
    assert ok["state"] == "awaiting_review"
    assert len(ok["report"]["warnings"]) == 2  # small count, unrounded count
    with pytest.raises(Invalid):  # undeclared types are refused at submission
        send("x.exe", b"MZ")
    too_many = b"a,n\n" + b"x,100\n" * 5001
    assert "5000" in send("big.csv", too_many)[0]["reasons"][0]
    assert send("fake.png", b"not a png")[0]["state"] == "denied"


def test_forbidden_actions_change_nothing(airlock: Airlock) -> None:
    rid = checked(airlock)
    with airlock.db.session() as s:
        before = (
            s.scalar(select(AuditRecord.seq).order_by(AuditRecord.seq.desc()).limit(1)),
            len(s.scalars(select(Event)).all()),
        )
    for user, call in [
        ("bob", lambda u: airlock.get(who(u), rid)),
        ("bob", lambda u: airlock.vote(who(u), rid, "approve")),
        ("rev3", lambda u: airlock.vote(who(u), rid, "approve")),
        ("amy", lambda u: airlock.withdraw(who(u), rid)),
        (
            "eve",
            lambda u: airlock.submit(
                who(u),
                {"kind": "query", "project": "p1", "name": "x", "purpose": "x", "sql": GOOD_SQL},
            ),
        ),
    ]:
        with pytest.raises(Forbidden):
            call(user)
    with airlock.db.session() as s:
        after = (
            s.scalar(select(AuditRecord.seq).order_by(AuditRecord.seq.desc()).limit(1)),
            len(s.scalars(select(Event)).all()),
        )
        assert s.get(Request, rid).state == "awaiting_review"
    assert before == after


def test_expired_project_cannot_export(airlock: Airlock) -> None:
    with airlock.db.session() as s:
        projects.expire(s, "boss", "p2")
    with pytest.raises(Forbidden, match="expired"):
        submit(airlock, user="bob", project="p2")


def test_member_cap(airlock: Airlock) -> None:
    with airlock.db.session() as s:
        for i in range(9):
            projects.add_member(s, "boss", "p2", f"user{i}")
    with pytest.raises(Conflict, match="10 members"), airlock.db.session() as s:
        projects.add_member(s, "boss", "p2", "one-too-many")


def test_resume_picks_up_unfinished_work(airlock: Airlock) -> None:
    rid = submit(airlock)
    with airlock.db.session() as s:  # as if killed mid-execution
        s.execute(update(Request).where(Request.id == rid).values(state="checking"))
    assert any(i.request_id == rid and i.action == "process" for i in airlock.pending())
    assert airlock.process(rid) == "awaiting_review"
    assert airlock.pending() == []


def _tamper(airlock: Airlock, how: str) -> int:
    with airlock.db.session() as s:
        recs = s.scalars(select(AuditRecord).order_by(AuditRecord.seq)).all()
        victim = recs[len(recs) // 2]
        if how == "edit":
            victim.payload = (
                victim.payload.replace("p1", "p9")
                if "p1" in victim.payload
                else victim.payload + " "
            )
        elif how == "delete":
            s.delete(victim)
        elif how == "delete-last":
            s.delete(recs[-1])
            return recs[-1].seq
        elif how == "reorder":
            a, b = victim, recs[len(recs) // 2 + 1]
            a_fields = (a.created, a.actor, a.action, a.subject, a.payload, a.prev_hash, a.hash)
            b_fields = (b.created, b.actor, b.action, b.subject, b.payload, b.prev_hash, b.hash)
            a.hash, b.hash = "x" * 64, "y" * 64
            s.flush()
            (a.created, a.actor, a.action, a.subject, a.payload, a.prev_hash, a.hash) = b_fields
            (b.created, b.actor, b.action, b.subject, b.payload, b.prev_hash, b.hash) = a_fields
        return victim.seq


@pytest.mark.parametrize("how", ["edit", "delete", "delete-last", "reorder"])
def test_audit_chain_detects_tampering(airlock: Airlock, how: str) -> None:
    rid = checked(airlock)
    airlock.vote(who("rev1"), rid, "approve")
    airlock.vote(who("rev2"), rid, "approve")
    airlock.release(rid)
    with airlock.db.session() as s:
        assert audit.verify(s).ok
    seq = _tamper(airlock, how)
    with airlock.db.session() as s:
        v = audit.verify(s)
    assert not v.ok
    assert v.bad_seq == seq


def test_audit_export_is_json_lines(airlock: Airlock, tmp_path: Path) -> None:
    checked(airlock)
    with airlock.db.session() as s:
        lines = [json.loads(x) for x in audit.export(s)]
    assert [x["seq"] for x in lines] == list(range(1, len(lines) + 1))
    assert {"project.create", "request.submit", "request.check"} <= {x["action"] for x in lines}


def test_concurrent_final_votes_approve_exactly_once(airlock: Airlock) -> None:
    """Two reviewers approve at the same moment: the request must end approved, not stuck with
    two approvals (each transaction must see the other's vote)."""
    import threading

    rid = checked(airlock)
    barrier = threading.Barrier(2)
    results: dict[str, str] = {}

    def vote(name: str) -> None:
        barrier.wait()
        results[name] = airlock.vote(who(name), rid, "approve")["state"]

    threads = [threading.Thread(target=vote, args=(n,)) for n in ("rev1", "rev2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results.values()) == ["approved", "awaiting_review"]
    assert airlock.get(who("alice"), rid)["state"] == "approved"
    with airlock.db.session() as s:
        assert audit.verify(s).ok


def test_approvals_of_an_earlier_revision_do_not_count(airlock: Airlock) -> None:
    rid = checked(airlock)
    airlock.vote(who("rev1"), rid, "approve")
    airlock.vote(who("rev2"), rid, "return", "aggregate by month instead")
    airlock.resubmit(who("alice"), rid, {"sql": GOOD_SQL})
    airlock.process(rid)
    assert airlock.vote(who("rev2"), rid, "approve")["state"] == "awaiting_review"
    assert airlock.get(who("alice"), rid)["approvals"] == 1
    assert airlock.vote(who("rev1"), rid, "approve")["state"] == "approved"


def test_requester_withdraws(airlock: Airlock) -> None:
    rid = checked(airlock)
    assert airlock.withdraw(who("alice"), rid)["state"] == "withdrawn"
    with pytest.raises(Conflict):
        airlock.vote(who("rev1"), rid, "approve")
    with pytest.raises(Conflict):
        airlock.withdraw(who("alice"), rid)


def test_members_see_no_unreviewed_results_before_release(airlock: Airlock) -> None:
    """Preview rows and check counts come from the full data (real minors' rows for U18
    projects): showing them to the project before release would bypass the review."""
    rid = checked(airlock)
    for member in ("alice", "amy", "rev3"):  # requester, member, reviewer on the project
        r = airlock.get(who(member), rid)
        assert r["preview"] is None, member
        assert r["report"] is None and r["state"] == "submitted", member
    assert airlock.get(who("rev1"), rid)["preview"]["rows"]
    assert airlock.get(who("boss"), rid)["report"]["checks"]
    airlock.vote(who("rev1"), rid, "approve")
    airlock.vote(who("rev2"), rid, "approve")
    airlock.release(rid)
    assert airlock.get(who("alice"), rid)["preview"]["rows"]


def test_reviewers_inspect_file_exports(airlock: Airlock) -> None:
    content = b"region,n\nDE,15\nFR,120\n"
    rid = airlock.submit(
        who("alice"),
        {
            "kind": "file",
            "project": "p1",
            "name": "table",
            "purpose": "Table 1",
            "filename": "table1.csv",
            "content_base64": base64.b64encode(content).decode(),
        },
    )["id"]
    airlock.process(rid)
    assert airlock.request_content(who("rev1"), rid) == ("table1.csv", content)
    assert airlock.get(who("rev1"), rid)["preview"]["rows"] == [["DE", "15"], ["FR", "120"]]
    with pytest.raises(Forbidden):
        airlock.request_content(who("bob"), rid)
    assert airlock.get(who("alice"), rid)["preview"] is None


def test_a_release_names_only_the_files_its_project_may_read(
    airlock: Airlock, dataset: Path
) -> None:
    """p1 has no U18 approval: its release must state nothing about the real minors' files
    (their hashes change when the minors' partition does), nor the full manifest's hash."""
    rid = checked(airlock)
    airlock.vote(who("rev1"), rid, "approve")
    airlock.vote(who("rev2"), rid, "approve")
    airlock.release(rid)
    manifest = json.loads(airlock.release_file(who("alice"), rid, "manifest.json"))
    (ds,) = manifest["datasets"]
    assert ds["files"] and not [p for p in ds["files"] if "audience=minor" in p]
    full = hashlib.sha256((dataset / "manifest.json").read_bytes()).hexdigest()
    assert ds["manifest_sha256"] not in (None, full)
    assert "audience=minor" not in json.dumps(airlock.get(who("alice"), rid)["provenance"])
