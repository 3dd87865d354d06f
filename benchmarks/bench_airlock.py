"""Airlock: re-execution overhead and review page render time.

1. Re-execution overhead — the whole airlock path for a query export (store the request, static
   check, trusted execution with contributor tracking and checks, store the result, events and
   audit records: ``Airlock.submit`` + ``Airlock.process``) ÷ the same SQL run raw by a plain
   DuckDB over the same Parquet files (baseline). Runs alternate (ABAB…); medians are compared.
2. Review page — p50/p95 of ``GET requests/<id>`` (the reviewer's request page) and
   ``GET queue`` over real HTTP with 10,000 requests in the store (target p95 ≤ 200 ms), next
   to the baseline ``GET api/health`` (same server, no work) measured in the same run.
   Authentication is stubbed to a fixed reviewer so that the hub is not in the measurement.

Dataset: ``$VCE_BENCH_DATA`` if set, else a generated 20,000-video dataset in a temp folder.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import requests
from sqlalchemy import insert, select

from vce.airlock import projects
from vce.airlock.authz import Principal
from vce.airlock.config import REVIEW_SCOPE, Settings
from vce.airlock.models import Event, Project, Request
from vce.airlock.workflow import Airlock

QUERIES = {
    "videos by region": "SELECT region_code, count(*) AS n FROM videos GROUP BY region_code",
    "views by region and STEM": (
        "SELECT region_code, is_stem_verified, count(*) AS n, sum(view_count) AS views "
        "FROM videos GROUP BY region_code, is_stem_verified"
    ),
    "comments per month": (
        "SELECT date_trunc('month', create_time) AS month, count(*) AS n FROM comments GROUP BY 1"
    ),
}
ROUNDS = 7
STORE_SIZE = 10_000
PAGE_SAMPLES = 200


def _dataset() -> Path:
    env = os.environ.get("VCE_BENCH_DATA")
    if env and Path(env).is_dir():
        return Path(env)
    from vce.data.generate import generate

    out = Path(tempfile.mkdtemp(prefix="bench-airlock-")) / "demo"
    generate(out, videos=20_000, seed=7)
    print(f"(dataset: generated {out}, 20,000 videos)")
    return out


def _raw(data: Path, sql: str) -> float:
    con = duckdb.connect()
    for table in ("videos", "comments"):
        files = sorted(str(p) for p in (data / table).glob("audience=adult/*.parquet"))
        con.execute(
            f"CREATE VIEW {table} AS SELECT * FROM read_parquet({files!r}, hive_partitioning=true)"
        )
    start = time.perf_counter()
    con.execute(sql).fetch_arrow_table()
    elapsed = time.perf_counter() - start
    con.close()
    return elapsed


def _airlock(a: Airlock, sql: str) -> float:
    alice = Principal("alice")
    start = time.perf_counter()
    rid = a.submit(
        alice, {"kind": "query", "project": "p1", "name": "b", "purpose": "bench", "sql": sql}
    )["id"]
    state = a.process(rid)
    elapsed = time.perf_counter() - start
    assert state == "awaiting_review", state
    return elapsed


def make_airlock(
    tmp: Path, data: Path, members: tuple[tuple[str, str], ...] = (("p1", "alice"),), **kw: Any
) -> Airlock:
    """An airlock on SQLite in ``tmp`` whose projects (slug, PI) are granted ``data``."""
    a = Airlock(
        Settings(
            state_dir=tmp,
            db_url=f"sqlite:///{tmp / 'airlock.sqlite'}",
            releases_dir=tmp / "releases",
            datasets={"demo": data},
            **kw,
        )
    )
    with a.db.session() as s:
        for slug, pi in members:
            projects.create(s, "bench", slug, f"Project {slug}", pi)
            projects.grant(s, "bench", slug, "demo")
    return a


def bench_reexecution(data: Path) -> None:
    print("\n-- re-execution overhead: airlock submit+check ÷ raw DuckDB (same SQL, same files)")
    with tempfile.TemporaryDirectory() as tmp:
        a = make_airlock(Path(tmp), data)
        for name, sql in QUERIES.items():
            _raw(data, sql), _airlock(a, sql)  # warm caches
            raw, checked, full = [], [], []
            for _ in range(ROUNDS):
                raw.append(_raw(data, sql))
                start = time.perf_counter()
                a.executor.run(sql, ["demo"], False)
                checked.append(time.perf_counter() - start)
                full.append(_airlock(a, sql))
            r, c, f = (statistics.median(x) for x in (raw, checked, full))
            print(
                f"{name:26s} raw {r * 1000:6.1f} ms | checked run {c * 1000:6.1f} ms "
                f"({c / r:4.1f}×) | whole airlock path {f * 1000:6.1f} ms ({f / r:4.1f}×, "
                f"+{1000 * (f - r):5.1f} ms)"
            )
        a.db.dispose()


def _fill_store(a: Airlock) -> int:
    """10,000 requests (copies of one really checked request) in varied states."""
    template_id = a.submit(
        Principal("alice"),
        {
            "kind": "query",
            "project": "p1",
            "name": "t",
            "purpose": "bench",
            "sql": QUERIES["views by region and STEM"],
        },
    )["id"]
    a.process(template_id)
    states = ["awaiting_review", "blocked", "released", "returned", "rejected"]
    with a.db.session() as s:
        t = s.get(Request, template_id)
        pid = s.scalar(select(Project.id).where(Project.slug == "p1"))
        rows = [
            {
                "project_id": pid,
                "requester": "alice",
                "kind": "query",
                "name": f"export {i}",
                "purpose": "bench",
                "sql": t.sql,
                "state": states[i % len(states)],
                "revision": 1,
                "attempts": 1,
                "reasons": [],
                "report": t.report,
                "result": t.result,
                "provenance": t.provenance,
            }
            for i in range(STORE_SIZE - 1)
        ]
        s.execute(insert(Request), rows)
        last = s.scalar(select(Request.id).order_by(Request.id.desc()).limit(1))
        s.execute(
            insert(Event),
            [
                {
                    "request_id": rid,
                    "actor": "airlock",
                    "from_state": "checking",
                    "to_state": "awaiting_review",
                    "note": "",
                }
                for rid in range(last - STORE_SIZE + 2, last + 1)
            ],
        )
    return last


def _serve(a: Airlock) -> tuple[str, asyncio.AbstractEventLoop]:
    from tornado.httpserver import HTTPServer

    from vce.airlock import app as app_module
    from vce.airlock.worker import Worker

    reviewer = {"kind": "user", "name": "rev1", "scopes": [REVIEW_SCOPE]}
    app_module.BaseHandler.get_current_user = lambda self: reviewer  # bench only: no hub
    ready = threading.Event()
    box: dict[str, object] = {}

    def run() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        app = app_module.make_app(a, Worker(a), "/services/airlock/")
        server = HTTPServer(app)
        sockets = __import__("tornado.netutil").netutil.bind_sockets(0, "127.0.0.1")
        server.add_sockets(sockets)
        box["port"], box["loop"] = sockets[0].getsockname()[1], loop
        ready.set()
        loop.run_forever()

    threading.Thread(target=run, daemon=True).start()
    ready.wait(10)
    return f"http://127.0.0.1:{box['port']}/services/airlock/", box["loop"]  # type: ignore[return-value]


def _times(url: str, n: int) -> list[float]:
    out = []
    with requests.Session() as s:
        for _ in range(n):
            start = time.perf_counter()
            r = s.get(url, timeout=30)
            out.append(time.perf_counter() - start)
            assert r.status_code == 200, (url, r.status_code)
    return out


def bench_review_page() -> None:
    print(f"\n-- review pages with {STORE_SIZE:,} requests in the store (SQLite)")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(os.environ.get("_BENCH_AIRLOCK_DATA", ""))
        a = make_airlock(Path(tmp), data)
        last = _fill_store(a)
        base, loop = _serve(a)
        pages = {
            "baseline GET api/health": base + "api/health",
            f"GET requests/{last} (request page)": base + f"requests/{last}",
            "GET queue (awaiting review)": base + "queue",
            "GET queue?state=&page=100": base + "queue?state=&page=100",
        }
        for url in pages.values():
            _times(url, 5)  # warm up
        p95s = {}
        for name, url in pages.items():
            t = sorted(_times(url, PAGE_SAMPLES))
            p50, p95 = statistics.median(t), t[int(0.95 * len(t)) - 1]
            p95s[name] = p95
            print(f"{name:40s} p50 {p50 * 1000:6.1f} ms  p95 {p95 * 1000:6.1f} ms")
        health = p95s["baseline GET api/health"]
        page = p95s[f"GET requests/{last} (request page)"]
        print(
            f"request page p95 ÷ health p95: {page / health:.1f}×; "
            f"target p95 ≤ 200 ms: {'met' if page <= 0.2 else 'NOT met'}"
        )
        loop.call_soon_threadsafe(loop.stop)
        a.db.dispose()


def main() -> None:
    data = _dataset()
    os.environ["_BENCH_AIRLOCK_DATA"] = str(data)
    bench_reexecution(data)
    bench_review_page()


if __name__ == "__main__":
    main()
