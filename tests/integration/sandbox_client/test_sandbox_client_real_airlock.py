"""The export calls against the real airlock, behind a real JupyterHub and proxy on loopback.

The hub harness is the airlock tests' own (tests/integration/airlock/airlock_hub.py), loaded
by path; the sandbox side is this process with the environment a spawner would set.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

import vce
from prereq import require
from vce.sandbox import AirlockRefused

HARNESS = Path(__file__).resolve().parents[1] / "airlock" / "airlock_hub.py"


def _harness():
    spec = importlib.util.spec_from_file_location("vce_tests_airlock_hub", HARNESS)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def real_hub(
    tmp_path_factory: pytest.TempPathFactory, dataset: Path, request: pytest.FixtureRequest
) -> Iterator[object]:
    require(shutil.which("configurable-http-proxy") is not None, "the proxy")
    harness = _harness()
    hub = harness.start_hub(tmp_path_factory.mktemp("client-hub"), datasets={"demo": dataset})
    try:
        boss = {"Authorization": f"token {hub.token('boss')}"}
        r = requests.post(
            hub.airlock + "api/projects",
            headers=boss,
            json={"slug": "p1", "title": "Client", "pi": "alice", "datasets": ["demo"]},
            timeout=30,
        )
        assert r.status_code == 201, r.text
        yield hub
    finally:
        hub.stop()


@pytest.fixture
def as_alice(real_hub, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("VCE_AIRLOCK_URL", real_hub.airlock)
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", real_hub.token("alice"))
    monkeypatch.setenv("VCE_PROJECT", "p1")
    return real_hub


def test_request_export_then_find_it_in_exports(as_alice) -> None:
    sql = "SELECT region_code, count(*) AS n FROM videos GROUP BY 1"
    req = vce.request_export(sql, name="videos-by-region", purpose="client test")
    assert req.id and req["project"] == "p1" and req["kind"] == "query"
    listed = vce.exports()
    assert req.id in [r.id for r in listed]
    assert "videos-by-region" in str(listed)


def test_request_file_export(as_alice, tmp_path: Path) -> None:
    f = tmp_path / "summary.csv"
    f.write_text("region,n\nUS,100\n")
    req = vce.request_file_export(f, name="summary", purpose="client test")
    assert req["kind"] == "file" and req.id


def test_other_projects_token_is_refused_with_the_airlocks_message(
    as_alice, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", as_alice.token("bob"))
    with pytest.raises(AirlockRefused) as err:
        vce.request_export("SELECT count(*) FROM videos", name="x", purpose="y")
    assert err.value.status in (403, 404)
    assert "the airlock refused the request" in str(err.value)


def test_bad_token_is_refused(as_alice, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "not-a-token")
    with pytest.raises(AirlockRefused) as err:
        vce.exports()
    assert err.value.status in (401, 403)


def test_a_query_the_static_check_refuses_is_sent_with_a_note(as_alice) -> None:
    req = vce.request_export("SELECT username FROM users", name="names", purpose="client test")
    assert req.id in [r.id for r in vce.exports()]  # sent anyway: the airlock decides
    assert "expects the airlock to block" in str(req) and "identifier-output" in str(req)
    assert "identifier-output" in req._repr_html_()


def _wait_for_state(request_id: str, wanted: set[str], deadline_s: float = 90) -> str:
    """Poll ``vce.exports()`` until the request reaches one of ``wanted`` (the worker runs it)."""
    import time

    end = time.monotonic() + deadline_s
    state = ""
    while time.monotonic() < end:
        state = next(r.state for r in vce.exports() if r.id == request_id)
        if state in wanted:
            return state
        time.sleep(0.3)
    raise AssertionError(f"request {request_id} stayed {state!r}, never reached {wanted}")


def test_denied_request_is_resubmitted_with_new_sql(as_alice) -> None:
    bad = vce.request_export("SELECT username FROM users", name="resub", purpose="client test")
    assert _wait_for_state(bad.id, {"denied"}) == "denied"
    good_sql = "SELECT region_code, count(*) AS n FROM users GROUP BY 1"
    again = vce.resubmit_export(bad.id, good_sql)
    assert again.id == bad.id and again["revision"] == 2 and again.state == "submitted"
    assert again.local_check is not None and again.local_check.allowed


def test_resubmitting_a_request_not_denied_shows_the_airlocks_reason(as_alice) -> None:
    req = vce.request_export("SELECT count(*) AS n FROM videos", name="w", purpose="client test")
    vce.withdraw_export(req.id)
    assert next(r.state for r in vce.exports() if r.id == req.id) == "withdrawn"
    with pytest.raises(AirlockRefused, match="only denied or returned") as err:
        vce.resubmit_export(req.id, "SELECT count(*) AS n FROM users")
    assert err.value.status == 409
