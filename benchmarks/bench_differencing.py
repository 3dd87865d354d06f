"""The differencing guard: a 1,000-cell release against 10,000 earlier cells.

Cells are contributor sets over a dense index of 1,000,000 entities, sizes log-uniform from
10 to 20,000 people (group-by releases of a large dataset). The new release mixes fresh
cells, exact repeats of earlier cells (difference 0: must pass) and near-duplicates that
differ by 1 to 5 people (must be withheld) — so the exact path runs, not only the pruning.

Baseline, measured side by side in this run: the exact all-pairs comparison (every new cell
against every earlier cell with ``symmetric_difference_cardinality``), timed over a random
sample of pairs and scaled to all 10,000,000. Reported: the guard's time (the comparison,
and the load of the history from its SQLite file), the ratio to the baseline, and bitmap
bytes per released cell (and per contributor). Target (issue 14): comparison ≤ 200 ms.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from pyroaring import BitMap

from vce.policy.contributors import COUNT_CODES
from vce.policy.differencing import Thresholds, find
from vce.policy.releases import Cell, ReleaseStore

ENTITIES = 1_000_000
EARLIER = 10_000
NEW = 1_000
REPEATS, NEAR = 50, 50
SAMPLE_PAIRS = 20_000
ROUNDS = 5


def _cells(rng: np.random.Generator, n: int, minors: BitMap) -> list[BitMap]:
    """Random cells of people with row-count codes (1 to 20 rows each, as the guard encodes
    them); one of fewer than 50 people holds no minor (the U18 check withholds it)."""
    sizes = np.exp(rng.uniform(np.log(10), np.log(20_000), n)).astype(int)
    out = []
    for s in sizes:
        people = np.unique(rng.integers(0, ENTITIES, s, dtype=np.uint32))
        codes = rng.integers(1, 21, len(people), dtype=np.uint32) % COUNT_CODES
        b = BitMap(people * np.uint32(COUNT_CODES) + codes)
        out.append(b - minors if len(people) < 50 else b)
    return out


def _near(rng: np.random.Generator, b: BitMap) -> BitMap:
    """``b`` with 1 to 5 people added or removed."""
    c = BitMap(b)
    for x in rng.integers(0, ENTITIES, int(rng.integers(1, 6)), dtype=np.uint32):
        c.symmetric_difference_update(BitMap([int(x) * COUNT_CODES + 1]))
    return c


def main() -> None:
    rng = np.random.default_rng(14)
    minor_people = rng.integers(0, ENTITIES, ENTITIES // 10, dtype=np.uint64) * COUNT_CODES
    minors = BitMap((minor_people[:, None] + np.arange(COUNT_CODES)).ravel().astype(np.uint32))
    minors.run_optimize()
    earlier = _cells(rng, EARLIER, minors)
    picks = rng.choice(EARLIER, REPEATS + NEAR, replace=False)
    new = [
        *_cells(rng, NEW - REPEATS - NEAR, minors),
        *(BitMap(earlier[i]) for i in picks[:REPEATS]),
        *(_near(rng, earlier[i]) for i in picks[REPEATS:]),
    ]
    th = Thresholds(10, 50, minors)
    with tempfile.TemporaryDirectory() as tmp:
        store = ReleaseStore(Path(tmp) / "history.sqlite")
        store.record(
            ref="bench",
            project="p",
            dataset_version="v",
            sql="-",
            cells=[
                Cell(i, b, minor=b.intersection_cardinality(minors) > 0)
                for i, b in enumerate(earlier)
            ],
        )
        loads, guards, cpus, withheld = [], [], [], 0
        for _ in range(ROUNDS):
            start = time.perf_counter()
            history = store.earlier("v")
            loads.append(time.perf_counter() - start)
            start, cpu = time.perf_counter(), time.process_time()
            findings = find(new, history.cells, th)
            guards.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu)
            withheld = len(findings)
    pairs = rng.integers(0, [NEW, EARLIER], (SAMPLE_PAIRS, 2))
    start = time.perf_counter()
    for i, j in pairs:
        new[i].symmetric_difference_cardinality(earlier[j])
    all_pairs = (time.perf_counter() - start) / SAMPLE_PAIRS * NEW * EARLIER
    guard, load = statistics.median(guards), statistics.median(loads)
    sizes = [len(b.serialize()) for b in new]
    people = sum(len(b) for b in new)  # (one element per person)
    print(f"cells: {NEW} new × {EARLIER} earlier over {ENTITIES:,} entities")
    print(f"withheld: {withheld} (expected {NEAR}: the near-duplicates; repeats pass)")
    print(f"guard comparison        {guard * 1e3:8.1f} ms   (target ≤ 200 ms)")
    print(
        f"  of which CPU time     {statistics.median(cpus) * 1e3:8.1f} ms   (the machine is shared)"
    )
    print(f"history load (SQLite)   {load * 1e3:8.1f} ms")
    print(f"baseline all-pairs xor  {all_pairs * 1e3:8.1f} ms   (sampled {SAMPLE_PAIRS:,} pairs)")
    print(f"guard ÷ all-pairs       {guard / all_pairs:8.4f}×")
    print(
        f"bitmap bytes per released cell: mean {statistics.mean(sizes):,.0f}, "
        f"median {statistics.median(sizes):,.0f}; {sum(sizes) / people:.2f} bytes per contributor"
    )
