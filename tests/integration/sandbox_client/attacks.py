"""The attacker's catalogue against a sandbox connection, shared by the local and container tests.

Each attack is SQL a researcher could type; every one must be refused with an error whose
message names the problem. ``{mount}`` is a Parquet file inside the data mount, ``{outside}``
one outside it (in the container: a file the image ships; locally: the real minors' partition).
"""

from __future__ import annotations

from typing import Any

ATTACKS: dict[str, tuple[str, str]] = {
    # name: (sql, a fragment the error message must contain)
    "read_parquet inside the mount": ("SELECT * FROM read_parquet('{mount}')", "read_parquet()"),
    "read_parquet outside the mount": ("SELECT * FROM read_parquet('{outside}')", "read_parquet()"),
    "parquet_scan, schema-qualified": (
        "SELECT * FROM system.main.parquet_scan('{mount}')",
        "parquet_scan()",
    ),
    "quoted read_parquet": ("SELECT * FROM \"read_parquet\"('{mount}')", "read_parquet()"),
    "read_csv of /etc/passwd": ("SELECT * FROM read_csv('/etc/passwd')", "read_csv()"),
    "read_text": ("SELECT * FROM read_text('/etc/hostname')", "read_text()"),
    "glob inside the mount": ("SELECT * FROM glob('{mount_dir}/*')", "glob()"),
    "glob outside": ("SELECT * FROM glob('/etc/*')", "glob()"),
    "file path as table inside": ("SELECT * FROM '{mount}'", "directly"),
    "file path as table outside": ("SELECT count(*) FROM users, '{outside}'", "directly"),
    "quoted file path as table": ('SELECT count(*) FROM "{mount}"', "directly"),
    "quoted glob as table": ('SELECT count(*) FROM "{mount_dir}/*.parquet"', "directly"),
    "quoted file path outside": ('SELECT count(*) FROM "{outside}"', "directly"),
    "file path after a join": (
        "SELECT count(*) FROM users u JOIN videos v ON u.user_id = v.author_id, '{outside}'",
        "directly",
    ),
    "describe a file": ("DESCRIBE '{mount}'", "directly"),
    "SQL hidden in a string": ("SELECT * FROM query('SELECT 42')", "query()"),
    "view over read_parquet": (
        "CREATE TEMP VIEW leak AS SELECT * FROM read_parquet('{mount}')",
        "read_parquet()",
    ),
    "COPY TO": ("COPY (SELECT * FROM videos) TO '/tmp/leak.csv'", "COPY"),
    "COPY view TO": ("COPY users TO '/tmp/leak.parquet' (FORMAT parquet)", "COPY"),
    "EXPORT DATABASE": ("EXPORT DATABASE '/tmp/leak-db'", "EXPORT"),
    "ATTACH a file": ("ATTACH '/tmp/leak.duckdb' AS leak", "ATTACH"),
    "INSTALL": ("INSTALL httpfs", "INSTALL"),
    "LOAD": ("LOAD httpfs", "LOAD"),
    "SET enable_external_access": ("SET enable_external_access = true", "locked"),
    "RESET enable_external_access": ("RESET enable_external_access", "locked"),
    "SET allowed_directories": ("SET allowed_directories = ['/']", "locked"),
    "SET lock_configuration": ("SET lock_configuration = false", "locked"),
    "SET memory_limit": ("SET memory_limit = '1TB'", "locked"),
    "SET threads": ("RESET threads", "locked"),
    "SET python_enable_replacements": ("SET python_enable_replacements = true", "locked"),
    "SET autoload": ("SET autoload_known_extensions = true", "locked"),
}

DUCKDB_ENFORCED = (
    "read_parquet outside the mount",
    "read_csv of /etc/passwd",
    "read_text",
    "glob outside",
    "file path as table outside",
    "quoted file path outside",
    "file path after a join",
    "COPY TO",
    "COPY view TO",
    "EXPORT DATABASE",
    "ATTACH a file",
    "INSTALL",
    "LOAD",
    "SET enable_external_access",
    "RESET enable_external_access",
    "SET allowed_directories",
    "SET lock_configuration",
    "SET memory_limit",
    "SET threads",
    "SET python_enable_replacements",
    "SET autoload",
)
"""Attacks DuckDB itself refuses even without the client's SQL guard (defence in depth)."""


def run_attacks(
    con: Any, paths: dict[str, str], names: set[str] | None = None
) -> dict[str, str | None]:
    """Run each attack on ``con``; map its name to the error text (``None`` = it succeeded)."""
    outcome: dict[str, str | None] = {}
    for name, (sql, _fragment) in ATTACKS.items():
        if names is not None and name not in names:
            continue
        try:
            rel = con.sql(sql.format(**paths))
            if rel is not None:
                rel.fetchall()
            outcome[name] = None
        except Exception as e:  # the point: every attack must end up here
            outcome[name] = f"{type(e).__name__}: {e}"
    return outcome
