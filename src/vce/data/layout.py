"""Dataset directories on disk: partition paths, atomic builds, the Parquet writer.

A dataset is built in a hidden temporary sibling of its final path and renamed into place
only once complete (manifest last). An interrupted build therefore never leaves something at
the final path, and the temporary folder has no manifest, so ``verify`` rejects it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


class DatasetError(Exception):
    """A problem with a dataset or its inputs, phrased for the person who can fix it."""


def partition_dir(root: Path, table: str, audience: str | None) -> Path:
    """``root/<table>/audience=<a>`` for people tables, ``root/<table>`` otherwise."""
    return root / table / f"audience={audience}" if audience else root / table


def _tmp_prefix(out: Path) -> str:
    return f".{out.name}.tmp-"


def _remove_stale_builds(out: Path) -> None:
    """Delete temporary siblings left by builds that were killed (their pid is gone)."""
    for p in out.parent.glob(_tmp_prefix(out) + "*"):
        pid = p.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(p, ignore_errors=True)


def check_output(out: Path, force: bool) -> None:
    """Refuse to overwrite a non-empty folder unless ``force``; fail before doing any work."""
    if out.exists() and not out.is_dir():
        raise DatasetError(f"{out} exists and is not a folder; choose another --out")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise DatasetError(f"{out} exists and is not empty; pass --force to replace it")


@contextlib.contextmanager
def atomic_dataset_dir(out: Path, force: bool) -> Iterator[Path]:
    """Yield a temporary build folder; on success replace ``out`` with it, else delete it."""
    out = out.resolve()
    check_output(out, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_builds(out)
    tmp = out.parent / f"{_tmp_prefix(out)}{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        old = out.parent / f"{_tmp_prefix(out)}old-{os.getpid()}"
        if out.exists():
            out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@dataclass
class PartitionedWriter:
    """Writes Arrow tables as ``part-NNNNN.parquet`` files into a dataset's partitions.

    Encoding and compression run on a background thread (Arrow releases the GIL), so the
    second core writes while the first generates. At most ``max_pending`` chunks wait, which
    bounds memory; :meth:`close` waits for all and re-raises the first failure.
    """

    root: Path
    schemas: dict[str, pa.Schema] | None = None  # cast to these when given (the generator)
    compression: str = "zstd"
    max_pending: int = 3
    files: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # table → (path, rows)
    _counter: dict[tuple[str, str | None], int] = field(default_factory=dict)
    _pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1))
    _pending: deque[Future[None]] = field(default_factory=deque)

    def flush(self) -> None:
        """Wait for every queued write, so the files on disk are complete; raise the first error."""
        while self._pending:
            self._pending.popleft().result()

    def close(self) -> None:
        """Wait for every queued write; raise the first error."""
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> PartitionedWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, table: str, data: pa.Table, audience: str | None = None) -> None:
        """Write one part file (skipped when empty, except to keep a table present)."""
        if data.num_rows == 0 and self._counter.get((table, audience)) is not None:
            return
        if self.schemas is not None:
            schema = self.schemas[table]
            data = data.select(schema.names).cast(schema)
        n = self._counter.get((table, audience), 0)
        self._counter[(table, audience)] = n + 1
        folder = partition_dir(self.root, table, audience)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"part-{n:05d}.parquet"
        while len(self._pending) >= self.max_pending:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(self._write, data, path))
        rel = path.relative_to(self.root).as_posix()
        self.files.setdefault(table, []).append((rel, data.num_rows))

    def ensure(self, table: str, schema: pa.Schema, audience: str | None = None) -> None:
        """Write an empty part if the partition has none, so every partition exists on disk."""
        if (table, audience) not in self._counter:
            self.write(table, schema.empty_table(), audience)

    def _write(self, data: pa.Table, path: Path) -> None:
        pq.write_table(data, path, compression=self.compression, row_group_size=256 * 1024)
