"""``vce.connect()``: the researcher's DuckDB connection inside a sandbox.

It is a thin proxy around a real, locked-down ``DuckDBPyConnection`` (see ``lockdown``): every
method DuckDB offers is there (``sql``, ``execute``, ``table``, ``fetchall`` …) and relations
keep their usual API (``.df()``, ``.arrow()``, ``.to_arrow_table()``, ``.pl()``, ``.show()``).
The proxy adds what DuckDB cannot do alone: the SQL guard (no ``read_parquet`` of the mount,
no file paths as tables), the per-query timeout — relations are lazy, so the deadline must
also cover ``.df()`` and friends, which is why relations are proxied too — and readable
refusals for the Python entry points that would bring in data the airlock cannot see.
"""

from __future__ import annotations

import functools
import os
import sys
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from vce.sandbox.banner import Banner
from vce.sandbox.guard import (
    EXPORT_HINT,
    SandboxRefusal,
    check_sql,
    check_tokens,
    looks_like_path,
    refused_table_functions,
)
from vce.sandbox.limits import Limits, detect_limits
from vce.sandbox.lockdown import View, open_locked
from vce.sandbox.mount import Mount, discover
from vce.sandbox.timeout import Watchdog

DEFAULT_TIMEOUT_S = 600.0

_LOCAL_DATA_HINT = (
    "Data from Python objects or files outside the datasets cannot be queried in the "
    "sandbox connection: the airlock re-runs your SQL on the datasets only. Put small lookup "
    "values in the SQL itself (VALUES ...); open a plain duckdb.connect() for scratch work "
    "that will never be exported."
)
REFUSED_METHODS = {
    "read_parquet": EXPORT_HINT,
    "from_parquet": EXPORT_HINT,
    "read_csv": EXPORT_HINT,
    "from_csv_auto": EXPORT_HINT,
    "read_json": EXPORT_HINT,
    "table_function": EXPORT_HINT,
    "from_df": _LOCAL_DATA_HINT,
    "from_arrow": _LOCAL_DATA_HINT,
    "from_pandas": _LOCAL_DATA_HINT,
    "df": _LOCAL_DATA_HINT,
    "register": _LOCAL_DATA_HINT,
    "register_filesystem": "file systems cannot be added. " + EXPORT_HINT,
    "install_extension": "extensions cannot be installed in the sandbox.",
    "load_extension": "extensions cannot be loaded in the sandbox.",
    "append": _LOCAL_DATA_HINT,
    "from_substrait": EXPORT_HINT,
    "from_substrait_json": EXPORT_HINT,
    "create_function": "Python UDFs cannot run inside sandbox SQL: the airlock could not "
    "re-run them. Compute in SQL, or post-process the exported result.",
}
RELATION_SQL_METHODS = frozenset({"query"})
RELATION_WRITES = frozenset({"to_csv", "write_csv", "to_parquet", "write_parquet"})
"""Relation methods that write files; writing to in-memory scratch tables stays allowed."""


_LOCKED_HINT = (
    "The sandbox connection's settings are fixed: memory and threads follow the container's "
    "limits, file access is limited to the dataset views. Ask your administrator for a "
    "larger server if a query needs more memory."
)
_MISSING_TABLE_HINT = (
    "The tables here are the dataset views ({views}). Python variables such as DataFrames are "
    "not visible to the sandbox connection (replacement scans are off): the airlock could not "
    "re-run a query over them."
)


def _with_hint(error: duckdb.Error, con: SandboxConnection) -> duckdb.Error:
    """Return the DuckDB error with a sentence saying what to do in the sandbox, if known."""
    text = str(error)
    if isinstance(error, SandboxRefusal) or "VCE sandbox:" in text:
        return error
    hint = None
    if "configuration has been locked" in text:
        hint = _LOCKED_HINT
    elif "disabled by configuration" in text or "file system operations are disabled" in text:
        hint = EXPORT_HINT
    elif isinstance(error, duckdb.CatalogException) and "Table with name" in text:
        hint = _MISSING_TABLE_HINT.format(views=", ".join(con.tables()))
    if hint is None:
        return error
    try:
        return type(error)(f"{text}\nVCE sandbox: {hint}")
    except TypeError:  # an exception type that does not take one message argument
        return error


