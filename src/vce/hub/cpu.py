"""One queue for the hub's CPU-heavy work on its host: sandbox starts and password checks.

Why: both compete for the same cores. When a class logs in at nine o'clock and everything runs
at once, the cores are shared fairly and everybody waits for everybody: ten bcrypt checks
(0.2 s of CPU each) and ten Jupyter starts (about 0.7 s each, with Docker's part) all
finish after some 5 s on two cores. Run in turn — one task per core, and the sandbox of someone
already logged in before the next password check — the first researchers are working in
about a second, half of them within four, and the last no later than before.

>>> import asyncio
>>> async def demo():
...     q, order = CpuQueue(1), []
...     async def task(name, priority):
...         async with q.hold(priority):
...             order.append(name)
...             await asyncio.sleep(0)
...     await asyncio.gather(task("login-a", LOGIN), task("login-b", LOGIN), task("start", START))
...     return order
>>> asyncio.run(demo())
['login-a', 'start', 'login-b']
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

START = 0  # a logged-in researcher's sandbox: served first
LOGIN = 1  # a password check


class CpuQueue:
    """At most ``slots`` holders at once; waiters are served by priority, then by arrival."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._busy = 0
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._arrival = itertools.count()

    @property
    def waiting(self) -> int:
        """Tasks queued for a slot (for log messages)."""
        return sum(not f.done() for _, _, f in self._waiting)

    @asynccontextmanager
    async def hold(self, priority: int) -> AsyncIterator[None]:
        """Run the body in a slot, queueing behind tasks of higher priority or earlier arrival."""
        if self._busy < self.slots and not self.waiting:
            self._busy += 1
        else:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            heapq.heappush(self._waiting, (priority, next(self._arrival), fut))
            try:
                await fut  # resolved by _release, which hands its slot over
            except asyncio.CancelledError:
                if fut.done() and not fut.cancelled():
                    self._release()  # handed a slot just as we were cancelled: pass it on
                raise
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        while self._waiting:
            _, _, fut = heapq.heappop(self._waiting)
            if not fut.done():  # skip waiters that were cancelled
                fut.set_result(None)
                return
        self._busy -= 1


_HOST_QUEUE: CpuQueue | None = None


def host_queue(slots: int = 0) -> CpuQueue:
    """The hub process's queue; ``slots`` (0: one per CPU core) resizes it when given."""
    global _HOST_QUEUE
    size = slots or os.cpu_count() or 1
    if _HOST_QUEUE is None:
        _HOST_QUEUE = CpuQueue(size)
    elif slots:
        _HOST_QUEUE.slots = size
    return _HOST_QUEUE
