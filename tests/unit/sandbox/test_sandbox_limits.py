"""Memory and threads from cgroup v1/v2 files and the environment."""

from __future__ import annotations

from pathlib import Path

from vce.sandbox.limits import cgroup_cpus, cgroup_memory_bytes, detect_limits


def test_cgroup_v2(tmp_path: Path) -> None:
    (tmp_path / "memory.max").write_text("2147483648\n")
    (tmp_path / "cpu.max").write_text("100000 100000\n")
    assert cgroup_memory_bytes(tmp_path) == 2 << 30
    assert cgroup_cpus(tmp_path) == 1.0
    limits = detect_limits({}, root=tmp_path, cpu_count=16)
    assert limits.threads == 1
    assert limits.memory_limit == "1228MiB"  # 60 % of 2 GiB, the rest for Python and Jupyter


def test_cgroup_v2_unlimited(tmp_path: Path) -> None:
    (tmp_path / "memory.max").write_text("max\n")
    (tmp_path / "cpu.max").write_text("max 100000\n")
    limits = detect_limits({}, root=tmp_path, cpu_count=3)
    assert limits.memory_limit is None and limits.threads == 3 and limits.source == "host"


def test_cgroup_v1(tmp_path: Path) -> None:
    (tmp_path / "memory").mkdir()
    (tmp_path / "cpu").mkdir()
    (tmp_path / "memory" / "memory.limit_in_bytes").write_text(str(1 << 30))
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("250000")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000")
    limits = detect_limits({}, root=tmp_path, cpu_count=8)
    assert limits.threads == 3 and limits.memory_limit == "614MiB"


def test_cgroup_v1_no_limit(tmp_path: Path) -> None:
    (tmp_path / "memory").mkdir()
    (tmp_path / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712")
    assert cgroup_memory_bytes(tmp_path) is None


def test_environment_wins(tmp_path: Path) -> None:
    (tmp_path / "memory.max").write_text("2147483648\n")
    limits = detect_limits({"VCE_MEMORY_LIMIT": "3GB", "VCE_THREADS": "4"}, root=tmp_path)
    assert (limits.memory_limit, limits.threads) == ("3GB", 4)
