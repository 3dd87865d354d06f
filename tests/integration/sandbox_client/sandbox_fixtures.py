"""Sandbox-mount fixtures (a plain module, not a conftest: tests/sandbox_container.py does
``from conftest import require``, which a second conftest.py would shadow)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from types import ModuleType

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


ROOT_CONFTEST = Path(__file__).resolve().parents[2] / "conftest.py"


def root_conftest(config: pytest.Config) -> ModuleType:
    """tests/conftest.py as pytest loaded it (``import conftest`` may find another folder's)."""
    for plugin in config.pluginmanager.get_plugins():
        if Path(getattr(plugin, "__file__", "") or "/").resolve() == ROOT_CONFTEST:
            return plugin
    raise RuntimeError(f"{ROOT_CONFTEST} is not loaded as a pytest plugin")


def require(config: pytest.Config, ok: bool, what: str) -> None:
    """``require`` of tests/conftest.py: skip locally, fail in CI."""
    root_conftest(config).require(ok, what)


@pytest.fixture(scope="session", name="hardened_sandbox")
def hardened_sandbox_fixture(request: pytest.FixtureRequest) -> object:
    """The image helper's ``sandbox_container``, started with ``conftest`` = tests/conftest.py.

    tests/sandbox_container.py does ``from conftest import require``; in a full run
    ``sys.modules["conftest"]`` is whichever folder's conftest pytest imported last (e.g.
    tests/integration/policy/conftest.py), and the import fails. Until that fixture looks its
    ``require`` up by path, point the name at the root conftest while the container starts.
    """
    saved = sys.modules.get("conftest")
    sys.modules["conftest"] = root_conftest(request.config)
    try:
        return request.getfixturevalue("sandbox_container")
    finally:
        if saved is not None:
            sys.modules["conftest"] = saved
