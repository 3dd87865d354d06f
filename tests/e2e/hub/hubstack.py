"""Helpers for the hub's end-to-end tests: Docker network + firewall, JupyterHub with
configurable-http-proxy, the airlock and reconciler services, and the real sandbox image.

One deployment per test module (about 3 s to start); each test gets its own accounts and
project so that the order of tests does not matter.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import requests
from docker_relay import DockerRelay

from jupyter_kernel_ws import run_cells
from loopback_names import LoopbackCookies
from prereq import require

REPO = Path(__file__).resolve().parents[3]


def docker_ok() -> bool:
    return shutil.which("docker") is not None and (
        subprocess.run(["docker", "info"], capture_output=True).returncode == 0
    )


def require_stack() -> None:
    require(docker_ok(), "a running Docker engine (scripts/docker-engine.sh)")
    require(shutil.which("configurable-http-proxy") is not None, "configurable-http-proxy")
    require(shutil.which("iptables") is not None and os.geteuid() == 0, "root with iptables")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vce(*args: str, config: Path) -> subprocess.CompletedProcess[str]:
    """Run the real ``vce`` command as an administrator would."""
    env = {**os.environ, "VCE_CONFIG": str(config), "VCE_ACTOR": "e2e-admin"}
    return subprocess.run(
        [str(Path(sys.executable).parent / "vce"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def start_hub(settings: Any, config: Path, relay: DockerRelay) -> None:
    """Start the hub (``deploy.start``) with its Docker clients going through ``relay``."""
    from vce.hub import deploy

    saved = os.environ.get("DOCKER_HOST")
    os.environ["DOCKER_HOST"] = relay.docker_host  # inherited by the hub and its services
    try:
        deploy.start(settings, config)
    finally:
        if saved is None:
            del os.environ["DOCKER_HOST"]
        else:
            os.environ["DOCKER_HOST"] = saved


@dataclass
class Deployment:
    """A running hub and what the tests need to know about it."""

    root: Path
    config: Path
    settings: Any
    relay: DockerRelay
    passwords: dict[str, str] = field(default_factory=dict)
    projects: list[str] = field(default_factory=list)
    """Slugs this deployment created: teardown removes exactly their home volumes."""

    @property
    def url(self) -> str:
        """The hub's origin (``http://localhost:<port>``)."""
        return self.settings.public_url.rstrip("/")

    def user_origin(self, user: str) -> str:
        """The origin of ``user``'s servers (``http://<user>.localhost:<port>``)."""
        if not self.settings.domain:  # one origin for everything (hub.domain = "")
            return self.url
        port = self.settings["hub"]["public_port"]
        return f"http://{user}.{self.settings.domain}:{port}"

    @property
    def airlock_url(self) -> str:
        """The airlock's base URL in its own origin, as a browser opens it."""
        return self.settings.airlock_public_url

    @property
    def network(self) -> str:
        return self.settings["network"]["name"]

    def start_hub(self) -> None:
        """Start the hub again (after ``deploy.stop_hub``), still through the Docker relay."""
        start_hub(self.settings, self.config, self.relay)

    @property
    def image(self) -> str:
        """The sandbox image the hub spawns (the ``sandbox_image`` fixture's build)."""
        return self.settings["sandbox"]["image"]

    def account(self, name: str) -> str:
        """Create an approved account (as `make run` does for its demo accounts)."""
        from vce.hub.accounts import ensure_account

        pw = ensure_account(self.settings.state_dir / "jupyterhub.sqlite", name)
        if pw is not None:
            self.passwords[name] = pw
        return self.passwords[name]

    def project(self, pi: str, *members: str, u18: bool = False) -> str:
        slug = f"e2e-{uuid.uuid4().hex[:8]}"
        self.projects.append(slug)
        steps = [
            ("project", "create", slug, "--title", "End-to-end study", "--pi", pi),
            ("project", "grant", slug, "demo"),
            *[("project", "add-member", slug, m) for m in members],
        ]
        if u18:
            steps.append(("project", "approve-u18", slug))
        for step in steps:
            r = vce(*step, config=self.config)
            assert r.returncode == 0, r.stderr
        return slug

    def login(self, name: str) -> HubUser:
        return HubUser.login(self, name, self.passwords[name])


