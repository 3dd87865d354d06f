"""The public contract of vce.policy that the execution half, the sandbox and the airlock use."""

from __future__ import annotations

import json

import pytest
from sqlglot import exp

from vce.data.schema import TABLES
from vce.policy import Context, Decision, Violation, analyze, clear_cache, load_policy
from vce.policy.rules import RULES, rule_ids

POLICY = load_policy()
CTX = Context(policy=POLICY)
GROUPED = "SELECT region_code, count(*) AS n FROM videos GROUP BY region_code"


def test_allowed_decision_shape() -> None:
    d = analyze(GROUPED, CTX)
    assert isinstance(d, Decision)
    assert d.allowed and d.violations == []
    assert d.tables == frozenset({"videos"})
    out = d.to_dict()
    assert out == json.loads(json.dumps(out))
    assert {"allowed", "violations", "tables"} <= set(out)
    assert out["tables"] == ["videos"]


def test_denied_decision_names_rule_message_and_position() -> None:
    d = analyze("SELECT region_code,\n       username FROM users GROUP BY ALL", CTX)
    assert not d.allowed
    v = next(v for v in d.violations if v.rule == "identifier-output")
    assert isinstance(v, Violation)
    assert (v.line, v.column) == (2, 8)
    assert "username" in v.message
    assert d.to_dict()["violations"][0].keys() == {"rule", "message", "line", "column"}


def test_expression_is_qualified_and_a_private_copy() -> None:
    d = analyze("SELECT region_code, count(*) FROM videos v GROUP BY 1", CTX)
    tree = d.expression
    assert isinstance(tree, exp.Select)
    assert all(c.table for c in tree.find_all(exp.Column)), "every column carries its table"
    tree.set("where", exp.Where(this=exp.false()))  # a caller rewriting its copy ...
    assert (
        analyze("SELECT region_code, count(*) FROM videos v GROUP BY 1", CTX).expression.args.get(
            "where"
        )
        is None
    )  # ... does not change what the next caller gets from the cache


def test_unparseable_sql_has_no_expression() -> None:
    d = analyze("SELECT FROM WHERE (", CTX)
    assert not d.allowed and d.expression is None and d.rules == {"parse"}


def test_decisions_are_cached_on_sql_and_context() -> None:
    first = analyze(GROUPED, CTX)
    assert analyze(GROUPED, Context(policy=POLICY)) is first
    assert analyze(GROUPED, Context(policy=POLICY, u18_approved=True)) is not first


def test_context_accepts_any_iterable_of_tables() -> None:
    ctx = Context(policy=POLICY, tables={"videos"})  # a set: stored frozen, hashable
    assert ctx.tables == frozenset({"videos"}) and hash(ctx)
    assert analyze(GROUPED, ctx).allowed
    assert analyze("SELECT count(*) FROM users", ctx).rules == {"table-not-granted"}


def test_granted_none_means_every_policy_table() -> None:
    assert Context(policy=POLICY).granted == frozenset(POLICY.tables)


def test_tables_lists_base_tables_not_ctes() -> None:
    d = analyze(
        "WITH c AS (SELECT video_id FROM comments) SELECT count(*) FROM videos v "
        "WHERE v.id IN (SELECT video_id FROM c)",
        CTX,
    )
    assert d.allowed and d.tables == frozenset({"videos", "comments"})


def test_default_policy_classifies_every_generated_column() -> None:
    for name, table in TABLES.items():
        assert name in POLICY.tables, name
        assert set(table.schema.names) == set(POLICY.tables[name].columns), name


def test_audience_partition_is_a_dimension_of_people_tables_only() -> None:
    assert analyze("SELECT audience, count(*) FROM comments GROUP BY 1", CTX).allowed
    assert analyze("SELECT audience, count(*) FROM shops GROUP BY 1", CTX).rules == {
        "unknown-column"
    }


def test_every_rule_module_documents_and_tests_itself() -> None:
    ids = [m.RULE for m in RULES]
    assert len(ids) == len(set(ids))
    for module in RULES:
        assert module.SUMMARY
        assert ">>>" in (module.__doc__ or ""), f"{module.__name__} needs a doctest"
        assert any(hasattr(module, f) for f in ("check_sql", "check_tree", "check_facts"))
    assert set(ids) <= set(rule_ids())


def test_row_level_flag() -> None:
    assert analyze("SELECT create_time, view_count FROM videos", CTX).row_level
    assert not analyze(GROUPED, CTX).row_level


def test_a_failing_rule_denies_instead_of_crashing(monkeypatch: pytest.MonkeyPatch) -> None:
    from vce.policy.rules import identifier_output

    def broken(_c: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(identifier_output, "check_facts", broken)
    d = analyze("SELECT region_code, count(*) AS fail_closed FROM videos GROUP BY 1", CTX)
    assert not d.allowed and d.rules == {"internal-error"} and "boom" in d.violations[0].message
    clear_cache()  # the broken rule's decision must not outlive this test
