"""The getting-started notebook, opened and run top to bottom through the server's API."""

from __future__ import annotations

import pytest

from jupyter_kernel_ws import run_notebook

pytestmark = pytest.mark.docker

NOTEBOOK = "getting-started.ipynb"
EXPORT_NAME = "Creators and videos per region and audience"


def test_getting_started_notebook_runs_top_to_bottom_and_requests_its_export(sandbox_container):
    box = sandbox_container
    model, runs = run_notebook(box.url, box.token, NOTEBOOK)

    code_cells = [c for c in model["content"]["cells"] if c["cell_type"] == "code"]
    failed = [r for r in runs if r.status != "ok"]
    assert not failed, f"cell failed:\n{failed[0].source}\n---\n{failed[0].text()[-3000:]}"
    assert len(runs) == len(code_cells) >= 10

    everything = "\n".join(r.text() for r in runs)
    assert "SYNTHETIC" in everything  # the banner says which rows are synthetic
    assert "exportable" in everything  # the U18-aware aggregate passes the check
    assert any("image/png" in r.mime_types() for r in runs)  # matplotlib works read-only
    assert not any(o["msg_type"] == "error" for r in runs for o in r.outputs)

    # The export request reached the airlock with the notebook's SQL, as this project.
    sent = [r["body"] for r in box.airlock.requests if r["name"] == EXPORT_NAME]
    assert len(sent) == 1
    assert sent[0]["kind"] == "query" and sent[0]["project"] == box.env["VCE_PROJECT"]
    assert "COUNT(DISTINCT author_id) AS creators" in sent[0]["sql"]
    assert "GROUP BY region_code, audience" in sent[0]["sql"]
