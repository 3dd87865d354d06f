"""A running container of the real researcher image, started the way the hub starts it.

Session fixtures (registered in tests/conftest.py):

- ``sandbox_image``: the image reference ``images/build.sh`` gives for the current sources,
  named ``vce-notebook-test``, built on first use (a no-op when ``make test``'s
  scripts/prereqs.sh already built it; a change to ``src/vce`` rebuilds only the last layers).
- ``sandbox_container``: one container for the session with DESIGN's hardening flags —
  read-only root, tmpfs ``/home/jovyan`` and ``/tmp``, ``cap_drop ALL``,
  ``no-new-privileges``, uid 1000, pids/memory/CPU limits — on an ``--internal`` Docker network
  the fixture creates, with a sandbox mount (only ``adult`` + ``minor_synthetic`` partitions of
  the session's generated ``dataset``) read-only at ``VCE_DATA_DIR=/data``. It runs
  ``jupyter lab`` with a random token, and a stub airlock (the documented export API) listens on
  the network's gateway address so ``vce.request_export`` has somewhere to go.

Use ``sandbox_container.exec(python_code) -> (rc, stdout, stderr)`` to run code as the
researcher, ``.url`` / ``.token`` / ``.api(method, path)`` for the Jupyter server's HTTP API.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from vce.hub.seccomp import write_profile

REPO = Path(__file__).resolve().parent.parent
JUPYTER_PORT = 8888
PROJECT = "sandbox-test"
HARDENING_FLAGS = (
    "--read-only",
    "--tmpfs=/home/jovyan:rw,nosuid,nodev,noexec,size=512m,uid=1000,gid=1000,mode=0700",
    "--tmpfs=/tmp:rw,nosuid,nodev,noexec,size=512m",
    "--cap-drop=ALL",
    "--security-opt=no-new-privileges",
    "--user=1000:1000",
    "--pids-limit=256",
    "--memory=2g",
    "--memory-swap=2g",
    "--cpus=1",
    f"--security-opt=seccomp={write_profile(Path(tempfile.gettempdir()) / 'vce-seccomp.json')}",
)
"""What DESIGN's trust boundary 1 asks of every sandbox (the hub's spawner sets the same,
seccomp profile included: Docker's default without ``ptrace`` and ``process_vm_*``)."""
SANDBOX_AUDIENCES = ("adult", "minor_synthetic")
TEST_IMAGE_NAME = os.environ.get("VCE_TEST_IMAGE", "vce-notebook-test")
"""The tests' own image name (scripts/prereqs.sh builds the same): a test build never moves
``vce-notebook:latest`` or prunes the tag a running ``make run`` system spawns from.
``VCE_TEST_IMAGE`` gives two checkouts on one engine (git worktrees) images of their own."""


