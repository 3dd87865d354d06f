"""``require``: skip a test locally, fail it in CI, when a prerequisite is missing.

A module of its own (not conftest.py) so every test helper can ``from prereq import require``
unambiguously: with several conftest.py files, ``import conftest`` finds whichever pytest
loaded last.
"""

from __future__ import annotations

import os

import pytest

REQUIRE_ALL = os.environ.get("VCE_REQUIRE_ALL") == "1"


def require(ok: bool, what: str) -> None:
    """Skip (locally) or fail (in CI, VCE_REQUIRE_ALL=1) when a prerequisite is missing."""
    if ok:
        return
    if REQUIRE_ALL:
        pytest.fail(f"prerequisite missing: {what} (.ci/install.sh should provide it)")
    pytest.skip(f"prerequisite missing: {what}")
