"""Red team of the researcher's projection: the surfaces the first attacker's test did not try.

Same set-up as :mod:`test_airlock_researcher_view` (two datasets that differ in one real minor,
one U18-approved project on each, the researcher's own hub API token against the real airlock
behind a real JupyterHub). Each test below sends the same requests to both projects and shows
that what the researcher receives through one more surface is the same on both — while the
staff's view shows the probe is real:

* the release download endpoint refused before release (its error message);
* a request whose first revision a reviewer returned and whose second revision was released:
  once released, the researcher reads the whole request (history, notes) and the release's
  ``manifest.json``; neither may carry the trusted run of the earlier, never-released revision.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
import test_airlock_researcher_view as twin
from airlock_hub import Hub
from test_airlock_researcher_view import (
    PROBES,
    TARGET_NAME,
    _call,
    _diff,
    _normalised,
    _probes,
    _settled,
)

twins = twin.twins  # the same fixtures (a hub of this module's own)
twin_hub = twin.twin_hub

BENIGN = "SELECT count(*) AS n FROM users WHERE audience = 'adult'"
HIDDEN_STATES = ("checking", "blocked", "awaiting_review")


def _submit(h: Hub, project: str, sql: str) -> int:
    body = {"kind": "query", "project": project, "name": "probe", "purpose": "probe", "sql": sql}
    r = _call(h, "alice", "POST", "api/requests", json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _downloads_refused(h: Hub, rid: int) -> list:
    """What the researcher gets asking for a release's files before there is one."""
    out = []
    for name in ("result.csv", "manifest.json"):
        r = _call(h, "alice", "GET", f"api/requests/{rid}/files/{name}")
        out.append([r.status_code, r.json()])
    return out


@pytest.mark.parametrize("probe", PROBES)
def test_refused_download_says_nothing_about_the_trusted_run(
    twin_hub: Hub, twins: tuple[Path, Path], probe: str
) -> None:
    sql = _probes(twins[0])[probe]
    seen, staff = [], []
    for project in ("pa", "pb"):
        rid = _submit(twin_hub, project, sql)
        staff.append(_settled(twin_hub, rid)["state"])
        seen.append(_normalised(_downloads_refused(twin_hub, rid)))
    assert seen[0] == seen[1], f"{probe}: the download refusal differs:\n" + _diff(*seen)
    for text in map(json.dumps, seen):
        assert not any(s in text for s in HIDDEN_STATES), f"{probe}: {text}"


def _wait(h: Hub, rid: int, state: str) -> dict:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        r = _call(h, "boss", "GET", f"api/requests/{rid}").json()
        if r["state"] == state:
            return r
        time.sleep(0.2)
    raise AssertionError(f"request {rid} never became {state}")


def _returned_then_released(h: Hub, project: str, probe_sql: str) -> tuple[dict, list]:
    """Revision 1 is a probe a reviewer returns; revision 2 is benign and released.

    Returns the staff's view of revision 1 and what the researcher reads after the release.
    """
    rid = _submit(h, project, probe_sql)
    staff = _settled(h, rid)
    r = _call(
        h,
        "rev1",
        "POST",
        f"api/requests/{rid}/votes",
        json={"decision": "return", "comment": "Please revise this request."},
    )
    assert r.status_code == 201, r.text
    r = _call(h, "alice", "POST", f"api/requests/{rid}/resubmit", json={"sql": BENIGN})
    assert r.status_code == 200, r.text
    _wait(h, rid, "awaiting_review")
    for reviewer in ("rev1", "rev2"):
        r = _call(h, reviewer, "POST", f"api/requests/{rid}/votes", json={"decision": "approve"})
        assert r.status_code == 201, r.text
    _wait(h, rid, "released")
    detail = _call(h, "alice", "GET", f"api/requests/{rid}").json()
    manifest = _call(h, "alice", "GET", f"api/requests/{rid}/files/manifest.json")
    assert manifest.status_code == 200, manifest.text
    timestamps = sorted(manifest.json()["timestamps"])
    page = _call(h, "alice", "GET", f"requests/{rid}").text
    history = [[e["actor"], e["from"], e["to"], e["note"]] for e in detail["events"]]
    seen = [
        history,
        detail["reasons"],
        timestamps,
        page.split('<table id="events">')[1].split("</table>")[0],
    ]
    return staff, _normalised(seen)


@pytest.mark.parametrize("probe", ["error is a bit", "state is a bit"])
def test_a_release_does_not_disclose_an_earlier_revisions_trusted_run(
    twin_hub: Hub, twins: tuple[Path, Path], probe: str
) -> None:
    sql = _probes(twins[0])[probe]
    staff_a, seen_a = _returned_then_released(twin_hub, "pa", sql)
    staff_b, seen_b = _returned_then_released(twin_hub, "pb", sql)
    if probe == "state is a bit":  # since low-effect, the trusted run withholds it alike
        assert staff_a["state"] == staff_b["state"] == "blocked"
    else:  # the probe is real: reviewers see the two runs differ
        assert (staff_a["state"], staff_a["reasons"]) != (staff_b["state"], staff_b["reasons"])
    assert seen_a == seen_b, f"{probe}: after release the researcher tells them apart:\n" + _diff(
        seen_a, seen_b
    )
    assert TARGET_NAME not in repr(seen_b)
    history, _, timestamps, _ = seen_b
    assert not [e for e in history if e[2] in HIDDEN_STATES or e[1] in HIDDEN_STATES], history
    assert not set(timestamps) & set(HIDDEN_STATES), timestamps


def _page(h: Hub, rid: int) -> str:
    """The request page, without the project's earlier releases (ids differ by construction)."""
    return _call(h, "alice", "GET", f"requests/{rid}").text.split("<h2>Earlier releases")[0]


def test_a_file_the_data_check_flags_reads_like_one_it_does_not(twin_hub: Hub) -> None:
    """A file naming the one minor: flagged on ``pb`` only, by the data-consulting check."""
    content = base64.b64encode(f"word\n{TARGET_NAME}\n".encode()).decode()
    body = {"kind": "file", "name": "probe", "purpose": "probe", "filename": "words.txt"}
    seen, staff = [], []
    for project in ("pa", "pb"):
        answer = _call(
            twin_hub,
            "alice",
            "POST",
            "api/requests",
            json=body | {"project": project, "content_base64": content},
        )
        assert answer.status_code == 201, answer.text
        rid = answer.json()["id"]
        staff.append(_settled(twin_hub, rid))
        seen.append(
            _normalised(
                [
                    answer.json(),
                    _call(twin_hub, "alice", "GET", f"api/requests/{rid}").json(),
                    _call(twin_hub, "alice", "GET", f"api/requests?project={project}").json(),
                    _page(twin_hub, rid),
                    _call(twin_hub, "alice", "GET", f"api/requests/{rid}/content").json(),
                    _downloads_refused(twin_hub, rid),
                    _call(twin_hub, "alice", "POST", f"api/requests/{rid}/withdraw").json(),
                ]
            )
        )
    assert [s["state"] for s in staff] == ["awaiting_review", "blocked"], staff
    assert seen[0] == seen[1], "the researcher tells the file checks apart:\n" + _diff(*seen)
