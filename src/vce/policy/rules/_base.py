"""What every rule receives: the SQL, the context, the parsed tree or the flow facts.

A rule module names its id in ``RULE``, says in ``SUMMARY`` what it stops, and defines
``check_sql`` (raw text, before parsing), ``check_tree`` (parsed, before qualification) and/or
``check_facts`` (after :class:`~vce.policy.flow.Flow`), each yielding
:class:`~vce.policy.violations.Violation` s through :meth:`Check.violation`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlglot import exp

from vce.policy.context import CompiledPolicy, Context
from vce.policy.flow import Facts
from vce.policy.violations import Violation


class TreeIndex:
    """Every node of the parsed statements, bucketed by type in one walk."""

    def __init__(self, statements: list[exp.Expression]) -> None:
        """Walk ``statements`` once (iteratively), noting the deepest nesting."""
        self.by_type: dict[type, list[exp.Expression]] = defaultdict(list)
        self.max_depth = 0
        stack: list[tuple[exp.Expression, int]] = [(s, 1) for s in statements]
        while stack:
            node, depth = stack.pop()
            self.by_type[type(node)].append(node)
            if depth > self.max_depth:
                self.max_depth = depth
            stack.extend((child, depth + 1) for child in node.iter_expressions())

    def all(self, *types: type) -> list[exp.Expression]:
        """Every node that is an instance of one of ``types``."""
        out: list[exp.Expression] = []
        for t, nodes in self.by_type.items():
            if issubclass(t, types):
                out.extend(nodes)
        return out


@dataclass
class Check:
    """The subject of one analysis, shared by all rules."""

    sql: str
    ctx: Context
    compiled: CompiledPolicy
    statements: list[exp.Expression] = field(default_factory=list)
    index: TreeIndex | None = None
    facts: Facts | None = None
    _line_starts: list[int] | None = None

    def position(self, node: exp.Expression | None) -> tuple[int | None, int | None]:
        """1-based line and column where ``node`` starts in the SQL, when sqlglot knows."""
        if node is None:
            return None, None
        start = None
        for sub in node.walk(bfs=False):
            meta = sub.meta if sub._meta else None
            if meta and "start" in meta:
                start = meta["start"]
                break
        if start is None:
            return None, None
        if self._line_starts is None:
            self._line_starts = [0] + [i + 1 for i, ch in enumerate(self.sql) if ch == "\n"]
        line = 0
        for i, s in enumerate(self._line_starts):
            if s > start:
                break
            line = i
        return line + 1, start - self._line_starts[line] + 1

    def violation(self, rule: str, message: str, node: exp.Expression | None = None) -> Violation:
        """A violation of ``rule`` located at ``node``."""
        line, column = self.position(node)
        return Violation(rule, message, line, column)


def show(node: exp.Expression, limit: int = 60) -> str:
    """Short DuckDB SQL of ``node`` for messages."""
    text = node.sql(dialect="duckdb")
    return text if len(text) <= limit else text[: limit - 1] + "…"
