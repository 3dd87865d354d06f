"""Browser tests of the airlock: a real hub + proxy + airlock and Debian's Chromium."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parents[2] / "integration" / "airlock"))
from airlock_hub import Hub, running_hub

from prereq import chromium


@pytest.fixture(scope="module")
def browser_hub(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, dataset: Path
) -> Iterator[Hub]:
    # the airlock's default: reviewers' votes count only from their own browser session
    env = {"VCE_AIRLOCK_VOTES_NEED_SESSION": "1"}
    with running_hub(
        tmp_path_factory.mktemp("browserhub"), datasets={"demo": dataset}, extra_env=env
    ) as h:
        yield h


@pytest.fixture(scope="module")
def browser(request: pytest.FixtureRequest):
    with chromium() as b:
        yield b
