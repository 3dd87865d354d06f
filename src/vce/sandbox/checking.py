"""``vce.check(sql)``: the policy engine's verdict on a query, readable in a notebook.

The same engine runs in the airlock, so a query that passes here passes the airlock's static
check too (the airlock then also checks the result on the real data: thresholds, rounding,
dominance). The verdict is shown as text (terminal, ``print``) and HTML (notebook): each
violation with its rule, its message and a caret under the SQL at its position.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from typing import Any

TRUE_VALUES = frozenset({"1", "true", "yes", "on"})


def u18_approved(env: dict[str, str] | None = None) -> bool:
    """Whether the hub marked this project as approved for under-18 data (``VCE_U18_APPROVED``).

    >>> u18_approved({"VCE_U18_APPROVED": "true"}), u18_approved({})
    (True, False)
    """
    env = dict(os.environ) if env is None else env
    return env.get("VCE_U18_APPROVED", "").strip().lower() in TRUE_VALUES


@dataclass(frozen=True)
class Issue:
    """One violation as shown to the researcher."""

    rule: str
    message: str
    line: int | None
    column: int | None


def _caret(sql: str, line: int | None, column: int | None) -> str | None:
    """Return the SQL line the issue is on, with a caret under its column (both 1-based)."""
    if not line or column is None:
        return None
    lines = sql.splitlines() or [""]
    if not 1 <= line <= len(lines):
        return None
    text = lines[line - 1]
    col = min(max(column, 1), len(text) + 1)
    return f"{text}\n{' ' * (col - 1)}^"


@dataclass(frozen=True)
class CheckReport:
    """The verdict on one query: ``allowed`` and the issues, with notebook rendering."""

    sql: str
    allowed: bool
    issues: tuple[Issue, ...]
    decision: Any = None  # the engine's own Decision, for code that wants everything

    def __bool__(self) -> bool:
        return self.allowed

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (what the airlock's check report also carries)."""
        if self.decision is not None and hasattr(self.decision, "to_dict"):
            return dict(self.decision.to_dict())
        return {
            "allowed": self.allowed,
            "violations": [vars(i) for i in self.issues],
        }

    def headline(self) -> str:
        """One line: exportable, or how many problems."""
        if self.allowed:
            return "✓ exportable: this query passes the static policy check"
        n = len(self.issues)
        return f"✗ not exportable: {n} problem{'s' if n != 1 else ''}"

    def __str__(self) -> str:
        out = [self.headline()]
        for issue in self.issues:
            where = f" (line {issue.line}, column {issue.column})" if issue.line else ""
            out.append(f"  [{issue.rule}]{where} {issue.message}")
            caret = _caret(self.sql, issue.line, issue.column)
            if caret:
                out.extend("    " + part for part in caret.splitlines())
        if self.allowed:
            out.append(
                "  The airlock still checks the result on the real data (minimum number of "
                "people per row, rounding) before a reviewer sees it."
            )
        return "\n".join(out)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        e = html.escape
        colour = "#d4edda" if self.allowed else "#f8d7da"
        parts = [f"<div class='vce-check' style='background:{colour};padding:6px'>"]
        parts.append(f"<b>{e(self.headline())}</b>")
        if self.issues:
            parts.append("<table><tr><th>rule</th><th>message</th><th>where</th></tr>")
            for i in self.issues:
                caret = _caret(self.sql, i.line, i.column)
                where = f"<pre style='margin:0'>{e(caret)}</pre>" if caret else ""
                parts.append(
                    f"<tr><td><code>{e(i.rule)}</code></td><td>{e(i.message)}</td>"
                    f"<td>{where}</td></tr>"
                )
            parts.append("</table>")
        parts.append("</div>")
        return "".join(parts)


def check(
    sql: str,
    *,
    tables: frozenset[str] | None = None,
    u18: bool | None = None,
    policy_path: str | None = None,
) -> CheckReport:
    """Check ``sql`` against the project's policy, as the airlock will.

    ``tables`` defaults to the tables mounted in this sandbox (``VCE_DATA_DIR``) and ``u18``
    to ``VCE_U18_APPROVED``; ``policy_path`` (or ``VCE_POLICY``) to the shipped policy.
    """
    from vce.policy import Context, analyze, load_policy

    if tables is None:
        tables = _mounted_tables()
    policy = load_policy(policy_path or os.environ.get("VCE_POLICY") or None)
    decision = analyze(
        sql,
        Context(
            policy=policy,
            tables=tables,
            u18_approved=u18_approved() if u18 is None else u18,
        ),
    )
    issues = tuple(
        Issue(v.rule, v.message, getattr(v, "line", None), getattr(v, "column", None))
        for v in decision.violations
    )
    return CheckReport(sql, bool(decision.allowed), issues, decision)


def _mounted_tables() -> frozenset[str] | None:
    """Tables under ``VCE_DATA_DIR``; ``None`` (every policy table) outside a sandbox."""
    if not os.environ.get("VCE_DATA_DIR"):
        return None
    from vce.sandbox.mount import MountError, discover

    try:
        return discover().table_names()
    except MountError:
        return None
