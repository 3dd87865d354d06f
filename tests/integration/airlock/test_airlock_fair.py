"""A fair airlock: several workers with a per-project queue, per-project rate limits and
quotas, file bodies outside the database with retention — on SQLite and PostgreSQL, with real
trusted re-execution (and, for the limits and retention, through the real hub's HTTP API)."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from airlock_hub import Hub, running_hub, who
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, select, text, update
from test_airlock_api import call, file_body, wait_checked

from vce.airlock import projects
from vce.airlock.config import Settings
from vce.airlock.db import MIGRATIONS, Database, make_engine
from vce.airlock.errors import AirlockError
from vce.airlock.models import Event, Request, utcnow
from vce.airlock.worker import Worker
from vce.airlock.workflow import Airlock

GOOD_SQL = "SELECT region_code, count(*) AS videos FROM videos GROUP BY region_code"
CSV = b"region,n\nDE,15\nFR,120\n"


def make(settings: Settings, **changes: object) -> Airlock:
    """An airlock with ``changes`` to the settings and projects p1 (alice, amy) and p2 (bob)."""
    a = Airlock(dataclasses.replace(settings, **changes))
    with a.db.session() as s:
        projects.create(s, "boss", "p1", "Climate talk", "alice")
        projects.add_member(s, "boss", "p1", "amy")
        projects.grant(s, "boss", "p1", "demo")
        projects.create(s, "boss", "p2", "Shops", "bob")
        projects.grant(s, "boss", "p2", "demo")
    return a


@pytest.fixture
def airlocks() -> Iterator[list[Airlock]]:
    made: list[Airlock] = []
    yield made
    for a in made:
        a.db.dispose()


def query(a: Airlock, user: str = "alice", project: str = "p1") -> int:
    body = {"kind": "query", "project": project, "name": "n", "purpose": "p", "sql": GOOD_SQL}
    return a.submit(who(user), body)["id"]


def upload(a: Airlock, content: bytes = CSV, user: str = "alice", project: str = "p1") -> int:
    body = {
        "kind": "file",
        "project": project,
        "name": "table",
        "purpose": "Table 1",
        "filename": "table1.csv",
        "content_base64": base64.b64encode(content).decode(),
    }
    return a.submit(who(user), body)["id"]


def states(a: Airlock, ids: list[int]) -> dict[int, str]:
    with a.db.session() as s:
        return dict(s.execute(select(Request.id, Request.state).where(Request.id.in_(ids))).all())


def wait_until(predicate, timeout: float = 120) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "gave up waiting (a guard, not a measurement)"
        time.sleep(0.05)


def release(a: Airlock, rid: int) -> None:
    assert a.process(rid) == "awaiting_review"
    a.vote(who("rev1"), rid, "approve")
    a.vote(who("rev2"), rid, "approve")
    assert a.release(rid)


# ------------------------------------------------------------------ fair queue


def test_flood_from_one_project_does_not_hold_up_another(
    settings: Settings, airlocks: list[Airlock]
) -> None:
    """Six heavy requests of p1 (each re-execution held 0.5 s by fault injection), then one of
    p2: p2's finishes while most of p1's flood is still waiting, p1's run one at a time and in
    submission order."""
    a = make(settings, fault_exec_delay=0.5)
    airlocks.append(a)
    flood = [query(a) for _ in range(6)]
    bobs = query(a, "bob", "p2")
    worker = Worker(a)
    worker.start()
    try:
        wait_until(lambda: states(a, [bobs])[bobs] not in ("submitted", "checking"))
        at_that_moment = states(a, flood)
        wait_until(lambda: all(st == "awaiting_review" for st in states(a, flood).values()))
    finally:
        worker.stop()
    assert states(a, [bobs])[bobs] == "awaiting_review"
    waiting = [rid for rid, st in at_that_moment.items() if st == "submitted"]
    assert len(waiting) >= 3, f"p2 waited behind p1's flood: {at_that_moment}"
    with a.db.session() as s:
        events = s.execute(
            select(Event.request_id, Event.to_state, Event.id)
            .where(Event.request_id.in_(flood))
            .order_by(Event.id)
        ).all()
    started = [rid for rid, to, _ in events if to == "checking"]
    assert started == sorted(flood), "FIFO inside a project"
    order = [(rid, to) for rid, to, _ in events if to in ("checking", "awaiting_review")]
    for (r1, t1), (r2, t2) in zip(order[::2], order[1::2], strict=True):
        assert (t1, t2) == ("checking", "awaiting_review") and r1 == r2, (
            f"two requests of p1 were checked at the same time: {order}"
        )


def test_workers_resume_a_request_a_killed_process_left_in_checking(
    settings: Settings, airlocks: list[Airlock]
) -> None:
    a = make(settings)
    airlocks.append(a)
    rid = query(a)
    with a.db.session() as s:  # as if the service was killed mid-execution
        s.execute(update(Request).where(Request.id == rid).values(state="checking"))
    worker = Worker(a)
    worker.start()
    try:
        wait_until(lambda: states(a, [rid])[rid] == "awaiting_review")
    finally:
        worker.stop()


# ------------------------------------------------------------------ quotas


def test_rows_quota_counts_only_released_results(
    settings: Settings, airlocks: list[Airlock]
) -> None:
    """An unreleased result (computed on the real data) must not change what the researcher is
    told; once a result is released, its rows count and the next submission is refused."""
    a = make(settings, released_rows_per_week=1)
    airlocks.append(a)
    first = query(a)
    assert a.process(first) == "awaiting_review"  # a result with rows, not released
    second = query(a)  # accepted: nothing was released to p1 yet
    a.vote(who("rev1"), first, "approve")
    a.vote(who("rev2"), first, "approve")
    assert a.release(first)
    with pytest.raises(AirlockError) as refused:
        query(a)
    assert refused.value.status == 429 and refused.value.code == "quota_rows"
    monday = (utcnow().date() + dt.timedelta(days=7 - utcnow().weekday())).isoformat()
    assert "quota of 1 released rows per week" in refused.value.message
    assert f"resets at {monday}T00:00:00Z" in refused.value.message
    a.process(second)
    a.vote(who("rev1"), second, "return", "fewer columns")
    with pytest.raises(AirlockError, match="quota"):
        a.resubmit(who("alice"), second, {"sql": GOOD_SQL})  # resubmissions count too
    assert query(a, "bob", "p2"), "another project is not affected"


def test_bytes_quota_counts_released_files(settings: Settings, airlocks: list[Airlock]) -> None:
    a = make(settings, released_bytes_per_week=len(CSV))
    airlocks.append(a)
    rid = upload(a)
    release(a, rid)
    with pytest.raises(AirlockError) as refused:
        upload(a)
    assert refused.value.status == 429 and refused.value.code == "quota_bytes"
    assert f"{len(CSV)} bytes this week" in refused.value.message


# ------------------------------------------------------------------ file bodies


def test_submitted_body_is_on_disk_not_in_the_database(
    settings: Settings, airlocks: list[Airlock], tmp_path: Path
) -> None:
    content = b"region,n\n" + b"XX,100\n" * 2000
    a = make(settings)
    airlocks.append(a)
    rid = upload(a, content)
    digest = hashlib.sha256(content).hexdigest()
    stored = tmp_path / "files" / digest
    assert stored.read_bytes() == content
    with a.db.engine.connect() as c:
        row = c.execute(text("SELECT * FROM requests WHERE id = :i"), {"i": rid}).mappings().one()
    for column, value in row.items():
        assert not isinstance(value, bytes | memoryview) or content not in bytes(value), column
    assert row["content_sha256"] == digest and row["content_size"] == len(content)
    assert a.request_content(who("rev1"), rid) == ("table1.csv", content)
    assert a.process(rid) == "awaiting_review"


def test_migration_moves_existing_bodies_out(settings: Settings, tmp_path: Path) -> None:
    """A database at revision 0001 with a body in ``requests.content`` is upgraded: the body
    is in the folder, the column is gone, reviewers still read the file."""
    engine = make_engine(settings.db_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    now = utcnow().replace(tzinfo=None)  # as the driver stores it
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO projects (id, slug, title, pi, status, u18_approved, created) "
                "VALUES (1, 'p1', 't', 'alice', 'active', false, :now)"
            ),
            {"now": now},
        )
        conn.execute(
            text(
                "INSERT INTO requests (id, project_id, requester, kind, name, purpose, filename,"
                " content, state, revision, attempts, reasons, created, updated) VALUES (7, 1,"
                " 'alice', 'file', 'n', 'p', 'old.csv', :body, 'awaiting_review', 1, 1, '[]',"
                " :now, :now)"
            ),
            {"body": CSV, "now": now},
        )
    engine.dispose()
    with pytest.raises(RuntimeError, match="1 file bodies to move"):
        Database(settings.db_url)  # nowhere to move them to: refuse rather than lose them
    a = Airlock(settings)
    try:
        columns = {c["name"] for c in inspect(a.db.engine).get_columns("requests")}
        assert "content" not in columns and "content_sha256" in columns
        assert (tmp_path / "files" / hashlib.sha256(CSV).hexdigest()).read_bytes() == CSV
        assert a.request_content(who("rev1"), 7) == ("old.csv", CSV)
    finally:
        a.db.dispose()


def test_retention_deletes_finished_bodies_and_inspect_says_gone(
    settings: Settings, airlocks: list[Airlock], tmp_path: Path
) -> None:
    a = make(settings)
    airlocks.append(a)
    shared, alone = CSV, b"region,n\nIT,200\n"
    rejected = upload(a, shared)
    withdrawn = upload(a, alone)
    live = upload(a, shared, user="amy")  # same bytes, still under review
    for rid in (rejected, withdrawn, live):
        a.process(rid)
    a.vote(who("rev1"), rejected, "reject", "raw rows")
    a.withdraw(who("alice"), withdrawn)
    month = dt.timedelta(days=30)
    early = a.bodies.sweep(a.db, month, now=utcnow() + dt.timedelta(days=29))
    assert (early.expired, early.deleted) == (0, 0)
    done = a.bodies.sweep(a.db, month, now=utcnow() + dt.timedelta(days=31))
    assert (done.expired, done.deleted) == (2, 1)
    files = tmp_path / "files"
    assert not (files / hashlib.sha256(alone).hexdigest()).exists()
    assert (files / hashlib.sha256(shared).hexdigest()).exists(), "a live request still uses it"
    for rid in (rejected, withdrawn):
        with pytest.raises(AirlockError) as gone:
            a.request_content(who("rev1"), rid)
        assert gone.value.status == 410 and "retention" in gone.value.message
        assert a.get(who("rev1"), rid)["preview"] is None  # the page still renders
    assert a.request_content(who("rev1"), live)[1] == shared


# ------------------------------------------------------------------ over HTTP


@pytest.fixture(scope="module")
def limited_hub(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, dataset: Path
) -> Iterator[Hub]:
    """A hub whose airlock allows 3 requests per project and day and keeps the bodies of
    finished requests for 0 days, sweeping every second."""
    with running_hub(
        tmp_path_factory.mktemp("limitedhub"),
        datasets={"demo": dataset},
        extra_env={
            "VCE_AIRLOCK_REQUESTS_PER_DAY": "3",
            "VCE_AIRLOCK_BODY_RETENTION_DAYS": "0",
            "VCE_AIRLOCK_SWEEP_SECONDS": "1",
        },
    ) as h:
        yield h


def _post(h: Hub, user: str, project: str) -> object:
    body = {"kind": "query", "project": project, "name": "n", "purpose": "p", "sql": GOOD_SQL}
    return call(h, user, "POST", "api/requests", json=body)


def test_request_over_the_daily_limit_answers_429(limited_hub: Hub) -> None:
    h = limited_hub
    for _ in range(3):
        assert _post(h, "bob", "p2").status_code == 201
    r = _post(h, "bob", "p2")
    assert r.status_code == 429, r.text
    err = r.json()["error"]
    tomorrow = (utcnow().date() + dt.timedelta(days=1)).isoformat()
    assert err["code"] == "rate_limited"
    assert "3 requests per day" in err["message"]
    assert f"resets at {tomorrow}T00:00:00Z" in err["message"]
    assert 0 < int(r.headers["Retry-After"]) <= 86400
    assert _post(h, "alice", "p1").status_code == 201, "the limit is per project"


def test_inspect_link_of_an_expired_body_answers_410(limited_hub: Hub) -> None:
    h = limited_hub
    r = call(
        h,
        "alice",
        "POST",
        "api/requests",
        json=file_body("table1.csv", CSV, name="Table 1"),
    )
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert wait_checked(h, rid)["state"] == "awaiting_review"
    assert call(h, "rev1", "GET", f"api/requests/{rid}/content").content == CSV
    vote = {"decision": "reject", "comment": "raw rows"}
    assert call(h, "rev1", "POST", f"api/requests/{rid}/votes", json=vote).status_code == 201
    stored = h.state_dir / "files" / hashlib.sha256(CSV).hexdigest()
    wait_until(lambda: call(h, "rev1", "GET", f"api/requests/{rid}/content").status_code == 410, 60)
    gone = call(h, "rev1", "GET", f"api/requests/{rid}/content").json()["error"]
    assert gone["code"] == "content_expired" and "retention" in gone["message"]
    assert not stored.exists()
