"""The ``%%vce`` cell magic: run SQL, show the result and, beside it, whether it can leave.

Load it with ``%load_ext vce``. ``%%vce`` runs the cell on the kernel's sandbox connection
(opened on first use); ``%%vce df`` also stores the result as a pandas DataFrame in ``df``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

DISPLAY_ROWS = 50


@dataclass
class CellResult:
    """What ``%%vce`` shows: the result table and the export verdict side by side."""

    table_html: str
    table_text: str
    verdict_html: str
    verdict_text: str

    def _repr_html_(self) -> str:
        return (
            "<div class='vce-cell' style='display:flex;gap:1em;align-items:flex-start'>"
            f"<div style='flex:3;overflow:auto'>{self.table_html}</div>"
            f"<div style='flex:2'>{self.verdict_html}</div></div>"
        )

    def __repr__(self) -> str:
        return f"{self.table_text}\n\nexport check:\n{self.verdict_text}"


def _verdict(sql: str, tables: frozenset[str]) -> tuple[str, str]:
    try:
        from vce.sandbox.checking import check

        report = check(sql, tables=tables)
    except Exception as e:  # the check is advice; never lose the researcher's result over it
        text = f"export check unavailable: {type(e).__name__}: {e}"
        return f"<div class='vce-check'>{html.escape(text)}</div>", text
    return report._repr_html_(), str(report)


def run_cell(sql: str, con: Any) -> tuple[CellResult, Any]:
    """Run ``sql`` on ``con``; return what to display and the result DataFrame (or None)."""
    rel = con.sql(sql)
    if rel is None:  # a statement without a result (CREATE TEMP TABLE …)
        df = None
        table_html = table_text = "(no result)"
    else:
        df = rel.df()
        shown = df.head(DISPLAY_ROWS)
        more = f" — first {DISPLAY_ROWS} of {len(df)} rows" if len(df) > DISPLAY_ROWS else ""
        table_html = shown.to_html(index=False) + (f"<p>{more}</p>" if more else "")
        table_text = shown.to_string(index=False) + more
    verdict_html, verdict_text = _verdict(sql, con.mount.table_names())
    return CellResult(table_html, table_text, verdict_html, verdict_text), df


def load_ipython_extension(ipython: Any) -> None:
    """Register ``%%vce`` (called by ``%load_ext vce``)."""
    from vce.sandbox.connection import default_connection

    def vce(line: str, cell: str) -> CellResult:
        shown, df = run_cell(cell, default_connection())
        target = line.strip()
        if target:
            if not target.isidentifier():
                raise ValueError(f"%%vce {target}: give a Python variable name to store the result")
            ipython.user_ns[target] = df
        return shown

    ipython.register_magic_function(vce, magic_kind="cell", magic_name="vce")
