"""The background worker: re-executes submitted requests and writes releases, one at a time.

It runs in a thread of the service process; the queue is only a wake-up signal — the truth is
the request states in the database, so on start the worker first takes everything
:meth:`~vce.airlock.workflow.Airlock.pending` reports (what a killed predecessor left).
"""

from __future__ import annotations

import logging
import queue
import threading

from vce.airlock.workflow import Airlock

log = logging.getLogger("vce.airlock.worker")


class Worker:
    """A single daemon thread draining a queue of ``("process"|"release", request_id)``."""

    def __init__(self, airlock: Airlock) -> None:
        self.airlock = airlock
        self._queue: queue.Queue[tuple[str, int] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="airlock-worker", daemon=True)

    def start(self) -> None:
        """Resume what was left undone, then serve new work."""
        for item in self.airlock.pending():
            self._queue.put(item)
        self._thread.start()

    def enqueue(self, action: str, request_id: int) -> None:
        """Ask for ``action`` on a request (harmless if it is done already)."""
        self._queue.put((action, request_id))

    def stop(self, timeout: float = 10) -> None:
        """Finish the current item and stop."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                action, rid = item
                if action == "process":
                    if self.airlock.process(rid) == "awaiting_review":
                        log.info("request %s awaits review", rid)
                elif action == "release":
                    self.airlock.release(rid)
            except Exception:
                log.exception("worker failed on %s", item)
            finally:
                self._queue.task_done()
