"""Checks on file exports (figures, model tables): type allow-list, caps, CSV heuristics.

Files cannot be re-executed, so they always go to human review; these checks block what is
clearly out of bounds and give reviewers warnings to look at (small or unrounded counts).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

ALLOWED_TYPES = {
    ".csv": "table",
    ".png": "figure",
    ".svg": "figure",
    ".pdf": "figure",
    ".txt": "text",
    ".md": "text",
}
MAGIC = {".png": b"\x89PNG\r\n\x1a\n", ".pdf": b"%PDF-"}


@dataclass
class FileReport:
    """Outcome of the file checks: ``reasons`` block, ``warnings`` inform reviewers."""

    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rows: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the stored report."""
        return {
            "kind": "file",
            "reasons": self.reasons,
            "warnings": self.warnings,
            "rows": self.rows,
        }


def _numeric(cell: str) -> int | None:
    try:
        value = float(cell)
    except ValueError:
        return None
    return int(value) if value.is_integer() else None


def check_file(
    filename: str, content: bytes, *, max_bytes: int, max_rows: int, min_count: int, rounding: int
) -> FileReport:
    r"""Check one file export.

    >>> r = check_file("t.csv", b"region,n\nDE,5\nFR,120\n", max_bytes=100, max_rows=10,
    ...                min_count=10, rounding=5)
    >>> r.reasons, len(r.warnings)
    ([], 1)
    >>> check_file("x.exe", b"MZ", max_bytes=100, max_rows=10, min_count=10, rounding=5).reasons
    ["file type '.exe' is not allowed; allowed: .csv, .md, .pdf, .png, .svg, .txt"]
    """
    report = FileReport()
    suffix = PurePosixPath(filename).suffix.lower()
    if suffix not in ALLOWED_TYPES:
        allowed = ", ".join(sorted(ALLOWED_TYPES))
        report.reasons.append(
            f"file type {suffix or '(none)'!r} is not allowed; allowed: {allowed}"
        )
        return report
    if len(content) > max_bytes:
        report.reasons.append(f"file is {len(content)} bytes; the limit is {max_bytes}")
        return report
    magic = MAGIC.get(suffix)
    if magic and not content.startswith(magic):
        report.reasons.append(f"content is not a {suffix} file")
        return report
    if ALLOWED_TYPES[suffix] in ("table", "text") or suffix == ".svg":
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            report.reasons.append("file is not UTF-8 text")
            return report
        if suffix == ".csv":
            _check_csv(text, report, max_rows=max_rows, min_count=min_count, rounding=rounding)
    return report


def _check_csv(
    text: str, report: FileReport, *, max_rows: int, min_count: int, rounding: int
) -> None:
    rows = list(csv.reader(io.StringIO(text)))
    body = rows[1:] if rows else []
    report.rows = len(body)
    if len(body) > max_rows:
        report.reasons.append(f"CSV has {len(body)} rows; the limit is {max_rows}")
        return
    small = unrounded = 0
    for row in body:
        for cell in row:
            n = _numeric(cell.strip())
            if n is None:
                continue
            if 0 < n < min_count:
                small += 1
            if n % rounding:
                unrounded += 1
    if small:
        report.warnings.append(
            f"{small} cell(s) hold counts between 1 and {min_count - 1}: check they are not "
            "counts of people"
        )
    if unrounded:
        report.warnings.append(
            f"{unrounded} integer cell(s) are not multiples of {rounding}: counts of people "
            "must be rounded"
        )
