"""Windows over groups would add up withheld groups: they are denied (issue 14, item 4).

``sum(sum(x)) OVER (PARTITION BY …)`` is computed before suppression, so the window total
minus the released groups is the withheld groups' value — one person's where one person was
behind it. Plain DuckDB reproduces the subtraction on the generated data (a withheld
one-author group's views come out exactly); the checked path and the CLI deny every window
form, in the outer query or an inner one, with a message saying how to compute shares.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from policy_oracle import plain_connection

from vce.policy import Context
from vce.policy.execute import run_checked
from vce.policy.model import load_policy

POLICY = load_policy()
GROUPED = "SELECT region_code, music_id, sum(view_count) AS views FROM videos GROUP BY 1, 2"


def test_the_window_total_minus_released_groups_is_a_withheld_value(dataset: Path) -> None:
    """Ground truth: what the window would give, against what the release withholds."""
    released = run_checked(GROUPED, Context(POLICY), [dataset])
    assert released.allowed and released.suppressed_rows > 0
    shown: dict[str, float] = {}
    keys = set()
    for r in released.table.to_pylist():
        shown[r["region_code"]] = shown.get(r["region_code"], 0) + float(r["views"])
        keys.add((r["region_code"], r["music_id"]))
    con = plain_connection(dataset, False)
    window = dict(
        con.execute(
            "SELECT DISTINCT region_code, sum(sum(view_count)) OVER (PARTITION BY region_code) "
            "FROM videos GROUP BY region_code, music_id"
        ).fetchall()
    )
    groups = con.execute(
        "SELECT region_code, music_id, sum(view_count), count(DISTINCT author_id) FROM videos "
        "GROUP BY 1, 2"
    ).fetchall()
    withheld: dict[str, float] = {}
    small: set[str] = set()
    for region, music, views, authors in groups:
        if (region, music) not in keys:
            withheld[region] = withheld.get(region, 0) + float(views)
            if authors < POLICY.thresholds.min_entities:
                small.add(region)
    region = next(g for g in sorted(small) if g in shown)
    # the window's total minus what was released is exactly what was withheld
    assert float(window[region]) - shown[region] == pytest.approx(withheld[region])


WINDOWS = [
    "SELECT region_code, music_id, sum(sum(view_count)) OVER (PARTITION BY region_code) AS t "
    "FROM videos GROUP BY 1, 2",
    "SELECT region_code, count(*) * 1.0 / sum(count(*)) OVER () AS share FROM videos GROUP BY 1",
    "WITH g AS (SELECT region_code, music_id, sum(view_count) AS v FROM videos GROUP BY 1, 2) "
    "SELECT region_code, music_id, sum(v) OVER (PARTITION BY region_code) AS t FROM g",
    "SELECT date_trunc('week', create_time) AS w, count(*) - lag(count(*)) OVER (ORDER BY "
    "date_trunc('week', create_time)) AS change FROM videos GROUP BY 1",
    "SELECT age_band, sum(sum(follower_count)) OVER () AS t FROM users GROUP BY 1",
]


@pytest.mark.parametrize("u18", [False, True], ids=["no-u18", "u18"])
@pytest.mark.parametrize("sql", WINDOWS)
def test_every_window_over_groups_is_denied(dataset: Path, sql: str, u18: bool) -> None:
    res = run_checked(sql, Context(POLICY, u18_approved=u18), [dataset])
    assert not res.allowed and not res.files_read
    assert "window-function" in {v.rule for v in res.reasons}


def test_the_cli_says_how_to_compute_shares(dataset: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "vce",
            "check",
            "--execute",
            "--data",
            str(dataset),
            "--json",
            WINDOWS[0],
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 1
    (v,) = [v for v in json.loads(out.stdout)["violations"] if v["rule"] == "window-function"]
    assert "released rows" in v["message"] and "suppressed" in v["message"]
