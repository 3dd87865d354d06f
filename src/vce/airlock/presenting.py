"""Turning stored data into what reviewers read: pretty SQL, plain-language checks, a chart.

Pure functions over plain data, so the pages and the tests share them.
"""

from __future__ import annotations

from html import escape
from typing import Any

import sqlglot

CHECK_NAMES = {
    "threshold": "Minimum number of people per row",
    "u18": "Stricter minimum where under-18s contributed",
    "u18_threshold": "Stricter minimum where under-18s contributed",
    "minor_rows": "No row-level data about under-18s",
    "rounding": "Counts rounded",
    "dominance": "No one or two people dominate a sum or average",
    "order_statistic": "Enough people on both sides of each quantile",
    "cell_threshold": "Minimum number of people per cell (empty cells included)",
    "anti_join": "Enough people removed by each NOT EXISTS / NOT IN",
    "regression_dof": "Enough degrees of freedom for each regression",
    "low_effect": "No condition moves a row by a few people",
    "row_limit": "Row limit",
    "byte_limit": "Size limit",
}


def pretty_sql(sql: str | None) -> str:
    """Reformat SQL with sqlglot (DuckDB dialect); keep the original when it does not parse.

    >>> print(pretty_sql("select a, count(*) from t group by a"))
    SELECT
      a,
      COUNT(*)
    FROM t
    GROUP BY
      a
    """
    if not sql:
        return ""
    try:
        return sqlglot.transpile(sql, read="duckdb", write="duckdb", pretty=True)[0]
    except Exception:
        return sql


def check_lines(report: dict[str, Any] | None) -> list[dict[str, Any]]:
    """One plain-language line per check of a report: ``{title, status, text}``.

    ``status`` is ``ok``, ``suppressed`` (rows failed and were withheld: nothing unsafe leaves)
    or ``failed`` (the check refused the request).

    >>> check_lines({"checks": [{"name": "threshold", "passed": 4, "failed": 1,
    ...     "suppressed": 1, "thresholds": {"min_entities": 10}, "smallest_group": 12}]})[0]["text"]
    '4 rows passed, 1 failed and 1 suppressed (min_entities 10); smallest released group: 12.'
    """
    if not report:
        return []
    lines = []
    for c in report.get("checks") or []:
        if not isinstance(c, dict):
            continue
        name = str(c.get("name", "check"))
        if "passed" not in c:  # a researcher's view of a release: which checks ran, no counts
            th = c.get("thresholds") or {}
            limits = ", ".join(f"{k} {v}" for k, v in th.items())
            text = f"applied ({limits})." if limits else "applied."
            lines.append({"title": CHECK_NAMES.get(name, name), "ok": True, "text": text})
            continue
        parts = [f"{c.get('passed', 0)} rows passed"]
        if c.get("failed"):
            parts.append(f"{c['failed']} failed")
        if c.get("suppressed"):
            parts.append(f"{c['suppressed']} suppressed")
        text = ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]
        th = c.get("thresholds") or {}
        if th:
            text += " (" + ", ".join(f"{k} {v}" for k, v in th.items()) + ")"
        if c.get("smallest_group") is not None:
            text += f"; smallest released group: {c['smallest_group']}"
        text += "."
        if c.get("detail"):
            text += f" {c['detail']}"
        lines.append(
            {"title": CHECK_NAMES.get(name, name), "ok": not c.get("failed"), "text": text}
        )
    for w in report.get("warnings") or []:
        lines.append({"title": "Warning", "ok": False, "text": str(w)})
    return lines


def rounded_columns(report: dict[str, Any] | None, columns: list[str]) -> set[str]:
    """Output columns whose values were rounded (marked ≈ in the preview)."""
    if not report:
        return set()
    named = report.get("rounded_columns")
    if isinstance(named, list):
        return {c for c in named if c in columns}
    return set()


def group_chart(
    columns: list[str], rows: list[list[Any]], counts: set[str], thresholds: dict[str, int]
) -> str:
    """Draw an inline SVG bar chart of the first count column per row against the thresholds."""
    col = next((c for c in columns if c in counts), None)
    if col is None:
        col = next((c for i, c in enumerate(columns) if rows and isinstance(rows[0][i], int)), None)
    if col is None or not rows:
        return ""
    idx = columns.index(col)
    values = [r[idx] if isinstance(r[idx], int | float) else 0 for r in rows[:60]]
    top = max([*values, *thresholds.values(), 1])
    width, height, bar = 640, 180, max(2, 600 // max(len(values), 1) - 2)
    out = [
        f'<svg class="chart" role="img" aria-label="group sizes ({escape(col)}) against '
        f'thresholds" width="{width}" height="{height + 20}" viewBox="0 0 {width} {height + 20}">'
    ]
    for i, v in enumerate(values):
        h = int(height * v / top)
        low = any(v < t for t in thresholds.values())
        out.append(
            f'<rect x="{20 + i * (bar + 2)}" y="{height - h}" width="{bar}" height="{h}" '
            f'class="{"bar low" if low else "bar"}"><title>{escape(str(v))}</title></rect>'
        )
    for name, t in thresholds.items():
        y = height - int(height * t / top)
        out.append(f'<line x1="0" x2="{width}" y1="{y}" y2="{y}" class="threshold"/>')
        out.append(f'<text x="{width - 150}" y="{y - 3}" class="label">{escape(name)} {t}</text>')
    out.append(f'<text x="20" y="{height + 15}" class="label">{escape(col)} per row</text></svg>')
    return "".join(out)


def withheld_pairs(report: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The differencing guard's withheld rows, one entry per row, with the cell it is close to.

    ``earlier.request`` is the earlier request's id when the earlier cell came from one (for a
    link); within one result it is ``None`` and ``earlier.row`` names the other row.

    >>> pairs = withheld_pairs({"withheld": [
    ...     {"row": 1, "column": "n", "rule": "differencing", "reason": "r",
    ...      "earlier": {"release": "request:7", "row": 0, "label": {"k": "FR"}, "sql": "S"}},
    ...     {"row": 1, "column": "s", "rule": "differencing", "reason": "r", "earlier": {}}]})
    >>> [(p["row"], p["columns"], p["earlier"]["request"]) for p in pairs]
    [(1, ['n', 's'], 7)]
    """
    rows: dict[int, dict[str, Any]] = {}
    for w in (report or {}).get("withheld") or []:
        if w.get("rule") != "differencing":
            continue
        entry = rows.get(w["row"])
        if entry is None:
            earlier = dict(w.get("earlier") or {})
            release = str(earlier.get("release") or "")
            earlier["request"] = (
                int(release.split(":", 1)[1])
                if release.startswith("request:") and release.split(":", 1)[1].isdigit()
                else None
            )
            entry = rows[w["row"]] = {
                "row": w["row"],
                "columns": [],
                "reason": w.get("reason", ""),
                "earlier": earlier,
            }
        entry["columns"].append(w["column"])
    return [rows[r] for r in sorted(rows)]
