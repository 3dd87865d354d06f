"""Empty cells are withheld exactly like one-person cells: yes/no oracles give no bit.

Each probe below is run twice, once where a target (picked out by their ``create_time``, a
column anyone may filter on) meets a condition and once where they do not; plain DuckDB
confirms the two runs differ in the real data by exactly that person. The released results
must be identical: an empty group and a suppressed group look the same (issue 14, item 4).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from policy_oracle import plain_connection

from vce.policy import Context
from vce.policy.execute import run_checked
from vce.policy.model import load_policy

POLICY = load_policy()


def _released(sql: str, data: Path, u18: bool = False) -> list[dict]:
    res = run_checked(sql, Context(POLICY, u18_approved=u18), [data])
    assert res.allowed, res.reasons  # (an allowed query: what differs is only what it releases)
    return res.table.to_pylist()


@pytest.fixture(scope="module")
def reviewer(dataset: Path) -> tuple[str, str]:
    """An adult who wrote product reviews and one who wrote none: their create_times."""
    con = plain_connection(dataset, False)
    has = con.execute(
        "SELECT u.create_time::VARCHAR FROM users u JOIN product_reviews r "
        "ON r.reviewer_id = u.user_id GROUP BY ALL ORDER BY 1 LIMIT 1"
    ).fetchone()[0]
    none = con.execute(
        "SELECT u.create_time::VARCHAR FROM users u WHERE NOT EXISTS (SELECT 1 FROM "
        "product_reviews r WHERE r.reviewer_id = u.user_id) ORDER BY 1 LIMIT 1"
    ).fetchone()[0]
    return has, none


def _target(data: Path, u18: bool) -> tuple[str, str, str]:
    """A person by create_time (a real minor for U18), their age band and another one."""
    audience = "minor" if u18 else "adult"
    t, band = (
        plain_connection(data, u18)
        .execute(
            "SELECT create_time::VARCHAR, age_band FROM users WHERE audience = ? "
            "ORDER BY create_time LIMIT 1",
            [audience],
        )
        .fetchone()
    )
    return t, band, ("13-15" if band != "13-15" else "16-17")


@pytest.mark.parametrize("u18", [False, True], ids=["no-u18", "u18"])
def test_filter_cell_of_one_person_and_of_nobody_look_the_same(dataset: Path, u18: bool) -> None:
    t, band, other = _target(dataset, u18)
    sql = (
        "SELECT region_code, count(*) AS n, count(*) FILTER (WHERE create_time = "
        "TIMESTAMP '{t}' AND age_band = '{b}') AS hit FROM users GROUP BY region_code "
        "ORDER BY region_code"
    )
    con = plain_connection(dataset, u18)
    hits = con.execute(f"SELECT sum(hit) FROM ({sql.format(t=t, b=band)})").fetchone()[0]
    assert hits == 1  # on plain DuckDB the target is the one person of one cell
    yes = _released(sql.format(t=t, b=band), dataset, u18)
    no = _released(sql.format(t=t, b=other), dataset, u18)
    assert yes == no
    assert all(r["hit"] != 0 for r in yes)  # no released zero says "not this person"


def test_left_join_group_without_matches_is_withheld_like_a_small_one(
    dataset: Path, reviewer: tuple[str, str]
) -> None:
    has, none = reviewer
    sql = (
        "SELECT u.region_code, count(*) AS users, count(r.id) AS reviews FROM users u "
        "LEFT JOIN product_reviews r ON r.reviewer_id = u.user_id AND u.create_time = "
        "TIMESTAMP '{t}' GROUP BY 1 ORDER BY 1"
    )
    con = plain_connection(dataset, False)
    truth = con.execute(f"SELECT sum(reviews) FROM ({sql.format(t=has)})").fetchone()[0]
    assert truth > 0  # the one probe joins a person's reviews, the other joins none
    assert con.execute(f"SELECT sum(reviews) FROM ({sql.format(t=none)})").fetchone()[0] == 0
    assert _released(sql.format(t=has), dataset) == _released(sql.format(t=none), dataset)


@pytest.mark.parametrize("u18", [False, True], ids=["no-u18", "u18"])
def test_having_condition_on_one_person_gives_no_bit(dataset: Path, u18: bool) -> None:
    t, band, other = _target(dataset, u18)
    sql = (
        "SELECT region_code, count(*) AS n FROM users GROUP BY region_code HAVING "
        "count(*) FILTER (WHERE create_time = TIMESTAMP '{t}' AND age_band = '{b}') = 0 "
        "ORDER BY 1"
    )
    con = plain_connection(dataset, u18)
    rows_yes = con.execute(sql.format(t=t, b=band)).fetchall()
    rows_no = con.execute(sql.format(t=t, b=other)).fetchall()
    assert len(rows_no) == len(rows_yes) + 1  # on plain DuckDB the target's region drops out
    assert _released(sql.format(t=t, b=band), dataset, u18) == _released(
        sql.format(t=t, b=other), dataset, u18
    )


def test_union_all_branches_over_other_tables_still_release(dataset: Path) -> None:
    """A zero that is structural (this branch reads no comments) is no disclosure."""
    rows = _released(
        "SELECT 'videos' AS what, count(*) AS n FROM videos "
        "UNION ALL SELECT 'comments', count(*) FROM comments",
        dataset,
    )
    assert sorted(r["what"] for r in rows) == ["comments", "videos"]


def test_large_filter_cells_still_release(dataset: Path) -> None:
    sql = (
        "SELECT region_code, count(*) AS n, count(*) FILTER (WHERE age_band IN ('25-34', '35-44')) AS adults "
        "FROM users GROUP BY region_code"
    )
    truth = plain_connection(dataset, False).execute(
        f"SELECT count(*) FROM ({sql}) WHERE adults >= 10 AND n >= 10"
    )
    rows = _released(sql, dataset)
    assert len(rows) >= 1 and len(rows) <= truth.fetchone()[0]


def test_a_one_person_cell_next_to_an_empty_cell_is_withheld(dataset: Path) -> None:
    """Before, the smallest cell was ``least(nullif(a, 0), nullif(b, 0))``, which DuckDB SQL from
    sqlglot makes NULL as soon as one cell is empty: the one-person cell then passed."""
    t, _, _ = _target(dataset, False)
    sql = (
        "SELECT region_code, count(*) AS n, count(*) FILTER (WHERE create_time = "
        f"TIMESTAMP '{t}') AS a, count(*) FILTER (WHERE age_band = 'none') AS b "
        "FROM users GROUP BY 1"
    )
    (region,) = (
        plain_connection(dataset, False)
        .execute(f"SELECT region_code FROM users WHERE create_time = TIMESTAMP '{t}'")
        .fetchone()
    )
    assert region not in {r["region_code"] for r in _released(sql, dataset)}
