"""What the policy engine says about a query: a :class:`Decision` made of :class:`Violation` s.

Both are plain, JSON-friendly values so the same decision can be shown in a notebook, printed by
``vce check --json`` and stored by the airlock next to the export request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp


@dataclass(frozen=True)
class Violation:
    """One reason a query may not leave: a rule id, a message for researchers, a location.

    ``line`` and ``column`` are 1-based positions in the submitted SQL, ``None`` when the
    violation is about the query as a whole.
    """

    rule: str
    message: str
    line: int | None = None
    column: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form used by ``vce check --json`` and the airlock."""
        return {
            "rule": self.rule,
            "message": self.message,
            "line": self.line,
            "column": self.column,
        }

    def __str__(self) -> str:
        """``line:col rule: message`` as a compiler would print it."""
        where = f"{self.line}:{self.column} " if self.line is not None else ""
        return f"{where}{self.rule}: {self.message}"


@dataclass(frozen=True)
class Decision:
    """The static verdict on one query under one :class:`~vce.policy.context.Context`.

    Decisions are cached and shared, so the parsed tree is kept private and handed out as a
    fresh copy by :attr:`expression`: a caller that rewrites it (trusted execution adds
    contributor columns) cannot change what the next caller sees.
    """

    allowed: bool
    violations: list[Violation] = field(default_factory=list)
    tables: frozenset[str] = frozenset()
    row_level: bool = False
    _expression: exp.Expression | None = field(default=None, repr=False, compare=False)

    @property
    def expression(self) -> exp.Expression | None:
        """The parsed and qualified query (a copy).

        ``None`` when the SQL did not parse or was refused before qualification (not a
        query, a file or table function, an unknown or ungranted table, ``*`` …).
        """
        return None if self._expression is None else self._expression.copy()

    @property
    def rules(self) -> frozenset[str]:
        """The ids of every violated rule."""
        return frozenset(v.rule for v in self.violations)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``{"allowed", "violations", "tables", "row_level"}``."""
        return {
            "allowed": self.allowed,
            "violations": [v.to_dict() for v in self.violations],
            "tables": sorted(self.tables),
            "row_level": self.row_level,
        }
