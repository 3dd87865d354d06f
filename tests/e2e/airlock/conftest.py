"""Browser tests of the airlock: a real hub + proxy + airlock and Debian's Chromium."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parents[2] / "integration" / "airlock"))
from airlock_hub import Hub, running_hub

from prereq import require

CHROMIUM = "/usr/bin/chromium"


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
    require(Path(CHROMIUM).exists(), "Debian chromium (/usr/bin/chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()
