"""Low-effect conditions, from the attacker's side: a condition that isolates one person.

Each attack picks its target by a column anyone may filter on (an account's ``create_time``),
writes a condition that removes exactly that person from a large cell, and would read their
value as the difference to the cell without the condition. Targets and the cells' true
people are found with plain DuckDB (``policy_oracle``); the check must withhold the target's
cell (rule ``low-effect``), or deny what it cannot analyse, while analyses whose conditions
remove many people still release.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from policy_oracle import plain_connection

from corpus.load import CorpusQuery, load_corpus
from vce.policy import Context
from vce.policy.execute import CheckedResult, run_checked
from vce.policy.model import load_policy

POLICY = load_policy()
TH = POLICY.thresholds


def _run(sql: str, dataset: Path, u18: bool = False) -> CheckedResult:
    return run_checked(sql, Context(policy=POLICY, u18_approved=u18), [dataset], timeout_s=60)


def _low(res: CheckedResult) -> int:
    return next(c.suppressed for c in res.checks if c.name == "low_effect")


@pytest.fixture(scope="module")
def target(dataset: Path) -> tuple[str, str]:
    """(region, create_time literal) of an adult with several videos and a unique create_time."""
    con = plain_connection(dataset, False)
    region, t = con.execute(
        "SELECT u.region_code, u.create_time FROM users u JOIN videos v ON v.author_id = "
        "u.user_id WHERE u.create_time IN (SELECT create_time FROM users GROUP BY 1 "
        "HAVING count(*) = 1) AND u.region_code IN (SELECT region_code FROM users GROUP BY 1 "
        "HAVING count(*) >= 100) GROUP BY ALL HAVING count(*) >= 3 ORDER BY 2 LIMIT 1"
    ).fetchone()
    people = con.execute("SELECT count(*) FROM users WHERE region_code = ?", [region]).fetchone()[0]
    assert people >= 5 * TH.min_entities  # a large cell: only the condition isolates them
    return region, f"TIMESTAMP '{t}'"


ATTACKS = {
    "FILTER complement": "SELECT region_code, count(*) FILTER (WHERE create_time <> {T}) AS a, "
    "count(*) AS b FROM users GROUP BY 1",
    "CASE complement": "SELECT region_code, sum(CASE WHEN create_time <> {T} THEN following_count "
    "END) AS a, sum(following_count) AS b FROM users GROUP BY 1",
    "CASE complement, value in ELSE": "SELECT region_code, sum(CASE WHEN create_time = {T} "
    "THEN 0 ELSE following_count END) AS a FROM users GROUP BY 1",
    "WHERE NOT isolating one": "SELECT region_code, sum(following_count) AS s FROM users "
    "WHERE NOT (create_time = {T}) GROUP BY 1",
    "NOT inside a conjunction": "SELECT region_code, avg(following_count) AS s FROM users "
    "WHERE is_verified IS NOT NULL AND NOT (create_time = {T} AND following_count >= 0) GROUP BY 1",
    "NOT IN list leaving out one": "SELECT region_code, sum(video_count) AS s FROM users "
    "WHERE create_time NOT IN ({T}) GROUP BY 1",
    "OR adding one": "SELECT region_code, sum(video_count) AS s FROM users "
    "WHERE age_band IS NULL OR create_time = {T} OR create_time > {T} GROUP BY 1",
    "condition in a CTE": "WITH x AS (SELECT region_code, following_count FROM users WHERE "
    "create_time <> {T}) SELECT region_code, sum(following_count) AS s FROM x GROUP BY 1",
    "condition in a derived table": "SELECT region_code, count(*) AS n, avg(following_count) AS a "
    "FROM (SELECT region_code, following_count FROM users WHERE create_time <> {T}) t GROUP BY 1",
    "HAVING in an inner query": "SELECT region_code, sum(n) AS s FROM (SELECT region_code, "
    "create_time, sum(following_count) AS n FROM users GROUP BY region_code, create_time "
    "HAVING create_time <> {T}) t GROUP BY 1",
    "NOT EXISTS": "SELECT v.region_code, sum(v.comment_count) AS n FROM videos v WHERE NOT EXISTS "
    "(SELECT 1 FROM users u WHERE u.user_id = v.author_id AND u.create_time = {T}) GROUP BY 1",
    "EXISTS with a condition inside": "SELECT v.region_code, sum(v.comment_count) AS n FROM videos "
    "v WHERE EXISTS (SELECT 1 FROM users u WHERE u.user_id = v.author_id AND u.create_time <> {T}) "
    "GROUP BY 1",
    "non-key join condition": "SELECT v.region_code, sum(v.comment_count) AS n FROM videos v JOIN "
    "users u ON v.author_id = u.user_id AND u.create_time <> {T} GROUP BY 1",
    "NOT EXISTS inside a CTE": "WITH x AS (SELECT v.region_code, v.comment_count FROM videos v "
    "WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.user_id = v.author_id AND u.create_time = {T})"
    ") SELECT region_code, sum(comment_count) AS s FROM x GROUP BY 1",
    "total in a scalar subquery leaving out one": "SELECT region_code, count(*) * 1.0 / (SELECT "
    "count(*) FROM users WHERE create_time <> {T}) AS share FROM users GROUP BY 1",
    "IN subquery with a condition": "SELECT v.region_code, sum(v.comment_count) AS n FROM videos v "
    "WHERE v.author_id IN (SELECT user_id FROM users WHERE create_time <> {T}) GROUP BY 1",
}


@pytest.mark.parametrize("u18", [False, True], ids=["adult", "u18"])
@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_a_condition_isolating_one_person_withholds_their_cell(
    dataset: Path, target: tuple[str, str], name: str, u18: bool
) -> None:
    region, t = target
    res = _run(ATTACKS[name].format(T=t), dataset, u18)
    assert res.decision.allowed, res.decision.violations
    if not res.allowed:  # denied: nothing leaves, and the reason names the rule
        assert res.table is None and {v.rule for v in res.reasons} & {"low-effect", "anti-join"}, (
            res.reasons
        )
        return
    released = res.table.to_pylist()
    key = "region_code"
    assert region not in {r[key] for r in released}, (name, region)
    assert _low(res) >= 1 or res.suppressed_rows >= 1
    # (a total feeds every cell; a CASE cell empty elsewhere is withheld there by empty-cell)
    if not u18 and not name.startswith("total") and "ELSE" not in name:
        assert len(released) >= 5, name  # the other regions still leave


def test_the_target_cell_is_released_without_the_condition(
    dataset: Path, target: tuple[str, str]
) -> None:
    """Control: the same cell, without the isolating condition, leaves."""
    region, _ = target
    res = _run("SELECT region_code, sum(following_count) AS s FROM users GROUP BY 1", dataset)
    assert region in {r["region_code"] for r in res.table.to_pylist()}


def test_conditions_under_a_top_level_union_are_denied(
    dataset: Path, target: tuple[str, str]
) -> None:
    _, t = target
    res = _run(
        f"SELECT region_code, count(*) AS n FROM users WHERE create_time <> {t} GROUP BY 1 "
        "UNION ALL SELECT region_code, count(*) FROM users GROUP BY 1",
        dataset,
    )
    assert not res.allowed and res.table is None
    assert [v.rule for v in res.reasons] == ["low-effect"]
    assert "UNION ALL" in res.reasons[0].message


def _window(con, region: str, minor: bool, size: int) -> tuple[str, str]:
    """A create_time range holding exactly ``size`` users of ``region`` (one of them a minor
    when ``minor``, else adults only)."""
    rows = con.execute(
        "SELECT create_time, audience = 'minor' FROM users WHERE region_code = ? ORDER BY 1",
        [region],
    ).fetchall()
    times = [r[0] for r in rows]
    for i in range(len(rows) - size + 1):
        chunk = rows[i : i + size]
        has_minor = any(m for _, m in chunk)
        distinct = (i == 0 or times[i - 1] != times[i]) and (
            i + size == len(rows) or times[i + size] != times[i + size - 1]
        )
        if has_minor == minor and distinct:
            return f"TIMESTAMP '{chunk[0][0]}'", f"TIMESTAMP '{chunk[-1][0]}'"
    raise AssertionError("no such window")


def test_a_real_minor_among_the_removed_needs_the_u18_threshold(dataset: Path) -> None:
    """20 people removed: enough for adults (10), not when one of them is a minor (50)."""
    con = plain_connection(dataset, True)
    region = con.execute(
        "SELECT region_code FROM users GROUP BY 1 HAVING count(*) FILTER (WHERE audience = "
        "'minor') > 0 ORDER BY count(*) DESC LIMIT 1"
    ).fetchone()[0]
    size = 20
    assert TH.min_entities <= size < TH.u18_min_entities
    sql = (
        "SELECT region_code, count(*) FILTER (WHERE NOT (create_time BETWEEN {lo} AND {hi})) "
        "AS a, count(*) AS b FROM users GROUP BY 1"
    )
    lo, hi = _window(con, region, minor=True, size=size)
    with_minor = _run(sql.format(lo=lo, hi=hi), dataset, u18=True)
    assert region not in {r["region_code"] for r in with_minor.table.to_pylist()}
    lo, hi = _window(con, region, minor=False, size=size)
    adults = _run(sql.format(lo=lo, hi=hi), dataset, u18=True)
    assert region in {r["region_code"] for r in adults.table.to_pylist()}


BENIGN = [
    "SELECT age_band, count(*) FILTER (WHERE follower_count > 100) AS popular, count(*) AS users "
    "FROM users GROUP BY 1",
    "SELECT region_code, count(*) AS n, avg(view_count) AS v FROM videos "
    "WHERE video_duration >= 30 GROUP BY 1",
    "WITH long AS (SELECT region_code, view_count FROM videos WHERE video_duration >= 30) "
    "SELECT region_code, count(*) AS n FROM long GROUP BY 1",
    "SELECT age_band, avg(CASE WHEN follower_count > 100 THEN following_count END) AS f FROM users "
    "GROUP BY 1 HAVING count(*) > 10",
]


@pytest.mark.parametrize("sql", BENIGN)
def test_conditions_removing_many_people_release(dataset: Path, sql: str) -> None:
    res = _run(sql, dataset)
    assert res.allowed and res.released_rows >= 2, res.reasons
    assert _low(res) == 0


WITHHELD = [q for q in load_corpus() if "low-effect" in q.withheld]


@pytest.mark.parametrize("q", WITHHELD, ids=[q.title for q in WITHHELD])
def test_hostile_corpus_low_effect_entries_are_withheld(dataset: Path, q: CorpusQuery) -> None:
    """Each entry's timestamp is one account's; its cell is withheld, the others leave."""
    con = plain_connection(dataset, q.u18)
    stamp = re.search(r"TIMESTAMP '([^']+)'", q.sql)[1]
    owners = con.execute(
        "SELECT region_code, audience FROM users WHERE create_time = CAST(? AS TIMESTAMP)", [stamp]
    ).fetchall()
    assert len(owners) == 1 and (owners[0][1] == "minor") == q.u18, owners  # ground truth
    res = _run(q.sql, dataset, q.u18)
    assert res.decision.allowed and res.allowed, res.reasons
    assert _low(res) >= 1 or res.suppressed_rows >= 1  # (an anti-join's own check may be first)
    assert owners[0][0] not in {r["region_code"] for r in res.table.to_pylist()}


DOC = Path(__file__).resolve().parents[3] / "docs" / "explanation" / "policy-rules.md"


def test_documented_examples_hold(dataset: Path) -> None:
    """The `low-effect` section's Stops are withheld at execution, its Allows released."""
    section = re.search(r"^### `low-effect`\n(.*?)(?=^### )", DOC.read_text(), re.M | re.S)[1]
    examples = re.findall(r"(Stops|Allows).*?```sql\n(.*?)```", section, re.S)
    assert len(examples) >= 3
    for kind, sql in examples:
        res = _run(sql, dataset)
        assert res.allowed, (sql, res.reasons)
        assert (_low(res) > 0) == (kind == "Stops"), sql


