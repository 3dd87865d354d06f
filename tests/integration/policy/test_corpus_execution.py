"""Every corpus query end to end on a generated dataset, with and without U18 approval.

Denied queries never run. Allowed ones run through ``run_checked``; each released row of a
query the independent oracle understands is matched to its group, whose size is recomputed
with plain DuckDB by SQL built here (``count(DISTINCT entity)`` per people table in FROM), not
by the engine's rewrite. The oracle covers single-level aggregations over base tables and
non-aggregating derived tables; nested aggregation, semi-joins and scalar subqueries have
their own dedicated tests (test_trusted_execution.py, test_property.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot
from policy_oracle import key, plain_connection
from sqlglot import exp
from sqlglot.optimizer.qualify import qualify

from corpus.load import load_corpus
from vce.data.schema import TABLES
from vce.policy import Context
from vce.policy.execute import run_checked
from vce.policy.model import load_policy

POLICY = load_policy()
TH = POLICY.thresholds
CORPUS = load_corpus()
SCHEMA = {
    name: {
        **{f.name: "VARCHAR" for f in t.schema},
        **({"audience": "VARCHAR"} if t.about_people else {}),
    }
    for name, t in TABLES.items()
}
ENTITY = {name: tp.entity for name, tp in POLICY.tables.items()}


class NotCovered(Exception):
    """The oracle does not understand this query shape."""


def _from(select: exp.Select) -> exp.Expression:
    f = select.args.get("from") or select.args.get("from_")
    if f is None:
        raise NotCovered("no FROM")
    return f.this


def _people_in(select: exp.Select) -> list[tuple[str, str]]:
    """(alias, base table) of the people tables read directly by ``select``."""
    out = []
    for src in [_from(select), *(j.this for j in select.args.get("joins") or [])]:
        if isinstance(src, exp.Table) and src.name in TABLES and ENTITY.get(src.name):
            out.append((src.alias_or_name, src.name))
    return out


def _branch_oracle(select: exp.Select, ctes: dict[str, exp.Select]) -> tuple[str, list[int]]:
    """Oracle SQL for one aggregating SELECT, and the output positions that are group keys."""
    if any(
        isinstance(n, exp.Subquery | exp.Exists)
        for w in ("where", "having")
        if select.args.get(w)
        for n in select.args[w].find_all(exp.Subquery, exp.Exists)
    ):
        raise NotCovered("subquery in a filter")
    if any(e.find(exp.Subquery, exp.Window) for e in select.expressions):
        raise NotCovered("subquery or window in the output")
    select = select.copy()
    entity_cols: list[exp.Expression] = []
    minor_cols: list[exp.Expression] = []
    for alias, table in _people_in(select):
        entity_cols += [exp.column(e, alias) for e in ENTITY[table]]
        minor_cols.append(exp.column("audience", alias))
    sources = [_from(select), *(j.this for j in select.args.get("joins") or [])]
    for src in sources:
        inner = None
        if isinstance(src, exp.Subquery):
            inner = src.this
        elif isinstance(src, exp.Table) and src.name in ctes:
            raise NotCovered("CTE source")
        if inner is None:
            continue
        if (
            not isinstance(inner, exp.Select)
            or inner.args.get("group")
            or any(
                isinstance(a, exp.AggFunc)
                for e in inner.expressions
                for a in e.find_all(exp.AggFunc)
            )
        ):
            raise NotCovered("aggregating or set-operation derived table")
        if inner.args.get("where") and inner.args["where"].find(exp.Subquery, exp.Exists):
            raise NotCovered("subquery inside a derived table")
        for alias, table in _people_in(inner):
            for e in ENTITY[table]:
                name = f"o_{alias}_{e}"
                inner.append("expressions", exp.alias_(exp.column(e, alias), name))
                entity_cols.append(exp.column(name, src.alias_or_name))
            name = f"o_{alias}_aud"
            inner.append("expressions", exp.alias_(exp.column("audience", alias), name))
            minor_cols.append(exp.column(name, src.alias_or_name))
    if not entity_cols:
        raise NotCovered("no people table")
    group = select.args.get("group")
    if group is not None and (
        group.args.get("all")
        or group.args.get("rollup")
        or group.args.get("cube")
        or group.args.get("grouping_sets")
    ):
        keys = [p.unalias() for p in select.expressions if not p.find(exp.AggFunc)]
    else:
        keys = list(group.expressions) if group is not None else []
    key_sql = [k.sql("duckdb") for k in keys]
    positions = [
        i for i, p in enumerate(select.expressions) if p.unalias().sql("duckdb") in key_sql
    ]
    if len({select.expressions[i].unalias().sql("duckdb") for i in positions}) != len(set(key_sql)):
        raise NotCovered("a GROUP BY key is not in the output")
    cols = [
        f"{select.expressions[i].unalias().sql('duckdb')} AS k{n}" for n, i in enumerate(positions)
    ]
    cols += [f"count(DISTINCT {e.sql('duckdb')}) AS e{n}" for n, e in enumerate(entity_cols)]
    cols.append(
        "("
        + " OR ".join(f"coalesce(bool_or({m.sql('duckdb')} = 'minor'), false)" for m in minor_cols)
        + ") AS minor"
    )
    select.set("expressions", [sqlglot.parse_one(c, read="duckdb") for c in cols])
    for arg in ("order", "limit", "offset"):
        select.set(arg, None)
    if group is not None and group.args.get("all"):
        select.set("group", exp.Group(expressions=[k.copy() for k in keys]))
    return select.sql("duckdb"), positions


def oracle(sql: str) -> list[tuple[str, list[int]]]:
    tree = qualify(sqlglot.parse_one(sql, read="duckdb"), schema=SCHEMA, dialect="duckdb")
    with_ = tree.args.get("with") or tree.args.get("with_")
    ctes = {c.alias_or_name: c.this for c in with_.expressions} if with_ else {}
    branches: list[exp.Select] = []

    def walk(n: exp.Expression) -> None:
        if isinstance(n, exp.Union) and not n.args.get("distinct"):
            walk(n.left)
            walk(n.right)
        elif isinstance(n, exp.Select):
            branches.append(n)
        else:
            raise NotCovered(type(n).__name__)

    walk(tree)
    if len(branches) > 1:
        raise NotCovered("UNION ALL (rows cannot be told apart by key)")
    sel = branches[0]
    if not (
        sel.args.get("group")
        or any(isinstance(a, exp.AggFunc) for e in sel.expressions for a in e.find_all(exp.AggFunc))
    ):
        raise NotCovered("row-level export")
    if with_:
        raise NotCovered("CTE")
    return [_branch_oracle(sel, ctes)]


def _passes(counts: tuple, minor: bool) -> bool:
    need = TH.u18_min_entities if minor else TH.min_entities
    return any(c > 0 for c in counts) and all(c == 0 or c >= need for c in counts)


@pytest.fixture(scope="module")
def plain(dataset: Path) -> dict[bool, object]:
    return {u18: plain_connection(dataset, u18) for u18 in (False, True)}


COVERED: list[str] = []


@pytest.mark.parametrize("u18", [False, True], ids=["no-u18", "u18"])
def test_every_corpus_query_releases_only_rows_above_thresholds(
    dataset: Path, plain: dict, u18: bool
) -> None:
    verified_rows = 0
    verified_queries = 0
    allowed_queries = 0
    for q in CORPUS:
        if q.tables is not None and len(q.sql) > 100_000:
            continue
        ctx = Context(policy=POLICY, tables=q.tables, u18_approved=u18)
        res = run_checked(q.sql, ctx, [dataset], timeout_s=30)
        if not res.decision.allowed:
            assert not res.allowed and res.table is None and not res.files_read, q.title
            continue
        allowed_queries += 1
        if not res.allowed:
            assert res.reasons and res.table is None, q.title
            continue
        try:
            plans = oracle(q.sql)
        except NotCovered:
            continue
        for oracle_sql, positions in plans:
            truth = {}
            for row in plain[u18].execute(oracle_sql).fetchall():
                truth[key(row[: len(positions)])] = (row[len(positions) : -1], row[-1])
            names = res.table.column_names
            for row in res.table.to_pylist():
                k = key(tuple(row[names[i]] for i in positions))
                assert k in truth, (q.title, row)
                counts, minor = truth[k]
                assert _passes(counts, minor), (q.title, u18, row, counts, minor)
                verified_rows += 1
        verified_queries += 1
    print(
        f"u18={u18}: {allowed_queries} allowed, {verified_queries} verified, {verified_rows} rows"
    )
    assert verified_queries >= 0.6 * allowed_queries and verified_rows > 100
