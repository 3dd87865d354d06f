"""Property tests: any text gets a decision, and an allowed query stays allowed as the engine
re-renders it (trusted execution runs the re-rendered SQL, not the submitted text)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corpus.load import load_corpus
from vce.policy import Context, Decision, analyze, load_policy

CTX = Context(policy=load_policy())
CORPUS = [q.sql for q in load_corpus() if len(q.sql) < 5_000]
TOKENS = [
    "SELECT", "FROM", "WHERE", "GROUP BY", "ORDER BY", "LIMIT 1", "OFFSET 2", "UNION ALL",
    "EXCEPT", "(", ")", ",", "*", "count(*)", "sum(", "max(", "user_id", "username", "text",
    "region_code", "view_count", "videos", "users", "comments", "v", "=", "<>", "42", "'x'",
    "NOT", "OR", "AND", "IN", "EXISTS", "OVER (", "PARTITION BY", "#1", "::", "--", "/*", ";",
    "WITH t AS", "LATERAL", "JOIN", "ON", "USING", "DISTINCT", "HAVING", "CASE WHEN", "END",
]  # fmt: skip
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _sound(d: Decision) -> None:
    assert isinstance(d, Decision)
    assert d.allowed == (not d.violations)
    assert all(v.rule and v.message for v in d.violations)


@SETTINGS
@given(st.lists(st.sampled_from(TOKENS), max_size=40))
def test_token_soup_gets_a_decision(tokens: list[str]) -> None:
    _sound(analyze(" ".join(tokens), CTX))


@SETTINGS
@given(st.text(max_size=300))
def test_any_text_gets_a_decision(text: str) -> None:
    _sound(analyze(text, CTX))


@SETTINGS
@given(
    st.sampled_from(CORPUS),
    st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=0, max_value=30),
    st.sampled_from([*TOKENS, ""]),
)
def test_mutated_corpus_queries(sql: str, at: int, cut: int, insert: str) -> None:
    """Cut and splice corpus queries; whatever the checker allows survives re-rendering."""
    i = at % (len(sql) + 1)
    mutated = sql[:i] + f" {insert} " + sql[i + cut :]
    d = analyze(mutated, CTX)
    _sound(d)
    if d.allowed:
        assert d.expression is not None
        again = analyze(d.expression.sql(dialect="duckdb"), CTX)
        assert again.allowed, (mutated, again.violations)