def _unwrap(value: Any) -> Any:
    if isinstance(value, SandboxRelation):
        return value._rel
    if isinstance(value, SandboxConnection):
        return value._con
    return value


class SandboxRelation:
    """A DuckDB relation whose execution runs under the connection's guard and timeout."""

    __slots__ = ("_owner", "_rel")

    def __init__(self, rel: duckdb.DuckDBPyRelation, owner: SandboxConnection) -> None:
        self._rel = rel
        self._owner = owner

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # our slots before __init__ (copy, pickle), IPython probes
            raise AttributeError(name)
        attr = getattr(self._rel, name)
        if not callable(attr):
            return attr
        if name in RELATION_WRITES:
            return _refuser(f"relation.{name}", "results leave the sandbox only by export. ")
        return functools.partial(self._owner._call, attr, name, True)

    def __repr__(self) -> str:
        with self._owner._watchdog.running():
            return repr(self._rel)

    def __str__(self) -> str:
        with self._owner._watchdog.running():
            return str(self._rel)

    def __len__(self) -> int:
        with self._owner._watchdog.running():
            return len(self._rel)

    def __dir__(self) -> list[str]:
        return sorted(set(dir(self._rel)) - RELATION_WRITES)

    @property
    def duckdb_relation(self) -> duckdb.DuckDBPyRelation:
        """The underlying ``DuckDBPyRelation``, for libraries that insist on the real type."""
        return self._rel


def _refuser(name: str, why: str) -> Callable[..., Any]:
    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise SandboxRefusal(f"{name}() is not available in the sandbox: {why}{EXPORT_HINT}")

    return refuse


