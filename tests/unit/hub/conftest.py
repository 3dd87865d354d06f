"""Hub unit tests read settings from defaults and the files they write, never from a
deployment of the developer's: ``load_settings()`` falls back to ``./vce.toml``, which a
``make run`` system may use in the checkout these tests run from."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _away_from_the_checkouts_vce_toml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
