"""The query corpus: every benign analysis is allowed, every hostile query denied by its rules."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import duckdb
import pytest

from corpus.load import CorpusQuery, load_corpus
from vce.policy import Context, analyze, load_policy
from vce.policy.execute import static_check
from vce.policy.rules import RULES

CORPUS = load_corpus()
POLICY = load_policy()


def _ctx(q: CorpusQuery) -> Context:
    return Context(policy=POLICY, tables=q.tables, u18_approved=q.u18)


@pytest.mark.parametrize("q", CORPUS, ids=[f"{q.file}:{q.title}" for q in CORPUS])
def test_static_verdict(q: CorpusQuery) -> None:
    """Benign: the analysis allows it. Hostile: denied before any data is read.

    A hostile query may be denied by the analysis or by the contributor rewrite that follows
    it (:func:`vce.policy.execute.static_check`: SQL and policy only, no data).
    """
    decision = analyze(q.sql, _ctx(q))
    explained = "; ".join(str(v) for v in decision.violations)
    if q.allowed:
        assert decision.allowed, f"benign query denied: {explained}"
        assert decision.expression is not None
    else:
        _, rewritten, violations = static_check(q.sql, _ctx(q))
        explained = "; ".join(str(v) for v in violations)
        assert rewritten is None and violations, "hostile query allowed"
        assert q.rules, "a denied fixture names the rules it must violate"
        missing = q.rules - {v.rule for v in violations}
        assert not missing, f"expected {sorted(missing)} among: {explained}"
        assert all(v.message for v in violations)


def test_corpus_size_and_rule_coverage() -> None:
    counts = Counter(q.verdict for q in CORPUS)
    assert counts["allowed"] >= 60
    assert counts["denied"] >= 80
    assert len(CORPUS) >= 150
    covered = set().union(*(q.rules for q in CORPUS if not q.allowed))
    assert {m.RULE for m in RULES} <= covered, "every rule is exercised by a hostile query"
    assert any(q.u18 for q in CORPUS if q.allowed), "U18-approved analyses are in the corpus"


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from vce.data.generate import generate

    out = tmp_path_factory.mktemp("corpus") / "data"
    generate(out, videos=300, seed=11)
    return out


def test_benign_corpus_runs_on_duckdb(tiny_dataset: Path) -> None:
    """Benign fixtures are real DuckDB SQL: the submitted text and the checker's rewrite run."""
    con = duckdb.connect()
    for table in POLICY.tables:
        files = f"{tiny_dataset}/{table}/**/*.parquet"
        con.execute(
            f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{files}', hive_partitioning = true)"
        )
    failures = []
    for q in (q for q in CORPUS if q.allowed):
        decision = analyze(q.sql, _ctx(q))
        assert decision.expression is not None
        for sql in (q.sql, decision.expression.sql(dialect="duckdb")):
            try:
                con.execute(sql).fetchall()
            except duckdb.Error as err:
                failures.append(f"{q.title}: {err}")
    assert not failures, "\n".join(failures)
