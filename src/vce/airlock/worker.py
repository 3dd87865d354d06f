"""The background workers: re-execute submitted requests and write releases, fairly.

``settings.workers`` daemon threads of the service process share one scheduler. The truth is
the request states in the database (:func:`~vce.airlock.scheduling.runnable`); a call to
:meth:`Worker.enqueue` only wakes the workers up, and they also look on their own every
:data:`POLL_SECONDS`, so a crash or a lost wake-up never leaves work behind. On start the
service first runs :meth:`~vce.airlock.workflow.Airlock.pending` (cleans release debris, lists
what a killed predecessor left) and a retention sweep of file bodies, which then repeats every
``settings.sweep_seconds``.

Which request runs next is :func:`~vce.airlock.scheduling.pick`: round-robin across projects,
FIFO inside a project, at most ``settings.project_concurrency`` requests of one project at a
time — a flood from one project cannot hold up another.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import Counter

from vce.airlock.scheduling import Action, WorkItem, pick, runnable
from vce.airlock.workflow import Airlock

log = logging.getLogger("vce.airlock.worker")
POLL_SECONDS = 5.0


class Worker:
    """A pool of worker threads over the airlock's fair schedule."""

    def __init__(self, airlock: Airlock, workers: int | None = None) -> None:
        self.airlock = airlock
        self.size = workers or airlock.settings.workers
        self.per_project = airlock.settings.project_concurrency
        self._cond = threading.Condition()
        self._generation = 0  # bumped whenever the schedule may have changed
        self._stopping = False
        self._inflight: dict[int, WorkItem] = {}  # request id -> item being worked on
        self._running: Counter[int] = Counter()  # project id -> items being worked on
        self._last_served: dict[int, int] = {}  # project id -> tick of its latest start
        self._tick = 0
        self._next_sweep = 0.0
        self._threads = [
            threading.Thread(target=self._run, name=f"airlock-worker-{i}", daemon=True)
            for i in range(self.size)
        ]

    def start(self) -> None:
        """Clean up after a predecessor, then serve (what it left is found in the database)."""
        left = self.airlock.pending()
        if left:
            log.info("resuming %d unfinished requests", len(left))
        for t in self._threads:
            t.start()

    def enqueue(self, action: Action | str, request_id: int) -> None:
        """Say that ``request_id`` needs ``action`` (a wake-up; harmless if done already)."""
        Action(action)  # a typo is a bug in the caller, not a silent no-op
        self._wake()

    def stop(self, timeout: float = 10) -> None:
        """Let the current items finish and stop the threads."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            if t.is_alive():
                t.join(max(0.0, deadline - time.monotonic()))

    def _wake(self) -> None:
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    def _claim_sweep(self) -> bool:
        with self._cond:
            now = time.monotonic()
            if now < self._next_sweep:
                return False
            self._next_sweep = now + self.airlock.settings.sweep_seconds
            return True

    def _next(self) -> WorkItem | None:
        """Block until an item may run (marking it running), or return ``None`` to stop."""
        while True:
            if self._claim_sweep():  # checked here too, so that idle workers sweep on time
                self._sweep()
            with self._cond:
                if self._stopping:
                    return None
                seen = self._generation
            items = runnable(self.airlock.db)  # outside the lock: enqueue never waits on it
            with self._cond:
                if self._stopping:
                    return None
                if self._generation == seen:
                    free = [i for i in items if i.request_id not in self._inflight]
                    item = pick(free, self._running, self._last_served, self.per_project)
                    if item is not None:
                        self._tick += 1
                        self._inflight[item.request_id] = item
                        self._running[item.project_id] += 1
                        self._last_served[item.project_id] = self._tick
                        return item
                    self._cond.wait(min(POLL_SECONDS, self.airlock.settings.sweep_seconds))

    def _done(self, item: WorkItem) -> None:
        with self._cond:
            self._inflight.pop(item.request_id, None)
            self._running[item.project_id] -= 1
            self._generation += 1
            self._cond.notify_all()

    def _sweep(self) -> None:
        retention = dt.timedelta(days=self.airlock.settings.body_retention_days)
        try:
            done = self.airlock.bodies.sweep(self.airlock.db, retention)
        except Exception:
            log.exception("retention sweep of file bodies failed")
            return
        if done.expired or done.deleted:
            log.info("retention: %d bodies expired, %d files deleted", done.expired, done.deleted)

    def _run(self) -> None:
        while True:
            item = self._next()
            if item is None:
                return
            try:
                if item.action is Action.PROCESS:
                    if self.airlock.process(item.request_id) == "awaiting_review":
                        log.info("request %s awaits review", item.request_id)
                else:
                    self.airlock.release(item.request_id)
            except Exception:
                log.exception("worker failed on %s", item)
            finally:
                self._done(item)
