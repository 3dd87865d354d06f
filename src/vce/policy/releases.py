"""Release history: the exact contributor set of every cell a project released, per dataset version.

The differencing guard (:mod:`vce.policy.differencing`) compares a new result with what was
released before; this is where "before" lives. It is trusted-side data — who stands behind
each released number — and never leaves the airlock (``vce check --releases FILE`` keeps the
same file for tools and tests).

Format: one SQLite file (``PRAGMA user_version`` = :data:`FORMAT_VERSION`), two tables::

    releases(id INTEGER PRIMARY KEY, ref TEXT,        -- "request:<id>", or "cli:<time>"
             project TEXT, dataset_version TEXT,      -- vce.policy.contributors.dataset_version
             sql TEXT, created TEXT,                  -- ISO 8601, UTC
             state TEXT)                              -- "released", or "pending" review
    cells(release_id INTEGER REFERENCES releases(id),
          row INTEGER,                                -- the row's index in that release
          columns TEXT,                               -- JSON list: its statistics' columns
          label TEXT,                                 -- JSON object: its group keys' values
          cardinality INTEGER,                        -- distinct contributors (people)
          minor INTEGER,                              -- 1: a minor is among them
          sketch BLOB,                                -- uint32 LE: first people in hash order
          bitmap BLOB)                                -- portable roaring serialisation

The airlock records a request's cells as ``pending`` when its check passes (so that two
requests awaiting review are compared with each other too) and marks them ``released`` on
release; a pending record counts only while its request can still be released (the caller
names those refs).

One cell is one released row: its statistics share the row's contributors. A bitmap's
element for a person is ``position × 64 + (their rows in the cell mod 64)``, the position in
the dataset version's dense entity index (:class:`vce.policy.contributors.EntityIndex`), so
cells compare only with cells of the same ``dataset_version``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vce.policy.differencing import SKETCH_WIDTH, CellSet, people, sketch

FORMAT_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS releases (
    id INTEGER PRIMARY KEY, ref TEXT NOT NULL, project TEXT NOT NULL,
    dataset_version TEXT NOT NULL, sql TEXT NOT NULL, created TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'released'
);
CREATE TABLE IF NOT EXISTS cells (
    release_id INTEGER NOT NULL REFERENCES releases(id), row INTEGER NOT NULL,
    columns TEXT NOT NULL, label TEXT NOT NULL, cardinality INTEGER NOT NULL,
    minor INTEGER NOT NULL, sketch BLOB NOT NULL, bitmap BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS releases_version ON releases (dataset_version);
CREATE INDEX IF NOT EXISTS cells_release ON cells (release_id);
"""


class ReleaseStoreError(RuntimeError):
    """The file is not a release history this version can read."""


@dataclass(frozen=True)
class Cell:
    """A cell to record: a released row, its statistics' columns and its contributors."""

    row: int
    bitmap: Any  # pyroaring BitMap
    columns: tuple[str, ...] = ()
    label: dict[str, Any] = field(default_factory=dict)
    minor: bool = False  # a minor is among its contributors (the U18 threshold applies)


@dataclass(frozen=True)
class EarlierCell:
    """Where a recorded cell came from, for the reviewer who sees a withheld pair."""

    ref: str
    project: str
    row: int
    columns: tuple[str, ...]
    label: dict[str, Any]
    sql: str
    created: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``vce check --json``'s ``withheld[].earlier``, the review page)."""
        return {
            "release": self.ref,
            "project": self.project,
            "row": self.row,
            "columns": list(self.columns),
            "label": self.label,
            "sql": self.sql,
            "created": self.created,
        }


@dataclass
class Earlier:
    """Recorded cells of one dataset version, ready for the guard.

    Where each came from is read only for the cells a finding names (:meth:`ref`).
    """

    cells: CellSet
    describe: Callable[[list[int]], list[EarlierCell]] = lambda cells: []

    def ref(self, i: int) -> EarlierCell:
        """Where earlier cell ``i`` came from."""
        return self.describe([i])[0]

    @classmethod
    def concat(cls, parts: Iterable[Earlier]) -> Earlier:
        """Several histories as one (the all-projects setting: colluding teams)."""
        parts = list(parts)
        if len(parts) == 1:
            return parts[0]
        offsets = np.cumsum([0, *(len(p.cells) for p in parts)])

        def split(cells: list[int]) -> list[tuple[Earlier, list[int]]]:
            out = []
            for k, p in enumerate(parts):
                mine = [i - int(offsets[k]) for i in cells if offsets[k] <= i < offsets[k + 1]]
                out.append((p, mine))
            return out

        def by_part(method: str, cells: list[int]) -> list[Any]:
            got: dict[int, Any] = {}
            for (p, mine), base in zip(split(cells), offsets[:-1], strict=True):
                if mine:
                    values = getattr(p, method)(mine)
                    got.update({int(base) + i: v for i, v in zip(mine, values, strict=True)})
            return [got[i] for i in cells]

        def load(cells: list[int]) -> list[bytes]:
            return by_part("_blobs", cells)

        merged = CellSet(
            np.concatenate([p.cells.cardinality for p in parts]),
            [x for p in parts for x in p.cells.sketches],
            np.concatenate([p.cells.minor for p in parts]),
            [None] * int(offsets[-1]),
            load,
        )
        return cls(merged, lambda cells: by_part("describe", cells))

    def _blobs(self, cells: list[int]) -> list[Any]:
        self.cells.prefetch(cells)
        return [self.cells.bitmaps[i] for i in cells]


