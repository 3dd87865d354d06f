"""The trusted engine's timeout thread: deadlines fire in order, cancelled ones never."""

from __future__ import annotations

import threading
import time

from vce.policy.engine import _Watchdog


def test_deadlines_fire_in_order_and_cancelled_ones_never() -> None:
    dog, fired, done = _Watchdog(), {}, threading.Event()
    start = time.monotonic()

    def note(name: str) -> None:
        fired[name] = time.monotonic() - start
        if name == "late":
            done.set()

    dog.schedule(0.6, lambda: note("late"))
    cancelled = dog.schedule(0.1, lambda: note("cancelled"))
    dog.schedule(0.2, lambda: note("early"))
    dog.cancel(cancelled)
    assert done.wait(5)
    assert list(fired) == ["early", "late"]
