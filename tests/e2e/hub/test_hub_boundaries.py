"""The hub's boundaries tried from the attacker's side (issue 15, findings 2, 5, 6, 7 and 9):
a page in a researcher's origin, a page on another site, a password guesser, an administrator
who would like to be two reviewers, and a sandbox that downloads its own releases.

Real deployment (hub, proxy, airlock, Docker sandboxes), real Chromium through Playwright.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from urllib.parse import quote

import pytest
import requests
from hubstack import Deployment, HubUser, container_of, sandbox_exec, vce, wait_for
from requests.adapters import HTTPAdapter

from loopback_names import LoopbackCookies
from prereq import chromium

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]

QUERY = "SELECT region_code, count(*) AS n FROM videos GROUP BY region_code"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as b:
        yield b


def browser_login(browser, dep: Deployment, name: str, then: str | None = None):
    """A Chromium context logged in to the hub as ``name`` (the login form, as a person)."""
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(f"{dep.url}/hub/login")
    page.fill("#username_input", name)
    page.fill("#password_input", dep.passwords[name])
    page.click("#login_submit")
    page.wait_for_url("**/hub/**")
    if then:
        page.goto(then)
    return ctx, page


def submitted_request(dep: Deployment, researcher: HubUser, slug: str) -> int:
    """A query export of ``slug`` that passed the trusted checks and awaits review."""
    r = researcher.airlock(
        "POST",
        "api/requests",
        json={"kind": "query", "project": slug, "name": "regions", "purpose": "e2e", "sql": QUERY},
    )
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    admin = dep.login("admin")  # administrators see the state as it is
    wait_for(
        lambda: admin.airlock("GET", f"api/requests/{rid}").json()["state"] == "awaiting_review",
        240,
        "the airlock's checks",
    )
    return rid


# -- finding 2: one origin for everything ------------------------------------------------------

ATTACK_PAGE = """<!doctype html><title>plot</title><script>
window.attack = async (hub, airlock, victim) => {
  const out = {};
  let xsrf = (document.cookie.match(/(?:^|; )_xsrf=([^;]+)/) || [])[1] || "";
  try {  // the hub's pages carry the XSRF token (window.jhdata.xsrf_token)
    const r = await fetch(hub + "/hub/home", {credentials: "include"});
    const html = await r.text();
    xsrf = (html.match(/xsrf_token: *"([^"]+)"/) || [])[1] || xsrf;
    out.home = r.status + " " + html.length;
  } catch (e) { out.home = "blocked: " + e; }
  try {
    const r = await fetch(hub + "/hub/api/users/" + victim + "/tokens", {
      method: "POST", credentials: "include",
      headers: {"Content-Type": "application/json", "X-XSRFToken": xsrf},
      body: JSON.stringify({note: "stolen by a sandbox page"})});
    out.token = r.status + " " + (await r.text()).slice(0, 300);
  } catch (e) { out.token = "blocked: " + e; }
  try {
    const r = await fetch(airlock + "api/whoami", {credentials: "include"});
    out.airlock = r.status + " " + (await r.text()).slice(0, 300);
  } catch (e) { out.airlock = "blocked: " + e; }
  return out;
};
</script>"""


def test_a_page_in_a_researchers_origin_cannot_use_the_hub_or_airlock_session(
    deployment: Deployment, browser
) -> None:
    """A logged-in break-glass administrator (every hub scope, logged in to the airlock too)
    opens a page a researcher serves from their server's origin. In one shared origin that page
    read the XSRF token and minted an administrator token; in its own origin it gets nothing."""
    deployment.account("root")
    deployment.account("ivy")
    ctx, page = browser_login(browser, deployment, "root", then=deployment.airlock_url)
    assert "airlock" in page.content().lower()  # logged in to the airlock as well
    # The page's origin is what matters, not how the researcher serves it (finding 1 added a
    # route to the server; JupyterLab renders HTML outputs): Chromium gets it from that origin.
    evil = f"{deployment.user_origin('ivy')}/user/ivy/study/files/plot.html"
    ctx.route(
        evil, lambda route: route.fulfill(status=200, body=ATTACK_PAGE, content_type="text/html")
    )
    page.goto(evil)
    out = page.evaluate(
        "([h, a, v]) => window.attack(h, a, v)", [deployment.url, deployment.airlock_url, "root"]
    )
    ctx.close()
    assert all(v.startswith("blocked") for v in out.values()), out
    root = deployment.login("root")
    notes = [t.get("note") for t in root.api("GET", "users/root/tokens").json()["api_tokens"]]
    assert "stolen by a sandbox page" not in notes


def test_every_origin_refuses_to_be_framed(deployment: Deployment) -> None:
    deployment.account("jon")
    jon = deployment.login("jon")
    hub_page = jon.s.get(f"{deployment.url}/hub/home", timeout=30)
    airlock_page = jon.airlock_browser("GET", "")
    for r in (hub_page, airlock_page):
        assert r.status_code == 200
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"], r.url


# -- finding 5: administrators are not kept out ------------------------------------------------


def test_an_administrator_can_neither_enter_a_server_nor_mint_tokens_nor_vote(
    deployment: Deployment,
) -> None:
    for name in ("kim", "rev1", "rev2"):
        deployment.account(name)
    slug = deployment.project("kim")
    kim, admin = deployment.login("kim"), deployment.login("admin")
    kim.start(slug)
    server = f"{deployment.user_origin('kim')}/user/kim/{slug}/api/contents"
    # the administrator's API token, and the administrator's browser (OAuth to kim's server)
    r = requests.get(server, headers={"Authorization": f"token {admin.token}"}, timeout=30)
    assert r.status_code in (302, 403), r.status_code
    r = admin.s.get(server, timeout=30)
    assert r.status_code == 403 or "/hub/login" in r.url, (r.status_code, r.url)
    assert admin.api("POST", "users/kim/tokens", json={"note": "x"}).status_code == 403
    assert admin.api("POST", "users/rev1/tokens", json={"note": "x"}).status_code == 403
    # day-to-day work still works: projects in the airlock
    assert admin.airlock("GET", "api/projects").status_code == 200

    rid = submitted_request(deployment, kim, slug)
    vote = {"decision": "approve", "comment": "ok"}
    r = admin.airlock_browser("POST", f"api/requests/{rid}/votes", json=vote)
    assert r.status_code == 403, r.text


def test_votes_count_only_from_the_reviewers_own_session(deployment: Deployment) -> None:
    """Even a break-glass administrator, who can mint tokens for both reviewers, cannot
    release alone; and the break-glass administrator's every hub request is audited."""
    for name in ("lea", "rev1", "rev2", "root"):
        deployment.account(name)
    slug = deployment.project("lea")
    lea, root, rev1 = deployment.login("lea"), deployment.login("root"), deployment.login("rev1")
    rid = submitted_request(deployment, lea, slug)
    vote = {"decision": "approve", "comment": "looks fine"}
    for reviewer in ("rev1", "rev2"):
        r = root.api("POST", f"users/{reviewer}/tokens", json={"note": "break-glass"})
        assert r.status_code == 201, r.text  # break-glass can do this …
        minted = r.json()["token"]
        r = requests.post(
            f"{deployment.airlock_url}api/requests/{rid}/votes",
            headers={"Authorization": f"token {minted}"},
            json=vote,
            timeout=30,
        )
        assert r.status_code == 403 and "own login session" in r.text, r.text  # … to no avail
    r = rev1.airlock("POST", f"api/requests/{rid}/votes", json=vote)  # rev1's own API token
    assert r.status_code == 403, r.text
    assert rev1.airlock_browser("POST", f"api/requests/{rid}/votes", json=vote).status_code == 201
    detail = rev1.airlock("GET", f"api/requests/{rid}").json()
    assert [v["reviewer"] for v in detail["votes"]] == ["rev1"]

    db = deployment.settings.airlock_database_url
    lines = vce("audit", "export", "--db", db, config=deployment.config).stdout.splitlines()
    records = [json.loads(line) for line in lines if "hub.break_glass" in line]
    assert any(r["action"] == "hub.break_glass.login" and r["actor"] == "root" for r in records)
    paths = [
        json.loads(r["payload"]).get("path")
        if isinstance(r["payload"], str)
        else r["payload"].get("path")
        for r in records
    ]
    assert "/hub/api/users/rev2/tokens" in paths


