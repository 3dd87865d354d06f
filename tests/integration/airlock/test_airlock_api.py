"""The airlock over real HTTP behind a real JupyterHub and proxy, with real hub tokens.

The authorization matrix: every role × action × own/other project; every forbidden cell
answers 403 and changes nothing (same audit head, same request detail).
"""

from __future__ import annotations

import hashlib
import json
import time

import pytest
import requests
from airlock_hub import Hub

GOOD_SQL = "SELECT region_code, count(*) AS videos FROM videos GROUP BY region_code"


def call(hub: Hub, user: str | None, method: str, path: str, **kw) -> requests.Response:
    headers = {"Authorization": f"token {hub.token(user)}"} if user else {}
    return requests.request(method, hub.airlock + path, headers=headers, timeout=60, **kw)


def _query(sql: str = GOOD_SQL, project: str = "p1") -> dict:
    return {
        "kind": "query",
        "project": project,
        "name": "regions",
        "purpose": "videos per region",
        "sql": sql,
    }


def file_body(filename: str, content: bytes, project: str = "p1", name: str = "figure") -> dict:
    """The JSON body of a file export request."""
    import base64

    return {
        "kind": "file",
        "project": project,
        "name": name,
        "purpose": "paper",
        "filename": filename,
        "content_base64": base64.b64encode(content).decode(),
    }


def submit(hub: Hub, user: str = "alice", project: str = "p1", sql: str = GOOD_SQL) -> int:
    r = call(hub, user, "POST", "api/requests", json=_query(sql, project))
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) >= {"id", "state", "project", "name", "kind", "created", "reasons"}
    return body["id"]