def docker(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the docker CLI; on failure raise with its stderr so the test output says why."""
    proc = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:3])} … failed: {proc.stderr.strip()}")
    return proc


def create_internal_network(name: str) -> str:
    """Create an ``--internal`` test network (no route out) and return its gateway address."""
    docker("network", "create", "--internal", "--label", "org.vce.test=1", name)
    try:
        return docker(
            "network", "inspect", name, "-f", "{{(index .IPAM.Config 0).Gateway}}"
        ).stdout.strip()
    except Exception:
        docker("network", "rm", name, check=False)
        raise


def docker_available() -> bool:
    """Whether a Docker engine answers (scripts/docker-engine.sh starts one)."""
    if shutil.which("docker") is None:
        return False
    try:
        return docker("info", check=False, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def build_image() -> str:
    """Build (or find) the image for the current sources; return its reference."""
    proc = subprocess.run(
        ["bash", str(REPO / "images" / "build.sh")],
        env={**os.environ, "VCE_IMAGE_NAME": TEST_IMAGE_NAME},
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"images/build.sh failed:\n{proc.stderr[-4000:]}")
    return proc.stdout.strip().splitlines()[-1]


def make_sandbox_mount(dataset: Path, dest: Path) -> Path:
    """Copy what a sandbox may see of ``dataset`` into ``dest/<name>``: no real minors' rows.

    Files are made world-readable because the container reads them as uid 1000.
    """
    target = dest / dataset.name
    for src in dataset.rglob("*"):
        rel = src.relative_to(dataset)
        audience = next((p.split("=", 1)[1] for p in rel.parts if p.startswith("audience=")), None)
        if audience is not None and audience not in SANDBOX_AUDIENCES:
            continue
        out = target / rel
        if src.is_dir():
            out.mkdir(parents=True, exist_ok=True)
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, out)
    for path in [dest, *dest.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return dest


class JSONHandler(BaseHTTPRequestHandler):
    """A quiet request handler for stub services that answer JSON."""

    extra_headers: dict[str, str] = {}  # noqa: RUF012 (read-only per subclass)

    def log_message(self, *_args: Any) -> None:
        pass

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for key, value in self.extra_headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@dataclass
class StubAirlock:
    """The airlock's documented export API, answering from memory, for one sandbox token.

    Stands in until the real airlock service is wired into these tests; it checks the auth
    header and the body shape the contract fixes and records every request it accepts.
    """

    host: str
    token: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    refusals: list[dict[str, Any]] = field(default_factory=list)
    """Bodies posted to ``api/sandbox/refusals`` (the real airlock audits them)."""
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        """Base URL the sandbox gets as ``VCE_AIRLOCK_URL``."""
        assert self.server is not None
        return f"http://{self.host}:{self.server.server_address[1]}/services/airlock/"

    def start(self) -> StubAirlock:
        """Listen on ``host`` (the test network's gateway) on a free port."""
        stub = self

        class Handler(JSONHandler):
            def _authorised(self) -> bool:
                if self.headers.get("Authorization") == f"token {stub.token}":
                    return True
                self._reply(403, {"error": {"code": "forbidden", "message": "bad token"}})
                return False

            def do_POST(self) -> None:
                if not self._authorised():
                    return
                if self.path.endswith("/api/sandbox/refusals"):
                    length = int(self.headers["Content-Length"])
                    stub.refusals.append(json.loads(self.rfile.read(length)))
                    self._reply(201, {"recorded": len(stub.refusals)})
                    return
                if not self.path.endswith("/api/requests"):
                    self._reply(404, {"error": {"code": "not_found", "message": self.path}})
                    return
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                needed = {"kind", "project", "name", "purpose"}
                needed |= {"sql"} if body.get("kind") == "query" else {"filename"}
                if not needed <= body.keys():
                    missing = sorted(needed - body.keys())
                    self._reply(400, {"error": {"code": "invalid", "message": f"{missing}"}})
                    return
                record = {
                    "id": str(len(stub.requests) + 1),
                    "state": "pending_review",
                    "project": body["project"],
                    "name": body["name"],
                    "kind": body["kind"],
                    "created": "2026-01-01T00:00:00Z",
                    "reasons": [],
                }
                stub.requests.append({**record, "body": body})
                self._reply(201, record)

            def do_GET(self) -> None:
                if not self._authorised():
                    return
                listed = [{k: v for k, v in r.items() if k != "body"} for r in stub.requests]
                if "/api/requests/" in self.path:
                    wanted = self.path.rsplit("/", 1)[1]
                    for r in listed:
                        if r["id"] == wanted:
                            self._reply(200, r)
                            return
                    self._reply(404, {"error": {"code": "not_found", "message": wanted}})
                    return
                self._reply(200, {"requests": listed})

        self.server = ThreadingHTTPServer((self.host, 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@dataclass
class SandboxContainer:
    """Handle on the running sandbox: exec as the researcher, the Jupyter API, the logs."""

    name: str
    image: str
    network: str
    ip: str
    token: str
    airlock: StubAirlock
    data_dir: str = "/data"
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """Base URL of the container's Jupyter server (reachable from the host only)."""
        return f"http://{self.ip}:{JUPYTER_PORT}/"

    def exec(self, code: str, timeout: float = 180) -> tuple[int, str, str]:
        """Run ``code`` with the container's Python as uid 1000 in ``$HOME``."""
        proc = subprocess.run(
            ["docker", "exec", "-i", "-w", "/home/jovyan", self.name, "python", "-"],
            input=code,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return proc.returncode, proc.stdout, proc.stderr

    def sh(self, command: str, timeout: float = 60) -> tuple[int, str, str]:
        """Run a shell command in the container as the researcher (like a terminal would)."""
        proc = subprocess.run(
            ["docker", "exec", "-w", "/home/jovyan", self.name, "bash", "-c", command],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return proc.returncode, proc.stdout, proc.stderr

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Call the Jupyter server's HTTP API with the token (``path`` relative to the root)."""
        headers = {"Authorization": f"token {self.token}", **kwargs.pop("headers", {})}
        return requests.request(
            method, self.url + path.lstrip("/"), headers=headers, timeout=60, **kwargs
        )

    def logs(self) -> str:
        """The container's output so far (the Jupyter server log)."""
        proc = docker("logs", self.name, check=False)
        return proc.stdout + proc.stderr


def _wait_for_server(box: SandboxContainer, deadline_s: float = 90) -> None:
    deadline = time.monotonic() + deadline_s
    last = ""
    while time.monotonic() < deadline:
        state = docker("inspect", "-f", "{{.State.Running}}", box.name, check=False).stdout
        if state.strip() == "false":
            raise RuntimeError(f"sandbox container exited during start:\n{box.logs()[-4000:]}")
        try:
            if box.api("GET", "api/status").status_code == 200:
                return
        except requests.RequestException as e:
            last = str(e)
        time.sleep(0.5)
    raise RuntimeError(f"Jupyter server did not answer in {deadline_s}s ({last}):\n{box.logs()}")


@pytest.fixture(scope="session")
def sandbox_image() -> str:
    """The researcher image for the current sources (built on first use)."""
    from prereq import require

    require(docker_available(), "a running Docker engine (scripts/docker-engine.sh)")
    return build_image()


@contextmanager
def running_sandbox(
    image: str, dataset: Path, server_args: tuple[str, ...] = ()
) -> Iterator[SandboxContainer]:
    """Start a hardened sandbox container (see the module docstring); remove it afterwards.

    ``server_args`` go to ``jupyter lab`` after the defaults (tests that spend a budget run
    their own container with smaller budgets, so the session's container keeps its own).
    """
    run_id = uuid.uuid4().hex[:10]
    network = f"vce-test-{run_id}"
    name = f"vce-sandbox-{run_id}"
    mount = Path(tempfile.mkdtemp(prefix="vce-sandbox-mount-"))
    token = secrets.token_hex(16)
    hub_token = secrets.token_hex(16)
    gateway = create_internal_network(network)
    airlock: StubAirlock | None = None
    try:
        airlock = StubAirlock(gateway, hub_token).start()
        make_sandbox_mount(dataset, mount)
        env = {
            "VCE_DATA_DIR": "/data",
            "VCE_PROJECT": PROJECT,
            "VCE_AIRLOCK_URL": airlock.url,
            "JUPYTERHUB_API_TOKEN": hub_token,
            "VCE_THREADS": "1",
        }
        env_args = [arg for k, v in env.items() for arg in ("--env", f"{k}={v}")]
        docker(
            "run", "--detach", "--name", name, "--network", network,
            "--label", "org.vce.test=1", *HARDENING_FLAGS,
            "--volume", f"{mount}:/data:ro", *env_args,
            image,
            "jupyter", "lab", "--no-browser", "--ServerApp.ip=0.0.0.0",
            f"--ServerApp.port={JUPYTER_PORT}", f"--IdentityProvider.token={token}",
            *server_args,
        )  # fmt: skip
        ip = docker(
            "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name
        ).stdout.strip()
        box = SandboxContainer(name, image, network, ip, token, airlock, env=env)
        _wait_for_server(box)
        yield box
    finally:
        docker("rm", "--force", "--volumes", name, check=False)
        docker("network", "rm", network, check=False)
        if airlock is not None:
            airlock.stop()
        shutil.rmtree(mount, ignore_errors=True)


@pytest.fixture(scope="session")
def sandbox_container(
    sandbox_image: str, request: pytest.FixtureRequest
) -> Iterator[SandboxContainer]:
    """One hardened sandbox container for the session (see the module docstring)."""
    with running_sandbox(sandbox_image, request.getfixturevalue("dataset")) as box:
        yield box