# -- finding 6: CSRF on account approval --------------------------------------------------------

CSRF_PAGE = """<!doctype html><body>
<form id="f" method="post" action="{hub}/hub/authorize/{name}"></form>
<script>
  // a cross-site form POST (no XSRF token to send), then a plain GET navigation
  fetch("{hub}/hub/authorize/{name}", {{method: "POST", credentials: "include", mode: "no-cors"}})
    .finally(() => {{ location = "{hub}/hub/authorize/{name}"; }});
</script></body>"""


def test_a_page_on_another_site_cannot_approve_an_account(deployment: Deployment, browser) -> None:
    name, password = "signup-mia", "correct-horse-battery-9"
    s = requests.Session()
    s.get(f"{deployment.url}/hub/signup", timeout=10)
    data = {
        "username": name,
        "signup_password": password,
        "signup_password_confirmation": password,
        "_xsrf": s.cookies.get("_xsrf"),
    }
    assert s.post(f"{deployment.url}/hub/signup", data=data, timeout=30).status_code == 200

    ctx, page = browser_login(browser, deployment, "admin")
    attacker = "http://attacker.test/lure.html"
    html = CSRF_PAGE.format(hub=deployment.url, name=name)
    ctx.route(
        attacker, lambda route: route.fulfill(status=200, body=html, content_type="text/html")
    )
    with page.expect_response(lambda r: r.url.endswith(f"/hub/authorize/{name}")) as landed:
        page.goto(attacker)
    assert landed.value.status == 405  # the GET link no longer changes anything
    page.wait_for_timeout(500)
    ctx.close()
    with pytest.raises(PermissionError):
        HubUser.login(deployment, name, password)  # still waiting for approval

    admin = deployment.login("admin")  # no XSRF token: refused even with the cookie
    assert admin.s.post(f"{deployment.url}/hub/authorize/{name}", timeout=10).status_code == 403
    assert admin.s.get(f"{deployment.url}/hub/discard/{name}", timeout=10).status_code == 405


