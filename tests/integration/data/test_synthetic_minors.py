"""Synthetic minors carry no real minor's value; sandboxes see no fact about real minors.

Ground truth is recomputed here with plain DuckDB over the dataset's Parquet files, not with
the code under test: for every table about people and every dimension or measure column, a
synthetic minor's value must either be held by at least the U18 threshold's number of
distinct real minors (counted over the table's entity columns) or not occur among the real
minors at all. Identifiers and free text of real minors must never occur.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from test_cli_and_integrity import export_like_a_warehouse, vce

from vce.data.manifest import read_manifest
from vce.hub.mounts import data_binds
from vce.policy.model import ColumnClass, Policy, load_policy


def _connect(root: Path, policy: Policy) -> duckdb.DuckDBPyConnection:
    """Views ``<t>_minor`` and ``<t>_synthetic`` per people table of the dataset at ``root``."""
    con = duckdb.connect()
    for table, tp in policy.tables.items():
        if tp.entity:
            for aud, view in (("minor", "minor"), ("minor_synthetic", "synthetic")):
                con.execute(
                    f"CREATE VIEW {table}_{view} AS SELECT * FROM "
                    f"read_parquet('{root}/{table}/audience={aud}/*.parquet')"
                )
    return con


def _minor_entities(policy: Policy, table: str) -> str:
    """SQL: (row number, minor's id) for every real minor behind each row of ``table``."""
    parts = []
    for col in policy.tables[table].entity:
        ref = policy.tables[table].columns[col].refers
        ref_table, _, ref_col = (ref or "").partition(".")
        if ref and ref_table != table:
            cond = f"{col} IN (SELECT {ref_col} FROM {ref_table}_minor)"
        else:
            cond = "true"  # the table's own key: every row of the partition is a minor's
        parts.append(f"SELECT rn, {col} AS e FROM m WHERE {cond}")
    return " UNION ALL ".join(parts)


def _violations(con: duckdb.DuckDBPyConnection, policy: Policy, table: str, col: str) -> int:
    """Distinct synthetic values of ``col`` held by 1..K-1 real minors (lists: also elements)."""
    k = policy.thresholds.needed(True)
    typ = con.sql(f"SELECT typeof({col}) FROM {table}_minor LIMIT 1").fetchone()
    is_list = typ is not None and typ[0].endswith("[]")
    forms = [col, f"unnest({col})"] if is_list else [col]
    total = 0
    for form in forms:
        total += con.sql(
            f"""
            WITH m AS (SELECT row_number() OVER () AS rn, * FROM {table}_minor),
                 ents AS ({_minor_entities(policy, table)}),
                 vals AS (SELECT rn, {form} AS v FROM m),
                 held AS (SELECT v, count(DISTINCT e) AS n FROM vals JOIN ents USING (rn)
                          WHERE v IS NOT NULL GROUP BY v),
                 syn AS (SELECT DISTINCT {form} AS v FROM {table}_synthetic)
            SELECT count(*) FROM syn JOIN held USING (v) WHERE held.n < {k}
            """
        ).fetchone()[0]
    return total


def _people_columns(policy: Policy, classes: set[ColumnClass]) -> list[tuple[str, str]]:
    return [
        (t, c)
        for t, tp in policy.tables.items()
        if tp.entity
        for c, cp in tp.columns.items()
        if cp.cls in classes
        # references to public catalogues (products …) are drawn from the catalogue
        and not (cp.refers and not policy.tables[cp.refers.split(".")[0]].entity)
    ]


def _assert_no_real_minor_values(root: Path) -> None:
    policy = load_policy()
    con = _connect(root, policy)
    measured = _people_columns(policy, {ColumnClass.DIMENSION, ColumnClass.MEASURE})
    bad = {f"{t}.{c}": n for t, c in measured if (n := _violations(con, policy, t, c))}
    assert not bad, f"synthetic values held by fewer than the U18 threshold of minors: {bad}"
    private = _people_columns(policy, {ColumnClass.IDENTIFIER, ColumnClass.FREE_TEXT})
    shared = {
        f"{t}.{c}": n
        for t, c in private
        if (
            n := con.sql(
                f"SELECT count(*) FROM (SELECT {c} FROM {t}_synthetic INTERSECT "
                f"SELECT {c} FROM {t}_minor) WHERE {c} IS NOT NULL"
            ).fetchone()[0]
        )
    }
    assert not shared, f"identifier or free-text values of real minors: {shared}"
    assert len(measured) >= 20 and len(private) >= 15  # every people table was looked at
    rows = con.sql("SELECT count(*) FROM videos_synthetic").fetchone()[0]
    assert rows == con.sql("SELECT count(*) FROM videos_minor").fetchone()[0] > 0


def test_generated_synthetic_minors_carry_no_rare_real_value(dataset):
    _assert_no_real_minor_values(dataset)


def test_the_maximum_minor_follower_count_is_not_in_the_synthetic_rows(dataset):
    con = _connect(dataset, load_policy())
    top = con.sql("SELECT max(follower_count) FROM users_minor").fetchone()[0]
    copies = con.sql(f"SELECT count(*) FROM users_synthetic WHERE follower_count = {top}")
    assert copies.fetchone()[0] == 0


def test_imported_synthetic_minors_carry_no_rare_real_value(tmp_path, dataset):
    src = export_like_a_warehouse(dataset, tmp_path / "src")
    out = tmp_path / "imported"
    proc = vce("datasets", "import", "--from", str(src), "--name", "w", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    _assert_no_real_minor_values(out)


# ---------------------------------------------------------------- what a sandbox is told


@pytest.mark.parametrize("u18", [False, True])
def test_sandbox_manifest_states_no_fact_about_real_minors(dataset, u18):
    binds = data_binds(dataset.parent, (dataset.name,), "/data", u18)
    host = [h for h, c in binds.items() if c == f"/data/{dataset.name}/manifest.json"]
    assert len(host) == 1, "the sandbox gets a manifest (its banner shows the version)"
    text = Path(host[0]).read_text(encoding="utf-8")
    seen = json.loads(text)
    full = read_manifest(dataset)
    assert seen["version"] == full["version"] and seen["name"] == full["name"]
    allowed = {"adult", "minor_synthetic"} if u18 else {"adult"}
    for table, tdoc in full["tables"].items():
        if not tdoc["partitions"]:
            assert seen["tables"][table] == tdoc  # not about people: all of it
            continue
        shown = seen["tables"][table]
        assert set(shown["partitions"]) == allowed
        assert shown["rows"] == tdoc["partitions"]["adult"]
        for f in tdoc["files"]:
            hidden = f["path"].split("/")[1].split("=")[1] not in allowed
            if hidden:
                assert f["path"] not in text and f["sha256"] not in text, f["path"]
    assert "audience=minor/" not in text
    if not u18:
        assert "minor_synthetic" not in text
