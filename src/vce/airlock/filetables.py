r"""Table and text exports: strict parsing, and the checks that need only the file itself.

These checks see nothing but the researcher's file, so their outcome may be shown to the
researcher at submission. The check against the granted datasets' values is
:mod:`vce.airlock.filevalues` (reviewers only).

A table is blocked when one of its columns (or rows: a transposed listing) is a
**high-cardinality text column**: at least :data:`HIGH_CARDINALITY_MIN` distinct text values
(cells that are not numbers and contain a letter) making up at least
:data:`HIGH_CARDINALITY_SHARE` of its non-empty cells. Why these numbers:

- A file export is checked by people, not re-executed: it is for the tables of a paper, whose
  label columns a reader takes in at a glance — tens of groups (regions, age bands, months,
  topics). Each label of an aggregated table stands for at least ``min_entities`` people; a
  column of 50 or more different strings, most of them seen once, is what a per-person listing
  (usernames, display names, bios, comment texts) looks like, and no reviewer checks 50 labels
  against the data. Tables with more groups than that go out as a *query* export, where the
  airlock recomputes each row on the full data and applies the disclosure checks to every one.
- The share (half the cells distinct) lets a long-format table through, where the same few
  labels repeat down a column (region x month); a listing of people never repeats much.
- Numbers are never "text": counts and measures are checked by the small-count and rounding
  warnings instead, and identifiers written as numbers by :mod:`vce.airlock.filevalues`.

>>> rows = [["user", "bio"]] + [[f"user_{i}", f"I like cats {i}"] for i in range(60)]
>>> [r[:40] for r in high_cardinality(rows)]
["column 'user' holds 60 distinct text val", "column 'bio' holds 60 distinct text valu"]
"""

from __future__ import annotations

import csv
import io
import re

from vce.airlock.errors import Invalid

HIGH_CARDINALITY_MIN = 50
HIGH_CARDINALITY_SHARE = 0.5
# C0 controls but tab, LF and CR; DEL; C1 controls; bidirectional overrides ("Trojan Source"),
# which make a reviewer read text in another order than a program does.
_FORBIDDEN_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_LETTER = re.compile(r"[^\W\d_]")


def _refuse(message: str) -> Invalid:
    return Invalid(message, code="invalid_file")


def decode_text(content: bytes) -> str:
    """The file as text: strict UTF-8 (a leading BOM is allowed), no control characters."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _refuse(f"file is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    bad = _FORBIDDEN_CHARS.search(text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        raise _refuse(
            f"file holds the control character U+{ord(bad.group()):04X} on line {line}; "
            "export plain text"
        )
    return text


def read_rows(text: str, delimiter: str) -> list[list[str]]:
    """Parse delimited text strictly: every row has as many fields as the header."""
    try:
        rows = [r for r in csv.reader(io.StringIO(text), delimiter=delimiter, strict=True) if r]
    except csv.Error as exc:
        raise _refuse(f"the table cannot be parsed ({exc}); write it with a CSV library") from None
    if rows:
        width = len(rows[0])
        for n, row in enumerate(rows[1:], start=2):
            if len(row) != width:
                raise _refuse(
                    f"row {n} has {len(row)} fields, the header has {width}: "
                    "every row needs the same columns"
                )
    return rows


def numeric(cell: str) -> float | None:
    """The cell as a number (``1,234`` and ``12%`` included), or None."""
    s = cell.strip().replace(",", "").removesuffix("%")
    try:
        return float(s)
    except ValueError:
        return None


def is_text(cell: str) -> bool:
    """A cell that reads as words or names: not a number, with at least one letter."""
    return numeric(cell) is None and _LETTER.search(cell) is not None


def _cardinality(cells: list[str]) -> tuple[int, int]:
    filled = [c.strip() for c in cells if c.strip()]
    return len({c for c in filled if is_text(c)}), len(filled)


def _too_many(distinct: int, filled: int) -> bool:
    return distinct >= HIGH_CARDINALITY_MIN and distinct >= HIGH_CARDINALITY_SHARE * filled


_FIX = (
    "a file export carries aggregated tables a reviewer can read; export many groups as a "
    "query request (the airlock checks every row) and never per-person values"
)


def high_cardinality(rows: list[list[str]]) -> list[str]:
    """Reasons for each column (and row) that is a high-cardinality text column."""
    if not rows:
        return []
    header, body = rows[0], rows[1:]
    reasons = []
    for i, name in enumerate(header):
        distinct, filled = _cardinality([r[i] for r in body])
        if _too_many(distinct, filled):
            reasons.append(
                f"column {name.strip()[:40]!r} holds {distinct} distinct text values in "
                f"{filled} rows (the limit is {HIGH_CARDINALITY_MIN - 1}): {_FIX}"
            )
    for n, row in enumerate(rows, start=1):
        distinct, filled = _cardinality(row)
        if _too_many(distinct, filled):
            reasons.append(
                f"row {n} holds {distinct} distinct text values (the limit is "
                f"{HIGH_CARDINALITY_MIN - 1}): {_FIX}"
            )
    return reasons


def count_warnings(rows: list[list[str]], *, min_count: int, rounding: int) -> list[str]:
    """Warnings for reviewers: small counts (possible counts of few people) and unrounded ones."""
    small = unrounded = 0
    for row in rows[1:]:
        for cell in row:
            try:
                value = float(cell.strip())  # plain numbers only: not "12%", not "1,234"
            except ValueError:
                continue
            if not value.is_integer():
                continue
            n = int(value)
            if 0 < n < min_count:
                small += 1
            if n % rounding:
                unrounded += 1
    out = []
    if small:
        out.append(
            f"{small} cell(s) hold counts between 1 and {min_count - 1}: check they are not "
            "counts of people"
        )
    if unrounded:
        out.append(
            f"{unrounded} integer cell(s) are not multiples of {rounding}: counts of people "
            "must be rounded"
        )
    return out