class HubUser:
    """A browser-like session: cookie login with XSRF, hub API calls, a personal API token."""

    def __init__(self, dep: Deployment, name: str, session: requests.Session) -> None:
        self.dep, self.name, self.s = dep, name, session
        self._token: str | None = None

    @classmethod
    def login(cls, dep: Deployment, name: str, password: str) -> HubUser:
        s = requests.Session()
        s.cookies.set_policy(LoopbackCookies())  # JupyterHub's Domain=localhost session cookie
        s.get(f"{dep.url}/hub/login", timeout=10)
        r = s.post(
            f"{dep.url}/hub/login",
            data={"username": name, "password": password, "_xsrf": s.cookies.get("_xsrf")},
            allow_redirects=False,
            timeout=30,
        )
        if r.status_code != 302 or "/hub/login" in r.headers.get("location", ""):
            raise PermissionError(f"login of {name} failed: {r.status_code}")
        return cls(dep, name, s)

    def api(self, method: str, path: str, **kw: Any) -> requests.Response:
        xsrf = self.s.cookies.get("_xsrf", path="/hub/") or self.s.cookies.get("_xsrf")
        headers = {"X-XSRFToken": xsrf, **kw.pop("headers", {})}
        return self.s.request(
            method, f"{self.dep.url}/hub/api/{path}", headers=headers, timeout=60, **kw
        )

    @property
    def token(self) -> str:
        if self._token is None:
            r = self.api("POST", f"users/{self.name}/tokens", json={"note": "e2e"})
            assert r.status_code == 201, r.text
            self._token = r.json()["token"]
        return self._token

    def server(self, project: str) -> dict[str, Any] | None:
        return self.api("GET", f"users/{self.name}").json()["servers"].get(project)

    def start(self, project: str, timeout: float = 90) -> float:
        """Start the project server and wait until it is ready; return the seconds it took."""
        t0 = time.monotonic()
        r = self.api("POST", f"users/{self.name}/servers/{project}")
        if r.status_code not in (201, 202):
            raise PermissionError(f"{r.status_code}: {r.text[:300]}")
        while time.monotonic() - t0 < timeout:
            sv = self.server(project)
            if sv and sv.get("ready"):
                return time.monotonic() - t0
            if sv is None and time.monotonic() - t0 > 5:
                raise RuntimeError(f"server {project} of {self.name} vanished while starting")
            time.sleep(0.3)
        raise TimeoutError(f"server {project} of {self.name} not ready after {timeout} s")

    def stop(self, project: str) -> None:
        self.api("DELETE", f"users/{self.name}/servers/{project}")

    def server_api(self, project: str, path: str, method: str = "GET", **kw: Any):
        url = f"{self.dep.user_origin(self.name)}/user/{self.name}/{project}/api/{path}"
        headers = {"Authorization": f"token {self.token}"}
        return requests.request(method, url, headers=headers, timeout=60, **kw)

    def execute(self, project: str, code: str, timeout: float = 120) -> dict[str, str]:
        """Run ``code`` in a new kernel of the project server; return stdout and any error."""
        r = self.server_api(project, "kernels", "POST", json={"name": "python3"})
        assert r.status_code == 201, r.text
        kid = r.json()["id"]
        try:
            ws = self.dep.user_origin(self.name).replace("http", "ws", 1)
            url = f"{ws}/user/{self.name}/{project}/api/kernels/{kid}/channels"
            (run,) = asyncio.run(run_cells(url, self.token, [code], timeout))
        finally:
            self.server_api(project, f"kernels/{kid}", "DELETE")
        errors = [o["content"] for o in run.outputs if o["msg_type"] == "error"]
        return {
            "stdout": "".join(
                o["content"]["text"] for o in run.outputs if o["msg_type"] == "stream"
            ),
            "error": f"{errors[-1]['ename']}: {errors[-1]['evalue']}" if errors else "",
            "status": run.status,
        }

    def airlock(self, method: str, path: str, **kw: Any) -> requests.Response:
        """Call the airlock with this user's API token (as the in-sandbox client does)."""
        url = f"{self.dep.airlock_url}{path}"
        headers = {"Authorization": f"token {self.token}"}
        return requests.request(method, url, headers=headers, timeout=60, **kw)

    def airlock_browser(self, method: str, path: str, **kw: Any) -> requests.Response:
        """Call the airlock as this user's browser does: logged in through the hub (OAuth, so
        the airlock's cookie holds a token of this login session), with its XSRF token."""
        base = self.dep.airlock_url
        if not self.s.cookies.get("_xsrf", domain=urlparse(base).hostname):
            r = self.s.get(base, timeout=60)  # -> hub's OAuth authorize -> callback -> page
            assert r.status_code == 200 and r.url.startswith(base), (r.status_code, r.url)
        xsrf = self.s.cookies.get("_xsrf", domain=urlparse(base).hostname)
        headers = {"X-XSRFToken": xsrf, **kw.pop("headers", {})}
        return self.s.request(method, f"{base}{path}", headers=headers, timeout=60, **kw)


def write_config(root: Path, data_root: Path, subnet_octet: int, name: str, image: str) -> Path:
    config = root / "vce.toml"
    config.write_text(
        f"""
[hub]
domain = "localhost"
break_glass_admins = ["root"]
public_port = {free_port()}
proxy_api_port = {free_port()}
hub_port = {free_port()}
state_dir = "{root / "var"}"
admin_users = ["admin"]
reviewers = ["rev1", "rev2"]
revocation_interval = 5

[network]
name = "{name}"
subnet = "10.213.{subnet_octet}.0/24"

[airlock]
port = {free_port()}

[data]
root = "{data_root}"

[sandbox]
image = "{image}"
mem_limit = "768M"
cpu_limit = 1.0
pids_limit = 128
home_quota = "64M"
"""
    )
    return config


def container_of(user: str, project: str, running: bool = True) -> str:
    """Name of the sandbox of ``user`` × ``project``, found by the labels the spawner sets."""
    r = subprocess.run(
        [
            "docker",
            "ps",
            "-a",
            "--format",
            "{{.Names}}",
            "--filter",
            f"label=vce.user={user}",
            "--filter",
            f"label=vce.project={project}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    names = r.stdout.split()
    if running and len(names) != 1:
        raise LookupError(f"expected one sandbox for {user}/{project}, found {names}")
    return names[0] if names else ""


def sandbox_exec(
    container: str, code: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run Python inside the sandbox as its own user, with its capabilities and limits."""
    return subprocess.run(
        ["docker", "exec", container, "python3", "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def wait_for(predicate, timeout: float, what: str) -> None:
    """Poll ``predicate`` every half second until it holds; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"not within {timeout} s: {what}")
