r"""Does a file export carry identifier or free-text values of the granted datasets?

This check reads the FULL granted data (real minors' rows for U18-approved projects), so what
it finds — even whether it found anything — is computed on real people and goes to reviewers
only, never to the researcher before review (DESIGN, trust boundary 6).

How: the file is parsed (cells of a CSV/TSV, lines of a text; every field, the parts of a
field split at ``| ; , <tab>``, and its words) into a small set of distinct candidate values.
DuckDB then semi-joins that set against every ``identifier`` and ``free_text`` column of the
granted tables (one pass over the Parquet, the candidates as a registered Arrow table), so the
check costs a scan of those columns, not a scan per value. Matching is exact after lower-casing
and collapsing white space; it catches values copied out of a query result, not re-encoded
ones (base64, hex, offsets) — those are what the reviewers' reading and the high-cardinality
rule of :mod:`vce.airlock.filetables` are for.

What is compared, and why (false positives cost reviewers' time, so they are kept rare):

- Whole fields and their parts against free-text columns (bios, comments, display names); a
  single word of prose is not compared (a one-word comment such as "amazing" tells nothing).
- Fields, parts and words against identifier columns (usernames).
- Strings shorter than :data:`MIN_TEXT_CHARS` are never compared: region codes, age bands and
  short words are what aggregated tables are made of, and a two-letter match says nothing
  about a person.
- A string that is also a value of a ``dimension`` column (a hashtag, a region, a shop name),
  or the name of a table or column, is not compared: labels of aggregated tables are exactly
  those, and such a string names a group, not a person.
- Integers only with at least :data:`MIN_ID_DIGITS` digits: below 100 000 are the counts,
  years, durations and percentages of every aggregated table; an identifier that small is one
  of at most 10^5 values, so a match would mostly be chance. Platform identifiers are far
  longer (19 digits in the demo data, like TikTok's).

Reasons name the table and column and how many distinct values matched, never a value.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import duckdb
import pyarrow as pa

from vce.airlock.errors import Invalid
from vce.airlock.filechecks import FILE_TYPES
from vce.airlock.filetables import decode_text, numeric, read_rows
from vce.data.schema import TABLES
from vce.policy.engine import collect_files, locked_session
from vce.policy.model import ColumnClass, Policy

MIN_TEXT_CHARS = 5
MIN_ID_DIGITS = 6
MAX_CANDIDATES = 500_000  # distinct values; more is not a result but a data dump
_INT = re.compile(rf"-?\d{{{MIN_ID_DIGITS},19}}")
_SPACE = re.compile(r"[\t\n\f\r ]+")  # what RE2's \s matches, so both sides agree
_PARTS = re.compile(r"[|;,\t]")
_PUNCT = "\"'`()[]{}<>.,;:!?*"
_WHY = {
    ColumnClass.IDENTIFIER: "identifiers never leave the airlock",
    ColumnClass.FREE_TEXT: "free text is never exported raw",
}


def _norm(s: str) -> str:
    return _SPACE.sub(" ", s).strip(" ").lower()


def candidates(fields: Sequence[str]) -> tuple[set[str], set[str], set[int]]:
    """Distinct values to look for: (whole fields and parts, words, long integers).

    >>> phrases, words, ints = candidates(["@anna_164: j'y crois pas", "6900011912288370036"])
    >>> sorted(phrases), sorted(words), sorted(ints)
    (["@anna_164: j'y crois pas"], ['anna_164', 'crois'], [6900011912288370036])
    """
    phrases: set[str] = set()
    words: set[str] = set()
    ints: set[int] = set()
    for field in fields:
        for piece in [field, *_PARTS.split(field)]:
            p = _norm(piece)
            if _INT.fullmatch(p):
                ints.add(int(p))
            elif len(p) >= MIN_TEXT_CHARS and numeric(p) is None:
                phrases.add(p)
        for word in field.split():
            w = word.strip(_PUNCT).lstrip("@#").strip(_PUNCT).lower()
            if _INT.fullmatch(w):
                ints.add(int(w))
            elif len(w) >= MIN_TEXT_CHARS and numeric(w) is None:
                words.add(w)
    ints = {i for i in ints if -(2**63) <= i < 2**63}
    return phrases, words - phrases, ints


def file_fields(filename: str, content: bytes) -> list[str] | None:
    """The file's fields (table cells, text lines), or None for a type with no text."""
    ftype = FILE_TYPES.get(PurePosixPath(filename).suffix.lower())
    if ftype is None or ftype.kind == "figure":
        return None
    text = decode_text(content)
    if ftype.delimiter is None:
        return text.splitlines()
    return [cell for row in read_rows(text, ftype.delimiter) for cell in row]


def _columns(policy: Policy, tables: Sequence[str], classes: set[ColumnClass]) -> list:
    out = []
    for name in tables:
        tp, schema = policy.tables.get(name), TABLES.get(name)
        if tp is None or schema is None:
            continue
        for col, cp in tp.columns.items():
            if cp.cls in classes and col in schema.columns:
                out.append((name, col, cp.cls, schema.columns[col]))
    return out