def _json_default(v: Any) -> Any:
    return v.isoformat() if hasattr(v, "isoformat") else str(v)


class ReleaseStore:
    """One release-history file (created if missing)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            version = con.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, FORMAT_VERSION):
                raise ReleaseStoreError(
                    f"{self.path} is release-history format {version}; this VCE reads "
                    f"{FORMAT_VERSION}"
                )
            con.executescript(_SCHEMA)
            con.execute(f"PRAGMA user_version = {FORMAT_VERSION}")

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection for one transaction: committed on success, always closed."""
        try:
            con = sqlite3.connect(self.path, timeout=30)
        except sqlite3.Error as e:
            raise ReleaseStoreError(f"{self.path} cannot be opened: {e}") from e
        try:
            with con:
                yield con
        except sqlite3.DatabaseError as e:
            raise ReleaseStoreError(f"{self.path} is not a release history: {e}") from e
        finally:
            con.close()

    def earlier(
        self,
        dataset_version: str,
        pending: Collection[str] = (),
        exclude: str | None = None,
    ) -> Earlier:
        """Released cells of ``dataset_version``, and pending ones of the refs in ``pending``.

        ``exclude``: a ref left out (a request is not compared with its own earlier revision).
        Bitmaps are deserialised only when compared.
        """
        with self._connect() as con:
            rows = con.execute(
                "SELECT c.rowid, r.ref, r.state, c.cardinality, c.minor, c.sketch FROM cells c "
                "JOIN releases r ON r.id = c.release_id WHERE r.dataset_version = ? "
                "ORDER BY r.id, c.row",
                (dataset_version,),
            ).fetchall()
        wanted = set(pending)
        rows = [r for r in rows if r[1] != exclude and (r[2] == "released" or r[1] in wanted)]
        rowids = [r[0] for r in rows]
        cells = CellSet(
            np.array([r[3] for r in rows], dtype=np.int64),
            [np.frombuffer(r[5], dtype="<u4").astype(np.uint32) for r in rows],
            np.array([bool(r[4]) for r in rows], dtype=bool),
            [None] * len(rows),
            lambda cells: self._select("c.bitmap", [rowids[i] for i in cells]),
        )

        def describe(cells: list[int]) -> list[EarlierCell]:
            found = self._select(
                "r.ref, r.project, c.row, c.columns, c.label, r.sql, r.created",
                [rowids[i] for i in cells],
            )
            return [
                EarlierCell(ref, project, row, tuple(json.loads(cols)), json.loads(label), q, at)
                for ref, project, row, cols, label, q, at in found
            ]

        return Earlier(cells, describe)

    def _select(self, what: str, rowids: list[int]) -> list[Any]:
        """``what`` of the cells ``rowids``, in that order."""
        got: dict[int, Any] = {}
        with self._connect() as con:
            for at in range(0, len(rowids), 500):
                chunk = rowids[at : at + 500]
                marks = ",".join("?" * len(chunk))
                for rowid, *values in con.execute(
                    f"SELECT c.rowid, {what} FROM cells c JOIN releases r ON r.id = c.release_id "
                    f"WHERE c.rowid IN ({marks})",
                    chunk,
                ):
                    got[rowid] = values[0] if len(values) == 1 else tuple(values)
        return [got[r] for r in rowids]

    def record(
        self,
        *,
        ref: str,
        project: str,
        dataset_version: str,
        sql: str,
        cells: Sequence[Cell],
        created: dt.datetime | None = None,
        pending: bool = False,
    ) -> int:
        """Record one release's cells (what left); returns its id in this file.

        A ref recorded again replaces its earlier record (a request's new revision).
        """
        at = (created or dt.datetime.now(dt.UTC)).replace(microsecond=0).isoformat()
        with self._connect() as con:
            old = [r[0] for r in con.execute("SELECT id FROM releases WHERE ref = ?", (ref,))]
            for rid in old:
                con.execute("DELETE FROM cells WHERE release_id = ?", (rid,))
                con.execute("DELETE FROM releases WHERE id = ?", (rid,))
            cur = con.execute(
                "INSERT INTO releases (ref, project, dataset_version, sql, created, state) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (ref, project, dataset_version, sql, at, "pending" if pending else "released"),
            )
            rid = int(cur.lastrowid or 0)
            con.executemany(
                "INSERT INTO cells VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        rid,
                        c.row,
                        json.dumps(list(c.columns)),
                        json.dumps(c.label, default=_json_default),
                        len(people(c.bitmap)),
                        int(c.minor),
                        sketch(c.bitmap, SKETCH_WIDTH).astype("<u4").tobytes(),
                        c.bitmap.serialize(),
                    )
                    for c in cells
                ],
            )
        return rid

    def mark_released(self, ref: str) -> bool:
        """A pending record's request was released: its cells count from now on for everyone."""
        with self._connect() as con:
            cur = con.execute("UPDATE releases SET state = 'released' WHERE ref = ?", (ref,))
            return cur.rowcount > 0

    def releases(self) -> list[dict[str, Any]]:
        """Recorded releases, oldest first (for reviewers and tests)."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT r.id, r.ref, r.project, r.dataset_version, r.created, r.state, "
                "count(c.row) "
                "FROM releases r LEFT JOIN cells c ON c.release_id = r.id GROUP BY r.id "
                "ORDER BY r.id"
            ).fetchall()
        keys = ("id", "ref", "project", "dataset_version", "created", "state", "cells")
        return [dict(zip(keys, r, strict=True)) for r in rows]
