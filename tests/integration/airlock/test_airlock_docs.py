"""The generated airlock docs are current (regenerate with `vce airlock docs`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vce.airlock.docsgen import (
    API_DOC,
    FILES_DOC,
    STATES_DOC,
    api_reference,
    file_exports_reference,
    states_explanation,
)

DOCS = Path(__file__).resolve().parents[3] / "docs"


@pytest.mark.parametrize(
    ("rel", "render"),
    [
        (API_DOC, api_reference),
        (STATES_DOC, states_explanation),
        (FILES_DOC, file_exports_reference),
    ],
)
def test_generated_doc_is_current(rel: str, render) -> None:
    assert (DOCS / rel).read_text(encoding="utf-8") == render(), (
        f"docs/{rel} is stale: run `vce airlock docs`"
    )
