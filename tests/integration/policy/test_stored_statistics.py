"""Bound statistics registered with a dataset version, against those computed on a first query.

:mod:`vce.policy.stored_statistics` writes ``statistics.json`` when a dataset is generated or
imported; trusted execution reads it instead of scanning on a researcher's first query. Wrong
statistics would make bounds that are not conservative, so every entry is recomputed here by
the lazy path on the generated data and must be equal, and a file of another version or over
other files must never be used.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import pytest

import vce.policy.engine as engine
import vce.policy.rewrite as rewrite_mod
import vce.policy.stored_statistics as stored_mod
from vce.data.schema import MANIFEST
from vce.hub.mounts import data_binds
from vce.policy import Context
from vce.policy.engine import Statistics, collect_files, locked_cursor
from vce.policy.execute import run_checked
from vce.policy.model import load_policy
from vce.policy.stored_statistics import STATISTICS, load_statistics, write_statistics

POLICY = load_policy()
DEPTH, TOP_N = POLICY.thresholds.needed(True), POLICY.thresholds.dominance_n
QUERIES = (
    "SELECT region_code, date_trunc('month', create_time) AS m, sum(view_count) AS views "
    "FROM videos GROUP BY region_code, date_trunc('month', create_time)",
    "SELECT region_code, avg(CASE WHEN is_stem_verified THEN 1.0 ELSE 0.0 END) AS s, "
    "count(*) AS n FROM videos AS v GROUP BY region_code",
    "SELECT date_trunc('month', create_time) AS m, count(*) AS n FROM comments GROUP BY 1",
    "SELECT age_band, region_code, count(*) AS n FROM users GROUP BY age_band, region_code",
)


def _fresh() -> None:
    """A new process: nothing computed, nothing read."""
    engine._STATS_CACHE.clear()
    rewrite_mod._CACHE.clear()
    stored_mod._read.cache_clear()


def _copy(dataset: Path, tmp_path: Path) -> Path:
    out = tmp_path / "copy"
    shutil.copytree(dataset, out)  # (copy2: sizes and mtimes kept, so the file stays valid)
    return out


@pytest.mark.parametrize("u18", [False, True])
def test_every_registered_statistic_equals_the_one_a_first_query_computes(
    dataset: Path, u18: bool
) -> None:
    tables = collect_files([dataset], u18)
    stored = load_statistics([dataset], tables, u18, DEPTH, TOP_N)
    assert stored is not None, "generate wrote no usable statistics.json"
    assert len(stored.entries) > 100
    _fresh()
    con = locked_cursor(tables)
    lazy = Statistics(con, tables, DEPTH, TOP_N)
    compared = refused = 0
    try:
        for key in stored.entries:
            kind, table, entity, dim, measure = json.loads(key)
            rel = f'"{table}" AS "{table}"'
            if kind == "rows":
                got = lazy.rows(rel, entity, [dim]).get(dim)
            else:
                got = lazy.tops(rel, entity, measure, [dim]).get(dim)
            want = stored.get(kind, rel, entity, dim, measure)
            assert (dict(want) if want is not None else None) == got, key
            compared += 1
            refused += want is None
    finally:
        con.close()
    assert compared == len(stored.entries) and 0 < refused < compared


def test_an_aliased_relation_finds_the_registered_statistic(dataset: Path) -> None:
    tables = collect_files([dataset], False)
    stored = load_statistics([dataset], tables, False, DEPTH, TOP_N)
    assert stored is not None
    by_alias = stored.get("rows", '"videos" AS "v"', '"v"."author_id"', '"v"."region_code"')
    by_name = stored.get(
        "rows", '"videos" AS "videos"', '"videos"."author_id"', '"videos"."region_code"'
    )
    assert by_alias == by_name and by_alias
    join = '"comments" AS "c" JOIN "videos" AS "v" ON "c"."video_id" = "v"."id"'
    assert stored.get("rows", join, '"c"."author_id"', "") is engine.NOT_STORED


def test_first_queries_read_the_file_and_release_what_lazy_statistics_release(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = Context(policy=POLICY, u18_approved=False)
    lazy_dir = _copy(dataset, tmp_path)
    (lazy_dir / STATISTICS).unlink()
    scans: list[str] = []
    real = engine._value_statistics
    monkeypatch.setattr(
        engine, "_value_statistics", lambda *a, **k: scans.append(a[1]) or real(*a, **k)
    )
    lazy_scans = 0
    for sql in QUERIES:
        _fresh()
        want = run_checked(sql, ctx, [lazy_dir])
        lazy_scans += len(scans)
        scans.clear()
        _fresh()
        got = run_checked(sql, ctx, [dataset])
        assert got.allowed and got.table is not None and want.table is not None
        rows = sorted(map(repr, got.table.to_pylist()))  # (no ORDER BY: rows as a set)
        assert rows == sorted(map(repr, want.table.to_pylist())), sql
        assert got.suppressed_rows == want.suppressed_rows
        assert scans == [], f"{sql}: statistics computed on a first query: {scans}"
    assert lazy_scans >= len(QUERIES)  # (without the file, each first query scans)


def test_missing_file_falls_back_to_computing_and_says_so(
    dataset: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = _copy(dataset, tmp_path)
    (root / STATISTICS).unlink()
    _fresh()
    with caplog.at_level(logging.INFO, logger="vce.policy.statistics"):
        assert load_statistics([root], collect_files([root], False), False, DEPTH, TOP_N) is None
    assert "computed on first query" in caplog.text
    res = run_checked(QUERIES[0], Context(policy=POLICY, u18_approved=False), [root])
    assert res.allowed and res.released_rows > 0


@pytest.mark.parametrize("change", ["manifest", "data file", "depth", "garbage", "new file"])
def test_a_stale_or_tampered_file_is_never_used(
    dataset: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, change: str
) -> None:
    root = _copy(dataset, tmp_path)
    depth = DEPTH
    if change == "manifest":  # another version of the dataset, statistics of the old one
        doc = json.loads((root / MANIFEST).read_text())
        doc["version"] = "1.0.1"
        (root / MANIFEST).write_text(json.dumps(doc))
    elif change == "data file":  # a file rewritten in place (same manifest)
        victim = sorted((root / "videos" / "audience=adult").glob("*.parquet"))[0]
        os.utime(victim, ns=(victim.stat().st_atime_ns, victim.stat().st_mtime_ns + 1))
    elif change == "depth":  # a policy whose thresholds need more of the busiest entities
        depth = DEPTH + 1
    elif change == "garbage":
        (root / STATISTICS).write_text("{not json")
    else:  # a file added to a table
        src = sorted((root / "videos" / "audience=adult").glob("*.parquet"))[0]
        shutil.copy2(src, src.with_name("part-99999.parquet"))
    _fresh()
    with caplog.at_level(logging.WARNING, logger="vce.policy.statistics"):
        got = load_statistics([root], collect_files([root], False), False, depth, TOP_N)
    assert got is None
    assert "not used" in caplog.text


def test_a_statistics_file_of_another_version_is_not_used(dataset: Path, tmp_path: Path) -> None:
    """A file copied from another dataset version (other manifest) is refused."""
    root = _copy(dataset, tmp_path)
    doc = json.loads((root / MANIFEST).read_text())
    doc["changelog"].append({"version": "2.0.0", "date": "2026-12-03", "note": "re-cut"})
    (root / MANIFEST).write_text(json.dumps(doc))
    write_statistics(root, POLICY)  # statistics of version 2 …
    v2 = (root / STATISTICS).read_bytes()
    shutil.copy2(dataset / MANIFEST, root / MANIFEST)  # … next to version 1's manifest
    (root / STATISTICS).write_bytes(v2)
    _fresh()
    assert load_statistics([root], collect_files([root], False), False, DEPTH, TOP_N) is None


def test_the_statistics_file_never_reaches_a_sandbox(dataset: Path) -> None:
    """It describes the real minors' rows too: only the trusted side reads it."""
    for u18 in (False, True):
        binds = data_binds(dataset.parent, (dataset.name,), "/data", u18)
        assert not any(STATISTICS in host or STATISTICS in dst for host, dst in binds.items())


