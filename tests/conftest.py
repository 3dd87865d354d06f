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
