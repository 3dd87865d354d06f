"""Byte budgets per server start: how much one channel may carry before it narrows.

A per-file or per-message cap alone is escaped by splitting: a 20 MB file cut into 1 MiB
pieces, a result sent as many small replies. A budget counts every byte a channel hands to the
browser since the server started; once it is spent the channel refuses all but small answers
(what the file browser and a normal notebook need keep working) and says so once in the
refusal log. A new budget needs a new server start, which the hub records.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

KiB = 1024
MiB = 1024 * KiB


@dataclass
class ByteBudget:
    """Bytes a channel may still carry in this server process (thread-safe)."""

    name: str
    limit: int
    small: int
    """Answers up to this size pass even when the budget is spent."""
    used: int = 0
    exhausted_reported: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take(self, size: int) -> bool:
        """Count ``size`` bytes; ``False`` when they do not fit and are not small."""
        with self._lock:
            if self.used + size <= self.limit or size <= self.small:
                self.used += size
                return True
            return False

    def first_exhaustion(self) -> bool:
        """``True`` exactly once, the first time the budget refuses something."""
        with self._lock:
            first = not self.exhausted_reported
            self.exhausted_reported = True
            return first


_budgets: dict[str, ByteBudget] = {}
_registry_lock = threading.Lock()


def budget(name: str, limit: int, small: int) -> ByteBudget:
    """The process-wide budget called ``name`` (created with ``limit`` on first use)."""
    with _registry_lock:
        found = _budgets.get(name)
        if found is None or found.limit != limit or found.small != small:
            found = _budgets[name] = ByteBudget(name, limit, small, used=found.used if found else 0)
        return found
