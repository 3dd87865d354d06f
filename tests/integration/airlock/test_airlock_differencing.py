"""The differencing guard in the airlock, through its real API behind a real hub and proxy.

A researcher gets one request released, then submits a second one whose cell differs from the
first by one person (the ground truth is recomputed with plain DuckDB). The second must not
reach reviewers with that cell; reviewers see the pair and the earlier release; the researcher
is told nothing computed on the data. Another project is compared only when the airlock is set
to compare across projects.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from airlock_hub import Hub, running_hub

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "policy"))
from policy_oracle import plain_connection


def call(hub: Hub, user: str, method: str, path: str, **kw) -> requests.Response:
    headers = {"Authorization": f"token {hub.token(user)}"}
    return requests.request(method, hub.airlock + path, headers=headers, timeout=60, **kw)


def submit(hub: Hub, sql: str, user: str = "alice", project: str = "p1") -> int:
    body = {"kind": "query", "project": project, "name": "likes", "purpose": "t", "sql": sql}
    r = call(hub, user, "POST", "api/requests", json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def checked(hub: Hub, rid: int, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = call(hub, "boss", "GET", f"api/requests/{rid}").json()
        if r["state"] not in ("submitted", "checking"):
            return r
        time.sleep(0.2)
    raise AssertionError(f"request {rid} still being checked")


def release(hub: Hub, rid: int) -> None:
    for reviewer in ("rev1", "rev2"):
        r = call(hub, reviewer, "POST", f"api/requests/{rid}/votes", json={"decision": "approve"})
        assert r.status_code == 201, r.text
    deadline = time.monotonic() + 60
    while call(hub, "boss", "GET", f"api/requests/{rid}").json()["state"] != "released":
        assert time.monotonic() < deadline, "not released"
        time.sleep(0.2)


def pair(dataset: Path, offset: int) -> tuple[str, str]:
    """Two allowed queries whose single cell differs by exactly one person (checked here)."""
    con = plain_connection(dataset, False)
    value = con.execute(
        "SELECT likes_count FROM users GROUP BY likes_count HAVING count(*) = 1 "
        f"ORDER BY likes_count DESC LIMIT 1 OFFSET {offset}"
    ).fetchone()[0]
    wide, narrow = (
        {r[0] for r in con.execute(f"SELECT user_id FROM users WHERE {w}").fetchall()}
        for w in (f"likes_count >= {value}", f"likes_count > {value}")
    )
    assert len(wide ^ narrow) == 1 and len(narrow) >= 20
    sql = "SELECT count(*) AS n, sum(likes_count) AS likes FROM users WHERE likes_count {} {}"
    return sql.format(">=", value), sql.format(">", value)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, dataset: Path) -> Iterator[Hub]:
    with running_hub(tmp_path_factory.mktemp("hub"), datasets={"demo": dataset}) as h:
        yield h


@pytest.fixture(scope="module")
def pooled(tmp_path_factory: pytest.TempPathFactory, dataset: Path) -> Iterator[Hub]:
    env = {"VCE_AIRLOCK_DIFFERENCING_SCOPE": "all"}
    with running_hub(
        tmp_path_factory.mktemp("hub-all"), datasets={"demo": dataset}, extra_env=env
    ) as h:
        yield h


def test_a_second_request_one_person_away_never_reaches_reviewers_with_that_cell(
    hub: Hub, dataset: Path
) -> None:
    first_sql, second_sql = pair(dataset, 40)
    first = submit(hub, first_sql)
    assert checked(hub, first)["state"] == "awaiting_review"
    release(hub, first)

    second = submit(hub, second_sql)
    detail = checked(hub, second)
    assert detail["state"] == "blocked" and detail["preview"] is None
    assert any("differencing" in r for r in detail["reasons"])
    withheld = detail["report"]["withheld"]
    assert {w["column"] for w in withheld} == {"n", "likes"}
    assert {w["earlier"]["release"] for w in withheld} == {f"request:{first}"}
    page = call(hub, "rev1", "GET", f"requests/{second}").text
    assert 'id="withheld"' in page and f'requests/{first}"' in page and "1 person" in page

    told = call(hub, "alice", "GET", f"api/requests/{second}").json()
    assert "withheld" not in str(told) and told.get("report") in (None, {})

    other = submit(hub, second_sql, user="bob", project="p2")  # not pooled: its own history
    assert checked(hub, other)["state"] == "awaiting_review"


def test_two_requests_awaiting_review_are_compared_with_each_other(hub: Hub, dataset: Path) -> None:
    first_sql, second_sql = pair(dataset, 60)
    first = submit(hub, first_sql)
    assert checked(hub, first)["state"] == "awaiting_review"  # not released yet
    second = submit(hub, second_sql)
    detail = checked(hub, second)
    assert detail["state"] == "blocked"
    assert detail["report"]["withheld"][0]["earlier"]["release"] == f"request:{first}"


def test_pooled_setting_compares_with_every_project(pooled: Hub, dataset: Path) -> None:
    first_sql, second_sql = pair(dataset, 40)
    first = submit(pooled, first_sql)
    assert checked(pooled, first)["state"] == "awaiting_review"
    release(pooled, first)
    other = submit(pooled, second_sql, user="bob", project="p2")
    detail = checked(pooled, other)
    assert detail["state"] == "blocked"
    assert detail["report"]["withheld"][0]["earlier"]["project"] == "p1"


def test_after_release_the_project_reads_null_cells_not_why(hub: Hub, dataset: Path) -> None:
    wide, narrow = pair(dataset, 80)
    earlier = submit(hub, wide.replace(", sum(likes_count) AS likes", ""))
    assert checked(hub, earlier)["state"] == "awaiting_review"  # in review: it counts
    value = narrow.rsplit(" ", 1)[1]
    # row 1 (above) is the narrow cell, one person away from the earlier request's cell
    sql = f"SELECT likes_count > {value} AS above, count(*) AS n FROM users GROUP BY 1 ORDER BY 1"
    rid = submit(hub, sql)
    detail = checked(hub, rid)
    assert detail["state"] == "awaiting_review"
    assert [w["row"] for w in detail["report"]["withheld"]] == [1]
    assert "1 person" in detail["report"]["withheld"][0]["reason"]
    release(hub, rid)
    told = call(hub, "alice", "GET", f"api/requests/{rid}").json()
    assert told["state"] == "released"
    assert [row[-1] is None for row in told["preview"]["rows"]] == [False, True]
    manifest = call(hub, "alice", "GET", f"api/requests/{rid}/files/manifest.json").json()
    for report in (told["report"], manifest["check_report"]):  # reviewers' material only
        assert "withheld" not in report and "person" not in json.dumps(report)