@pytest.mark.parametrize(
    ("relation", "expr"),
    [
        ('"videos" AS "v"', '"v"."region_code"'),
        ('"videos" AS "videos"', 'DATE_TRUNC(\'WEEK\', "videos"."create_time")'),
        ('"videos" AS "v"', ""),
        ('"videos" AS "v"', '"w"."region_code"'),
        ('"videos" AS "v"', 'DATE_TRUNC(\'MONTH\', "v"."create_time") + 1'),
        ('"nosuch" AS "v"', '"v"."x"'),
        ('"comments" AS "c" JOIN "videos" AS "v" ON "c"."video_id" = "v"."id"', '"c"."x"'),
    ],
)
def test_the_quick_key_of_a_relation_agrees_with_the_parsed_one(relation: str, expr: str) -> None:
    quick = stored_mod._canonical_plain(relation, expr)
    stored_mod.canonical.cache_clear()
    monkey = stored_mod._canonical_plain
    try:
        stored_mod._canonical_plain = lambda r, e: None  # type: ignore[assignment]
        parsed = stored_mod.canonical(relation, expr)
    finally:
        stored_mod._canonical_plain = monkey
        stored_mod.canonical.cache_clear()
    assert quick is None or quick == parsed
    assert (quick is not None) == (
        relation.startswith('"videos"') and '"w"' not in expr and "+" not in expr
    )
