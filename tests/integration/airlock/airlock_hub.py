"""A real JupyterHub (with its real configurable-http-proxy) running the airlock as a managed
service, on loopback ports, for the airlock's integration and browser tests.

Test-only: DummyAuthenticator (any password) so that browsers can log in; tokens are minted
through the hub's REST API with a test service token, exactly as a deployment would.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

from prereq import require
from vce.airlock.authz import Principal
from vce.airlock.config import ADMIN_SCOPE, REVIEW_SCOPE

REVIEW = "custom:vce-airlock:review"
ADMIN = "custom:vce-airlock:admin"
USERS = {
    "alice": "researcher on p1",
    "amy": "second researcher on p1",
    "bob": "researcher on p2",
    "rev1": "reviewer",
    "rev2": "reviewer",
    "rev3": "reviewer who is also a member of p1",
    "boss": "airlock administrator",
    "eve": "user on no project",
}


def free_port() -> int:
    """A port the kernel just gave us on loopback (we bound it ourselves)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CONFIG = """
import json, sys
cfg = json.load(open({cfg_json!r}))
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = cfg["public_port"]
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = cfg["hub_port"]
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:%d" % cfg["proxy_api_port"]
c.JupyterHub.db_url = "sqlite:///" + cfg["dir"] + "/hub.sqlite"
c.JupyterHub.cookie_secret_file = cfg["dir"] + "/cookie_secret"
c.ConfigurableHTTPProxy.pid_file = cfg["dir"] + "/proxy.pid"
c.JupyterHub.pid_file = cfg["dir"] + "/hub.pid"
c.JupyterHub.authenticator_class = "dummy"  # tests only
# How soon a killed managed service is restarted. The hub builds service spawners without
# its config, so set it when polling starts (test-only; the hub's default is 30 s).
from jupyterhub.services.service import _ServiceSpawner
_start_polling = _ServiceSpawner.start_polling
def _fast_polling(self):
    self.poll_interval = cfg["poll_interval"]
    return _start_polling(self)
_ServiceSpawner.start_polling = _fast_polling
c.Authenticator.allowed_users = set(cfg["users"])
c.JupyterHub.custom_scopes = {{
    "custom:vce-airlock:review": {{"description": "review airlock export requests"}},
    "custom:vce-airlock:admin": {{"description": "administer the airlock and projects"}},
}}
c.JupyterHub.load_roles = [
    {{"name": "user", "scopes": ["self", "access:services"]}},
    {{"name": "airlock-reviewer", "scopes": ["custom:vce-airlock:review"],
      "users": cfg["reviewers"]}},
    {{"name": "airlock-admin", "scopes": ["custom:vce-airlock:admin"], "users": cfg["admins"]}},
    {{"name": "test-minter", "scopes": ["admin:users", "tokens", "read:users"],
      "services": ["test-minter"]}},
]
c.JupyterHub.services = [
    {{
        "name": "airlock",
        "url": "http://127.0.0.1:%d" % cfg["airlock_port"],
        "command": [sys.executable, "-m", "vce.airlock"],
        "environment": cfg["airlock_env"],
        "oauth_no_confirm": True,
        "oauth_client_allowed_scopes": ["custom:vce-airlock:review", "custom:vce-airlock:admin"],
    }},
    {{"name": "test-minter", "api_token": cfg["minter_token"]}},
]
"""


