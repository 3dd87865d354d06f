"""Per-query timeout: one watchdog thread per connection interrupts a query past its deadline.

DuckDB's Python API has no statement timeout, but ``DuckDBPyConnection.interrupt()`` is
documented to be called from another thread. One long-lived thread waiting on a condition
costs nothing per query (no thread start per query, unlike ``threading.Timer``), and it is
only woken when it sleeps with no deadline: every deadline is later than the one it already
sleeps towards, so on waking it simply re-reads the current one.
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from collections.abc import Iterator

import duckdb


class QueryTimeout(duckdb.InterruptException):
    """A query ran longer than the connection's timeout and was interrupted."""


class Watchdog:
    """Interrupts the connection's running query once its deadline passes."""

    def __init__(self, con: duckdb.DuckDBPyConnection, timeout: float | None) -> None:
        self.timeout = timeout
        self._con = weakref.ref(con)
        self._cond = threading.Condition()
        self._deadline: float | None = None
        self._depth = 0
        self._fired = False
        self._closed = False
        self._idle = False  # the thread waits with no deadline: only then must it be woken
        self._thread: threading.Thread | None = None

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="vce-query-timeout", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        with self._cond:
            while not self._closed:
                if self._deadline is None:
                    self._idle = True
                    self._cond.wait()
                    self._idle = False
                    continue
                remaining = self._deadline - time.monotonic()
                if remaining > 0:
                    self._cond.wait(remaining)
                    continue
                con = self._con()
                if con is not None:
                    self._fired = True
                    con.interrupt()
                self._deadline = None

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Run the body under the deadline; nested calls share the outermost deadline."""
        if not self.timeout or self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._start()
        with self._cond:
            self._fired = False
            self._deadline = time.monotonic() + self.timeout
            if self._idle:  # else it sleeps until an earlier deadline, then re-reads this one
                self._cond.notify()
        self._depth = 1
        try:
            yield
        except duckdb.InterruptException as e:
            if self._fired:
                raise QueryTimeout(
                    f"the query ran longer than {self.timeout:g} s and was stopped. Make it "
                    "smaller (filter with WHERE, aggregate earlier, USING SAMPLE 1%) or open "
                    "the connection with a longer limit: vce.connect(timeout=seconds)."
                ) from e
            raise
        finally:
            self._depth = 0
            with self._cond:
                self._deadline = None

    def close(self) -> None:
        """Stop the watchdog thread."""
        with self._cond:
            self._closed = True
            self._cond.notify()