def _values(table: str, col: str, sql_type: str, free_text: bool) -> str:
    """SQL for the column's values as comparable strings (or integers) in a column ``x``."""
    source = (
        f'(SELECT unnest("{col}") AS x FROM "{table}")'
        if sql_type.endswith("[]")
        else (f'(SELECT "{col}" AS x FROM "{table}")')
    )
    if sql_type in ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT"):
        return f"(SELECT x FROM {source})"
    expr = "lower(trim(regexp_replace(x, '\\s+', ' ', 'g'), ' '))" if free_text else "lower(x)"
    return f"(SELECT {expr} AS x FROM {source})"


def check_file_values(
    filename: str,
    content: bytes,
    data_dirs: Sequence[Path],
    policy: Policy,
    u18_approved: bool,
    *,
    timeout_s: float = 60,
) -> list[str]:
    """Reasons (for reviewers only) why the file carries values of the granted datasets.

    ``data_dirs`` are the granted datasets' folders (:meth:`Executor.data_dirs
    <vce.airlock.execution.Executor.data_dirs>`); the partitions read are the trusted ones
    for the project (:func:`vce.policy.engine.collect_files`). An empty list means nothing
    was found; a figure has nothing to compare. A file the content checks refuse anyway
    (not UTF-8, unparseable) gives no reasons here.
    """
    try:
        fields = file_fields(filename, content)
    except Invalid:
        return []
    if not fields:
        return []
    phrases, words, ints = candidates(fields)
    if len(phrases) + len(words) + len(ints) > MAX_CANDIDATES:
        return [
            f"the file holds more than {MAX_CANDIDATES} distinct values, too many to compare "
            "with the data: a file export is for results, not data"
        ]
    tables = collect_files(list(data_dirs), u18_approved, only=set(policy.tables))
    names = sorted(tables)
    skip = {n.lower() for n in names} | {
        c.lower() for n in names if n in policy.tables for c in policy.tables[n].columns
    }
    phrases, words = phrases - skip, words - skip
    wanted = {ColumnClass.IDENTIFIER, ColumnClass.FREE_TEXT}
    with locked_session(tables, timeout_s=timeout_s) as (cur, fired):
        try:
            return _match(cur, policy, names, wanted, phrases, words, ints)
        except duckdb.Error:
            if fired.is_set():
                return [
                    f"the comparison with the data ran longer than {timeout_s:g} s and "
                    "was stopped: check the file against the data by hand"
                ]
            raise


_CAND = ("_vce_file_phrases", "_vce_file_words", "_vce_file_ints")


def _match(
    cur: duckdb.DuckDBPyConnection,
    policy: Policy,
    names: list[str],
    wanted: set[ColumnClass],
    phrases: set[str],
    words: set[str],
    ints: set[int],
) -> list[str]:
    """Drop labels (dimension values), then semi-join the rest with each sensitive column."""
    strings = phrases | words
    dims = [
        _values(t, c, typ, free_text=False)
        for t, c, _, typ in _columns(policy, names, {ColumnClass.DIMENSION})
        if typ.startswith("VARCHAR")
    ]
    try:
        if strings and dims:
            cur.register(_CAND[0], pa.table({"v": pa.array(sorted(strings), pa.string())}))
            union = " UNION ALL ".join(f"SELECT x FROM {d}" for d in dims)
            labels = {
                r[0]
                for r in cur.execute(
                    f"SELECT v FROM {_CAND[0]} WHERE v IN (SELECT x FROM ({union}))"
                ).fetchall()
            }
            cur.unregister(_CAND[0])
            phrases, words = phrases - labels, words - labels
        cur.register(_CAND[0], pa.table({"v": pa.array(sorted(phrases), pa.string())}))
        cur.register(_CAND[1], pa.table({"v": pa.array(sorted(phrases | words), pa.string())}))
        cur.register(_CAND[2], pa.table({"v": pa.array(sorted(ints), pa.int64())}))
        parts, labels_of = [], []
        for t, c, cls, typ in _columns(policy, names, wanted):
            integer = not typ.startswith("VARCHAR")
            if integer and not ints:
                continue
            cand = _CAND[2] if integer else _CAND[0 if cls is ColumnClass.FREE_TEXT else 1]
            values = _values(t, c, typ, free_text=cls is ColumnClass.FREE_TEXT)
            parts.append(
                f"SELECT {len(parts)} AS k, count(DISTINCT x) AS n FROM {values} "
                f"WHERE x IN (SELECT v FROM {cand})"
            )
            labels_of.append((t, c, cls))
        if not parts:
            return []
        found = cur.execute(" UNION ALL ".join(parts) + " ORDER BY k").fetchall()
    finally:
        for name in _CAND:
            with contextlib.suppress(duckdb.Error):
                cur.unregister(name)
    return [
        f"the file carries {n} value(s) of {t}.{c} ({cls.value}): {_WHY[cls]}"
        for (k, n), (t, c, cls) in zip(found, labels_of, strict=True)
        if n
    ]
