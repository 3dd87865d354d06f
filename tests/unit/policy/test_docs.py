"""docs/explanation/policy-rules.md cannot drift: its examples are checked here."""

from __future__ import annotations

import re
from pathlib import Path

from vce.policy import Context, analyze, load_policy
from vce.policy.rules import RULES, rule_ids

DOC = Path(__file__).resolve().parents[3] / "docs" / "explanation" / "policy-rules.md"
POLICY = load_policy()
SECTION = re.compile(r"^### `([a-z0-9-]+)`\n(.*?)(?=^### |^## |\Z)", re.M | re.S)
EXAMPLE = re.compile(r"(Stops|Allows):\s*```sql\n(.*?)```", re.S)


def _ctx(sql: str) -> Context:
    granted = re.search(r"-- granted: ([a-z_, ]+)", sql)
    tables = None if granted is None else frozenset(t.strip() for t in granted[1].split(","))
    return Context(POLICY, tables, "-- u18" in sql)


def _sections() -> dict[str, str]:
    return {m[1]: m[2] for m in SECTION.finditer(DOC.read_text(encoding="utf-8"))}


def test_every_rule_is_documented() -> None:
    assert set(rule_ids()) <= set(_sections())


def test_documented_examples_hold() -> None:
    sections = _sections()
    checked = 0
    for module in RULES:
        for kind, sql in EXAMPLE.findall(sections[module.RULE]):
            decision = analyze(sql, _ctx(sql))
            if kind == "Stops":
                assert module.RULE in decision.rules, (module.RULE, sql, decision.violations)
            else:
                assert decision.allowed, (module.RULE, sql, decision.violations)
            checked += 1
    assert checked >= 2 * len(RULES) - 1  # too-large's "stops" lives in test_limits
