"""The release-history store and the guard's exact pruning, on real SQLite files and bitmaps."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from pyroaring import BitMap

from vce.policy.contributors import COUNT_CODES
from vce.policy.differencing import CellSet, Thresholds, candidate_pairs, find
from vce.policy.releases import FORMAT_VERSION, Cell, Earlier, ReleaseStore, ReleaseStoreError


def cell(people) -> BitMap:
    """A cell of these people, one row each (elements carry a row-count code)."""
    return BitMap((np.asarray(list(people), dtype=np.uint32) * COUNT_CODES + 1).tolist())


def test_a_missing_file_is_created_with_the_documented_format(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "releases.sqlite"
    ReleaseStore(path)
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == FORMAT_VERSION
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"releases", "cells"}


def test_recorded_cells_come_back_exactly_for_their_dataset_version_only(tmp_path: Path) -> None:
    store = ReleaseStore(tmp_path / "r.sqlite")
    a, b = cell(range(0, 300, 3)), cell([7, 70_000, 4_000_000])
    store.record(
        ref="req-1",
        project="p1",
        dataset_version="v1",
        sql="SELECT 1",
        cells=[
            Cell(0, a, ("n",), {"region_code": "FR"}),
            Cell(1, b, ("n",), {"region_code": "DE"}),
        ],
    )
    store.record(ref="req-2", project="p1", dataset_version="v2", sql="S", cells=[Cell(0, a)])
    earlier = ReleaseStore(tmp_path / "r.sqlite").earlier("v1")  # reopened: nothing in memory
    assert len(earlier.cells) == 2 and earlier.cells.cardinality.tolist() == [len(a), len(b)]
    assert earlier.cells.bitmap(0) == a and earlier.cells.bitmap(1) == b
    assert earlier.ref(1).to_dict()["label"] == {"region_code": "DE"}
    assert earlier.ref(0).ref == "req-1" and earlier.ref(0).columns == ("n",)
    assert len(store.earlier("v2").cells) == 1 and len(store.earlier("v3").cells) == 0
    assert [r["cells"] for r in store.releases()] == [2, 1]


def test_histories_of_several_projects_concatenate(tmp_path: Path) -> None:
    one, two = ReleaseStore(tmp_path / "1.sqlite"), ReleaseStore(tmp_path / "2.sqlite")
    one.record(ref="a", project="p1", dataset_version="v", sql="S", cells=[Cell(0, BitMap([1]))])
    two.record(ref="b", project="p2", dataset_version="v", sql="S", cells=[Cell(0, BitMap([2]))])
    both = Earlier.concat([one.earlier("v"), two.earlier("v")])
    assert [both.ref(i).project for i in range(2)] == ["p1", "p2"]
    assert both.cells.bitmap(1) == BitMap([2]) and both.cells.bitmap(0) == BitMap([1])


def test_pending_records_count_only_for_the_refs_named(tmp_path: Path) -> None:
    store = ReleaseStore(tmp_path / "r.sqlite")
    cell = [Cell(0, BitMap(range(20)), minor=True)]
    store.record(ref="request:1", project="p", dataset_version="v", sql="S", cells=cell)
    store.record(
        ref="request:2", project="p", dataset_version="v", sql="S", cells=cell, pending=True
    )
    assert len(store.earlier("v").cells) == 1
    assert len(store.earlier("v", pending={"request:2"}).cells) == 2
    assert len(store.earlier("v", pending={"request:2"}, exclude="request:2").cells) == 1
    assert store.earlier("v").cells.minor.tolist() == [True]
    store.record(  # a new revision replaces the request's record
        ref="request:2", project="p", dataset_version="v", sql="T", cells=cell, pending=True
    )
    assert store.mark_released("request:2")
    assert [(r["ref"], r["state"]) for r in store.releases()] == [
        ("request:1", "released"),
        ("request:2", "released"),
    ]


def test_a_file_that_is_not_a_history_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.sqlite"
    path.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(ReleaseStoreError):
        ReleaseStore(path)
    newer = tmp_path / "newer.sqlite"
    sqlite3.connect(newer).execute("PRAGMA user_version = 99")
    with pytest.raises(ReleaseStoreError, match="format 99"):
        ReleaseStore(newer)


@pytest.mark.parametrize("seed", range(8))
def test_pruning_never_drops_a_close_pair(seed: int) -> None:
    """Every pair within ``d_max`` (identical ones too) survives pruning: checked by brute force."""
    rng = np.random.default_rng(seed)
    universe = 3000
    base = [cell(rng.choice(universe, int(rng.integers(1, 500)), replace=False)) for _ in range(50)]
    near = []
    for b in base[:30]:
        c = BitMap(b)
        for x in rng.integers(0, universe, int(rng.integers(0, 15))):
            c.symmetric_difference_update(cell([int(x)]))
        near.append(c)
    d_max = int(rng.integers(1, 60))
    old, new = CellSet.of(base), CellSet.of([*near, *base[30:]])
    found = candidate_pairs(new, old, d_max)
    for i in range(len(new)):
        for j in range(len(old)):
            if new.bitmap(i).symmetric_difference_cardinality(old.bitmap(j)) <= d_max:
                assert j in found.get(i, []), (i, j)


def test_sketch_hits_that_all_fail_the_bounds_leave_no_candidate() -> None:
    """Cells sharing sketch elements but far apart in size: nothing to compare, no crash."""
    old = CellSet.of([cell(range(1000))])
    new = CellSet.of([cell(range(100))])
    assert candidate_pairs(new, old, 9) == {}
    assert find([cell(range(100))], old, Thresholds(10, 50)) == []


def test_earlier_cells_from_the_store_are_compared_like_fresh_ones(tmp_path: Path) -> None:
    store = ReleaseStore(tmp_path / "r.sqlite")
    whole = cell(range(5000))
    store.record(ref="r", project="p", dataset_version="v", sql="S", cells=[Cell(0, whole)])
    minus_one = BitMap(whole)
    minus_one.remove(1234 * COUNT_CODES + 1)
    findings = find([minus_one, BitMap(whole)], store.earlier("v").cells, Thresholds(10, 50))
    assert [(f.row, f.difference) for f in findings] == [(0, 1)]
