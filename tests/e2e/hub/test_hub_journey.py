"""The whole journey on a real deployment: accounts, a project made with the CLI, a researcher's
sandbox querying the data, an export reviewed by two reviewers and downloaded; and who may not.
"""

from __future__ import annotations

import pytest
import requests
from hubstack import Deployment, HubUser, container_of, sandbox_exec, vce, wait_for

pytestmark = [pytest.mark.docker, pytest.mark.timeout(300)]

QUERY = "SELECT region_code, count(*) AS n FROM videos GROUP BY region_code"


def test_signup_needs_administrator_approval(deployment: Deployment) -> None:
    url, name, password = deployment.url, "newcomer", "correct-horse-battery-9"
    s = requests.Session()
    s.get(f"{url}/hub/signup", timeout=10)
    r = s.post(
        f"{url}/hub/signup",
        data={
            "username": name,
            "signup_password": password,
            "signup_password_confirmation": password,
            "_xsrf": s.cookies.get("_xsrf"),
        },
        timeout=30,
    )
    assert r.status_code == 200
    with pytest.raises(PermissionError):
        HubUser.login(deployment, name, password)
    admin = deployment.login("admin")
    xsrf = admin.s.cookies.get("_xsrf", path="/hub/") or admin.s.cookies.get("_xsrf")
    r = admin.s.post(f"{url}/hub/authorize/{name}", data={"_xsrf": xsrf}, timeout=10)
    assert r.status_code == 200 and f"account-{name}" in r.text
    assert HubUser.login(deployment, name, password).name == name


@pytest.mark.timeout(600)
def test_researcher_queries_exports_and_downloads(deployment: Deployment) -> None:
    for name in ("ada", "rev1", "rev2"):
        deployment.account(name)
    slug = deployment.project("ada")
    ada = deployment.login("ada")
    ada.start(slug)

    out = ada.execute(
        slug,
        # Plain DuckDB over the mount: vce.connect() cannot run in a kernel yet (it sets
        # enable_progress_bar, which DuckDB refuses in Jupyter without ipywidgets).
        "import os, duckdb, vce\n"
        "glob = os.environ['VCE_DATA_DIR'] + '/demo/videos/*/*.parquet'\n"
        "n = duckdb.sql(f\"SELECT count(*) FROM read_parquet('{glob}')\").fetchone()[0]\n"
        "print(n > 0, os.environ['VCE_PROJECT'])\n"
        f"req = vce.request_export({QUERY!r}, name='regions', purpose='e2e: videos by region')\n"
        "print('REQUEST', req['id'] if isinstance(req, dict) else req.id)\n",
    )
    assert out["status"] == "ok", out
    assert f"True {slug}" in out["stdout"]
    rid = int(out["stdout"].split("REQUEST")[1].split()[0])

    reviewers = [deployment.login(name) for name in ("rev1", "rev2")]

    def state() -> str:  # as it is, not as the researcher is told: a reviewer's view
        return reviewers[0].airlock("GET", f"api/requests/{rid}").json()["state"]

    wait_for(lambda: state() not in ("submitted", "checking"), 240, "the airlock's checks")
    assert ada.airlock("GET", f"api/requests/{rid}").json()["state"] == "submitted"
    for reviewer in reviewers:  # each in their own browser session: only those votes count
        r = reviewer.airlock_browser(
            "POST", f"api/requests/{rid}/votes", json={"decision": "approve", "comment": "ok"}
        )
        assert r.status_code == 201, r.text
    wait_for(lambda: state() == "released", 240, "the release")
    req = ada.airlock("GET", f"api/requests/{rid}").json()
    files = req.get("files") or (req.get("release") or {}).get("files") or {}
    names = list(files) if isinstance(files, dict) else [f["name"] for f in files]
    assert names, req
    r = ada.airlock("GET", f"api/requests/{rid}/files/{names[0]}")
    assert r.status_code == 200 and len(r.content) > 0


def test_non_member_can_neither_start_nor_reach_the_server(deployment: Deployment) -> None:
    for name in ("bea", "mallory"):
        deployment.account(name)
    slug = deployment.project("bea")
    bea, mallory = deployment.login("bea"), deployment.login("mallory")
    bea.start(slug)

    with pytest.raises(PermissionError, match=r"403|not a member"):
        mallory.start(slug)
        raise AssertionError("a non-member's server started")
    assert mallory.server(slug) is None or not mallory.server(slug).get("ready")
    r = requests.get(
        f"{deployment.user_origin('bea')}/user/bea/{slug}/api/contents",
        headers={"Authorization": f"token {mallory.token}"},
        timeout=30,
        allow_redirects=False,
    )
    assert r.status_code in (302, 403, 404)
    assert bea.server_api(slug, "status").status_code == 200  # the owner does get in


def test_expired_project_stops_its_server_and_cannot_restart(deployment: Deployment) -> None:
    deployment.account("cleo")
    slug = deployment.project("cleo")
    cleo = deployment.login("cleo")
    cleo.start(slug)
    assert container_of("cleo", slug)
    r = vce("project", "expire", slug, config=deployment.config)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: not (cleo.server(slug) or {}).get("ready"), 60, "the server to stop")
    with pytest.raises(PermissionError):
        cleo.start(slug)
    assert container_of("cleo", slug, running=False) == ""  # removed, not just stopped


def test_removed_member_and_revoked_dataset_stop_servers_and_are_audited(
    deployment: Deployment,
) -> None:
    for name in ("dana", "eve"):
        deployment.account(name)
    slug = deployment.project("dana", "eve")
    dana, eve = deployment.login("dana"), deployment.login("eve")
    dana.start(slug)
    eve.start(slug)
    admin = deployment.login("admin")

    def group() -> set[str]:
        r = admin.api("GET", f"groups/project-{slug}")
        return set(r.json()["users"]) if r.status_code == 200 else set()

    wait_for(lambda: group() == {"dana", "eve"}, 30, "the project's group in the hub")

    assert vce("project", "remove-member", slug, "eve", config=deployment.config).returncode == 0
    wait_for(lambda: not (eve.server(slug) or {}).get("ready"), 60, "eve's server to stop")
    assert (dana.server(slug) or {}).get("ready"), "a remaining member's server was stopped"
    assert group() == {"dana"}
    with pytest.raises(PermissionError):
        eve.start(slug)

    assert vce("project", "revoke", slug, "demo", config=deployment.config).returncode == 0
    wait_for(lambda: not (dana.server(slug) or {}).get("ready"), 60, "dana's server to stop")

    db = deployment.settings.airlock_database_url
    r = vce("audit", "export", "--db", db, config=deployment.config)
    stops = [line for line in r.stdout.splitlines() if '"server.stop"' in line and slug in line]
    assert len(stops) == 2, r.stdout[-2000:]
    assert any("eve" in s and "not a member" in s for s in stops)
    assert any("dana" in s and "revoked" in s for s in stops)


def test_u18_approved_project_sees_synthetic_minors_never_real_ones(
    deployment: Deployment,
) -> None:
    deployment.account("uma")
    slug = deployment.project("uma", u18=True)
    deployment.login("uma").start(slug)
    r = sandbox_exec(
        container_of("uma", slug),
        "import glob, os\n"
        "print(sorted({p.split('/')[-1] for p in glob.glob('/data/demo/*/audience=*')}))\n"
        "print(os.environ['VCE_U18_APPROVED'])",
    )
    assert r.stdout.split("\n")[:2] == ["['audience=adult', 'audience=minor_synthetic']", "1"], (
        r.stdout + r.stderr
    )
