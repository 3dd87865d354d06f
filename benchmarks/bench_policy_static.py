"""Static policy check latency over the query corpus, against plain sqlglot parsing.

Baseline, measured side by side in this run: ``sqlglot.parse_one(sql, read="duckdb")`` of the
same queries — the least any sqlglot-based checker must spend. Reported: p50/p99 of a cold
check (cache cleared before every call), of a repeated (cached) check, and cold ÷ parse.
Targets (issue 3): p50 ≤ 2 ms, p99 ≤ 10 ms.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlglot
import yaml

from vce.policy import Context, analyze, clear_cache, load_policy
from vce.policy.rules import too_large
from vce.policy.rules.too_deep import MAX_DEPTH, nesting

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "corpus"
ROUNDS = 5


def _queries() -> list[tuple[str, Context]]:
    policy = load_policy()
    out = []
    for path in sorted(CORPUS.glob("*.yaml")):
        for item in yaml.safe_load(path.read_text(encoding="utf-8")):
            sql = item.get("sql")
            if sql is None:
                sql = item["prefix"] + item["repeat"] * item["times"] + item["suffix"]
            tables = item.get("tables")
            granted = None if tables is None else frozenset(tables)
            ctx = Context(policy, granted, item.get("u18", False))
            out.append((sql, ctx))
    return out


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _time(fn: Callable[[Any], None], items: list[Any]) -> list[float]:
    """Per query, the median of ROUNDS timings (ms): the machine is shared, so single
    samples measure the scheduler as much as the code; percentiles are then over queries."""
    rounds: list[list[float]] = [[] for _ in items]
    for _ in range(ROUNDS):
        for i, item in enumerate(items):
            start = time.perf_counter_ns()
            fn(item)
            rounds[i].append((time.perf_counter_ns() - start) / 1e6)
    return [statistics.median(r) for r in rounds]


def _parse(item: tuple[str, Context]) -> None:
    with contextlib.suppress(sqlglot.errors.SqlglotError, RecursionError):
        sqlglot.parse_one(item[0], read="duckdb")


def _cold(item: tuple[str, Context]) -> None:
    clear_cache()
    analyze(*item)


def main() -> None:
    import logging

    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    items = _queries()
    # inputs refused before parsing (too large, too deep) would flatter the checker and can
    # overflow the baseline parser's stack: both sides measure the same parseable queries
    parseable = [
        i for i in items if len(i[0]) <= too_large.MAX_SQL_CHARS and nesting(i[0]) <= MAX_DEPTH
    ]
    analyze(*items[0])  # compile the policy once (schema, function allow-list)
    parse = _time(_parse, parseable)
    cold = _time(_cold, parseable)
    for item in parseable:
        analyze(*item)
    cached = _time(lambda i: analyze(*i), parseable)
    benign = [i for i in parseable if analyze(*i).allowed]  # the full pipeline runs on these
    parse_benign = _time(_parse, benign)
    cold_benign = _time(_cold, benign)
    print(f"queries: {len(parseable)} (corpus); per query the median of {ROUNDS} rounds")
    print(f"{'':32}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}")
    for name, s in (
        ("sqlglot.parse_one (baseline)", parse),
        ("analyze, cold", cold),
        ("analyze, cached", cached),
        (f"parse, allowed only ({len(benign)})", parse_benign),
        ("analyze, cold, allowed only", cold_benign),
    ):
        print(f"{name:32}{_pct(s, 0.5):10.3f}{_pct(s, 0.99):10.3f}{statistics.fmean(s):10.3f}")
    print(
        f"cold ÷ parse: p50 {_pct(cold, 0.5) / _pct(parse, 0.5):.1f}×, "
        f"p99 {_pct(cold, 0.99) / _pct(parse, 0.99):.1f}×  (targets: p50 ≤ 2 ms, p99 ≤ 10 ms)"
    )


if __name__ == "__main__":
    main()
