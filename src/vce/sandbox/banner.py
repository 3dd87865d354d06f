"""The banner of a sandbox connection: what data this is, which of it is synthetic, the limits."""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vce.sandbox.checking import u18_approved
from vce.sandbox.mount import Mount

if TYPE_CHECKING:
    from vce.sandbox.limits import Limits
    from vce.sandbox.lockdown import View

SYNTHETIC_NOTE = (
    "Rows with audience = 'minor' are SYNTHETIC in this sandbox: stand-ins with the shape "
    "of the real minors' data; real minors' rows never enter a sandbox. Write your SQL as "
    "you would for the real data — WHERE audience = 'minor' selects the synthetic rows here "
    "and the real ones when the airlock re-runs your query for an export."
)
NOT_U18_NOTE = (
    "This project is not approved for under-18 data: the airlock runs your queries on the "
    "adults' rows only, so results about minors will come back empty."
)
RULES_NOTE = (
    "SQL reads the dataset views only (no file paths, read_*() or COPY); results leave "
    "only through vce.request_export(). vce.check(sql) tells you early whether a query "
    "can be exported."
)


@dataclass(frozen=True)
class Banner:
    """Text and HTML forms of the connection banner."""

    mount: Mount
    views: list[View]
    limits: Limits
    timeout: float | None

    def _datasets(self) -> str:
        parts = []
        for ds in self.mount.datasets:
            parts.append(f"{ds.folder}" + (f" (version {ds.version})" if ds.version else ""))
        return ", ".join(parts)

    def _people_tables(self) -> list[str]:
        return [v.name for v in self.views if v.source.partitioned]

    def _other_tables(self) -> list[str]:
        return [v.name for v in self.views if not v.source.partitioned]

    def _limits(self) -> str:
        timeout = f"{self.timeout:g} s per query" if self.timeout else "no query timeout"
        return f"{self.limits.describe()}, {timeout}"

    def _skipped(self) -> list[str]:
        return sorted({v.source.name for v in self.views if v.source.real_minor_present})

    def text(self) -> str:
        """Plain-text banner (terminal, ``print``, ``repr``)."""
        project = os.environ.get("VCE_PROJECT")
        lines = [
            "VCE sandbox connection" + (f" · project {project}" if project else ""),
            f"  datasets: {self._datasets()}",
            f"  tables with an audience column: {', '.join(self._people_tables()) or '-'}",
            f"  other tables: {', '.join(self._other_tables()) or '-'}",
            f"  SYNTHETIC: {SYNTHETIC_NOTE}",
            *([f"  U18: {NOT_U18_NOTE}"] if not u18_approved() else []),
            f"  rules: {RULES_NOTE}",
            f"  limits: {self._limits()}",
        ]
        if self._skipped():
            lines.append(
                "  note: the mount also holds real minors' partitions "
                f"({', '.join(self._skipped())}); this connection does not read them."
            )
        return "\n".join(lines)

    def html(self) -> str:
        """Render the same banner for a notebook (``_repr_html_``)."""
        e = html.escape
        project = os.environ.get("VCE_PROJECT")
        rows = [
            ("datasets", e(self._datasets())),
            ("tables with audience", e(", ".join(self._people_tables()) or "-")),
            ("other tables", e(", ".join(self._other_tables()) or "-")),
            ("limits", e(self._limits())),
        ]
        body = "".join(
            f"<tr><th style='text-align:left'>{k}</th><td>{v}</td></tr>" for k, v in rows
        )
        title = "VCE sandbox connection" + (f" · project {e(project)}" if project else "")
        return (
            f"<div class='vce-banner'><b>{title}</b><table>{body}</table>"
            f"<p style='background:#fff3cd;padding:4px'><b>Synthetic data:</b> "
            f"{e(SYNTHETIC_NOTE)}</p>"
            + ("" if u18_approved() else f"<p><b>Under 18:</b> {e(NOT_U18_NOTE)}</p>")
            + f"<p>{e(RULES_NOTE)}</p></div>"
        )
