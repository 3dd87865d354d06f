"""A locked-down in-memory DuckDB over a project's dataset files, for trusted execution.

The airlock re-runs researchers' SQL on the full extracts. Static analysis already refused
anything but one query over granted tables; this connection is the second wall: it can read
exactly the Parquet files of the partitions the project may see and nothing else, it cannot
load extensions or change its own settings, and it stops when told to (timeout).

Which partitions: ``adult`` always, real ``minor`` only for projects approved for under-18
data, ``minor_synthetic`` never (synthetic rows are for developing queries in the sandbox,
never for results).
"""

from __future__ import annotations

import functools
import heapq
import itertools
import math
import stat
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import duckdb

from vce.data.schema import TABLES
from vce.policy.bounds import MAX_VALUES, WHOLE, EntityRows, RelationStats


class EngineError(RuntimeError):
    """The trusted engine could not run a query (timeout, missing data, memory)."""


class QueryTimeout(EngineError):
    """A query ran longer than its time budget and was interrupted."""


@dataclass(frozen=True)
class TableFiles:
    """The Parquet files one view reads, and whether they carry the ``audience`` partition."""

    name: str
    files: tuple[Path, ...]
    partitioned: bool


def partitions_for(u18_approved: bool) -> tuple[str, ...]:
    """Audience partitions the trusted side reads for a project.

    >>> partitions_for(False)
    ('adult',)
    >>> partitions_for(True)
    ('adult', 'minor')
    """
    return ("adult", "minor") if u18_approved else ("adult",)


def collect_files(
    data_dirs: Sequence[Path], u18_approved: bool, only: Collection[str] | None = None
) -> dict[str, TableFiles]:
    """Map each table found in ``data_dirs`` (or just those in ``only``) to its allowed files.

    Files are listed one by one (no globs reach DuckDB) so that the list is also the proof of
    what was read: a project without U18 approval never has a ``audience=minor`` path here.
    ``only`` names the tables a query reads: listing the other folders was most of the fixed
    cost of a small checked query.
    """
    allowed = partitions_for(u18_approved)
    found: dict[str, list[Path]] = {}
    partitioned: dict[str, bool] = {}
    wanted = [n for n in TABLES if only is None or n in only]
    for root in data_dirs:
        root = Path(root)
        if not root.is_dir():
            raise EngineError(f"dataset directory {root} does not exist; pass --data DIR")
        for name in wanted:
            tdir, table = root / name, TABLES[name]
            if not tdir.is_dir():
                continue
            dirs = [tdir / f"audience={a}" for a in allowed] if table.about_people else [tdir]
            files = [f for d in dirs for f in _real_files(d)]
            found.setdefault(name, []).extend(files)
            partitioned[name] = table.about_people
    # A folder with none of the tables is a wrong --data, not a missing grant: say so.
    if not found and not any((Path(r) / n).is_dir() for r in data_dirs for n in TABLES):
        dirs = ", ".join(str(d) for d in data_dirs)
        raise EngineError(f"no tables found under {dirs}; expected DIR/<table>/... Parquet files")
    return {n: TableFiles(n, tuple(fs), partitioned[n]) for n, fs in found.items()}


