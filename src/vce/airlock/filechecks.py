"""Checks on file exports (figures, tables and text made in the notebook), from the file alone.

Files cannot be re-executed, so they always go to human review. What is checked here depends
only on the bytes the researcher sent, so its outcome may be shown to the researcher at
submission: the declared types (:data:`FILE_TYPES`, each with what checks it), the file name
(:func:`check_filename`, at submission), and the content (:func:`check_file`), which also
gives the bytes to store and release (a figure re-encoded from its pixels). The check against
the granted datasets' values uses real rows and goes to reviewers only:
:func:`vce.airlock.filevalues.check_file_values`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from vce.airlock.errors import Invalid
from vce.airlock.fileimages import MAX_PIXELS, reencode_png
from vce.airlock.filetables import count_warnings, decode_text, high_cardinality, read_rows


@dataclass(frozen=True)
class FileType:
    """One declared export type: what it is for, its media type and what checks it."""

    kind: str  # "figure", "table" or "text"
    media_type: str
    checked_by: str
    delimiter: str | None = None  # tables only


_TABLE_CHECKS = (
    "strict UTF-8 without control characters; parsed with the csv module (same number of "
    "fields in every row); row cap; a high-cardinality text column or row is blocked; small "
    "and unrounded counts are warnings; cells and words matched against the granted data's "
    "identifier and free-text values (reviewers)"
)
_TEXT_CHECKS = (
    "strict UTF-8 without control characters; line cap; lines, fields and words matched "
    "against the granted data's identifier and free-text values (reviewers)"
)
FILE_TYPES: dict[str, FileType] = {
    ".png": FileType(
        "figure",
        "image/png",
        f"decoded with Pillow: one frame, nothing after the image data, at most {MAX_PIXELS} "
        "pixels; stored and released re-encoded from the decoded pixels, without metadata",
    ),
    ".csv": FileType("table", "text/csv", _TABLE_CHECKS, ","),
    ".tsv": FileType("table", "text/tab-separated-values", _TABLE_CHECKS, "\t"),
    ".txt": FileType("text", "text/plain", _TEXT_CHECKS),
    ".md": FileType("text", "text/markdown", _TEXT_CHECKS),
}
# Types people try, with the fix; any other type gets the list of declared ones.
_AS_PNG = "export the figure as PNG instead, e.g. fig.savefig('figure.png', dpi=200)"
REFUSED_TYPES: dict[str, str] = {
    ".pdf": "PDF can carry any data beside what it shows; " + _AS_PNG,
    ".svg": "SVG can carry any data beside what it shows; " + _AS_PNG,
    ".jpg": _AS_PNG,
    ".jpeg": _AS_PNG,
    ".gif": _AS_PNG,
    ".webp": _AS_PNG,
    ".tif": _AS_PNG,
    ".tiff": _AS_PNG,
    ".xlsx": "save the table as CSV",
    ".json": "save the table as CSV",
    ".parquet": "export a table of results as a query request, or save it as CSV",
}
# Files every release folder gets (see Airlock._release_files): an export may not take them.
GENERATED_NAMES = frozenset({"manifest.json", "readme.md", "result.csv", "result.parquet"})
_WINDOWS_DEVICES = frozenset(
    {"con", "prn", "aux", "nul", "conin$", "conout$"}
    | {f"{d}{i}" for d in ("com", "lpt") for i in range(10)}
)
MAX_NAME = 100
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)?")


def check_filename(name: object) -> None:
    """Refuse a file name that is not a plain, portable name of a declared type.

    One character set (ASCII letters, digits, ``_`` and ``-``, and one dot before the
    extension), starting with a letter or digit, at most :data:`MAX_NAME` characters; not a
    name the release folder holds anyway, nor a Windows device name (whatever the case).
    Raises :class:`~vce.airlock.errors.Invalid` naming the fix.

    >>> check_filename("figure-2.png")
    >>> check_filename('a".png')
    Traceback (most recent call last):
    ...
    vce.airlock.errors.Invalid: 'filename' may hold only ASCII letters, digits, '_' and '-', \
one '.' before the extension, and must start with a letter or digit, e.g. 'figure-2.png'
    >>> check_filename("README.md")
    Traceback (most recent call last):
    ...
    vce.airlock.errors.Invalid: 'filename' README.md is a name the release writes itself; \
