"""A released request's report does not tell an empty group from a withheld one (empty-cell).

The probe: ``WHERE region_code = 'DE' OR (create_time = T AND age_band = B) GROUP BY
region_code``, for a target outside DE picked out by ``create_time``. Both versions release
the same DE row; the target's one-person group exists only when B is their age band, and is
withheld. Before, the released report said "1 row suppressed" for one and nothing for the
other. Both probes go through the real airlock (trusted run, two reviewers, release) and the
researcher's view of the two must be the same, while reviewers see the difference.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
from airlock_hub import who
from test_airlock_workflow import checked

from vce.airlock.workflow import Airlock


def _released_view(a: Airlock, sql: str) -> tuple[dict, dict]:
    rid = checked(a, sql=sql)
    a.vote(who("rev1"), rid, "approve")
    a.vote(who("rev2"), rid, "approve")
    assert a.release(rid)
    return a.get(who("alice"), rid), a.get(who("rev1"), rid)


def test_a_withheld_one_person_group_reads_like_no_group(airlock: Airlock, dataset: Path) -> None:
    t, band = duckdb.sql(  # ground truth, plain DuckDB over the adult partition
        f"SELECT create_time::VARCHAR, age_band FROM read_parquet('{dataset}/users/"
        "audience=adult/*.parquet') WHERE region_code <> 'DE' ORDER BY create_time LIMIT 1"
    ).fetchone()
    other = "13-15" if band != "13-15" else "45+"
    probe = (
        "SELECT region_code, count(*) AS n FROM users WHERE region_code = 'DE' OR "
        "(create_time = TIMESTAMP '{t}' AND age_band = '{b}') GROUP BY region_code"
    )
    yes, yes_staff = _released_view(airlock, probe.format(t=t, b=band))
    no, no_staff = _released_view(airlock, probe.format(t=t, b=other))
    assert yes_staff["report"]["suppressed_rows"] == 1  # the probe is real: reviewers see it
    assert no_staff["report"]["suppressed_rows"] == 0
    assert yes["state"] == no["state"] == "released"
    assert yes["report"] == no["report"] and "suppressed_rows" not in yes["report"]
    assert yes["preview"] == no["preview"]
    assert all(set(c) <= {"name", "thresholds"} for c in yes["report"]["checks"])