def _real_files(folder: Path) -> tuple[Path, ...]:
    """The folder's Parquet files, sorted, each with symlinks resolved (the paths DuckDB reads).

    Listings are kept per folder (device and inode, so a path re-pointed elsewhere is listed
    again) and its modification time, which every file added, removed or renamed in it
    changes — the way :func:`vce.policy.model.load_policy` keeps policies.
    """
    try:
        st = folder.stat()
    except OSError:
        return ()
    if not stat.S_ISDIR(st.st_mode):
        return ()
    return _list_folder(folder, st.st_dev, st.st_ino, st.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _list_folder(folder: Path, dev: int, ino: int, mtime_ns: int) -> tuple[Path, ...]:
    """List an unchanged folder once.

    The folder is resolved once and only files that are links themselves again: a thousand
    ``realpath`` calls were most of the fixed cost of a small checked query.
    """
    del dev, ino, mtime_ns  # cache key only
    real = folder.resolve()
    return tuple(
        f.resolve() if f.is_symlink() else real / f.name for f in sorted(folder.glob("*.parquet"))
    )


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _empty_view_sql(name: str) -> str:
    """Build a typed, empty view for a table with no allowed files (e.g. only minors)."""
    return f'CREATE VIEW "{name}" AS {TABLES[name].empty_select()}'


def open_locked(
    tables: dict[str, TableFiles], *, memory_limit: str = "2GB", threads: int = 2
) -> duckdb.DuckDBPyConnection:
    """Open an in-memory DuckDB with one view per table, able to read only those files.

    ``enable_external_access=false`` with ``allowed_paths`` set to exactly the view files keeps
    the views working while any other file, URL or extension is refused; then the configuration
    is locked so a query cannot undo it.
    """
    con = duckdb.connect(
        ":memory:",
        config={
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "python_enable_replacements": False,
            "python_scan_all_frames": False,
            "memory_limit": memory_limit,
            "threads": threads,
        },
    )
    for t in tables.values():
        if not t.files:
            con.execute(_empty_view_sql(t.name))
            continue
        files = ", ".join(_sql_str(str(f)) for f in t.files)
        hive = "true" if t.partitioned else "false"
        con.execute(
            f'CREATE VIEW "{t.name}" AS SELECT * FROM read_parquet([{files}], '
            f"hive_partitioning={hive})"
        )
    paths = ", ".join(_sql_str(str(f)) for t in tables.values() for f in t.files)
    con.execute(f"SET allowed_paths = [{paths}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


@dataclass(eq=False)
class _Locked:
    """A locked database and the cursors finished requests left for the next ones."""

    con: duckdb.DuckDBPyConnection
    free: list[duckdb.DuckDBPyConnection]


_POOL: OrderedDict[tuple, _Locked] = OrderedDict()
_POOL_SIZE = 4
_FREE_CURSORS = 4  # per database: about the requests that run at once on two cores
_POOL_LOCK = threading.Lock()


def _pooled(tables: dict[str, TableFiles], memory_limit: str, threads: int) -> _Locked:
    """The cached locked database for exactly these files and limits (call under the lock)."""
    key = (
        tuple(sorted((t.name, t.files, t.partitioned) for t in tables.values())),
        memory_limit,
        threads,
    )
    db = _POOL.get(key)
    if db is None:
        db = _Locked(open_locked(tables, memory_limit=memory_limit, threads=threads), [])
        _POOL[key] = db
        while len(_POOL) > _POOL_SIZE:
            old = _POOL.popitem(last=False)[1]
            for cur in old.free:
                cur.close()
            old.con.close()
    _POOL.move_to_end(key)
    return db


def locked_cursor(
    tables: dict[str, TableFiles], *, memory_limit: str = "2GB", threads: int = 2
) -> duckdb.DuckDBPyConnection:
    """A cursor on a cached locked database for exactly these files and limits.

    Opening DuckDB and binding the views costs tens of milliseconds, more than many
    aggregate queries; the locked database cannot be changed by a query (configuration
    locked, static analysis admits no DDL), so one per file set is reused. Each call gets
    its own cursor, so timeouts interrupt only that query; the caller closes it.
    """
    with _POOL_LOCK:
        return _pooled(tables, memory_limit, threads).con.cursor()


@contextmanager
def locked_session(
    tables: dict[str, TableFiles],
    *,
    timeout_s: float,
    memory_limit: str = "2GB",
    threads: int = 2,
) -> Iterator[tuple[duckdb.DuckDBPyConnection, threading.Event]]:
    """A cursor as :func:`locked_cursor` gives, under :func:`time_limit`, then reused.

    Creating and closing a cursor is a tenth of a millisecond: a twentieth of a small
    checked query, so a cursor whose request ended cleanly is handed to a later one. One
    that ended with an error, or whose deadline fired (an interrupt may still be pending on
    it), is closed instead. Yields the cursor and the event telling whether time ran out.
    """
    with _POOL_LOCK:
        db = _pooled(tables, memory_limit, threads)
        cur = db.free.pop() if db.free else db.con.cursor()
    try:
        with time_limit(cur, timeout_s) as fired:
            yield cur, fired
    except BaseException:
        cur.close()
        raise
    with _POOL_LOCK:
        alive = any(d is db for d in _POOL.values())  # (not evicted and closed meanwhile)
        if alive and not fired.is_set() and len(db.free) < _FREE_CURSORS:
            db.free.append(cur)
            return
    cur.close()


class _Watchdog:
    """One long-lived thread that runs callbacks at deadlines (cancellable).

    A ``threading.Timer`` per query starts a thread each time, about a millisecond under
    load: as much as a small checked query itself. Deadlines wait in a heap instead.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int]] = []
        self._jobs: dict[int, Callable[[], None]] = {}
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def schedule(self, delay_s: float, fn: Callable[[], None]) -> int:
        with self._cond:
            job = next(self._seq)
            self._jobs[job] = fn
            due = time.monotonic() + delay_s
            earliest = not self._heap or due < self._heap[0][0]
            heapq.heappush(self._heap, (due, job))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="vce-timeout", daemon=True)
                self._thread.start()
            if earliest:  # the thread sleeps until the earliest deadline: wake it only for one
                self._cond.notify()
            return job

    def cancel(self, job: int) -> None:
        with self._cond:
            self._jobs.pop(job, None)  # its heap entry is skipped when it comes due

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._heap and self._heap[0][1] not in self._jobs:
                    heapq.heappop(self._heap)  # cancelled
                if not self._heap:
                    self._cond.wait()
                    continue
                due, job = self._heap[0]
                wait = due - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
                fn = self._jobs.pop(job)
            fn()


_WATCHDOG = _Watchdog()


@contextmanager
def time_limit(con: duckdb.DuckDBPyConnection, timeout_s: float) -> Iterator[threading.Event]:
    """Interrupt ``con`` after ``timeout_s`` seconds; the yielded event tells whether it fired."""
    fired = threading.Event()

    def stop() -> None:
        fired.set()
        con.interrupt()

    job = _WATCHDOG.schedule(timeout_s, stop)
    try:
        yield fired
    finally:
        _WATCHDOG.cancel(job)


_STATS_CACHE: OrderedDict[tuple[object, ...], object] = OrderedDict()
_STATS_CACHE_SIZE = 256
_STATS_LOCK = threading.Lock()  # run_checked is a library call: any thread may make it
NOT_STORED: Any = object()
"""A statistic neither cached nor registered (``None`` is a statistic: refused)."""


def _files_signature(files: Sequence[Path]) -> tuple[tuple[str, int, int], ...]:
    """Path, size and mtime of every file: a regenerated dataset never reuses old counts."""
    out = []
    for f in files:
        st = f.stat()
        out.append((str(f), st.st_size, st.st_mtime_ns))
    return tuple(out)


def _cached(key: tuple[object, ...], compute: Callable[[], object]) -> object:
    """``compute()`` once per key (statistics of one set of files), least recently used out."""
    with _STATS_LOCK:
        hit = key in _STATS_CACHE
        value = _STATS_CACHE.get(key)
    if not hit:  # computed outside the lock: two callers may both compute, never wrongly
        value = compute()
    with _STATS_LOCK:
        _STATS_CACHE[key] = value
        _STATS_CACHE.move_to_end(key)
        while len(_STATS_CACHE) > _STATS_CACHE_SIZE:
            _STATS_CACHE.popitem(last=False)
    return value


def _running_sums(counts: Sequence[int] | None) -> tuple[int, ...]:
    out, acc = [], 0
    for n in sorted(counts or [], reverse=True):
        acc += int(n)
        out.append(acc)
    return tuple(out)


class Statistics:
    """Per-value statistics of the relations one query reads, computed on demand, cached.

    For :mod:`vce.policy.bounds`: per value of a dimension of a relation (a FROM clause: a
    table, or a derived table over ``tables``), the rows of the ``depth`` busiest entities,
    and the sum of the ``top_n`` largest per-entity subtotals of a measure. Dimension
    ``WHOLE``: all rows. Each is one ``GROUP BY dimension, entity`` on ``con``'s views,
    kept per process keyed by the files' size and mtime. Dimensions with more than
    ``MAX_VALUES`` values get none; nor do measures with a negative value, nor row counts
    where a row has no entity (a count would then overstate the entities).

    ``stored`` loads the statistics written when the dataset version was registered
    (:mod:`vce.policy.stored_statistics`, ``None`` when unusable): those it holds are taken
    from it instead of computed, on the first query as on later ones.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        tables: dict[str, TableFiles],
        depth: int,
        top_n: int,
        stored: Callable[[], Any] | None = None,
    ) -> None:
        """Statistics over the views of ``con``, which read ``tables``."""
        self.con, self.depth, self.top_n = con, depth, top_n
        self._files = [f for t in sorted(tables) for f in tables[t].files]
        self._load_stored = stored

    @functools.cached_property
    def _stored(self) -> Any:
        """The registered statistics, loaded (and checked) once and only if one is asked for."""
        return self._load_stored() if self._load_stored is not None else None

    @functools.cached_property
    def sig(self) -> tuple[tuple[str, int, int], ...]:
        """The files' identity, read once and only if a statistic is asked for."""
        return _files_signature(self._files)

    def rows(
        self, relation: str, entity: str, dims: Sequence[str], compute: bool = True
    ) -> dict[str, dict[Any, EntityRows]]:
        """Busiest-entity rows per value of each of ``dims`` that has statistics.

        ``compute=False``: only those already computed (checking rows first with what is
        known costs nothing; a dimension is computed only when a row needs it).
        """
        count = functools.partial(_count_value_rows, self.con, relation, entity, depth=self.depth)
        stored = functools.partial(self._from_file, "rows", relation, entity)
        kind = ("value-rows", relation, entity)
        return self._lookup(kind, (self.depth,), count, dims, compute, stored)

    def tops(
        self, relation: str, entity: str, measure: str, dims: Sequence[str], compute: bool = True
    ) -> dict[str, dict[Any, int]]:
        """Top-n subtotals of ``measure`` per value of each of ``dims`` that has statistics."""
        add = functools.partial(
            _sum_value_tops, self.con, relation, entity, measure=measure, n=self.top_n
        )
        extra = (measure, self.top_n)
        stored = functools.partial(self._from_file, "tops", relation, entity, measure=measure)
        return self._lookup(("value-tops", relation, entity), extra, add, dims, compute, stored)

    def _from_file(self, kind: str, relation: str, entity: str, dim: str, measure: str = "") -> Any:
        """The registered statistic, ``NOT_STORED`` when there is none to use."""
        if self._stored is None:
            return NOT_STORED
        return self._stored.get(kind, relation, entity, dim, measure)

    def _lookup(
        self,
        kind: tuple[str, str, str],
        extra: tuple[object, ...],
        compute_for: Callable[[str], object],
        dims: Sequence[str],
        compute: bool,
        stored: Callable[[str], object],
    ) -> dict[str, Any]:
        """Each dimension's statistic of ``kind``: cached, else registered, else computed.

        Computed only when ``compute``; registered ones are free, so taken either way.
        """
        out = {}
        for dim in dims:
            key = (*kind, dim, *extra, self.sig)
            found = _peek(key, NOT_STORED)
            if found is NOT_STORED:
                found = stored(dim)
                if found is NOT_STORED and not compute:
                    continue
                if found is NOT_STORED:
                    found = _cached(key, functools.partial(compute_for, dim))
                else:
                    found = _cached(key, lambda found=found: found)
            if found is not None:
                out[dim] = dict(cast(tuple[tuple[Any, Any], ...], found))
        return out

    def whole(
        self,
        rows_wanted: Collection[tuple[str, str]],
        tops_wanted: Collection[tuple[str, str, str]],
    ) -> RelationStats:
        """The statistics a rewrite asks for (its ``wanted_rows`` / ``wanted_tops``)."""
        rows = [
            ((rel, ent), found[True])
            for rel, ent in sorted(rows_wanted)
            if True in (found := self.rows(rel, ent, [WHOLE]).get(WHOLE, {}))
        ]
        tops = [
            ((rel, ent, measure), found[True])
            for rel, ent, measure in sorted(tops_wanted)
            if True in (found := self.tops(rel, ent, measure, [WHOLE]).get(WHOLE, {}))
        ]
        return RelationStats(tuple(rows), tuple(tops))


def _peek(key: tuple[object, ...], default: object = None) -> object:
    with _STATS_LOCK:
        return _STATS_CACHE.get(key, default)


def _value_statistics(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    entity: str,
    dim: str,
    depth: int,
    measures: Sequence[str] = (),
    n: int = 0,
) -> tuple[tuple[tuple[Any, EntityRows], ...] | None, list[tuple[tuple[Any, int], ...] | None]]:
    """Busiest-entity rows and each measure's top-n subtotals per value of ``dim``, one scan.

    One ``GROUP BY dimension, entity``; the first query over a relation and registration
    (:mod:`vce.policy.stored_statistics`, every measure of a dimension at once) share it, so
    both give the same statistics. ``None`` where refused: more than ``MAX_VALUES`` values,
    a row without an entity (row counts over all rows), a negative value (that measure).
    """
    d = dim or "TRUE"  # WHOLE: one value for all rows
    inner = [f"{d} AS d", f"{entity} AS k", "count(*) AS n"]
    outer = [
        "d",
        "sum(n) AS total",
        "bool_or(k IS NULL) AS nulls",
        f"max(n, {int(depth)}) FILTER (WHERE k IS NOT NULL) AS top",
    ]
    for i, measure in enumerate(measures):
        inner += [f"sum({measure}) AS s{i}", f"min({measure}) AS lo{i}"]
        outer += [f"list_sum(max(s{i}, {int(n)})) AS top{i}", f"min(lo{i}) AS lo{i}"]
    found = (
        con.execute(
            f"SELECT {', '.join(outer)} FROM (SELECT {', '.join(inner)} FROM {relation} "
            f"GROUP BY 1, 2) GROUP BY d LIMIT {MAX_VALUES + 1}"
        )
        .to_arrow_table()
        .to_pylist()
    )
    if len(found) > MAX_VALUES:
        return None, [None] * len(measures)
    rows = None
    if not (dim == WHOLE and any(r["nulls"] for r in found)):
        rows = tuple(
            (r["d"], EntityRows(int(r["total"]), _running_sums(r["top"])))
            for r in found
            if r["d"] is not None and not r["nulls"]  # (a NULL key falls back to the constant)
        )
    tops: list[tuple[tuple[Any, int], ...] | None] = []
    for i in range(len(measures)):
        if any(r[f"lo{i}"] is not None and r[f"lo{i}"] < 0 for r in found):
            tops.append(None)
        else:  # an upper bound: a fractional sum rounds up
            tops.append(
                tuple((r["d"], math.ceil(r[f"top{i}"] or 0)) for r in found if r["d"] is not None)
            )
    return rows, tops


def _count_value_rows(
    con: duckdb.DuckDBPyConnection, relation: str, entity: str, dim: str, depth: int
) -> tuple[tuple[Any, EntityRows], ...] | None:
    return _value_statistics(con, relation, entity, dim, depth)[0]


def _sum_value_tops(
    con: duckdb.DuckDBPyConnection, relation: str, entity: str, dim: str, measure: str, n: int
) -> tuple[tuple[Any, int], ...] | None:
    return _value_statistics(con, relation, entity, dim, 1, [measure], n)[1][0]
