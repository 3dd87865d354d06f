"""Row-level export only of single-table rows, never rows linked to each other by a person.

The attack (issue 14): ``videos`` may leave row by row but never who posted them. Joining
``videos`` to itself on ``author_id`` and filtering on one known video (its ``create_time``, a
column anyone may filter on) released that author's whole history. Every linking form is
tried from the attacker's side, and the rows they would have got are recomputed with plain
DuckDB to show each is one person's history.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from policy_oracle import plain_connection

from vce.policy import Context
from vce.policy.execute import run_checked, static_check
from vce.policy.model import load_policy
from vce.policy.rewrite import LinkedRowExport, rewrite

POLICY = load_policy()

LINKED = [
    "SELECT v2.create_time, v2.view_count FROM videos v1 JOIN videos v2 "
    "ON v1.author_id = v2.author_id WHERE v1.create_time = TIMESTAMP '{t}'",
    "WITH mine AS (SELECT v2.create_time AS c, v2.view_count AS n FROM videos v1 "
    "JOIN videos v2 ON v1.author_id = v2.author_id WHERE v1.create_time = TIMESTAMP '{t}') "
    "SELECT c, n FROM mine",
    "SELECT c, n FROM (SELECT v2.create_time AS c, v2.view_count AS n FROM videos v1, videos v2 "
    "WHERE v1.author_id = v2.author_id AND v1.create_time = TIMESTAMP '{t}') AS x",
    "SELECT v.create_time, v.view_count FROM videos v WHERE v.author_id IN "
    "(SELECT author_id FROM videos WHERE create_time = TIMESTAMP '{t}')",
    "SELECT v.create_time, v.view_count FROM videos v WHERE EXISTS (SELECT 1 FROM videos w "
    "WHERE w.author_id = v.author_id AND w.create_time = TIMESTAMP '{t}')",
    "SELECT v.create_time, v.view_count FROM videos v JOIN users u ON u.user_id = v.author_id "
    "WHERE u.region_code = 'IS'",
]


@pytest.fixture(scope="module")
def known_video(dataset: Path) -> tuple[str, int]:
    """The busiest adult author's first video: its create_time and that author's video count."""
    con = plain_connection(dataset, False)
    t, n = con.execute(
        "SELECT min(create_time)::VARCHAR, count(*) FROM videos GROUP BY author_id "
        "ORDER BY count(*) DESC LIMIT 1"
    ).fetchone()
    return t, n


@pytest.mark.parametrize("shape", LINKED)
def test_linked_row_export_is_denied(dataset: Path, known_video: tuple[str, int], shape: str):
    sql = shape.format(t=known_video[0])
    res = run_checked(sql, Context(POLICY), [dataset])
    assert not res.allowed and res.table is None
    assert "row-export-linked" in {v.rule for v in res.reasons}, res.reasons


def test_the_self_join_would_release_one_authors_history(
    dataset: Path, known_video: tuple[str, int]
) -> None:
    """Ground truth: what the self-join returns is exactly one person's videos (192 in the
    issue), so releasing it is releasing a person's history."""
    t, n = known_video
    con = plain_connection(dataset, False)
    authors, rows = con.execute(
        f"SELECT count(DISTINCT v2.author_id), count(*) FROM videos v1 JOIN videos v2 "
        f"ON v1.author_id = v2.author_id WHERE v1.create_time = TIMESTAMP '{t}'"
    ).fetchone()
    assert authors == 1 and rows == n > 50


def test_the_trusted_rewrite_refuses_linked_rows_by_itself() -> None:
    """The guard holds even if the static rule were bypassed (the rewrite alone decides)."""
    with pytest.raises(LinkedRowExport):
        rewrite(
            "SELECT v2.create_time FROM videos v1 JOIN videos v2 ON v1.author_id = v2.author_id",
            POLICY,
            minors_possible=False,
        )
    _, rw, violations = static_check(
        "SELECT v2.create_time FROM videos v1 JOIN videos v2 ON v1.author_id = v2.author_id",
        Context(POLICY),
    )
    assert rw is None and {v.rule for v in violations} == {"row-export-linked"}


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT create_time, view_count FROM videos WHERE region_code = 'FR'",
        "SELECT create_time, view_count FROM videos WHERE view_count > "
        "(SELECT avg(view_count) FROM videos)",
        "WITH fr AS (SELECT create_time, view_count FROM videos WHERE region_code = 'FR') "
        "SELECT create_time, view_count FROM fr",
        "SELECT create_time, view_count FROM videos WHERE region_code = 'FR' "
        "UNION ALL SELECT create_time, view_count FROM videos WHERE region_code = 'DE'",
    ],
)
def test_single_table_rows_still_leave(dataset: Path, sql: str) -> None:
    res = run_checked(sql, Context(POLICY), [dataset])
    assert res.allowed, res.reasons
    truth = plain_connection(dataset, False).execute(f"SELECT count(*) FROM ({sql})").fetchone()
    assert res.table.num_rows == truth[0] > 0
