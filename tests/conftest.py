"""Shared fixtures: the generated dataset and the hardened sandbox container.

Missing prerequisites go through ``prereq.require`` (skip locally, fail in CI).
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory):
    """A generated dataset (20,000 videos, seed 7) shared by the whole session. Read-only."""
    from vce.data.generate import generate

    out = tmp_path_factory.mktemp("data") / "demo"
    generate(out, videos=20_000, seed=7)
    return out


# The real researcher image in a hardened container (see tests/sandbox_container.py).
from sandbox_container import sandbox_container, sandbox_image  # noqa: E402, F401
