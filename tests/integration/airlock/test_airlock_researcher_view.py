"""A hostile researcher learns nothing about real data before release: attacker's side, real HTTP.

Two datasets differ in exactly one real minor (their follower count and username). The same
researcher sends the same requests — engine-error probes that quote row values, and state
oracles that flip a U18 threshold on whether one minor exists — to a U18-approved project on
each, through the real airlock API behind a real JupyterHub, with a hub API token of their own
(what the sandbox holds). Everything the researcher receives before release (the submit
answer, the request, the listing, the request page) must be identical across the two, while
the reviewers, for the same requests, see the difference (so the probes are real).
"""

from __future__ import annotations

import difflib
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
import requests
from airlock_hub import Hub, running_hub

TARGET_FOLLOWERS = 9_999_999
TARGET_NAME = "zz_target_minor"


def _users(root: Path, audience: str) -> str:
    return str(root / "users" / f"audience={audience}" / "*.parquet")


@pytest.fixture(scope="module")
def twins(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Dataset A as generated; dataset B: one real minor's follower count and username changed."""
    b = tmp_path_factory.mktemp("twin") / "b"
    shutil.copytree(dataset, b)
    (path,) = (b / "users" / "audience=minor").glob("*.parquet")
    table = pq.read_table(path)
    followers = table.column("follower_count").to_pylist()
    names = table.column("username").to_pylist()
    followers[0], names[0] = TARGET_FOLLOWERS, TARGET_NAME
    table = table.set_column(
        table.schema.get_field_index("follower_count"), "follower_count", [followers]
    )
    table = table.set_column(table.schema.get_field_index("username"), "username", [names])
    pq.write_table(table, path)
    return dataset, b


@pytest.fixture(scope="module")
def twin_hub(tmp_path_factory: pytest.TempPathFactory, twins: tuple[Path, Path]) -> Iterator[Hub]:
    a, b = twins
    with running_hub(tmp_path_factory.mktemp("twinhub"), datasets={"a": a, "b": b}) as h:
        boss = {"Authorization": f"token {h.token('boss')}"}
        for slug, ds in (("pa", "a"), ("pb", "b")):
            r = requests.post(
                h.airlock + "api/projects",
                headers=boss,
                json={"slug": slug, "title": slug, "pi": "alice", "datasets": [ds]},
                timeout=30,
            )
            assert r.status_code == 201, r.text
            r = requests.post(
                h.airlock + f"api/projects/{slug}/u18", headers=boss, json={}, timeout=30
            )
            assert r.status_code == 200, r.text
        yield h


def _padding_region(a: Path) -> str:
    """A region with between 10 and 49 adults: released alone, withheld with one minor in it."""
    counts = duckdb.sql(
        f"SELECT region_code, count(*) AS n FROM read_parquet('{_users(a, 'adult')}') "
        "GROUP BY region_code HAVING n BETWEEN 12 AND 45 ORDER BY n DESC LIMIT 1"
    ).fetchone()
    assert counts is not None
    return counts[0]


def _probes(a: Path) -> dict[str, str]:
    region = _padding_region(a)
    one_minor = f"(audience = 'minor' AND follower_count = {TARGET_FOLLOWERS})"
    return {
        "error quotes usernames": (
            "SELECT count(DISTINCT cast(username AS INTEGER)) AS n FROM users "
            "WHERE audience = 'minor'"
        ),
        "error quotes a profile": (
            "SELECT count(*) AS n FROM users WHERE audience = 'minor' AND cast(concat("
            "display_name, ' | ', bio_description, ' | ', follower_count) AS INTEGER) > 0"
        ),
        "error quotes a sum": (
            "SELECT CAST(sum(follower_count) AS SMALLINT) AS s FROM users WHERE audience = 'minor'"
        ),
        "error is a bit": (
            "SELECT count(*) AS n FROM users WHERE audience = 'minor' AND CAST(CASE WHEN "
            f"follower_count = {TARGET_FOLLOWERS} THEN 'x' ELSE '1' END AS INTEGER) > 0"
        ),
        "state is a bit": (
            "SELECT count(*) AS n FROM users WHERE "
            f"(audience = 'adult' AND region_code = '{region}') OR {one_minor}"
        ),
    }


def _call(h: Hub, user: str, method: str, path: str, **kw) -> requests.Response:
    headers = {"Authorization": f"token {h.token(user)}"}
    return requests.request(method, h.airlock + path, headers=headers, timeout=60, **kw)


def _settled(h: Hub, rid: int) -> dict:
    """Wait until the trusted run is over (as an administrator sees it); return that view."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        r = _call(h, "boss", "GET", f"api/requests/{rid}").json()
        if r["state"] not in ("submitted", "checking"):
            return r
        time.sleep(0.2)
    raise AssertionError(f"request {rid} still being checked")


_VOLATILE = re.compile(
    r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(\+00:00)?|(?i:requests?[/ ]\d+)|>\d+<"
    r"|\bp[ab]\b|name=\"_xsrf\" value=\"[^\"]+\""
)


def _normalised(value: object) -> object:
    """Drop what differs by construction: ids, project slugs, timestamps, XSRF tokens."""
    if isinstance(value, dict):
        return {k: _normalised(v) for k, v in value.items() if k != "id"}
    if isinstance(value, list):
        return [_normalised(v) for v in value]
    if isinstance(value, str):
        return _VOLATILE.sub("…", value)
    return value


def _what_the_researcher_receives(h: Hub, project: str, sql: str) -> tuple[list, dict]:
    body = {"kind": "query", "project": project, "name": "probe", "purpose": "probe", "sql": sql}
    answer = _call(h, "alice", "POST", "api/requests", json=body)
    assert answer.status_code == 201, answer.text
    rid = answer.json()["id"]
    staff = _settled(h, rid)
    seen = [
        answer.status_code,
        answer.json(),
        _call(h, "alice", "GET", f"api/requests/{rid}").json(),
        _call(h, "alice", "GET", f"api/requests?project={project}").json(),
        _call(h, "alice", "GET", f"api/requests?project={project}&state=blocked").json(),
        _call(h, "alice", "GET", f"requests/{rid}").text,
        _call(h, "alice", "GET", f"api/requests/{rid}/content").status_code,
        _call(h, "alice", "POST", f"api/requests/{rid}/resubmit", json={"sql": sql}).json(),
    ]
    return _normalised(seen), staff


def _diff(a: list, b: list) -> str:
    for x, y in zip(a, b, strict=True):
        if x != y:
            return "\n".join(difflib.unified_diff(str(x).splitlines(), str(y).splitlines()))
    return ""


PROBES = [
    "error quotes usernames",
    "error quotes a profile",
    "error quotes a sum",
    "error is a bit",
    "state is a bit",
]


@pytest.mark.parametrize("probe", PROBES)
def test_nothing_the_researcher_receives_differs_by_one_real_minor(
    twin_hub: Hub, twins: tuple[Path, Path], probe: str
) -> None:
    sql = _probes(twins[0])[probe]
    seen_a, staff_a = _what_the_researcher_receives(twin_hub, "pa", sql)
    seen_b, staff_b = _what_the_researcher_receives(twin_hub, "pb", sql)
    assert seen_a == seen_b, f"{probe}: the researcher can tell the datasets apart:\n" + _diff(
        seen_a, seen_b
    )
    assert TARGET_NAME not in repr(seen_b)
    if staff_a["state"] == "denied":  # stopped at the source: the static check refused it
        assert staff_b["state"] == "denied" and seen_a[1]["reasons"]
    elif (staff_a["state"], staff_a["reasons"]) == (staff_b["state"], staff_b["reasons"]):
        # stopped in the trusted run alike on both datasets (the low-effect check withholds
        # the cell the minor's disjunct moves): there is no bit left to hide
        assert staff_a["state"] == "blocked", probe
    else:  # the probe is real: on the full data the two runs differ, and reviewers see it
        assert staff_a["state"] != "denied"