@pytest.mark.parametrize("u18", [False, True], ids=["adult", "u18"])
def test_a_one_person_cell_below_the_top_or_in_having_withholds(
    dataset: Path, target: tuple[str, str], u18: bool
) -> None:
    """A FILTER cell of one person in a derived table, or in HAVING, decides what leaves."""
    _, t = target
    inner = _run(
        # a count, not a sum: an average of sums of a dominance measure is denied outright
        f"SELECT avg(x) AS x FROM (SELECT region_code, count(*) FILTER (WHERE "
        f"create_time = {t}) AS x FROM users GROUP BY region_code) s",
        dataset,
        u18,
    )
    assert inner.allowed and inner.released_rows == 0 and inner.suppressed_rows == 1
    having = _run(
        f"SELECT region_code, count(*) AS n FROM users GROUP BY region_code "
        f"HAVING sum(likes_count) FILTER (WHERE create_time = {t}) >= 0",
        dataset,
        u18,
    )
    assert having.allowed and having.released_rows == 0 and having.suppressed_rows >= 1


@pytest.mark.parametrize("u18", [False, True], ids=["adult", "u18"])
def test_a_key_equality_inside_a_negation_does_not_hide_the_condition(
    dataset: Path, target: tuple[str, str], u18: bool
) -> None:
    """``NOT (user_id = user_id AND create_time = T)`` is all but one person, not a join: the
    key equality under NOT once made the whole WHERE invisible, and the two sums of the row
    differed by the target's value."""
    region, t = target
    sql = (
        "SELECT a.region_code, sum(a.s) AS s_all, sum(b.s) AS s_others FROM (SELECT "
        "region_code, sum(following_count) AS s FROM users GROUP BY 1) a JOIN (SELECT "
        "region_code, sum(following_count) AS s FROM users WHERE NOT (user_id = user_id AND "
        f"create_time = {t}) GROUP BY 1) b USING (region_code) GROUP BY 1"
    )
    res = _run(sql, dataset, u18)
    assert res.allowed, res.reasons
    assert region not in {r["region_code"] for r in res.table.to_pylist()}
    assert _low(res) >= 1
