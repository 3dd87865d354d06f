"""Open the locked-down DuckDB database over the mounted datasets.

The order matters and is DuckDB's own: ``allowed_directories`` can only be set on a running
database, before ``enable_external_access`` goes off; the views are created while the mount is
the only readable folder (so creating them proves the mount is readable); settings are locked
last, after which no ``SET``/``RESET`` can widen anything again.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb

from vce.data.schema import TABLES
from vce.sandbox.limits import Limits
from vce.sandbox.mount import Dataset, Mount, TableSource

LOCKED_SETTINGS = {
    "enable_external_access": "false",
    "autoinstall_known_extensions": "false",
    "autoload_known_extensions": "false",
    "allow_community_extensions": "false",
    "allow_unsigned_extensions": "false",
    "python_enable_replacements": "false",
    "lock_configuration": "true",
}
"""Settings the acceptance tests read back from a sandbox connection."""

AUDIENCE_COMMENT = (
    "adult = real adults' rows; minor = SYNTHETIC stand-ins in this sandbox "
    "(the airlock re-runs the same SQL on the real minors' rows)"
)


@dataclass(frozen=True)
class View:
    """One view the connection offers: its SQL name and where its rows come from."""

    name: str  # as written in SQL: "videos" or "schema.videos"
    source: TableSource
    dataset: Dataset


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def view_sql(source: TableSource) -> str:
    """Build the SELECT behind one view: one ``read_parquet`` per partition, labelled by constant.

    A constant per UNION ALL branch (rather than Hive partition detection) lets DuckDB drop a
    whole branch when a query filters on ``audience``, and lets the synthetic partition carry
    the label ``'minor'`` that the same SQL means in the airlock.
    """
    if not source.partitions:
        return _empty_select(source)
    branches = []
    for label, glob in source.partitions:
        scan = f"read_parquet({_literal(glob)}, hive_partitioning = false)"
        if source.partitioned:
            branches.append(f"SELECT *, {_literal(label)} AS audience FROM {scan}")
        else:
            branches.append(f"SELECT * FROM {scan}")
    return "\nUNION ALL ".join(branches)


def _empty_select(source: TableSource) -> str:
    """Build a zero-row select with the table's schema, for a table whose folder has no files."""
    table = TABLES.get(source.name)
    if table is None:
        return "SELECT NULL AS no_data WHERE false"
    return table.empty_select()


def _views(mount: Mount) -> list[View]:
    """Name views per dataset schema, plus unqualified ones for unambiguous table names."""
    views: list[View] = []
    owners: dict[str, list[Dataset]] = {}
    for ds in mount.datasets:
        for name in ds.tables:
            owners.setdefault(name, []).append(ds)
    for ds in mount.datasets:
        for name, source in ds.tables.items():
            if len(mount.datasets) > 1:
                views.append(View(f"{ds.schema}.{name}", source, ds))
            if len(owners[name]) == 1:
                views.append(View(name, source, ds))
    return views


def temp_directory() -> Path:
    """Where DuckDB spills big sorts and joins: the container's tmpfs, never the data mount."""
    base = Path(os.environ.get("TMPDIR") or tempfile.gettempdir())
    return base / f"vce-duckdb-{os.getpid()}"


def open_locked(
    mount: Mount, limits: Limits, progress_bar: bool = True
) -> tuple[duckdb.DuckDBPyConnection, list[View]]:
    """Open a new in-memory DuckDB with one view per mounted table, locked down."""
    config: dict[str, str | bool | int] = {
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "allow_community_extensions": False,
        "allow_unsigned_extensions": False,
        "threads": limits.threads,
    }
    if limits.memory_limit:
        config["memory_limit"] = limits.memory_limit
    con = duckdb.connect(":memory:", config=config)
    try:
        dirs = [str(ds.path) + "/" for ds in mount.datasets]
        con.execute("SET allowed_directories = $dirs", {"dirs": dirs})
        con.execute(f"SET temp_directory = {_literal(str(temp_directory()))}")
        con.execute("SET enable_external_access = false")
        con.execute("SET python_enable_replacements = false")
        con.execute(f"SET enable_progress_bar = {'true' if progress_bar else 'false'}")
        views = _views(mount)
        for schema in {v.name.split(".")[0] for v in views if "." in v.name}:
            con.execute(f"CREATE SCHEMA {_quote(schema)}")
        for v in views:
            qualified = ".".join(_quote(p) for p in v.name.split("."))
            con.execute(f"CREATE VIEW {qualified} AS {view_sql(v.source)}")
            if v.source.partitioned and v.source.partitions:
                con.execute(
                    f"COMMENT ON COLUMN {qualified}.audience IS {_literal(AUDIENCE_COMMENT)}"
                )
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con, views


__all__ = ["LOCKED_SETTINGS", "View", "open_locked", "view_sql"]
