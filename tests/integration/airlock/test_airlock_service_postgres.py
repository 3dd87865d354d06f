"""The service itself on PostgreSQL: the whole export path over HTTP behind the real hub."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from airlock_hub import Hub, running_hub
from test_airlock_api import approve_and_release, call, submit, wait_checked

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_hub(
    request: pytest.FixtureRequest, pg_url: str, tmp_path: Path, dataset: Path
) -> Iterator[Hub]:
    with running_hub(tmp_path / "hub", datasets={"demo": dataset}, db_url=pg_url) as h:
        yield h


def test_export_review_release_download_on_postgres(pg_hub: Hub) -> None:
    h = pg_hub
    assert not (h.state_dir / "airlock.sqlite").exists(), "must not fall back to SQLite"
    rid = submit(h)
    assert wait_checked(h, rid)["state"] == "awaiting_review"
    assert (
        call(
            h, "alice", "POST", f"api/requests/{rid}/votes", json={"decision": "approve"}
        ).status_code
        == 403
    )
    done = approve_and_release(h, rid)
    for name, meta in done["release"]["files"].items():
        data = call(h, "alice", "GET", f"api/requests/{rid}/files/{name}").content
        assert hashlib.sha256(data).hexdigest() == meta["sha256"]
    verify = call(h, "boss", "GET", "api/audit/verify").json()
    assert verify["ok"] and verify["records"] > 10
