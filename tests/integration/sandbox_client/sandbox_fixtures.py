"""Sandbox-mount fixtures: a copy of the shared dataset holding only what a sandbox mounts."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


def make_sandbox_mount(full: Path, out: Path) -> Path:
    """Copy ``full`` the way the hub mounts it into a sandbox: real minors' partitions left out.

    Files are hard-linked when possible (same file system), so this costs no disk.
    """
    for src in full.rglob("*"):
        rel = src.relative_to(full)
        if "audience=minor" in rel.parts:
            continue
        dst = out / rel
        if src.is_dir():
            dst.mkdir(parents=True, exist_ok=True)
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)
    return out


@pytest.fixture(scope="session", name="sandbox_root")
def sandbox_root_fixture(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``VCE_DATA_DIR`` as a sandbox sees it: one folder per granted dataset."""
    root = tmp_path_factory.mktemp("sandbox-data")
    make_sandbox_mount(dataset, root / dataset.name)
    return root


@pytest.fixture(name="sandbox_env")
def sandbox_env_fixture(sandbox_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The environment the hub sets in a sandbox, pointing at the sandbox mount."""
    monkeypatch.setenv("VCE_DATA_DIR", str(sandbox_root))
    monkeypatch.setenv("VCE_PROJECT", "demo-project")
    monkeypatch.delenv("VCE_U18_APPROVED", raising=False)
    return sandbox_root
