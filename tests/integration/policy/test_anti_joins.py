"""Anti-joins count the people they exclude (rule ``anti-join``).

The attack (issue 14): ``NOT EXISTS`` keeps a whole group but one person, the group's total
is another allowed query, and the difference is that person's value — a minor's product
review ratings came out this way. Every anti-join form (``NOT EXISTS``, ``NOT IN``,
``LEFT JOIN … WHERE key IS NULL``) is tried from the attacker's side; plain DuckDB confirms
each would have removed exactly one person, and the released groups of a benign anti-join
are checked against the removed people recomputed independently.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from policy_oracle import plain_connection

from vce.policy import Context
from vce.policy.execute import run_checked
from vce.policy.model import load_policy

POLICY = load_policy()
TH = POLICY.thresholds

ONE_PERSON = [
    "SELECT count(*) AS n, sum(review_rating) AS s FROM product_reviews r WHERE NOT EXISTS "
    "(SELECT 1 FROM users u WHERE u.user_id = r.reviewer_id AND u.create_time = TIMESTAMP '{t}')",
    "SELECT count(*) AS n, sum(review_rating) AS s FROM product_reviews r WHERE r.reviewer_id "
    "NOT IN (SELECT user_id FROM users WHERE create_time = TIMESTAMP '{t}')",
    "SELECT count(*) AS n, sum(r.review_rating) AS s FROM product_reviews r LEFT JOIN "
    "(SELECT user_id FROM users WHERE create_time = TIMESTAMP '{t}') AS x "
    "ON x.user_id = r.reviewer_id WHERE x.user_id IS NULL",
    "SELECT count(*) AS n, sum(r.review_rating) AS s FROM product_reviews r LEFT JOIN users u "
    "ON u.user_id = r.reviewer_id AND u.create_time = TIMESTAMP '{t}' WHERE u.user_id IS NULL",
    "SELECT p.shop_id IS NULL AS x, count(*) AS n, sum(review_rating) AS s "
    "FROM product_reviews r JOIN products p ON p.product_id = r.product_id WHERE NOT EXISTS "
    "(SELECT 1 FROM users u WHERE u.user_id = r.reviewer_id AND u.create_time = TIMESTAMP '{t}') "
    "GROUP BY 1",
]


def _reviewer(data: Path, u18: bool) -> str:
    """A reviewer (a real minor for U18), picked out by create_time: what the attacker knows."""
    return (
        plain_connection(data, u18)
        .execute(
            "SELECT u.create_time::VARCHAR FROM users u JOIN product_reviews r "
            "ON r.reviewer_id = u.user_id WHERE u.audience = ? ORDER BY 1 LIMIT 1",
            ["minor" if u18 else "adult"],
        )
        .fetchone()[0]
    )


@pytest.mark.parametrize("u18", [False, True], ids=["no-u18", "u18"])
@pytest.mark.parametrize("shape", ONE_PERSON)
def test_anti_join_removing_one_person_is_withheld(dataset: Path, shape: str, u18: bool) -> None:
    t = _reviewer(dataset, u18)
    sql = shape.format(t=t)
    con = plain_connection(dataset, u18)
    whole = con.execute("SELECT sum(review_rating) FROM product_reviews").fetchone()[0]
    kept = con.execute(f"SELECT sum(s) FROM ({sql})").fetchone()[0]
    assert whole - kept > 0  # ground truth: the difference is the target's ratings
    res = run_checked(sql, Context(POLICY, u18_approved=u18), [dataset])
    released = res.table.to_pylist() if res.allowed else []
    assert released == [], released
    if res.allowed:
        assert res.suppressed_rows >= 1


def test_the_removing_check_names_the_anti_join(dataset: Path) -> None:
    res = run_checked(ONE_PERSON[0].format(t=_reviewer(dataset, False)), Context(POLICY), [dataset])
    failed = {c.name: c.failed for c in res.checks}
    assert failed["anti_join"] == 1 and failed["threshold"] == 0


@pytest.mark.parametrize("u18", [False, True], ids=["no-u18", "u18"])
def test_benign_anti_join_releases_groups_whose_removed_people_are_many(
    dataset: Path, u18: bool
) -> None:
    sql = (
        "SELECT region_code, count(*) AS silent_videos FROM videos v "
        "WHERE NOT EXISTS (SELECT 1 FROM comments c WHERE c.video_id = v.id) GROUP BY region_code"
    )
    res = run_checked(sql, Context(POLICY, u18_approved=u18), [dataset])
    assert res.allowed and res.table.num_rows > 0, res.reasons
    con = plain_connection(dataset, u18)
    removed = {
        region: (authors, commenters, minor)
        for region, authors, commenters, minor in con.execute(
            "SELECT v.region_code, count(DISTINCT v.author_id), count(DISTINCT c.author_id), "
            "bool_or(v.audience = 'minor' OR c.audience = 'minor') FROM videos v "
            "JOIN comments c ON c.video_id = v.id GROUP BY 1"
        ).fetchall()
    }
    for row in res.table.to_pylist():
        if row["region_code"] not in removed:
            continue  # nobody removed
        authors, commenters, minor = removed[row["region_code"]]
        need = TH.u18_min_entities if minor else TH.min_entities
        assert min(authors, commenters) >= need, (row, removed[row["region_code"]])


def test_benign_left_join_anti_join_releases(dataset: Path) -> None:
    sql = (
        "SELECT count(*) AS users_without_reviews FROM users u LEFT JOIN product_reviews r "
        "ON r.reviewer_id = u.user_id WHERE r.reviewer_id IS NULL"
    )
    res = run_checked(sql, Context(POLICY), [dataset])
    assert res.allowed and res.table.num_rows == 1, res.reasons


def test_anti_join_in_an_inner_query_is_denied(dataset: Path) -> None:
    sql = (
        "WITH silent AS (SELECT region_code FROM videos v WHERE NOT EXISTS "
        "(SELECT 1 FROM comments c WHERE c.video_id = v.id)) "
        "SELECT region_code, count(*) AS n FROM silent GROUP BY 1"
    )
    res = run_checked(sql, Context(POLICY), [dataset])
    assert not res.allowed and {v.rule for v in res.reasons} == {"anti-join"}


@pytest.mark.parametrize("u18", [False, True], ids=["no-u18", "u18"])
def test_a_small_removal_next_to_an_empty_column_is_still_withheld(dataset: Path, u18: bool):
    """The removed rows feed two entity columns, one of them empty (a reviewer without
    playlists, LEFT JOINed to playlists): the reviewer's one person must still count."""
    con = plain_connection(dataset, u18)
    row = con.execute(
        "SELECT u.create_time::VARCHAR FROM users u JOIN product_reviews r "
        "ON r.reviewer_id = u.user_id WHERE u.audience = ? AND NOT EXISTS "
        "(SELECT 1 FROM playlists p WHERE p.author_id = u.user_id) ORDER BY 1 LIMIT 1",
        ["minor" if u18 else "adult"],
    ).fetchone()
    assert row is not None  # ground truth: such a reviewer exists
    sql = (
        "SELECT count(*) AS n, sum(r.review_rating) AS s FROM product_reviews r "
        "LEFT JOIN playlists p ON p.author_id = r.reviewer_id WHERE NOT EXISTS "
        "(SELECT 1 FROM users u WHERE u.user_id = r.reviewer_id AND u.create_time = "
        f"TIMESTAMP '{row[0]}')"
    )
    res = run_checked(sql, Context(POLICY, u18_approved=u18), [dataset])
    assert not res.allowed or res.table.num_rows == 0
