"""Login throttling per client address, with exponential backoff, instead of account lockout.

Why: NativeAuthenticator locks an *account* after a few failed logins, whoever failed them, so
anyone who knows a reviewer's name can keep the reviewer out (five wrong passwords every ten
minutes). Here the *address* that guesses waits: after ``free`` failures each further failure
doubles its wait (1 s, 2 s, 4 s … ``cap``), answered 429 with ``Retry-After``. The owner of the
account, from their own address, logs in as usual. A success from an address clears it.

The address is the TCP peer, or the last ``X-Forwarded-For`` entry when the peer is the hub's
own proxy (:mod:`vce.clientaddr`), so a guesser cannot pick a new address per attempt.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

MAX_TRACKED = 100_000
"""Addresses remembered at most; the oldest are forgotten first (memory stays bounded)."""


@dataclass
class _Record:
    failures: int = 0
    blocked_until: float = 0.0


class LoginThrottle:
    """Per-address failure counts and the time each address may try again.

    >>> now = [0.0]
    >>> t = LoginThrottle(free=2, cap=60, clock=lambda: now[0])
    >>> [t.failed("6.6.6.6") for _ in range(4)]
    [0, 0, 1, 2]
    >>> t.retry_after("6.6.6.6"), t.retry_after("10.0.0.1")
    (2, 0)
    >>> now[0] = 2.0
    >>> t.retry_after("6.6.6.6")
    0
    """

    def __init__(
        self, free: int = 5, cap: float = 300.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """``free`` failures per address before it waits; waits never exceed ``cap`` seconds."""
        self.free, self.cap, self.clock = free, cap, clock
        self._records: dict[str, _Record] = {}
        self._lock = threading.Lock()

    def retry_after(self, address: str) -> int:
        """Whole seconds ``address`` must still wait before its next attempt (0: may try now)."""
        with self._lock:
            rec = self._records.get(address)
            if rec is None:
                return 0
            return max(0, math.ceil(rec.blocked_until - self.clock()))

    def failed(self, address: str) -> int:
        """Count a failed attempt from ``address``; return the seconds it must now wait."""
        with self._lock:
            rec = self._records.pop(address, None) or _Record()
            self._records[address] = rec  # newest last: the first key is the oldest
            if len(self._records) > MAX_TRACKED:
                del self._records[next(iter(self._records))]
            rec.failures += 1
            over = rec.failures - self.free
            if over <= 0:
                return 0
            wait = min(self.cap, 2.0 ** (over - 1))
            rec.blocked_until = self.clock() + wait
            return math.ceil(wait)

    def succeeded(self, address: str) -> None:
        """A correct login from ``address``: forget its failures."""
        with self._lock:
            self._records.pop(address, None)
