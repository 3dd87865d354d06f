"""``require``: fail a test whose prerequisite is missing; skip it only when asked to.

``make test`` installs every prerequisite (scripts/prereqs.sh) first, so a missing one is a
failure, never a silent skip. ``make test-quick`` (``VCE_ALLOW_SKIP=1``) opts into a partial
run: those tests skip, and pytest's summary (``-ra``) lists each with what was missing.

A module of its own (not conftest.py) so every test helper can ``from prereq import require``
unambiguously: with several conftest.py files, ``import conftest`` finds whichever pytest
loaded last.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

ALLOW_SKIP = os.environ.get("VCE_ALLOW_SKIP") == "1"


def require(ok: bool, what: str) -> None:
    """Fail (by default) or skip (``VCE_ALLOW_SKIP=1``) when a prerequisite is missing."""
    if ok:
        return
    if ALLOW_SKIP:
        pytest.skip(f"prerequisite missing: {what}")
    pytest.fail(
        f"prerequisite missing: {what} (fix: `make test` installs it through scripts/prereqs.sh;"
        " `make test-quick` skips such tests instead)"
    )


CHROMIUM = "/usr/bin/chromium"


@contextmanager
def chromium() -> Iterator[object]:
    """Debian's Chromium through Playwright, headless with the flags this machine needs."""
    require(os.path.exists(CHROMIUM), "Debian chromium (/usr/bin/chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()