# -- finding 7: lockout as a weapon, and the hub's UI inside sandboxes --------------------------


class _FromAddress(HTTPAdapter):
    """Connect from another loopback address (Linux routes all of 127/8 to lo)."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        kwargs["source_address"] = (self.address, 0)
        return super().init_poolmanager(*args, **kwargs)


def _login_attempt(dep: Deployment, name: str, password: str, source: str) -> requests.Response:
    s = requests.Session()
    s.cookies.set_policy(LoopbackCookies())  # JupyterHub's Domain=localhost session cookie
    s.mount("http://", _FromAddress(source))
    # forged on every request: a guesser naming another address each time gains nothing
    s.headers.update({"X-Forwarded-For": "203.0.113.9", "X-Real-Ip": "203.0.113.10"})
    s.get(f"{dep.url}/hub/login", timeout=10)
    return s.post(
        f"{dep.url}/hub/login",
        data={"username": name, "password": password, "_xsrf": s.cookies.get("_xsrf")},
        allow_redirects=False,
        timeout=30,
    )


def test_wrong_passwords_slow_the_guesser_and_never_lock_out_the_owner(
    deployment: Deployment,
) -> None:
    deployment.account("rev3")
    waits: list[int] = []
    for attempt in range(30):  # guess until the guesser waits at least 4 s
        r = _login_attempt(deployment, "rev3", f"guess-{attempt}", "127.0.0.2")
        if r.status_code == 429:
            waits.append(int(r.headers["Retry-After"]))
            if waits[-1] >= 4:
                break
            time.sleep(waits[-1])
        else:
            assert r.status_code == 403 or "Invalid username" in r.text, r.status_code
    assert waits and waits[-1] >= 4, waits  # backoff doubled: 1, 2, 4 … seconds
    refused = _login_attempt(deployment, "rev3", deployment.passwords["rev3"], "127.0.0.2")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    # the owner, from their own address, right after: logged in
    assert deployment.login("rev3").name == "rev3"


def test_a_sandbox_reaches_the_hub_api_but_not_its_login_or_signup(
    deployment: Deployment,
) -> None:
    deployment.account("ned")
    slug = deployment.project("ned")
    deployment.login("ned").start(slug)
    hub = deployment.settings.hub_api_url
    r = sandbox_exec(
        container_of("ned", slug),
        "import urllib.request, urllib.error\n"
        f"for path in ('/hub/api/', '/hub/login', '/hub/signup', '/hub/authorize'):\n"
        "    req = urllib.request.Request("
        f"'{hub}' + path, headers={{'X-Forwarded-For': '{deployment.settings.gateway}'}})\n"
        "    try:\n"
        "        code = urllib.request.urlopen(req, timeout=10).status\n"
        "    except urllib.error.HTTPError as e:\n"
        "        code = e.code\n"
        "    print(path, code)\n",
    )
    seen = dict(line.split() for line in r.stdout.splitlines())
    assert seen == {
        "/hub/api/": "200",
        "/hub/login": "403",
        "/hub/signup": "403",
        "/hub/authorize": "403",
    }, r.stdout + r.stderr


# -- finding 9: releases are downloaded outside the sandbox -------------------------------------


def test_a_sandbox_cannot_download_its_release_even_naming_another_address(
    deployment: Deployment,
) -> None:
    for name in ("ora", "rev1", "rev2"):
        deployment.account(name)
    slug = deployment.project("ora")
    ora = deployment.login("ora")
    rid = submitted_request(deployment, ora, slug)
    vote = {"decision": "approve", "comment": "ok"}
    for name in ("rev1", "rev2"):
        r = deployment.login(name).airlock_browser("POST", f"api/requests/{rid}/votes", json=vote)
        assert r.status_code == 201, r.text
    wait_for(
        lambda: ora.airlock("GET", f"api/requests/{rid}").json()["state"] == "released",
        240,
        "the release",
    )
    detail = ora.airlock("GET", f"api/requests/{rid}").json()
    files = detail.get("files") or (detail.get("release") or {}).get("files") or {}
    name = next(iter(files)) if isinstance(files, dict) else files[0]["name"]
    path = f"api/requests/{rid}/files/{quote(name)}"
    assert ora.airlock("GET", path).status_code == 200  # outside: the browser's way

    ora.start(slug)
    r = sandbox_exec(
        container_of("ora", slug),
        "import os, urllib.request, urllib.error\n"
        "for forged in ('', '127.0.0.1'):\n"
        "    h = {'Authorization': 'token ' + os.environ['JUPYTERHUB_API_TOKEN']}\n"
        "    if forged:\n"
        "        h.update({'X-Forwarded-For': forged, 'X-Real-Ip': forged})\n"
        f"    req = urllib.request.Request(os.environ['VCE_AIRLOCK_URL'] + {path!r}, headers=h)\n"
        "    try:\n"
        "        print(urllib.request.urlopen(req, timeout=10).status)\n"
        "    except urllib.error.HTTPError as e:\n"
        "        print(e.code)\n",
    )
    assert r.stdout.split() == ["403", "403"], r.stdout + r.stderr