choose another name
    """
    if not isinstance(name, str) or not name:
        raise Invalid("'filename' must be a non-empty string", code="invalid_filename")
    if len(name) > MAX_NAME:
        raise Invalid(f"'filename' is longer than {MAX_NAME} characters", code="invalid_filename")
    if not _SAFE_NAME.fullmatch(name):
        raise Invalid(
            "'filename' may hold only ASCII letters, digits, '_' and '-', one '.' before the "
            "extension, and must start with a letter or digit, e.g. 'figure-2.png'",
            code="invalid_filename",
        )
    stem, dot, ext = name.partition(".")
    suffix = f"{dot}{ext.lower()}"
    if suffix not in FILE_TYPES:
        raise Invalid(_type_message(suffix), code="invalid_filename")
    if name.lower() in GENERATED_NAMES:
        raise Invalid(
            f"'filename' {name} is a name the release writes itself; choose another name",
            code="invalid_filename",
        )
    if stem.lower() in _WINDOWS_DEVICES:
        raise Invalid(
            f"'filename' {name} is a reserved device name on Windows; choose another name",
            code="invalid_filename",
        )


def _type_message(suffix: str) -> str:
    allowed = ", ".join(sorted(FILE_TYPES))
    fix = REFUSED_TYPES.get(suffix, f"allowed: {allowed}")
    return f"file type {suffix or '(none)'!r} is not allowed; {fix}"


@dataclass
class FileReport:
    """Outcome of the content checks.

    ``reasons`` block, ``warnings`` inform reviewers; ``content`` is what to store and release
    when nothing blocks (for figures: the re-encoded image, never the bytes sent).
    """

    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rows: int | None = None
    content: bytes | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the stored report."""
        return {
            "kind": "file",
            "reasons": self.reasons,
            "warnings": self.warnings,
            "rows": self.rows,
        }


def check_file(
    filename: str,
    content: bytes,
    *,
    max_bytes: int,
    max_rows: int,
    min_count: int,
    rounding: int,
    max_pixels: int = MAX_PIXELS,
) -> FileReport:
    r"""Check one file export from its bytes alone (researcher-safe outcome).

    >>> r = check_file("t.csv", b"region,n\nDE,5\nFR,120\n", max_bytes=100, max_rows=10,
    ...                min_count=10, rounding=5)
    >>> r.reasons, len(r.warnings), r.content == b"region,n\nDE,5\nFR,120\n"
    ([], 1, True)
    >>> check_file("x.exe", b"MZ", max_bytes=100, max_rows=10, min_count=10, rounding=5).reasons
    ["file type '.exe' is not allowed; allowed: .csv, .md, .png, .tsv, .txt"]
    >>> check_file("f.svg", b"<svg/>", max_bytes=100, max_rows=10, min_count=10,
    ...            rounding=5).reasons  # doctest: +ELLIPSIS
    ["file type '.svg' is not allowed; SVG can carry any data beside what it shows; export..."]
    """
    report = FileReport()
    suffix = PurePosixPath(filename).suffix.lower()
    ftype = FILE_TYPES.get(suffix)
    if ftype is None:
        report.reasons.append(_type_message(suffix))
        return report
    if len(content) > max_bytes:
        report.reasons.append(f"file is {len(content)} bytes; the limit is {max_bytes}")
        return report
    try:
        if ftype.kind == "figure":
            report.content, notes = reencode_png(content, max_pixels=max_pixels)
            report.warnings.extend(notes)
            return report
        text = decode_text(content)
        if ftype.delimiter is None:
            lines = text.count("\n") + (not text.endswith("\n"))
            report.rows = lines
            if lines > max_rows:
                raise Invalid(f"the text has {lines} lines; the limit is {max_rows}")
        else:
            rows = read_rows(text, ftype.delimiter)
            report.rows = max(len(rows) - 1, 0)
            if report.rows > max_rows:
                raise Invalid(f"the table has {report.rows} rows; the limit is {max_rows}")
            report.reasons.extend(high_cardinality(rows))
            report.warnings.extend(count_warnings(rows, min_count=min_count, rounding=rounding))
    except Invalid as exc:
        report.reasons.append(exc.message)
    if not report.reasons:
        report.content = content
    return report
