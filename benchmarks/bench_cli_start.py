"""Start-up cost of the ``vce`` command, against starting Python with DuckDB and sqlglot.

Baseline, measured side by side in this run: ``python -c 'import duckdb, sqlglot'`` with the
same interpreter, the least any command of this stack spends before doing work. Reported:
the median wall time of ``vce check --json SQL`` (static) and of ``vce check --execute
--json`` on a generated 20,000-video dataset (DuckDB's own query as its baseline), each ÷ the
baseline. Target (issue 12): static check ≤ 1.5× the baseline.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROUNDS = 9
SQL = "SELECT region_code, count(*) AS n FROM videos GROUP BY region_code"
VCE = str(Path(sys.executable).parent / "vce")


def _wall(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=False, capture_output=True)
    return time.perf_counter() - start


def _side_by_side(commands: dict[str, list[str]]) -> dict[str, float]:
    """Median wall seconds of each command, run in turn ROUNDS times (so load hits all alike)."""
    for argv in commands.values():
        _wall(argv)  # page cache, .pyc files
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(ROUNDS):
        for name, argv in commands.items():
            samples[name].append(_wall(argv))
    return {name: statistics.median(s) for name, s in samples.items()}


def main() -> None:
    """Print the start-up section."""
    from vce.data.generate import generate

    with tempfile.TemporaryDirectory(prefix="vce-bench-cli-") as tmp:
        data = Path(tmp) / "demo"
        generate(data, videos=20_000, seed=7)
        files = f"{data}/videos/**/*.parquet"
        py = sys.executable
        times = _side_by_side(
            {
                "baseline": [py, "-c", "import duckdb, sqlglot"],
                "check": [VCE, "check", "--json", SQL],
                "duckdb query": [
                    py, "-c",
                    f"import duckdb; duckdb.sql(\"SELECT region_code, count(*) FROM "
                    f"read_parquet('{files}', hive_partitioning=true) GROUP BY 1\").fetchall()",
                ],
                "check --execute": [
                    *(VCE, "check", "--json", "--execute", "--reviewer", "--data", str(data), SQL)
                ],
            }
        )  # fmt: skip
    base = times["baseline"]
    print(f"baseline: python -c 'import duckdb, sqlglot' = {base * 1000:.0f} ms", end="")
    print(f" (median of {ROUNDS}, run in turn with the others)")
    print(f"{'command':<52}{'ms':>8}{'÷ baseline':>12}")
    rows = [
        ("vce check --json SQL (target ≤ 1.5×)", times["check"]),
        ("python: duckdb query of the same files", times["duckdb query"]),
        ("vce check --execute --reviewer --json (20k videos)", times["check --execute"]),
    ]
    for label, seconds in rows:
        print(f"{label:<52}{seconds * 1000:>8.0f}{seconds / base:>11.2f}×")
