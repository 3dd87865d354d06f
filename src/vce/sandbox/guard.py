"""The SQL guard of the sandbox connection: refuse what the airlock would never run.

DuckDB's own lockdown (``enable_external_access=false`` with ``allowed_directories`` set to
the dataset folders, ``lock_configuration``) already stops every file outside the mount, every
write, extension and setting change. But the views themselves read the mount with
``read_parquet``, so DuckDB must allow that folder — and would equally allow a researcher's
``read_parquet('/data/…')``. This guard closes that gap before DuckDB sees the SQL: no table
functions that read files or run SQL from strings, no file paths in ``FROM``, no
COPY/ATTACH/INSTALL/LOAD/EXPORT statements. SQL that passes is SQL the airlock can re-run.

It works on DuckDB's own tokenizer and statement splitter (same grammar as execution, a few
microseconds per query). It is a guard rail, not the security boundary: the researcher has a
Python kernel in the same container; the boundary is the container (its mount holds only adult
and synthetic rows, and it has no route out but the airlock).
"""

from __future__ import annotations

import re

import duckdb

ALLOWED_TABLE_FUNCTIONS = frozenset(
    {
        "range",
        "generate_series",
        "unnest",
        "repeat",
        "repeat_row",
        "json_each",
        "json_tree",
        "summary",
        "histogram",
        "histogram_values",
        "test_all_types",
        "pg_timezone_names",
        "icu_calendar_names",
        "duckdb_columns",
        "duckdb_tables",
        "duckdb_views",
        "duckdb_schemas",
        "duckdb_databases",
        "duckdb_functions",
        "duckdb_settings",
        "duckdb_types",
        "duckdb_keywords",
        "duckdb_variables",
        "duckdb_memory",
        "duckdb_temporary_files",
        "pragma_table_info",
        "pragma_show",
        "pragma_version",
        "pragma_platform",
        "pragma_user_agent",
        "pragma_database_size",
    }
)
"""Table functions that only compute or describe the catalog; every other one is refused."""

ALWAYS_REFUSED = frozenset({"query", "query_table", "json_execute_serialized_sql"})
"""Functions that run SQL given as a string, which would hide any call from this guard."""

REFUSED_STATEMENTS = {
    "COPY": "COPY reads or writes files",
    "COPY_DATABASE": "COPY FROM DATABASE writes a database",
    "EXPORT": "EXPORT DATABASE writes files",
    "ATTACH": "ATTACH opens another database",
    "DETACH": "DETACH changes the attached databases",
    "LOAD": "INSTALL and LOAD add extensions",
    "EXTENSION": "extensions cannot be changed",
    "UPDATE_EXTENSIONS": "extensions cannot be changed",
}

_FROM_LIKE = frozenset({"FROM", "JOIN", "SUMMARIZE", "DESCRIBE", "PIVOT", "UNPIVOT", "TABLE"})
_CLAUSE_ENDS = frozenset(
    {
        "WHERE",
        "GROUP",
        "HAVING",
        "ORDER",
        "LIMIT",
        "OFFSET",
        "QUALIFY",
        "WINDOW",
        "UNION",
        "EXCEPT",
        "INTERSECT",
        "SELECT",
        "SET",
        "VALUES",
        "RETURNING",
    }
)
FILE_SUFFIXES = (
    ".parquet",
    ".csv",
    ".tsv",
    ".json",
    ".jsonl",
    ".ndjson",
    ".txt",
    ".arrow",
    ".feather",
    ".xlsx",
    ".db",
    ".duckdb",
    ".sqlite",
    ".gz",
    ".zst",
)


def looks_like_path(name: str) -> bool:
    """Whether DuckDB would treat ``name`` used as a table as a file to scan.

    >>> looks_like_path("/data/x.parquet"), looks_like_path("shop.csv"), looks_like_path("videos")
    (True, True, False)
    """
    lowered = name.lower()
    return any(ch in name for ch in "/\\*?") or "://" in name or lowered.endswith(FILE_SUFFIXES)


EXPORT_HINT = (
    "In the sandbox, SQL reads the dataset views only (run con.tables() to list them); "
    "to take a result out, use vce.request_export(sql, name=..., purpose=...)."
)


class SandboxRefusal(duckdb.PermissionException):
    """A statement the sandbox connection refuses; the message says why and what to do."""


_REFUSED_CACHE: dict[str, frozenset[str]] = {}


