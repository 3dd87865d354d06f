"""Shared fixtures. Prerequisites missing locally skip; under CI (VCE_REQUIRE_ALL=1) they fail."""

from __future__ import annotations

import os

import pytest

REQUIRE_ALL = os.environ.get("VCE_REQUIRE_ALL") == "1"


def require(ok: bool, what: str) -> None:
    """Skip (locally) or fail (in CI) when a prerequisite such as Docker is missing."""
    if ok:
        return
    if REQUIRE_ALL:
        pytest.fail(f"prerequisite missing: {what} (.ci/install.sh should provide it)")
    pytest.skip(f"prerequisite missing: {what}")


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory):
    """A generated dataset (20,000 videos, seed 7) shared by the whole session. Read-only."""
    from vce.data.generate import generate

    out = tmp_path_factory.mktemp("data") / "demo"
    generate(out, videos=20_000, seed=7)
    return out


# The real researcher image in a hardened container (see tests/sandbox_container.py).
from sandbox_container import sandbox_container, sandbox_image  # noqa: E402, F401
