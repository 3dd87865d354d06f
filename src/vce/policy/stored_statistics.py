"""Bound statistics computed when a dataset version is registered, not on a first query.

The fast pass of trusted execution bounds groups with per-relation statistics
(:class:`vce.policy.engine.Statistics`): the rows of the busiest entities and the top-n
subtotals of a measure, over all rows and per value of a dimension. Computed on a
researcher's first query they cost a scan or more each (first run 5× the raw query on 10M
videos). :func:`write_statistics` computes them once per dataset version — for every table of
the policy, each of its entity columns, each dimension column (and ``date_trunc`` of each
time dimension) and each dominance measure, for both audience sets the trusted side reads —
with the very functions the lazy path uses, and writes ``statistics.json`` next to the
manifest. :func:`load_statistics` hands them to the trusted execution.

A file is used only for exactly the files it was computed over: it records the sha256 of
the manifest it belongs to and the path, size and mtime of every Parquet file, and the
policy's depth (busiest entities counted) and ``n`` of dominance. Anything else — no file, a
file of another version, other files, another depth, unreadable JSON — falls back to the
lazy computation (correct, only slower) with a log line: wrong statistics would make bounds
that are not conservative, a disclosure bug. Relations other than a base table (joins,
derived tables) are always computed lazily.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp

from vce.data.schema import MANIFEST, TABLES
from vce.policy.bounds import WHOLE, EntityRows
from vce.policy.engine import (
    NOT_STORED,
    TableFiles,
    _value_statistics,
    collect_files,
    open_locked,
)
from vce.policy.model import ColumnClass, Policy

log = logging.getLogger("vce.policy.statistics")

STATISTICS = "statistics.json"
FORMAT = 1
TIME_UNITS = ("YEAR", "QUARTER", "MONTH", "WEEK", "DAY")
AUDIENCE_SETS = {False: ("adult",), True: ("adult", "minor")}  # by U18 approval


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _identity(root: Path, tables: dict[str, TableFiles]) -> dict[str, list[list[Any]]] | None:
    """Path (relative to ``root``), size and mtime of every file, per table; None if outside."""
    real = root.resolve()
    out: dict[str, list[list[Any]]] = {}
    for name in sorted(tables):
        entries = []
        for f in tables[name].files:
            try:
                rel = f.relative_to(real).as_posix()
            except ValueError:
                return None
            st = f.stat()
            entries.append([rel, st.st_size, st.st_mtime_ns])
        out[name] = entries
    return out


_BASE = re.compile(r'"(\w+)" AS "(\w+)"')
_PLAIN = re.compile(r'(?:DATE_TRUNC\(\'[A-Z]+\', )?"(\w+)"\."(\w+)"\)?')


def _canonical_plain(relation: str, expr: str) -> tuple[str, str] | None:
    """:func:`canonical` of the forms the rewrite writes, without a parse.

    A first query's lookups parsed for longer than they read: ``"t" AS "a"`` and
    ``"a"."c"``, or its ``DATE_TRUNC('UNIT', …)``. ``None`` for anything else (then parsed).
    """
    base = _BASE.fullmatch(relation)
    if base is None or base[1] not in TABLES:
        return None
    if not expr:
        return base[1], ""
    col = _PLAIN.fullmatch(expr)
    if col is None or col[1] != base[2] or expr.startswith("DATE_TRUNC") != expr.endswith(")"):
        return None
    return base[1], expr.replace(f'"{base[2]}".', f'"{base[1]}".', 1)


@functools.lru_cache(maxsize=1024)
def canonical(relation: str, expr: str) -> tuple[str, str] | None:
    """``(table, expr over "table")`` when ``relation`` is one base table, else ``None``.

    The same statistics of ``videos AS v`` and ``"videos" AS "videos"`` are one entry.

    >>> canonical('"videos" AS "v"', '"v"."region_code"')
    ('videos', '"videos"."region_code"')
    >>> canonical('"comments" AS "c" JOIN "videos" AS "v" ON "c"."video_id" = "v"."id"', "x")
    """
    plain = _canonical_plain(relation, expr)
    if plain is not None:
        return plain
    try:
        sel = sqlglot.parse_one(f"SELECT 1 FROM {relation}", read="duckdb")
        node = sqlglot.parse_one(expr, read="duckdb") if expr else None
    except sqlglot.errors.ParseError:
        return None
    from_ = sel.args.get("from") or sel.args.get("from_")
    if sel.args.get("joins") or from_ is None or not isinstance(from_.this, exp.Table):
        return None
    table = from_.this
    if table.args.get("db") or table.args.get("catalog") or table.name not in TABLES:
        return None
    if table.args.get("joins") or table.args.get("laterals"):
        return None
    if node is None:
        return table.name, ""
    alias = table.alias_or_name
    for col in node.find_all(exp.Column):
        if col.table != alias:
            return None
        col.set("table", exp.to_identifier(table.name, quoted=True))
    return table.name, node.sql("duckdb")


def _key(kind: str, relation: str, entity: str, dim: str, measure: str = "") -> str | None:
    parts = [canonical(relation, e) for e in (entity, dim, measure)]
    if any(p is None for p in parts):
        return None
    table = parts[0][0]  # type: ignore[index]
    if any(p[0] != table for p in parts):  # type: ignore[index]
        return None
    return json.dumps([kind, table, *(p[1] for p in parts)])  # type: ignore[index]


def _encode(value: Any) -> Any:
    """A dimension value as JSON that decodes to the value DuckDB returns (or raise)."""
    if isinstance(value, bool | int | str | float):
        return value
    if isinstance(value, dt.datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"date": value.isoformat()}
    raise TypeError(f"no JSON form for {type(value).__name__}")


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if "datetime" in value:
            return dt.datetime.fromisoformat(value["datetime"])
        return dt.date.fromisoformat(value["date"])
    return value


def _encode_stat(found: tuple[tuple[Any, Any], ...] | None) -> Any:
    if found is None:
        return None  # refused (too many values, an entity missing, a negative measure)
    out = []
    for value, stat in found:
        if isinstance(stat, EntityRows):
            out.append([_encode(value), stat.total, list(stat.busiest)])
        else:
            out.append([_encode(value), stat])
    return out


def _decode_stat(doc: Any) -> tuple[tuple[Any, Any], ...] | None:
    if doc is None:
        return None
    if doc and len(doc[0]) == 3:
        return tuple((_decode(v), EntityRows(int(t), tuple(b))) for v, t, b in doc)
    return tuple((_decode(v), int(s)) for v, s in doc)


def _few_values(con: duckdb.DuckDBPyConnection, relation: str, dim: str, limit: int) -> bool:
    """Whether ``dim`` has at most ``limit`` values (else the lazy path refuses it too).

    Cheaper than the per-entity GROUP BY that would find out the same.
    """
    d = dim or "TRUE"
    found = con.execute(
        f"SELECT count(*) FROM (SELECT DISTINCT {d} FROM {relation} LIMIT {limit + 1})"
    ).fetchone()
    return bool(found and found[0] <= limit)


def _dimensions(con: duckdb.DuckDBPyConnection, table: str, policy: Policy) -> list[str]:
    """WHOLE, each dimension column, and ``date_trunc`` of each time dimension."""
    types = {r[0]: str(r[1]).upper() for r in con.execute(f'DESCRIBE "{table}"').fetchall()}
    q = f'"{table}"'
    dims = [WHOLE]
    for col, cp in policy.tables[table].columns.items():
        if cp.cls is not ColumnClass.DIMENSION or col not in types:
            continue
        dims.append(f'{q}."{col}"')
        if types[col].startswith(("TIMESTAMP", "DATE")):
            dims += [f"DATE_TRUNC('{u}', {q}.\"{col}\")" for u in TIME_UNITS]
    return dims


def compute_statistics(
    con: duckdb.DuckDBPyConnection, tables: Sequence[str], policy: Policy
) -> dict[str, Any]:
    """Every statistic the fast bounds may ask of the base tables ``tables`` on ``con``.

    Pure and deterministic: the same data gives the same entries, computed by the lazy
    path's own query (:func:`vce.policy.engine._value_statistics`), every measure of a
    dimension in one scan.
    """
    from vce.policy.bounds import MAX_VALUES

    th = policy.thresholds
    depth, top_n = th.needed(True), th.dominance_n
    entries: dict[str, Any] = {}
    for table in sorted(tables):
        tpol = policy.tables.get(table)
        if tpol is None or not tpol.entity:
            continue
        relation = f'"{table}" AS "{table}"'
        measures = [
            f'"{table}"."{c}"'
            for c, cp in tpol.columns.items()
            if cp.cls is ColumnClass.MEASURE and cp.dominance
        ]
        for dim in _dimensions(con, table, policy):
            few = _few_values(con, relation, dim, MAX_VALUES)
            for ent in tpol.entity:
                entity = f'"{table}"."{ent}"'
                rows, tops = (
                    _value_statistics(con, relation, entity, dim, depth, measures, top_n)
                    if few
                    else (None, [None] * len(measures))
                )
                found = [("rows", "", rows)]
                found += [("tops", m, t) for m, t in zip(measures, tops, strict=True)]
                for kind, measure, stat in found:
                    key = _key(kind, relation, entity, dim, measure)
                    try:
                        if key is not None:
                            entries[key] = _encode_stat(stat)
                    except TypeError:  # a value JSON cannot give back (a list): left lazy
                        continue
    return entries


def write_statistics(root: Path, policy: Policy) -> Path:
    """Compute and write ``root/statistics.json`` for the dataset version sealed there."""
    root = Path(root)
    doc: dict[str, Any] = {
        "format": FORMAT,
        "manifest_sha256": _sha256(root / MANIFEST),
        "depth": policy.thresholds.needed(True),
        "top_n": policy.thresholds.dominance_n,
        "audiences": {},
    }
    for u18, audiences in AUDIENCE_SETS.items():
        tables = collect_files([root], u18)
        con = open_locked(tables, threads=2)
        try:
            entries = compute_statistics(con, list(tables), policy)
        finally:
            con.close()
        doc["audiences"]["+".join(audiences)] = {
            "files": _identity(root, tables),
            "entries": entries,
        }
    path = root / STATISTICS
    tmp = root / f".{STATISTICS}.tmp"
    tmp.write_text(json.dumps(doc, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


@dataclass(frozen=True)
class StoredStatistics:
    """The statistics of one file set, as written at registration."""

    entries: dict[str, Any]

    def get(self, kind: str, relation: str, entity: str, dim: str, measure: str = "") -> object:
        """The stored statistic (``None``: refused), ``NOT_STORED`` when the file has none."""
        key = _key(kind, relation, entity, dim, measure)
        if key is None or key not in self.entries:
            return NOT_STORED
        return _decode_stat(self.entries[key])


@functools.lru_cache(maxsize=16)
def _read(path: Path, size: int, mtime_ns: int) -> dict[str, Any]:
    del size, mtime_ns  # cache key only
    return json.loads(path.read_text(encoding="utf-8"))


def load_statistics(
    data_dirs: Sequence[Path],
    tables: dict[str, TableFiles],
    u18_approved: bool,
    depth: int,
    top_n: int,
) -> StoredStatistics | None:
    """The registered statistics for exactly ``tables``, or ``None`` (then computed lazily)."""
    if len(data_dirs) != 1:
        return None
    root = Path(data_dirs[0])
    path = root / STATISTICS
    try:
        st = path.stat()
    except OSError:
        log.info("no %s in %s: bound statistics are computed on first query", STATISTICS, root)
        return None
    why = None
    try:
        doc = _read(path.resolve(), st.st_size, st.st_mtime_ns)
        section = doc["audiences"]["+".join(AUDIENCE_SETS[u18_approved])]
        if doc.get("format") != FORMAT:
            why = f"format {doc.get('format')!r}"
        elif doc["manifest_sha256"] != _sha256(root / MANIFEST):
            why = "it belongs to another version of the manifest"
        elif (doc["depth"], doc["top_n"]) != (depth, top_n):
            why = f"it counts depth/top-n {doc['depth']}/{doc['top_n']}, not {depth}/{top_n}"
        else:
            files = {t: section["files"].get(t) for t in tables}
            if _identity(root, tables) != files:
                why = "the data files differ from those it was computed over"
    except (OSError, ValueError, KeyError, TypeError) as e:
        why = f"unreadable ({e!r})"
    if why is not None:
        log.warning("%s not used (%s): bound statistics are computed on first query", path, why)
        return None
    return StoredStatistics(section["entries"])