@dataclass
class Hub:
    """A running hub: URLs, the minter token, and how to stop it."""

    dir: Path
    public_port: int
    airlock_port: int
    minter_token: str
    state_dir: Path
    proc: subprocess.Popen[bytes] | None = None
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.public_port}"

    @property
    def airlock(self) -> str:
        """The airlock's base URL through the proxy (what VCE_AIRLOCK_URL is in a sandbox)."""
        return f"{self.url}/services/airlock/"

    def hub_api(self, method: str, path: str, **kw) -> requests.Response:
        headers = {"Authorization": f"token {self.minter_token}"}
        return requests.request(
            method, f"{self.url}/hub/api/{path}", headers=headers, timeout=30, **kw
        )

    def token(self, user: str) -> str:
        """A JupyterHub API token of ``user`` (minted once through the REST API)."""
        if user not in self.tokens:
            r = self.hub_api("POST", f"users/{user}/tokens", json={"note": "airlock tests"})
            r.raise_for_status()
            self.tokens[user] = r.json()["token"]
        return self.tokens[user]

    def airlock_pid(self) -> int:
        """PID of the airlock service process (a child of the hub)."""
        out = subprocess.run(
            ["pgrep", "-P", str(self.proc.pid), "-f", "vce.airlock"], capture_output=True, text=True
        )
        pids = [int(p) for p in out.stdout.split()]
        if not pids:
            raise RuntimeError("airlock service process not found")
        return pids[0]

    def wait_airlock(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(self.airlock + "api/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"airlock did not come up; see {self.dir}/hub.log")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start_hub(
    workdir: Path,
    *,
    datasets: dict[str, Path],
    db_url: str | None = None,
    extra_env: dict[str, str] | None = None,
    poll_interval: int = 30,
) -> Hub:
    """Start JupyterHub + proxy + airlock in ``workdir``; returns when the airlock answers."""
    if shutil.which("configurable-http-proxy") is None:
        raise FileNotFoundError("configurable-http-proxy")
    workdir.mkdir(parents=True, exist_ok=True)
    state = workdir / "airlock-state"
    env = {
        "VCE_AIRLOCK_STATE_DIR": str(state),
        "VCE_DATASETS": ",".join(f"{k}={v}" for k, v in datasets.items()),
        "VCE_AIRLOCK_COOKIE_SECRET": secrets.token_hex(32),
        # These tests vote with tokens minted through the REST API; the airlock's default (a
        # vote counts only from the reviewer's own login session) has its own test, which
        # passes VCE_AIRLOCK_VOTES_NEED_SESSION=1 in extra_env.
        "VCE_AIRLOCK_VOTES_NEED_SESSION": "0",
        **({"VCE_AIRLOCK_DB_URL": db_url} if db_url else {}),
        **(extra_env or {}),
    }
    hub = Hub(workdir, free_port(), free_port(), secrets.token_hex(24), state)
    cfg = {
        "dir": str(workdir),
        "public_port": hub.public_port,
        "hub_port": free_port(),
        "proxy_api_port": free_port(),
        "airlock_port": hub.airlock_port,
        "airlock_env": env,
        "minter_token": hub.minter_token,
        "users": list(USERS),
        "reviewers": ["rev1", "rev2", "rev3"],
        "admins": ["boss"],
        "poll_interval": poll_interval,
    }
    (workdir / "cfg.json").write_text(json.dumps(cfg))
    (workdir / "jupyterhub_config.py").write_text(CONFIG.format(cfg_json=str(workdir / "cfg.json")))
    log = open(workdir / "hub.log", "ab")  # noqa: SIM115 — the hub process writes it
    penv = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTERHUB_")}
    penv["CONFIGPROXY_AUTH_TOKEN"] = secrets.token_hex(24)
    hub.proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterhub", "-f", str(workdir / "jupyterhub_config.py")],
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=penv,
    )
    try:
        hub.wait_airlock(90)
    except Exception:
        hub.stop()
        raise
    return hub


@contextmanager
def running_hub(workdir: Path, **kw) -> Iterator[Hub]:
    """A started hub (see :func:`start_hub`) with projects p1 and p2 set up; stopped on exit.
    Skips (or fails in CI) when configurable-http-proxy is missing."""
    require(shutil.which("configurable-http-proxy") is not None, "configurable-http-proxy")
    h = start_hub(workdir, **kw)
    try:
        setup_projects(h)
        yield h
    finally:
        h.stop()


def setup_projects(h: Hub) -> None:
    """p1: alice (PI), amy, rev3; p2: bob. Both granted the demo dataset."""
    boss = {"Authorization": f"token {h.token('boss')}"}
    for slug, pi, members in (("p1", "alice", ["amy", "rev3"]), ("p2", "bob", [])):
        r = requests.post(
            h.airlock + "api/projects",
            headers=boss,
            timeout=30,
            json={"slug": slug, "title": f"Project {slug}", "pi": pi, "datasets": ["demo"]},
        )
        assert r.status_code == 201, r.text
        for m in members:
            r = requests.post(
                h.airlock + f"api/projects/{slug}/members",
                headers=boss,
                json={"username": m},
                timeout=30,
            )
            assert r.status_code == 200, r.text


def who(name: str) -> Principal:
    """The principal of a test user, with the scopes the test hub gives them, as if logged in
    through their own browser (so their votes count)."""
    scopes: set[str] = set()
    if name.startswith("rev"):
        scopes.add(REVIEW_SCOPE)
    if name == "boss":
        scopes.add(ADMIN_SCOPE)
    return Principal(name, frozenset(scopes), own_session=True)