def wait_checked(hub: Hub, rid: int, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = call(hub, "boss", "GET", f"api/requests/{rid}")
        if r.json()["state"] not in ("submitted", "checking"):
            return r.json()
        time.sleep(0.2)
    raise AssertionError(f"request {rid} still being checked after {timeout} s")


def wait_state(hub: Hub, rid: int, state: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = call(hub, "boss", "GET", f"api/requests/{rid}").json()
        if r["state"] == state:
            return r
        time.sleep(0.2)
    raise AssertionError(f"request {rid} is {r['state']}, not {state}")


def approve_and_release(hub: Hub, rid: int) -> dict:
    """Both eligible reviewers approve (each vote accepted); return the released request."""
    for reviewer in ("rev1", "rev2"):
        vote = call(
            hub, reviewer, "POST", f"api/requests/{rid}/votes", json={"decision": "approve"}
        )
        assert vote.status_code == 201
    return wait_state(hub, rid, "released")


def snapshot(hub: Hub, rid: int) -> tuple:
    """Everything a forbidden call must leave untouched."""
    audit = call(hub, "boss", "GET", "api/audit/verify").json()
    detail = call(hub, "boss", "GET", f"api/requests/{rid}").json()
    proj = call(hub, "boss", "GET", "api/projects").json()
    return (
        audit["records"],
        audit["head"],
        json.dumps(detail, sort_keys=True),
        json.dumps(proj, sort_keys=True),
    )


@pytest.fixture(scope="module")
def pending(hub: Hub) -> int:
    """A p1 request by alice, checked and awaiting review."""
    rid = submit(hub)
    assert wait_checked(hub, rid)["state"] == "awaiting_review"
    return rid


@pytest.fixture(scope="module")
def released(hub: Hub) -> int:
    rid = submit(hub)
    wait_checked(hub, rid)
    approve_and_release(hub, rid)
    return rid


BODY = {"kind": "query", "project": "p1", "name": "n", "purpose": "p", "sql": GOOD_SQL}
# (user, method, path template, json body) — every one must be 403 for the pending p1 request
FORBIDDEN = [
    ("bob", "GET", "api/requests/{rid}", None),  # researcher, other project
    ("eve", "GET", "api/requests/{rid}", None),  # on no project
    ("bob", "GET", "api/requests?project=p1", None),
    ("eve", "GET", "api/requests?project=p1", None),
    ("bob", "POST", "api/requests", BODY),  # export from another project
    ("rev1", "POST", "api/requests", BODY),  # reviewer not on the project
    ("boss", "POST", "api/requests", BODY),  # admin not on the project
    ("eve", "POST", "api/requests", BODY),
    ("alice", "POST", "api/requests/{rid}/votes", {"decision": "approve"}),  # own request
    ("amy", "POST", "api/requests/{rid}/votes", {"decision": "approve"}),  # project member
    ("rev3", "POST", "api/requests/{rid}/votes", {"decision": "approve"}),  # reviewer on project
    ("bob", "POST", "api/requests/{rid}/votes", {"decision": "reject", "comment": "x"}),
    ("boss", "POST", "api/requests/{rid}/votes", {"decision": "approve"}),  # admin ≠ reviewer
    ("eve", "POST", "api/requests/{rid}/votes", {"decision": "approve"}),
    ("alice", "POST", "api/requests/{rid}/comments", {"body": "x", "private": True}),
    ("bob", "POST", "api/requests/{rid}/comments", {"body": "x"}),
    ("eve", "POST", "api/requests/{rid}/comments", {"body": "x"}),
    ("amy", "POST", "api/requests/{rid}/withdraw", None),  # member, not the requester
    ("bob", "POST", "api/requests/{rid}/withdraw", None),
    ("rev1", "POST", "api/requests/{rid}/withdraw", None),
    ("bob", "POST", "api/requests/{rid}/resubmit", {"sql": GOOD_SQL}),
    ("amy", "POST", "api/requests/{rid}/resubmit", {"sql": GOOD_SQL}),
    ("alice", "GET", "api/requests/{rid}/files/result.csv", None),  # not released yet
    ("bob", "GET", "api/projects/p1", None),
    ("alice", "POST", "api/projects", {"slug": "p9", "title": "t", "pi": "alice"}),
    ("rev1", "POST", "api/projects", {"slug": "p9", "title": "t", "pi": "rev1"}),
    ("alice", "POST", "api/projects/p1/members", {"username": "eve"}),  # even the PI
    ("rev1", "POST", "api/projects/p1/grants", {"dataset": "demo2"}),
    ("alice", "POST", "api/projects/p1/u18", {"approved": True}),
    ("alice", "POST", "api/projects/p1/expire", {}),
    ("alice", "DELETE", "api/projects/p1/members/amy", None),
    ("rev1", "DELETE", "api/projects/p1/grants/demo", None),
    ("alice", "GET", "api/audit/verify", None),
    ("rev1", "GET", "api/audit/verify", None),
]


@pytest.mark.parametrize(
    ("user", "method", "path", "body"),
    FORBIDDEN,
    ids=[f"{u}-{m}-{p.split('{rid}')[-1] or p}" for u, m, p, _ in FORBIDDEN],
)
def test_forbidden_cell_is_403_and_changes_nothing(
    hub: Hub, pending: int, user: str, method: str, path: str, body: dict | None
) -> None:
    before = snapshot(hub, pending)
    r = call(hub, user, method, path.format(rid=pending), json=body)
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "forbidden"
    assert snapshot(hub, pending) == before


ALLOWED = [
    ("alice", "GET", "api/requests/{rid}", 200),
    ("amy", "GET", "api/requests/{rid}", 200),  # project member
    ("rev1", "GET", "api/requests/{rid}", 200),
    ("rev3", "GET", "api/requests/{rid}", 200),
    ("boss", "GET", "api/requests/{rid}", 200),
    ("alice", "GET", "api/requests?project=p1", 200),
    ("rev1", "GET", "api/requests?project=p1", 200),
    ("alice", "GET", "api/projects/p1", 200),
]


@pytest.mark.parametrize(("user", "method", "path", "status"), ALLOWED)
def test_allowed_cell(
    hub: Hub, pending: int, user: str, method: str, path: str, status: int
) -> None:
    assert call(hub, user, method, path.format(rid=pending)).status_code == status


def test_researchers_list_only_their_projects(hub: Hub, pending: int) -> None:
    bobs = submit(hub, user="bob", project="p2")
    seen = {
        u: {q["id"] for q in call(hub, u, "GET", "api/requests").json()["requests"]}
        for u in ("alice", "bob", "eve", "rev1")
    }
    assert pending in seen["alice"] and bobs not in seen["alice"]
    assert bobs in seen["bob"] and pending not in seen["bob"]
    assert seen["eve"] == set()
    assert {pending, bobs} <= seen["rev1"]


def test_unauthenticated_and_bad_tokens(hub: Hub, pending: int) -> None:
    assert call(hub, None, "GET", f"api/requests/{pending}").status_code == 401
    r = requests.get(
        hub.airlock + f"api/requests/{pending}",
        headers={"Authorization": "token not-a-real-token"},
        timeout=30,
    )
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthenticated"


def test_release_only_after_n_distinct_eligible_approvals(hub: Hub) -> None:
    rid = submit(hub)
    wait_checked(hub, rid)
    assert (
        call(
            hub, "rev1", "POST", f"api/requests/{rid}/votes", json={"decision": "approve"}
        ).status_code
        == 201
    )
    again = call(hub, "rev1", "POST", f"api/requests/{rid}/votes", json={"decision": "approve"})
    assert again.status_code == 409
    assert (
        call(
            hub, "rev3", "POST", f"api/requests/{rid}/votes", json={"decision": "approve"}
        ).status_code
        == 403
    )
    time.sleep(0.5)
    detail = call(hub, "alice", "GET", f"api/requests/{rid}").json()
    assert detail["state"] == "under_review" and detail["release"] is None
    assert detail["approvals"] == 1
    assert call(hub, "alice", "GET", f"api/requests/{rid}/files/result.csv").status_code == 403
    assert (
        call(
            hub, "rev2", "POST", f"api/requests/{rid}/votes", json={"decision": "approve"}
        ).status_code
        == 201
    )
    done = wait_state(hub, rid, "released")
    assert {v["reviewer"] for v in done["votes"]} == {"rev1", "rev2"}


def test_members_download_release_and_manifest_matches(hub: Hub, released: int) -> None:
    manifest = call(hub, "amy", "GET", f"api/requests/{released}/files/manifest.json")
    assert manifest.status_code == 200
    m = manifest.json()
    assert m["sql"] == GOOD_SQL and len(m["approvals"]) == 2
    for name, meta in m["files"].items():
        data = call(hub, "alice", "GET", f"api/requests/{released}/files/{name}").content
        assert hashlib.sha256(data).hexdigest() == meta["sha256"]
    for outsider in ("bob", "rev1", "boss", "eve"):
        r = call(hub, outsider, "GET", f"api/requests/{released}/files/result.csv")
        assert r.status_code == 403, outsider
    missing = call(hub, "alice", "GET", f"api/requests/{released}/files/etc-passwd")
    assert missing.status_code == 404


def test_denied_at_once_then_resubmitted_over_http(hub: Hub) -> None:
    r = call(hub, "alice", "POST", "api/requests", json=_query("SELECT username FROM users"))
    assert r.status_code == 201 and r.json()["state"] == "denied" and r.json()["reasons"]
    rid = r.json()["id"]
    r = call(hub, "alice", "POST", f"api/requests/{rid}/resubmit", json={"sql": GOOD_SQL})
    assert r.status_code == 200 and r.json()["revision"] == 2
    assert wait_checked(hub, rid)["state"] == "awaiting_review"


def test_bad_input_is_400_json(hub: Hub) -> None:
    r = call(hub, "alice", "POST", "api/requests", data=b"{not json")
    assert r.status_code == 400 and r.json()["error"]["message"]
    r = call(hub, "alice", "POST", "api/requests", json={"kind": "query", "project": "p1"})
    assert r.status_code == 400
    assert call(hub, "alice", "GET", "api/requests/99999999").status_code == 404
    assert call(hub, "alice", "GET", "api/requests?state=nonsense").status_code == 400


def test_openapi_document_served(hub: Hub) -> None:
    doc = requests.get(hub.airlock + "api/openapi.json", timeout=30).json()
    assert doc["openapi"].startswith("3.")
    assert "/api/requests/{id}/votes" in doc["paths"]


def test_researcher_gets_no_preview_before_release(hub: Hub, pending: int) -> None:
    mine = call(hub, "alice", "GET", f"api/requests/{pending}").json()
    assert mine["preview"] is None and mine["report"] is None and mine["state"] == "submitted"
    reviewer = call(hub, "rev1", "GET", f"api/requests/{pending}").json()
    assert reviewer["preview"]["rows"] and reviewer["report"]["checks"]
    page = call(hub, "alice", "GET", f"requests/{pending}")
    assert page.status_code == 200 and 'id="preview"' not in page.text


def test_file_export_content_for_reviewers_only(hub: Hub) -> None:
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (3, 2), "teal").save(buf, "PNG")
    figure = buf.getvalue()
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    body = {"kind": "file", "project": "p1", "name": "Figure 1", "purpose": "paper"}
    r = call(
        hub,
        "alice",
        "POST",
        "api/requests",
        json={**body, "filename": "fig1.svg", "content_base64": base64.b64encode(svg).decode()},
    )
    assert r.status_code == 400 and "PNG" in r.json()["error"]["message"]  # SVG: not declared
    r = call(
        hub,
        "alice",
        "POST",
        "api/requests",
        json={**body, "filename": "fig1.png", "content_base64": base64.b64encode(figure).decode()},
    )
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert wait_checked(hub, rid)["state"] == "awaiting_review"
    seen = call(hub, "rev1", "GET", f"api/requests/{rid}/content")
    assert seen.status_code == 200
    assert (
        Image.open(io.BytesIO(seen.content)).tobytes() == Image.open(io.BytesIO(figure)).tobytes()
    )
    assert "sandbox" in seen.headers["Content-Security-Policy"]  # no script in our origin
    assert seen.headers["Content-Disposition"].startswith("attachment")
    for user in ("bob", "eve", "amy"):
        assert call(hub, user, "GET", f"api/requests/{rid}/content").status_code == 403, user


def test_queue_filters_and_researcher_home(hub: Hub, pending: int) -> None:
    denied = submit(hub, sql="SELECT username FROM users")
    queue = call(hub, "rev1", "GET", "queue?state=denied&project=p1")
    assert queue.status_code == 200
    assert f'requests/{denied}"' in queue.text and f'requests/{pending}"' not in queue.text
    waiting = call(hub, "rev1", "GET", "queue")  # default: awaiting review (and blocked)
    assert f'requests/{pending}"' in waiting.text and f'requests/{denied}"' not in waiting.text
    assert call(hub, "alice", "GET", "queue").status_code == 403  # reviewers only
    home = call(hub, "alice", "GET", "")
    assert f'requests/{denied}"' in home.text and "state-denied" in home.text
    assert f'requests/{denied}"' not in call(hub, "bob", "GET", "").text
