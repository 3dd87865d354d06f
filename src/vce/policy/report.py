"""The check report in words, for reviewers and researchers.

``CheckedResult.to_dict()`` is the machine form (JSON in ``vce check --json`` and the airlock);
this module says the same thing as a short Markdown summary: what was released, what was
suppressed and by which check, the thresholds used, and why a query was denied.
"""

from __future__ import annotations

from typing import Any


def _fmt_thresholds(th: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in th.items())


def render_markdown(report: dict[str, Any]) -> str:
    """Render a ``CheckedResult.to_dict()`` report as Markdown.

    >>> print(render_markdown({
    ...     "allowed": True, "violations": [], "rows": [{"n": 15}], "suppressed_rows": 2,
    ...     "checks": [{"name": "threshold", "passed": 1, "failed": 2, "suppressed": 2,
    ...                 "thresholds": {"min_entities": 10}, "smallest_group": 12, "detail": ""}],
    ... }))
    **Released**: 1 row, 2 suppressed.
    <BLANKLINE>
    | check | passed | failed | suppressed | thresholds | smallest group |
    |---|---|---|---|---|---|
    | threshold | 1 | 2 | 2 | min_entities=10 | 12 |
    >>> print(render_markdown({"allowed": False, "violations": [
    ...     {"rule": "timeout", "message": "stopped after 60 s", "line": None, "column": None}],
    ...     "rows": [], "suppressed_rows": 0, "checks": []}))
    **Denied**
    <BLANKLINE>
    - `timeout`: stopped after 60 s
    """
    rows = len(report.get("rows") or [])
    lines: list[str] = []
    if not report.get("allowed"):
        lines += ["**Denied**", ""]
        for v in report.get("violations") or []:
            where = f" (line {v['line']}, column {v['column']})" if v.get("line") else ""
            lines.append(f"- `{v['rule']}`: {v['message']}{where}")
        return "\n".join(lines)
    noun = "row" if rows == 1 else "rows"
    head = "Released" if rows else "Nothing released"
    lines.append(f"**{head}**: {rows} {noun}, {report.get('suppressed_rows', 0)} suppressed.")
    checks = report.get("checks") or []
    if checks:
        lines += [
            "",
            "| check | passed | failed | suppressed | thresholds | smallest group |",
            "|---|---|---|---|---|---|",
        ]
        for c in checks:
            smallest = "" if c.get("smallest_group") is None else str(c["smallest_group"])
            lines.append(
                f"| {c['name']} | {c['passed']} | {c['failed']} | {c['suppressed']} | "
                f"{_fmt_thresholds(c.get('thresholds') or {})} | {smallest} |"
            )
        notes = [f"- {c['name']}: {c['detail']}" for c in checks if c.get("detail")]
        if notes:
            lines += ["", *notes]
    return "\n".join(lines)
