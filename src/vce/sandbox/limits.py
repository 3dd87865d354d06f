"""DuckDB's memory limit and thread count, taken from the container's cgroup limits.

Inside a container DuckDB sees the host's RAM and cores, so its defaults (80 % of host RAM,
one thread per host core) would let a big join run into the container's memory limit and get
the whole kernel OOM-killed instead of spilling or failing with a readable error. We read the
cgroup limits (v2 ``memory.max``/``cpu.max``, v1 ``memory.limit_in_bytes``/``cpu.cfs_*``)
and leave headroom for Python, pandas and the Jupyter server sharing the same limit.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
MEMORY_SHARE = 0.6
"""Fraction of the container's memory given to DuckDB; the rest is for Python and Jupyter."""
_UNLIMITED = 1 << 60  # cgroup v1 reports "no limit" as a huge number


@dataclass(frozen=True)
class Limits:
    """What the client configures DuckDB with, and where each number came from."""

    memory_limit: str | None  # None: keep DuckDB's default (80 % of RAM), fine outside a container
    threads: int
    source: str

    def describe(self) -> str:
        """One line for the banner: ``memory 1.2 GiB, 2 threads (cgroup)``."""
        memory = self.memory_limit or "DuckDB default"
        return f"memory {memory}, {self.threads} threads ({self.source})"


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except OSError:
        return None


def cgroup_memory_bytes(root: Path = CGROUP_ROOT) -> int | None:
    """Return the container's memory limit in bytes, or ``None`` when unlimited or unknown."""
    v2 = _read(root / "memory.max")
    if v2 is not None:
        return None if v2 == "max" else int(v2)
    v1 = _read(root / "memory" / "memory.limit_in_bytes")
    if v1 is not None and int(v1) < _UNLIMITED:
        return int(v1)
    return None


def cgroup_cpus(root: Path = CGROUP_ROOT) -> float | None:
    """Return the container's CPU quota in cores (``--cpus``); ``None`` if unlimited/unknown."""
    v2 = _read(root / "cpu.max")
    if v2 is not None:
        quota, _, period = v2.partition(" ")
        return None if quota == "max" else int(quota) / int(period or 100_000)
    quota = _read(root / "cpu" / "cpu.cfs_quota_us")
    period = _read(root / "cpu" / "cpu.cfs_period_us")
    if quota is not None and period is not None and int(quota) > 0:
        return int(quota) / int(period)
    return None


def _format_bytes(n: int) -> str:
    return f"{max(n // (1 << 20), 64)}MiB"


def detect_limits(
    env: dict[str, str] | None = None, root: Path = CGROUP_ROOT, cpu_count: int | None = None
) -> Limits:
    """Memory limit and threads: ``VCE_MEMORY_LIMIT``/``VCE_THREADS`` win, then the cgroup.

    >>> import pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "memory.max").write_text("4294967296")
    >>> _ = (d / "cpu.max").write_text("150000 100000")
    >>> detect_limits({}, root=d, cpu_count=8)
    Limits(memory_limit='2457MiB', threads=2, source='cgroup')
    >>> detect_limits({"VCE_MEMORY_LIMIT": "1GB", "VCE_THREADS": "3"}, root=d).describe()
    'memory 1GB, 3 threads (VCE_MEMORY_LIMIT, VCE_THREADS)'
    """
    env = dict(os.environ) if env is None else env
    sources: list[str] = []
    memory: str | None = env.get("VCE_MEMORY_LIMIT") or None
    if memory:
        sources.append("VCE_MEMORY_LIMIT")
    else:
        limit = cgroup_memory_bytes(root)
        if limit is not None:
            memory = _format_bytes(int(limit * MEMORY_SHARE))
            sources.append("cgroup")
    threads_env = env.get("VCE_THREADS")
    if threads_env:
        threads = max(1, int(threads_env))
        sources.append("VCE_THREADS")
    else:
        cpus = cgroup_cpus(root)
        host = cpu_count or os.cpu_count() or 1
        threads = max(1, min(host, math.ceil(cpus))) if cpus else host
        if cpus and "cgroup" not in sources:
            sources.append("cgroup")
    return Limits(memory_limit=memory, threads=threads, source=", ".join(sources) or "host")
