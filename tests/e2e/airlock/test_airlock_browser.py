"""Two reviewers log in, read the report and the marked preview, approve; the researcher
downloads the release and checks its manifest against the files — all in Chromium."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

pytestmark = pytest.mark.browser

SQL = (
    "SELECT region_code, is_stem_verified, count(*) AS videos FROM videos "
    "GROUP BY region_code, is_stem_verified"
)


def login(browser, hub, user: str, target: str):
    ctx = browser.new_context(accept_downloads=True)
    page = ctx.new_page()
    page.goto(f"{hub.url}/hub/login?next={quote(target)}")
    page.fill("#username_input", user)
    page.fill("#password_input", "any password (test hub)")
    page.click("#login_submit")
    page.wait_for_url(f"**{target}")
    return ctx, page


def submit(hub) -> int:
    r = requests.post(
        hub.airlock + "api/requests",
        headers={"Authorization": f"token {hub.token('alice')}"},
        json={
            "kind": "query",
            "project": "p1",
            "name": "Videos per region",
            "purpose": "Regional spread of climate videos",
            "sql": SQL,
        },
        timeout=30,
    )
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = requests.get(
            hub.airlock + f"api/requests/{rid}",
            timeout=30,
            headers={"Authorization": f"token {hub.token('boss')}"},  # the state as it is
        ).json()["state"]
        if state == "awaiting_review":
            return rid
        time.sleep(0.2)
    raise AssertionError(f"request {rid} never reached review")


def test_two_reviewers_approve_and_researcher_downloads(browser, browser_hub, tmp_path: Path):
    hub = browser_hub
    rid = submit(hub)
    prefix = "/services/airlock/"
    ctx, page = login(browser, hub, "alice", f"{prefix}requests/{rid}")  # checked, unreviewed
    assert page.inner_text("#state") == "submitted" and page.locator("#preview").count() == 0
    assert "reviewers decide" in page.inner_text("#note")
    ctx.close()
    for n, reviewer in enumerate(("rev1", "rev2"), start=1):
        ctx, page = login(browser, hub, reviewer, prefix + "queue")
        page.click(f"a[href='{prefix}requests/{rid}'] >> nth=0")
        page.wait_for_url(f"**{prefix}requests/{rid}")
        assert "Minimum number of people per row" in page.inner_text("#checks")
        assert "SELECT" in page.inner_text("#sql") and "GROUP BY" in page.inner_text("#sql")
        header = page.inner_text("#preview tr >> nth=0")
        assert "videos ≈" in header, "rounded column marked"
        assert page.locator("#preview td.rounded").count() > 0
        assert "suppressed" in page.inner_text("#preview")  # suppressed rows marked
        assert page.locator("svg.chart rect").count() > 0
        assert "Regional spread" in page.inner_text("#purpose")
        page.click("#approve")
        page.wait_for_url(f"**{prefix}requests/{rid}")
        if n == 1:
            assert page.inner_text("#approvals") == "1"
        ctx.close()

    ctx, page = login(browser, hub, "alice", f"{prefix}requests/{rid}")
    deadline = time.monotonic() + 30
    while page.inner_text("#state") != "released":
        assert time.monotonic() < deadline, "never released"
        time.sleep(0.3)
        page.reload()
    files: dict[str, bytes] = {}
    for link in page.locator("#downloads a").all():
        with page.expect_download() as dl:
            link.click()
        path = tmp_path / dl.value.suggested_filename
        dl.value.save_as(path)
        files[path.name] = path.read_bytes()
    manifest = json.loads(files["manifest.json"])
    assert set(manifest["files"]) == {"result.csv", "result.parquet"}
    for name, meta in manifest["files"].items():
        assert hashlib.sha256(files[name]).hexdigest() == meta["sha256"], name
    assert {a["reviewer"] for a in manifest["approvals"]} == {"rev1", "rev2"}
    assert manifest["sql"] == SQL
    ctx.close()


def test_researcher_of_other_project_sees_403_page(browser, browser_hub):
    hub = browser_hub
    rid = submit(hub)
    ctx, page = login(browser, hub, "bob", "/services/airlock/")
    resp = page.goto(f"{hub.url}/services/airlock/requests/{rid}")
    assert resp.status == 403
    assert "not on" in page.inner_text("#error")
    ctx.close()


def test_decision_form_without_xsrf_token_is_refused(browser, browser_hub):
    """A cross-site form post rides on the reviewer's cookie but has no XSRF token."""
    hub = browser_hub
    rid = submit(hub)
    ctx, page = login(browser, hub, "rev1", f"/services/airlock/requests/{rid}")
    forged = ctx.request.post(
        f"{hub.url}/services/airlock/requests/{rid}/decide",
        form={"decision": "approve"},
        max_redirects=0,
    )
    assert forged.status == 403
    detail = requests.get(
        hub.airlock + f"api/requests/{rid}",
        timeout=30,
        headers={"Authorization": f"token {hub.token('boss')}"},
    ).json()
    assert detail["votes"] == [] and detail["state"] == "awaiting_review"
    page.click("#approve")  # the real form, with its token, works
    page.wait_for_url(f"**/services/airlock/requests/{rid}")
    assert page.inner_text("#approvals") == "1"
    ctx.close()


def test_a_bogus_authorization_header_does_not_waive_the_xsrf_check(browser, browser_hub):
    """A page makes the logged-in browser send its cookie with ``Authorization: token x``: the
    airlock must not take the header as a reason to skip XSRF while the cookie authenticates
    (issue 15, finding 3)."""
    hub = browser_hub
    rid = submit(hub)
    ctx, _ = login(browser, hub, "alice", f"/services/airlock/requests/{rid}")
    url = f"{hub.url}/services/airlock/api/requests/{rid}/comments"
    forged = ctx.request.post(
        url, data={"body": "forged"}, headers={"Authorization": "token not-a-real-token"}
    )
    assert forged.status in (401, 403), forged.text()
    comments = requests.get(
        hub.airlock + f"api/requests/{rid}",
        timeout=30,
        headers={"Authorization": f"token {hub.token('boss')}"},
    ).json()["comments"]
    assert "forged" not in [c["body"] for c in comments]
    real = requests.post(  # a real token needs no XSRF token: no browser sends it by itself
        url,
        json={"body": "by token"},
        timeout=30,
        headers={"Authorization": f"token {hub.token('alice')}"},
    )
    assert real.status_code == 201, real.text
    ctx.close()


def test_only_a_reviewers_own_session_votes_not_a_token_minted_for_them(browser, browser_hub):
    """Whoever may mint tokens for others (here the test hub's minter service, like a
    JupyterHub administrator) gets a reviewer's API token; its vote does not count. The same
    reviewer in their own browser session votes."""
    hub = browser_hub
    rid = submit(hub)
    minted = {"Authorization": f"token {hub.token('rev1')}"}
    vote = {"decision": "approve", "comment": "looks fine"}
    r = requests.post(
        hub.airlock + f"api/requests/{rid}/votes", headers=minted, json=vote, timeout=30
    )
    assert r.status_code == 403 and "own login session" in r.json()["error"]["message"]
    prefix = "/services/airlock/"
    ctx, page = login(browser, hub, "rev1", f"{prefix}requests/{rid}")
    page.click("#approve")
    page.wait_for_url(f"**{prefix}requests/{rid}")
    assert page.inner_text("#approvals") == "1"
    ctx.close()
