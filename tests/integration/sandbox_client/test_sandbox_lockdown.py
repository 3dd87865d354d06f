"""The sandbox connection against real DuckDB on a generated dataset, from the attacker's side."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from attacks import ATTACKS, DUCKDB_ENFORCED, run_attacks
from sandbox_fixtures import sandbox_env_fixture, sandbox_root_fixture  # noqa: F401 (fixtures)

import vce
from vce.data.schema import TABLES
from vce.sandbox import QueryTimeout, SandboxRefusal
from vce.sandbox.lockdown import LOCKED_SETTINGS, temp_directory


@pytest.fixture
def con(sandbox_env: Path):
    c = vce.connect(quiet=True, timeout=60)
    yield c
    c.close()


def _paths(sandbox_root: Path, dataset: Path) -> dict[str, str]:
    mount_file = next(sandbox_root.rglob("videos/audience=adult/*.parquet"))
    outside = next(dataset.rglob("videos/audience=minor/*.parquet"))
    return {"mount": str(mount_file), "mount_dir": str(mount_file.parent), "outside": str(outside)}


def _ids(path: Path, column: str) -> set[int]:
    return set(pq.read_table(path, columns=[column]).column(column).to_pylist())


def test_every_table_is_queryable(con) -> None:
    assert set(con.tables()) == set(TABLES)
    for name in TABLES:
        (n,) = con.sql(f"SELECT count(*) FROM {name}").fetchone()
        assert n > 0, name


def test_people_tables_have_audience_and_the_same_columns_as_the_schema(con) -> None:
    for name, table in TABLES.items():
        cols = [r[0] for r in con.sql(f"DESCRIBE {name}").fetchall()]
        expected = list(table.schema.names) + (["audience"] if table.about_people else [])
        assert cols == expected, name


def test_real_minors_absent_synthetic_present_and_labelled(con, dataset: Path) -> None:
    for name, table in TABLES.items():
        if not table.about_people:
            continue
        key = table.person_columns[0]
        real_minor = _ids(dataset / name / "audience=minor", key)
        synthetic = _ids(dataset / name / "audience=minor_synthetic", key)
        adult = _ids(dataset / name / "audience=adult", key)
        seen = dict(
            con.sql(f"SELECT audience, list(DISTINCT {key}) FROM {name} GROUP BY 1").fetchall()
        )
        assert set(seen) <= {"adult", "minor"}, name
        assert set(seen.get("minor", [])) == synthetic, name  # every 'minor' row is synthetic
        assert set(seen["adult"]) == adult, name
        assert not (set(seen["adult"]) | set(seen.get("minor", []))) & (
            real_minor - synthetic - adult
        )


def test_synthetic_label_is_visible_in_banner_and_column_comment(con) -> None:
    (comment,) = con.sql(
        "SELECT comment FROM duckdb_columns() WHERE table_name = 'videos' AND column_name = 'audience'"
    ).fetchone()
    assert "SYNTHETIC" in comment
    assert "audience = 'minor' are SYNTHETIC" in con.banner.text()
    assert "Synthetic data" in con._repr_html_()


def test_where_audience_minor_selects_the_synthetic_rows(con, dataset: Path) -> None:
    synthetic = pq.read_table(dataset / "videos" / "audience=minor_synthetic").num_rows
    (n,) = con.sql("SELECT count(*) FROM videos WHERE audience = 'minor'").fetchone()
    assert n == synthetic > 0


@pytest.mark.parametrize("name", list(ATTACKS))
def test_attack_is_refused_with_a_clear_error(con, sandbox_root, dataset, name) -> None:
    outcome = run_attacks(con, _paths(sandbox_root, dataset), names={name})[name]
    assert outcome is not None, f"{name} was not refused"
    assert ATTACKS[name][1] in outcome
    assert "VCE sandbox" in outcome or "sandbox" in outcome


@pytest.mark.parametrize("name", DUCKDB_ENFORCED)
def test_duckdb_itself_refuses_without_the_guard(con, sandbox_root, dataset, name) -> None:
    raw = con.duckdb_connection
    assert isinstance(raw, duckdb.DuckDBPyConnection)
    outcome = run_attacks(raw, _paths(sandbox_root, dataset), names={name})[name]
    assert outcome is not None, f"DuckDB ran {name}"
    assert "disabled" in outcome or "locked" in outcome or "Permission" in outcome


def test_settings_read_back_locked(con, sandbox_root: Path) -> None:
    rows = dict(con.sql("SELECT name, value FROM duckdb_settings()").fetchall())
    for name, value in LOCKED_SETTINGS.items():
        assert rows[name] == value, name
    assert rows["enable_progress_bar"] == "true"  # DuckDB's own bar (a widget in Jupyter)
    (ds,) = [p for p in sandbox_root.iterdir() if p.is_dir()]
    # the dataset folder, and the spill folder DuckDB adds itself when temp_directory is set
    assert rows["allowed_directories"] == f"[{ds}/, {temp_directory()}/]"


def test_python_dataframe_replacement_scan_is_refused(con) -> None:
    secret_df = pd.DataFrame({"x": [1, 2, 3]})
    with pytest.raises(duckdb.CatalogException, match="replacement scans are off"):
        con.sql("SELECT * FROM secret_df").fetchall()
    with pytest.raises(duckdb.CatalogException):
        con.duckdb_connection.sql("SELECT * FROM secret_df").fetchall()
    assert len(secret_df) == 3


@pytest.mark.parametrize("method", ["from_df", "register", "read_parquet", "read_csv"])
def test_python_entry_points_to_outside_data_are_refused(con, method, sandbox_root) -> None:
    arg = (
        pd.DataFrame({"x": [1]})
        if method == "from_df"
        else str(next(sandbox_root.rglob("*.parquet")))
    )
    args = ("t", arg) if method == "register" else (arg,)
    with pytest.raises(SandboxRefusal, match="not available in the sandbox"):
        getattr(con, method)(*args)


@pytest.mark.parametrize("method", ["table", "view"])
def test_table_by_file_name_is_refused(con, method, sandbox_root) -> None:
    path = str(next(sandbox_root.rglob("shops/*.parquet")))
    with pytest.raises(SandboxRefusal, match="directly"):
        getattr(con, method)(path)
    assert getattr(con, method)("shops").count("*").fetchone()[0] > 0


def test_duplicate_and_cursor_stay_guarded(con) -> None:
    for other in (con.duplicate(), con.cursor()):
        with pytest.raises(SandboxRefusal):
            other.sql("SELECT * FROM read_csv('/etc/passwd')")
        assert other.sql("SELECT count(*) FROM shops").fetchone()[0] > 0


def test_relation_writes_are_refused(con) -> None:
    with pytest.raises(SandboxRefusal):
        con.sql("SELECT 1").to_csv("/tmp/vce-leak.csv")
    assert not os.path.exists("/tmp/vce-leak.csv")


def test_results_api_stays(con) -> None:
    sql = "SELECT region_code, count(*) AS n FROM videos GROUP BY 1 ORDER BY 1"
    df = con.sql(sql).df()
    assert isinstance(df, pd.DataFrame) and len(df) > 0
    assert isinstance(con.sql(sql).to_arrow_table(), pa.Table)
    reader = con.sql(sql).arrow()
    assert reader.read_all().num_rows == len(df)
    assert con.sql(sql).pl().height == len(df)
    assert con.execute(sql).fetchall() == [tuple(r) for r in df.itertuples(index=False)]
    rel = con.sql("SELECT * FROM videos").filter("audience = 'adult'").aggregate("count(*)")
    assert rel.fetchone()[0] > 0


def test_show_prints_a_table(con, capsys) -> None:
    con.sql("SELECT count(*) AS n FROM users").show()
    assert "n" in capsys.readouterr().out


def test_expressions_in_relation_methods_are_guarded(con, sandbox_root) -> None:
    f = next(sandbox_root.rglob("*.parquet"))
    with pytest.raises(SandboxRefusal):
        con.table("videos").filter(f"id IN (SELECT id FROM read_parquet('{f}'))")


def test_a_long_query_is_interrupted_by_the_timeout(sandbox_env) -> None:
    c = vce.connect(quiet=True, timeout=0.5)
    try:
        with pytest.raises(QueryTimeout, match=r"longer than 0\.5 s"):
            c.sql("SELECT count(*) FROM range(10000000000) a, range(100) b").fetchall()
        assert c.sql("SELECT 42").fetchone() == (42,)  # the connection stays usable
    finally:
        c.close()


def test_temp_tables_for_scratch_work_still_work(con) -> None:
    con.execute(
        "CREATE TEMP TABLE by_region AS SELECT region_code, count(*) n FROM videos GROUP BY 1"
    )
    assert (
        con.sql("SELECT sum(n) FROM by_region").fetchone()[0]
        == con.sql("SELECT count(*) FROM videos").fetchone()[0]
    )


def test_limits_from_environment(sandbox_env, monkeypatch) -> None:
    monkeypatch.setenv("VCE_MEMORY_LIMIT", "700MiB")
    monkeypatch.setenv("VCE_THREADS", "1")
    c = vce.connect(quiet=True)
    try:
        rows = dict(c.sql("SELECT name, value FROM duckdb_settings()").fetchall())
        assert rows["threads"] == "1"
        assert rows["memory_limit"].startswith("700")
    finally:
        c.close()


def test_connect_outside_a_sandbox_names_the_fix(monkeypatch) -> None:
    monkeypatch.delenv("VCE_DATA_DIR", raising=False)
    with pytest.raises(vce.sandbox.MountError, match="VCE_DATA_DIR is not set"):
        vce.connect(quiet=True)


def test_several_datasets_get_a_schema_each(sandbox_root: Path, tmp_path: Path) -> None:
    (ds,) = [p for p in sandbox_root.iterdir() if p.is_dir()]
    for copy in ("alpha", "beta-2"):
        os.symlink(ds, tmp_path / copy)
    c = vce.connect(tmp_path, quiet=True)
    try:
        assert "alpha.videos" in c.tables() and "beta_2.videos" in c.tables()
        assert "videos" not in c.tables()  # ambiguous: the researcher must say which dataset
        a = c.sql("SELECT count(*) FROM alpha.videos").fetchone()
        assert a == c.sql("SELECT count(*) FROM beta_2.videos").fetchone()
    finally:
        c.close()


def test_banner_warns_when_the_project_is_not_approved_for_u18(con, monkeypatch) -> None:
    assert "not approved for under-18 data" in con.banner.text()
    monkeypatch.setenv("VCE_U18_APPROVED", "1")
    assert "not approved for under-18 data" not in con.banner.text()
    assert "Under 18" not in con._repr_html_()


def test_a_dropped_connection_leaves_no_timeout_thread(sandbox_env) -> None:
    import gc

    c = vce.connect(quiet=True, timeout=30)
    c.sql("SELECT 1").fetchall()  # starts the watchdog thread
    thread = c._watchdog._thread
    assert thread is not None and thread.is_alive()
    del c
    gc.collect()
    thread.join(10)
    assert not thread.is_alive()
