"""Dataset generator throughput and peak memory (issue: 10M videos ≤ 120 s, ≤ 4 GiB).

Baseline, measured side by side: re-writing the generated tables with plain pyarrow
(read every part file, write it again) — the Parquet I/O floor any generator pays. The ratio
says how much the synthesis itself costs on top of that floor.

The 10M-video dataset is kept at ``datasets/bench-10m`` (or ``$VCE_BENCH_DATA``) for the other
benchmarks; it is regenerated only when missing or when ``VCE_BENCH_REGENERATE=1``.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

VIDEOS = int(os.environ.get("VCE_BENCH_VIDEOS", "10000000"))
DATA = Path(os.environ.get("VCE_BENCH_DATA", "datasets/bench-10m"))


def _generate(out: Path) -> tuple[float, float]:
    """Run the CLI in a child; return (seconds, peak RSS GiB of that child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "vce.cli", "datasets", "generate", "--out", str(out),
         "--videos", str(VIDEOS), "--seed", "7", "--force", "--quiet"],
        check=True,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return seconds, peak / 2**20


def _rewrite_floor(root: Path) -> float:
    """Seconds to read and re-write every part file with pyarrow (same compression)."""
    with tempfile.TemporaryDirectory(dir=root.parent) as tmp:
        start = time.perf_counter()
        for i, f in enumerate(sorted(root.rglob("*.parquet"))):
            pq.write_table(pq.ParquetFile(f).read(), Path(tmp) / f"{i}.parquet", compression="zstd")
        return time.perf_counter() - start


def main() -> None:
    regenerate = (
        os.environ.get("VCE_BENCH_REGENERATE") == "1" or not (DATA / "manifest.json").exists()
    )
    if regenerate:
        seconds, peak = _generate(DATA)
    else:
        print(f"(timing a fresh generation next to the kept {DATA})")
        with tempfile.TemporaryDirectory(dir=DATA.parent) as tmp:
            seconds, peak = _generate(Path(tmp) / "fresh")
    doc = json.loads((DATA / "manifest.json").read_text())
    rows = sum(sum(f["rows"] for f in t["files"]) for t in doc["tables"].values())
    size = sum(sum(f["bytes"] for f in t["files"]) for t in doc["tables"].values())
    floor = _rewrite_floor(DATA)
    print(f"generator: {VIDEOS:,} videos → {rows:,} rows (all partitions), {size / 2**30:.2f} GiB")
    print(f"  wall time            {seconds:8.1f} s   (target ≤ 120 s for 10M videos)")
    print(f"  throughput           {rows / seconds:12,.0f} rows/s")
    print(f"  peak memory (RSS)    {peak:8.2f} GiB (target ≤ 4 GiB)")
    print(f"  baseline: pyarrow read+rewrite of the same files {floor:.1f} s")
    print(f"  ratio generator / rewrite floor: {seconds / floor:.2f}×")
