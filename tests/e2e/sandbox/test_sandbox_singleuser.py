"""The image's default command, ``vce-singleuser`` (``jupyterhub-singleuser``), keeps the hardening.

JupyterHub starts sandboxes with the image's own command, so the hardening must hold under the
single-user server, not only under ``jupyter lab``. A stub hub API (version check, token
lookup, activity) on the test's internal network stands in for the hub; the real hub runs the
same image in tests/e2e/hub.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import pytest
import requests

from sandbox_container import (
    HARDENING_FLAGS,
    JUPYTER_PORT,
    JSONHandler,
    create_internal_network,
    docker,
)

pytestmark = pytest.mark.docker

USER = "ada"
HUB_VERSION = "5.5.4"


class StubHubAPI(ThreadingHTTPServer):
    """Just enough of ``/hub/api`` for a single-user server: version, token owner, activity."""

    def __init__(self, host: str, user_token: str) -> None:
        self.user_token = user_token
        hub = self

        class Handler(JSONHandler):
            extra_headers = {"X-JupyterHub-Version": HUB_VERSION}  # noqa: RUF012

            def do_GET(self) -> None:
                if self.path.rstrip("/") == "/hub/api":
                    self._reply(200, {"version": HUB_VERSION})
                elif self.path.startswith("/hub/api/user"):
                    if self.headers.get("Authorization") != f"token {hub.user_token}":
                        self._reply(403, {"status": 403, "message": "bad token"})
                        return
                    self._reply(
                        200,
                        {
                            "kind": "user",
                            "name": USER,
                            "admin": False,
                            "groups": [],
                            "scopes": [f"access:servers!user={USER}"],
                        },
                    )
                else:
                    self._reply(404, {"status": 404, "message": self.path})

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._reply(200, {})

        super().__init__((host, 0), Handler)


@pytest.fixture(scope="module")
def singleuser(sandbox_image: str) -> Iterator[dict[str, str]]:
    run_id = uuid.uuid4().hex[:10]
    network, name = f"vce-test-su-{run_id}", f"vce-singleuser-{run_id}"
    user_token = secrets.token_hex(16)
    gateway = create_internal_network(network)
    hub: StubHubAPI | None = None
    try:
        hub = StubHubAPI(gateway, user_token)
        threading.Thread(target=hub.serve_forever, daemon=True).start()
        prefix = f"/user/{USER}/"
        env = {
            "JUPYTERHUB_API_TOKEN": secrets.token_hex(16),
            "JUPYTERHUB_API_URL": f"http://{gateway}:{hub.server_address[1]}/hub/api",
            "JUPYTERHUB_CLIENT_ID": f"jupyterhub-user-{USER}",
            "JUPYTERHUB_USER": USER,
            "JUPYTERHUB_SERVICE_PREFIX": prefix,
            "JUPYTERHUB_BASE_URL": "/",
            "JUPYTERHUB_SERVICE_URL": f"http://0.0.0.0:{JUPYTER_PORT}{prefix}",
            "JUPYTERHUB_OAUTH_ACCESS_SCOPES": json.dumps(
                [f"access:servers!server={USER}/", f"access:servers!user={USER}"]
            ),
        }
        env_args = [arg for k, v in env.items() for arg in ("--env", f"{k}={v}")]
        docker(
            "run",
            "--detach",
            "--name",
            name,
            "--network",
            network,
            *HARDENING_FLAGS,
            *env_args,
            sandbox_image,
        )  # fmt: skip  (no command: the image's default, vce-singleuser)
        ip = docker(
            "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name
        ).stdout.strip()
        url = f"http://{ip}:{JUPYTER_PORT}{prefix}"
        headers = {"Authorization": f"token {user_token}"}
        deadline = time.monotonic() + 90
        while True:
            try:
                if requests.get(url + "api/status", headers=headers, timeout=5).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                logs = docker("logs", name, check=False)
                raise RuntimeError(f"singleuser server did not start:\n{logs.stderr[-4000:]}")
            time.sleep(0.5)
        yield {"url": url, "token": user_token, "name": name}
    finally:
        docker("rm", "--force", name, check=False)
        docker("network", "rm", network, check=False)
        if hub is not None:
            hub.shutdown()
            hub.server_close()


def get(su: dict[str, str], path: str) -> requests.Response:
    return requests.get(
        su["url"] + path, headers={"Authorization": f"token {su['token']}"}, timeout=30
    )


def test_singleuser_server_serves_notebooks_and_refuses_downloads(singleuser):
    nb = get(singleuser, "api/contents/getting-started.ipynb")
    assert nb.status_code == 200 and nb.json()["type"] == "notebook"
    for path in (
        "files/getting-started.ipynb",
        "nbconvert/html/getting-started.ipynb?download=true",
    ):
        refused = get(singleuser, path)
        assert refused.status_code == 403, (path, refused.status_code)
        assert "vce.request_export" in refused.json()["message"]


def test_singleuser_server_caps_large_reads_and_logs_the_hub_user(singleuser):
    proc = docker(
        "exec", singleuser["name"], "python", "-c",
        "open('/home/jovyan/big.csv', 'w').write('id,v\\n' + '1,2\\n' * 500_000)",
    )  # fmt: skip
    assert proc.returncode == 0
    refused = get(singleuser, "api/contents/big.csv")
    assert refused.status_code == 403 and "limit" in refused.json()["message"]
    logs = docker("logs", singleuser["name"], check=False)
    assert (
        f"VCE-REFUSED contents read of 2000005 bytes (cap 1048576) path='big.csv' user={USER}"
        in (logs.stdout + logs.stderr)
    )
