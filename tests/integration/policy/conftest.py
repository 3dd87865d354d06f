from __future__ import annotations

import pytest

import vce.policy


@pytest.fixture(autouse=True)
def _static_analysis_present() -> None:
    # run_checked starts with the static decision; without it nothing can be checked.
    if not hasattr(vce.policy, "analyze"):
        pytest.skip("vce.policy.analyze (static analysis) is not in this checkout yet")
