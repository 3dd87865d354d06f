"""Airlock fairness: another project's trivial request under a flood of heavy ones.

Project A submits ``FLOOD`` heavy queries, then project B one trivial query. Measured: B's
latency (its ``submitted`` event to its ``awaiting_review`` event, both written by the
airlock) and the time until A's flood has drained, with

- baseline: a single FIFO worker, oldest request first — the airlock before the fair queue;
- fair: :class:`vce.airlock.worker.Worker` with the default settings (2 workers, round-robin
  across projects, at most 1 running request per project).

"Heavy" is a real checked query plus ``HEAVY_SECONDS`` held inside re-execution (the
``fault_exec_delay`` setting), standing for a long scan on the full extracts without making the
bench's duration depend on the machine. Rounds alternate baseline/fair on fresh databases;
medians are compared and B's latency is reported as baseline ÷ fair.

Dataset: ``$VCE_BENCH_DATA`` if set, else a generated 20,000-video dataset in a temp folder.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import select

from benchmarks.bench_airlock import _dataset, make_airlock
from vce.airlock.authz import Principal
from vce.airlock.models import Event
from vce.airlock.scheduling import Action, runnable
from vce.airlock.worker import Worker
from vce.airlock.workflow import Airlock

FLOOD = 8
HEAVY_SECONDS = 0.25
ROUNDS = 3
HEAVY_SQL = (
    "SELECT region_code, is_stem_verified, count(*) AS n, sum(view_count) AS views "
    "FROM videos GROUP BY region_code, is_stem_verified"
)
TRIVIAL_SQL = "SELECT region_code, count(*) AS n FROM videos GROUP BY region_code"


def _airlock(tmp: Path, data: Path) -> Airlock:
    return make_airlock(tmp, data, (("pa", "alice"), ("pb", "bob")), fault_exec_delay=HEAVY_SECONDS)


def _submit(a: Airlock, user: str, project: str, sql: str) -> int:
    body = {"kind": "query", "project": project, "name": "b", "purpose": "bench", "sql": sql}
    return a.submit(Principal(user), body)["id"]


def _fifo(a: Airlock, stop: threading.Event) -> None:
    """The baseline: one thread, oldest request first, whatever its project."""
    while not stop.is_set():
        items = runnable(a.db)
        if not items:
            time.sleep(0.01)
            continue
        item = items[0]
        if item.action is Action.PROCESS:
            a.process(item.request_id)
        else:
            a.release(item.request_id)


def _event_time(a: Airlock, rid: int, to: str) -> float:
    with a.db.session() as s:
        t = s.scalar(select(Event.created).where(Event.request_id == rid, Event.to_state == to))
    assert t is not None, (rid, to)
    return t.timestamp()


def _round(data: Path, fair: bool) -> tuple[float, float]:
    """One flood; returns (B's latency, time until A's flood drained) in seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        a = _airlock(Path(tmp), data)
        flood = [_submit(a, "alice", "pa", HEAVY_SQL) for _ in range(FLOOD)]
        b = _submit(a, "bob", "pb", TRIVIAL_SQL)
        stop = threading.Event()
        if fair:
            worker = Worker(a)
            worker.start()
        else:
            thread = threading.Thread(target=_fifo, args=(a, stop), daemon=True)
            thread.start()
        try:
            while runnable(a.db):
                time.sleep(0.02)
        finally:
            if fair:
                worker.stop()
            else:
                stop.set()
                thread.join()
        start = _event_time(a, flood[0], "submitted")
        b_latency = _event_time(a, b, "awaiting_review") - _event_time(a, b, "submitted")
        drained = max(_event_time(a, rid, "awaiting_review") for rid in flood) - start
        a.db.dispose()
        return b_latency, drained


def main() -> None:
    """Run the rounds and print both designs side by side."""
    data = _dataset()
    _round(data, fair=True)  # warm the policy, DuckDB and the file cache
    results: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    for _ in range(ROUNDS):
        for fair in (False, True):
            results[fair].append(_round(data, fair))
    med = {
        fair: tuple(statistics.median(x[i] for x in runs) for i in range(2))
        for fair, runs in results.items()
    }
    (fifo_b, fifo_a), (fair_b, fair_a) = med[False], med[True]
    print(
        f"\n-- project B's trivial request behind {FLOOD} heavy requests of project A "
        f"({HEAVY_SECONDS:.2f} s each), median of {ROUNDS}"
    )
    print(f"baseline: single FIFO worker   B {fifo_b:6.2f} s | A's flood drained {fifo_a:6.2f} s")
    print(f"fair queue (2 workers, 1/proj) B {fair_b:6.2f} s | A's flood drained {fair_a:6.2f} s")
    print(
        f"B's latency: baseline ÷ fair = {fifo_b / fair_b:4.1f}× "
        f"(A's flood: {fair_a / fifo_a:4.2f}× the baseline's time)"
    )


if __name__ == "__main__":
    main()
