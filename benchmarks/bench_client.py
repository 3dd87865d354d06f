"""Sandbox client overhead: ``vce.connect()`` vs plain ``duckdb`` over the same views.

Baseline: a plain in-memory DuckDB with exactly the views ``vce.connect()`` creates (same SQL,
same thread count and memory limit), no lockdown, no guard, no timeout. Both run each query
alternately (ABAB…) so machine noise hits both alike; we report median times, their ratio
(target ≤ 1.05×) and the absolute difference (target < 5 ms), then connect time.

Dataset: ``$VCE_BENCH_DATA`` (default ``datasets/bench-10m``). When it is missing, a small
dataset is generated in a temporary folder so the benchmark still runs (and says so).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

import vce
from vce.sandbox.limits import detect_limits
from vce.sandbox.lockdown import _views, view_sql
from vce.sandbox.mount import discover

QUERIES = {
    "count by region": (
        "SELECT region_code, count(*) AS n, sum(view_count) AS views FROM videos GROUP BY 1"
    ),
    "monthly by audience": (
        "SELECT audience, date_trunc('month', create_time) AS m, count(*) AS n, "
        "avg(like_count) AS likes FROM videos GROUP BY ALL"
    ),
    "distinct commenters": (
        "SELECT count(DISTINCT author_id) FROM comments WHERE audience = 'adult'"
    ),
    "comments × videos join": (
        "SELECT v.region_code, count(*) AS n FROM comments c JOIN videos v ON c.video_id = v.id "
        "GROUP BY 1"
    ),
    "hashtag unnest": (
        "SELECT tag, count(*) AS n FROM (SELECT unnest(hashtag_names) AS tag FROM videos) "
        "GROUP BY 1 ORDER BY n DESC LIMIT 20"
    ),
    "tiny table": "SELECT count(*) FROM shops",
}
SMALL_VIDEOS = 50_000


def _dataset(tmp: Path) -> tuple[Path, str]:
    path = Path(os.environ.get("VCE_BENCH_DATA", "datasets/bench-10m"))
    if (path / "manifest.json").is_file():
        return path, str(path)
    from vce.data.generate import generate

    small = tmp / "small"
    generate(small, videos=SMALL_VIDEOS, seed=7)
    return small, f"{SMALL_VIDEOS:,} videos generated for this run ({path} has no manifest.json)"


def _plain(data: Path, threads: int, memory: str | None) -> duckdb.DuckDBPyConnection:
    """The baseline: plain DuckDB with the same views."""
    config: dict[str, str | int] = {"threads": threads}
    if memory:
        config["memory_limit"] = memory
    con = duckdb.connect(":memory:", config=config)
    con.execute("SET enable_progress_bar = false")  # both sides off: clean `make bench` output
    for v in _views(discover(data)):
        con.execute(f'CREATE VIEW "{v.name}" AS {view_sql(v.source)}')
    return con


def _median_ms(fn: Callable[[], object], runs: list[float]) -> None:
    start = time.perf_counter()
    fn()
    runs.append((time.perf_counter() - start) * 1000)


def main() -> None:
    """Print the client-overhead section."""
    with tempfile.TemporaryDirectory(prefix="vce-bench-client-") as tmp:
        _run(*_dataset(Path(tmp)))


def _run(data: Path, label: str) -> None:
    limits = detect_limits()
    print(f"dataset: {label}")
    print(
        f"both sides: {limits.describe()}; median of alternating runs; "
        "results fetched as .df(); progress bars off"
    )
    sandbox = vce.connect(data, quiet=True, progress_bar=False)
    plain = _plain(data, limits.threads, limits.memory_limit)
    (videos,) = plain.sql("SELECT count(*) FROM videos").fetchone()
    print(f"videos: {videos:,}")
    repeats = 5 if videos > 1_000_000 else 15
    print(f"{'query':<26}{'plain ms':>10}{'vce ms':>10}{'ratio':>8}{'Δ ms':>8}")
    ratios = []
    within = 0
    for name, sql in QUERIES.items():
        a: list[float] = []
        b: list[float] = []
        plain.sql(sql).df()  # warm the OS page cache and DuckDB's metadata for both
        sandbox.sql(sql).df()
        for _ in range(repeats):
            _median_ms(lambda sql=sql: plain.sql(sql).df(), a)
            _median_ms(lambda sql=sql: sandbox.sql(sql).df(), b)
        pa_, pb = statistics.median(a), statistics.median(b)
        ratios.append(pb / pa_)
        within += pb <= 1.05 * pa_ + 5
        print(f"{name:<26}{pa_:>10.1f}{pb:>10.1f}{pb / pa_:>7.3f}×{pb - pa_:>8.2f}")
    print(
        f"geometric-mean ratio {statistics.geometric_mean(ratios):.3f}×; "
        f"{within}/{len(QUERIES)} queries within the target (vce ≤ 1.05 × plain + 5 ms)"
    )

    c_plain: list[float] = []
    c_vce: list[float] = []
    vce.connect(data, quiet=True).close()  # first connect of a process lists DuckDB's functions
    for _ in range(5):
        _median_ms(lambda: _plain(data, limits.threads, limits.memory_limit).close(), c_plain)
        _median_ms(lambda: vce.connect(data, quiet=True).close(), c_vce)
    cp, cv = statistics.median(c_plain), statistics.median(c_vce)
    print(
        f"connect: plain duckdb + views {cp:.1f} ms, vce.connect() {cv:.1f} ms "
        f"({cv / cp:.2f}×; lockdown, guard set-up, mount discovery)"
    )
    sandbox.close()
    plain.close()


if __name__ == "__main__":
    main()