class SandboxConnection:
    """A locked-down DuckDB connection over the project's datasets (see module docstring)."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        views: list[View],
        mount: Mount,
        limits: Limits,
        timeout: float | None,
    ) -> None:
        self._con = con
        self.views = views
        self.mount = mount
        self.limits = limits
        self.timeout = timeout
        self._watchdog = Watchdog(con, timeout)
        weakref.finalize(self, self._watchdog.close)  # no idle thread left behind by a lost con
        self._refused = refused_table_functions(con)
        self._roots = tuple(str(d.path) for d in mount.datasets)
        self.banner = Banner(mount, views, limits, timeout)

    # -- SQL entry points: guarded, executed under the timeout ------------------------------
    def _guard(self, sql: object) -> None:
        if isinstance(sql, str):
            check_sql(self._con, sql, self._refused, self._roots)

    def _call(self, fn: Callable[..., Any], name: str, guard_strings: bool, *args: Any, **kw: Any):
        """Run ``fn`` under the timeout; guard SQL-bearing string arguments; wrap relations."""
        if guard_strings:
            for value in (*args, *kw.values()):
                if not isinstance(value, str):
                    continue
                if name in RELATION_SQL_METHODS:
                    self._guard(value)
                else:
                    check_tokens(value, self._refused, self._roots)
        try:
            with self._watchdog.running():
                result = fn(*(_unwrap(a) for a in args), **{k: _unwrap(v) for k, v in kw.items()})
        except duckdb.Error as e:
            raise _with_hint(e, self) from e
        if isinstance(result, duckdb.DuckDBPyRelation):
            return SandboxRelation(result, self)
        if result is self._con:
            return self
        return result

    def sql(self, query: str, **kwargs: Any) -> SandboxRelation | None:
        """Run SQL like ``duckdb.sql``: a lazy relation for SELECT, executed by ``.df()`` etc."""
        self._guard(query)
        return self._call(self._con.sql, "sql", False, query, **kwargs)

    query = sql

    def from_query(self, query: str, **kwargs: Any) -> SandboxRelation:
        """Alias of :meth:`sql` as in DuckDB."""
        self._guard(query)
        return self._call(self._con.from_query, "from_query", False, query, **kwargs)

    def execute(self, query: str, parameters: object = None) -> SandboxConnection:
        """Execute eagerly (DB-API style); fetch with ``.fetchall()``, ``.df()`` …"""
        self._guard(query)
        return self._call(self._con.execute, "execute", False, query, parameters)

    def executemany(self, query: str, parameters: object = None) -> SandboxConnection:
        """Execute once per parameter set."""
        self._guard(query)
        return self._call(self._con.executemany, "executemany", False, query, parameters)

    def table(self, name: str) -> SandboxRelation:
        """Return a relation over one view or table."""
        self._guard_name(name)
        return self._call(self._con.table, "table", False, name)

    def view(self, name: str) -> SandboxRelation:
        """Return a relation over one view (as ``duckdb``'s ``view``)."""
        self._guard_name(name)
        return self._call(self._con.view, "view", False, name)

    def _guard_name(self, name: str) -> None:
        """Refuse a table name DuckDB would read as a file (``con.table('/data/x.parquet')``)."""
        if looks_like_path(name) or any(root in name for root in self._roots):
            raise SandboxRefusal(
                f"reading the file {name!r} directly is not possible in the sandbox. " + EXPORT_HINT
            )

    def duplicate(self) -> SandboxConnection:
        """Same as :meth:`cursor` (DuckDB's name for it)."""
        return self.cursor()

    def tables(self) -> list[str]:
        """List the dataset views of this connection (``schema.table`` for several datasets)."""
        return [v.name for v in self.views]

    def cursor(self) -> SandboxConnection:
        """Open a second cursor over the same database, guarded the same way."""
        other = SandboxConnection.__new__(SandboxConnection)
        other.__dict__.update(self.__dict__)
        other._con = self._con.cursor()
        other._watchdog = Watchdog(other._con, self.timeout)
        weakref.finalize(other, other._watchdog.close)
        return other

    def close(self) -> None:
        """Close the connection and stop its timeout thread."""
        self._watchdog.close()
        self._con.close()

    def __enter__(self) -> SandboxConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- everything else DuckDB offers ------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # our attributes before __init__ (copy, pickle), IPython probes
            raise AttributeError(name)
        if name in REFUSED_METHODS:
            return _refuser(name, REFUSED_METHODS[name] + " ")
        attr = getattr(self._con, name)
        if not callable(attr):
            return attr
        return functools.partial(self._call, attr, name, False)

    def __dir__(self) -> list[str]:
        return sorted((set(dir(self._con)) | set(type(self).__dict__)) - set(REFUSED_METHODS))

    @property
    def duckdb_connection(self) -> duckdb.DuckDBPyConnection:
        """The underlying locked-down connection (DuckDB itself still enforces the lockdown)."""
        return self._con

    def __repr__(self) -> str:
        return self.banner.text()

    def _repr_html_(self) -> str:
        return self.banner.html()


_BANNER_SHOWN = False


def connect(
    data_dir: str | Path | None = None,
    *,
    timeout: float | None = None,
    memory_limit: str | None = None,
    threads: int | None = None,
    progress_bar: bool = True,
    quiet: bool = False,
) -> SandboxConnection:
    """Open the sandbox's locked-down DuckDB connection over the mounted datasets.

    ``timeout`` (seconds; default ``$VCE_QUERY_TIMEOUT`` or 600, 0 = none) stops a query that
    runs longer. Memory and threads come from the container's limits unless given here or in
    ``VCE_MEMORY_LIMIT``/``VCE_THREADS``. The banner saying which rows are synthetic is
    printed on the first connection of a kernel (``quiet=True`` skips it).
    """
    global _BANNER_SHOWN
    env = dict(os.environ)
    if memory_limit:
        env["VCE_MEMORY_LIMIT"] = memory_limit
    if threads:
        env["VCE_THREADS"] = str(threads)
    limits = detect_limits(env)
    if timeout is None:
        timeout = float(os.environ.get("VCE_QUERY_TIMEOUT") or DEFAULT_TIMEOUT_S)
    mount = discover(data_dir)
    con, views = open_locked(mount, limits, progress_bar=progress_bar)
    sandbox = SandboxConnection(con, views, mount, limits, timeout or None)
    if not quiet and not _BANNER_SHOWN:
        _BANNER_SHOWN = True
        _show_banner(sandbox)
    return sandbox


def _show_banner(sandbox: SandboxConnection) -> None:
    """Show the banner as HTML in a notebook kernel, as text anywhere else."""
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    if shell is not None and getattr(shell, "kernel", None) is not None:
        from IPython.display import HTML, display

        display(HTML(sandbox.banner.html()))
    else:
        print(sandbox.banner.text(), file=sys.stdout)


_DEFAULT: SandboxConnection | None = None


def default_connection() -> SandboxConnection:
    """Return the kernel's shared sandbox connection (``%%vce`` uses it); open it once."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = connect()
    return _DEFAULT
