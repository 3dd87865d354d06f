"""The SQL guard on its own, over a plain DuckDB (no files needed)."""

from __future__ import annotations

import duckdb
import pytest

from vce.sandbox.guard import SandboxRefusal, check_sql, refused_table_functions


@pytest.fixture(scope="module")
def con():
    c = duckdb.connect()
    yield c
    c.close()


@pytest.fixture(scope="module")
def refused(con):
    return refused_table_functions(con)


def test_refused_set_covers_every_file_reader(refused) -> None:
    for name in ("read_parquet", "parquet_scan", "read_csv", "read_csv_auto", "read_json",
                 "read_text", "read_blob", "glob", "sniff_csv", "parquet_metadata", "query",
                 "query_table", "json_execute_serialized_sql"):  # fmt: skip
        assert name in refused, name
    for name in ("range", "generate_series", "unnest", "duckdb_columns"):
        assert name not in refused, name


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_parquet('/data/x.parquet')",
        "select * from READ_PARQUET('/data/x.parquet')",
        "SELECT * FROM main.read_csv('/etc/passwd')",
        "SELECT * FROM \"glob\"('/data/*')",
        "SELECT * FROM videos WHERE id IN (SELECT id FROM read_parquet('/x'))",
        "WITH t AS (SELECT * FROM read_json('/x')) SELECT * FROM t",
        "SELECT * FROM '/data/x.parquet'",
        "SELECT * FROM videos v JOIN 'other.csv' o USING (id)",
        "SELECT * FROM videos, '/x.parquet'",
        "SUMMARIZE 'x.parquet'",
        "COPY videos TO 'x.csv'",
        "COPY (SELECT 1) TO 'x.csv'",
        "ATTACH ':memory:' AS m",
        "INSTALL httpfs",
        "LOAD httpfs",
        "EXPORT DATABASE 'x'",
        "SELECT 1; COPY videos TO 'x.csv'",
        "CREATE TABLE t AS SELECT * FROM read_parquet('x')",
        "SELECT * FROM query('SELECT * FROM read_parquet(''x'')')",
        "SELECT * FROM read_parquet /* hidden */ ('x')",
        "SELECT count(*) FROM videos WHERE text LIKE '%/srv/data/demo/%'",
        'SELECT * FROM "/srv/data/demo/videos/audience=adult/part-0.parquet"',
        'SELECT * FROM "x.csv"',
        "SELECT * FROM a JOIN b ON a.x = b.x, 'file.parquet'",
        "SELECT * FROM v, LATERAL (SELECT * FROM 'x.json')",
        "CREATE MACRO m(p) AS TABLE SELECT * FROM read_parquet(p)",
        "PREPARE p AS SELECT * FROM read_csv(?)",
        "CALL read_parquet('x')",
        "PIVOT 'x.parquet' ON a USING count(*)",
    ],
)
def test_refused(con, refused, sql) -> None:
    with pytest.raises(SandboxRefusal, match="sandbox"):
        check_sql(con, sql, refused, data_roots=("/srv/data/demo",))


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT region_code, count(*) FROM videos WHERE region_code IN ('US', 'FR') GROUP BY 1",
        "SELECT extract(year FROM create_time) AS y, count(*) FROM videos GROUP BY 1",
        "SELECT * FROM range(10)",
        "SELECT unnest(hashtag_names) FROM videos",
        "SELECT 'read_parquet(x)' AS not_a_call",
        "SELECT count(*) FROM comments WHERE text LIKE '%/path/%'",
        "FROM videos SELECT count(*)",
        "DESCRIBE videos",
        "SUMMARIZE videos",
        "CREATE TEMP TABLE t AS SELECT region_code FROM videos",
        "SELECT * FROM duckdb_columns()",
        "SELECT strftime(create_time, '%Y-%m') FROM videos",
        'SELECT count(*) FROM "videos" JOIN users ON "videos".author_id = users.user_id',
        "SELECT * FROM videos JOIN users ON author_id = user_id WHERE region_code = 'US'",
        "SELEC broken",  # DuckDB reports the syntax error itself
    ],
)
def test_allowed(con, refused, sql) -> None:
    check_sql(con, sql, refused, data_roots=("/srv/data/demo",))


def test_refusal_is_a_duckdb_permission_error(con, refused) -> None:
    with pytest.raises(duckdb.PermissionException, match=r"vce.request_export"):
        check_sql(con, "COPY t TO 'x'", refused)
