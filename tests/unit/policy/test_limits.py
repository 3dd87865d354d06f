"""Hostile input sizes and shapes end in a decision, never an exception or an allowed query."""

from __future__ import annotations

from vce.policy import Context, analyze, load_policy
from vce.policy.rules import too_deep, too_large

CTX = Context(policy=load_policy())


def test_one_megabyte_of_sql_is_refused_before_parsing() -> None:
    sql = "SELECT count(*) FROM videos WHERE " + "region_code = 'DE' OR " * 50_000 + "TRUE"
    assert len(sql) > 1_000_000
    d = analyze(sql, CTX)
    assert not d.allowed and d.rules == {"too-large"}


def test_deep_parentheses_are_refused_before_parsing() -> None:
    d = analyze("SELECT " + "(" * 10_000 + "1" + ")" * 10_000, CTX)
    assert d.rules == {"too-deep"}


def test_deeply_nested_subqueries() -> None:
    sql = "SELECT count(*) FROM " + "(SELECT region_code FROM " * 100 + "videos" + ") t" * 100
    assert analyze(sql, CTX).rules == {"too-deep"}


def test_nesting_inside_strings_and_comments_does_not_count() -> None:
    sql = "SELECT count(*) FROM comments WHERE text LIKE '" + "(" * 100 + "%' -- " + "(" * 100
    assert too_deep.nesting(sql) == 1
    assert analyze(sql, CTX).allowed


def test_unparenthesised_recursion_is_a_decision_not_a_crash() -> None:
    sql = "SELECT count(*) FROM videos WHERE " + "NOT " * 5_000 + "is_stem_verified"
    assert len(sql) < too_large.MAX_SQL_CHARS
    d = analyze(sql, CTX)
    assert not d.allowed and d.rules <= {"too-deep", "internal-error"}


def test_long_flat_queries() -> None:
    def ors(n: int) -> str:
        return "SELECT count(*) FROM videos WHERE " + " OR ".join(
            f"region_code = 'R{i}'" for i in range(n)
        )

    assert analyze(ors(200), CTX).allowed
    d = analyze(ors(1_000), CTX)  # a chain deeper than Python's stack: refused after parsing
    assert d.rules == {"too-deep"} and "AND/OR" in d.violations[0].message


def test_unknown_names_suggest_the_nearest_valid_ones() -> None:
    d = analyze("SELECT regoin_code, count(*) FROM usres GROUP BY 1", CTX)
    assert [v.rule for v in d.violations] == ["unknown-table"]
    assert "users" in d.violations[0].message
    d = analyze("SELECT regoin_code, count(*) FROM users GROUP BY 1", CTX)
    assert d.rules == {"unknown-column"}
    assert "region_code" in d.violations[0].message


def test_garbage_inputs() -> None:
    for sql in ["", ";", "\x00", "SELECT 'unterminated", "))))", "SELECT * FROM", "🙂", "/*"]:
        d = analyze(sql, CTX)
        assert not d.allowed, sql
        assert d.violations and all(v.rule and v.message for v in d.violations)


def test_thousands_of_ctes_are_refused_after_parsing() -> None:
    sql = "WITH " + ", ".join(f"t{i} AS (SELECT region_code FROM videos)" for i in range(500))
    d = analyze(sql + " SELECT count(*) FROM t0", CTX)
    assert d.rules == {"too-large"} and "SELECTs" in d.violations[0].message
