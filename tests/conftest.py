"""Shared fixtures: the generated dataset and the hardened sandbox container.

Missing prerequisites go through ``prereq.require`` (fail, or skip under ``make test-quick``).
"""

from __future__ import annotations

import os

import pytest

# Settings come from each test's own files and arguments, never from the developer's shell: a
# VCE_CONFIG or VCE_HUB_STATE_DIR exported for a running `make run` system would otherwise point
# test hubs and CLIs at that system's state, ports and network.
for _name in [n for n in os.environ if n.startswith("VCE_")]:
    if not _name.startswith("VCE_TEST_") and _name != "VCE_ALLOW_SKIP":
        del os.environ[_name]


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory):
    """A generated dataset (20,000 videos, seed 7) shared by the whole session. Read-only."""
    from vce.data.generate import generate

    out = tmp_path_factory.mktemp("data") / "demo"
    generate(out, videos=20_000, seed=7)
    return out


# The real researcher image in a hardened container (see tests/sandbox_container.py).
from sandbox_container import sandbox_container, sandbox_image  # noqa: E402, F401