def refused_table_functions(con: duckdb.DuckDBPyConnection) -> frozenset[str]:
    """Every table function of this DuckDB build except the harmless ones listed above.

    Listing ``duckdb_functions()`` takes tens of milliseconds; extensions cannot be loaded
    into a sandbox connection, so the list is the same for every connection of the process
    and is computed once.
    """
    cached = _REFUSED_CACHE.get(duckdb.__version__)
    if cached is not None:
        return cached
    rows = con.execute(
        "SELECT DISTINCT lower(function_name) FROM duckdb_functions() "
        "WHERE function_type IN ('table', 'table_macro')"
    ).fetchall()
    refused = frozenset(r[0] for r in rows) - ALLOWED_TABLE_FUNCTIONS | ALWAYS_REFUSED
    _REFUSED_CACHE[duckdb.__version__] = refused
    return refused


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1].replace('""', '"')
    return text


_COMMENT = re.compile(r"/\*.*?\*/|--[^\n]*", re.S)
_STRING = re.compile(r"'(?:[^']|'')*'")


def _clean(text: str, kind: duckdb.token_type) -> str:
    """A token's own text: DuckDB's spans run up to the next token, comments included."""
    if kind == duckdb.token_type.string_const:
        m = _STRING.match(text.lstrip())
        return m.group(0) if m else text.strip()
    return _COMMENT.sub(" ", text).strip()


def _tokens(sql: str) -> list[tuple[str, duckdb.token_type]]:
    """(text, type) for each token; comments dropped."""
    spans = duckdb.tokenize(sql)
    out = []
    for i, (start, kind) in enumerate(spans):
        if kind == duckdb.token_type.comment:
            continue
        end = spans[i + 1][0] if i + 1 < len(spans) else len(sql)
        text = _clean(sql[start:end], kind)
        if text:
            out.append((text, kind))
    return out


def _split_operators(tokens: list[tuple[str, duckdb.token_type]]) -> list[tuple[str, object]]:
    """DuckDB returns runs like ``('`` or ``),`` as one operator token; split them per char."""
    out: list[tuple[str, object]] = []
    for text, kind in tokens:
        if kind == duckdb.token_type.operator and len(text) > 1:
            out.extend((ch, kind) for ch in text if not ch.isspace())
        else:
            out.append((text, kind))
    return out


def check_tokens(sql: str, refused: frozenset[str], data_roots: tuple[str, ...] = ()) -> None:
    """Refuse refused function calls and file paths used as tables; raise SandboxRefusal."""
    tokens = _split_operators(_tokens(sql))
    clause: list[str | None] = [None]  # per parenthesis depth: the clause we are in
    prev = ""
    for i, (text, kind) in enumerate(tokens):
        nxt = tokens[i + 1][0] if i + 1 < len(tokens) else ""
        upper = text.upper()
        table_position = clause[-1] == "FROM" and (prev.upper() in _FROM_LIKE or prev in {",", "("})
        if kind in (duckdb.token_type.identifier, duckdb.token_type.keyword):
            name = _unquote(text).lower()
            if nxt == "(" and name in refused:
                raise SandboxRefusal(f"{name}() is not available in the sandbox. {EXPORT_HINT}")
            quoted = text.startswith('"')
            if quoted and (
                (table_position and looks_like_path(_unquote(text)))
                or any(root and root in _unquote(text) for root in data_roots)
            ):
                raise SandboxRefusal(
                    f"reading the file {_unquote(text)!r} directly is not possible in the "
                    f"sandbox. {EXPORT_HINT}"
                )
            if kind == duckdb.token_type.keyword and upper in _FROM_LIKE:
                clause[-1] = "FROM"
            elif kind == duckdb.token_type.keyword and upper in _CLAUSE_ENDS:
                clause[-1] = upper
        elif text == "(":
            clause.append("FROM" if prev.upper() in _FROM_LIKE else None)
        elif text == ")":
            if len(clause) > 1:
                clause.pop()
        elif kind == duckdb.token_type.string_const:
            value = text[1:-1] if len(text) >= 2 else text
            if table_position or any(root and root in value for root in data_roots):
                raise SandboxRefusal(
                    f"reading the file {value!r} directly is not possible in the sandbox. "
                    + EXPORT_HINT
                )
        prev = text


def check_sql(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    refused: frozenset[str],
    data_roots: tuple[str, ...] = (),
) -> None:
    """Check every statement of ``sql``; raise :class:`SandboxRefusal` on the first problem."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.ParserException:
        return  # let DuckDB report the syntax error itself, with its caret
    for statement in statements:
        reason = REFUSED_STATEMENTS.get(statement.type.name)
        if reason:
            first = statement.query.strip().split(None, 1)[0].upper() if statement.query else ""
            raise SandboxRefusal(
                f"{first or statement.type.name} is not available in the sandbox: {reason}. "
                + EXPORT_HINT
            )
        # the splitter returns PRAGMA rewritten as the table function it calls: check that text
        check_tokens(statement.query, refused, data_roots)
    if len(statements) != 1 or statements[0].query.strip() != sql.strip():
        check_tokens(sql, refused, data_roots)
