"""Spawn time and idle memory of sandboxes: 10 researchers log in and start servers at once.

Baseline, measured side by side in this run: a bare container of the same image with the same
hardening (``docker run``) until a process in it answers on a port — what any sandbox costs
before JupyterHub, the registry check, the mounts and the Jupyter server add theirs.
Reported: login-to-ready p50/p95 for 10 concurrent researchers (target p50 ≤ 4 s on the
reference machine), their ratio to the baseline, and idle memory per sandbox.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from vce.hub import deploy
from vce.hub.accounts import ensure_account
from vce.hub.config import load_settings

USERS = 10
IMAGE = os.environ.get("VCE_SANDBOX_IMAGE", "vce-notebook:latest")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from loopback_names import LoopbackCookies  # noqa: E402  (the tests' browser-like cookie jar)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bare_container_seconds(runs: int = 5) -> list[float]:
    """Seconds from ``docker run`` (hardened, same image) to a listener answering inside."""
    out = []
    for _ in range(runs):
        name = f"vce-bench-bare-{uuid.uuid4().hex[:6]}"
        t0 = time.perf_counter()
        subprocess.run(
            [
                "docker", "run", "-d", "--rm", "--name", name, "--read-only",
                "--cap-drop", "ALL", "--security-opt", "no-new-privileges:true",
                "--tmpfs", "/tmp", "--pids-limit", "256", "--memory", "2g",
                "--user", "1000:1000", "--entrypoint", "python3",
                IMAGE, "-m", "http.server", "8888",
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        ip = ""
        while not ip:
            ip = subprocess.run(
                ["docker", "inspect", "-f", "{{.NetworkSettings.IPAddress}}", name],
                capture_output=True,
                text=True,
            ).stdout.strip()
        while True:
            try:
                with socket.create_connection((ip, 8888), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.05)
        out.append(time.perf_counter() - t0)
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
    return out


def _login(base: str, user: str, password: str) -> tuple[requests.Session, dict[str, str]]:
    """A logged-in browser-like session and the XSRF header its API calls need."""
    s = requests.Session()
    s.cookies.set_policy(LoopbackCookies())  # keep JupyterHub's Domain=localhost session cookie
    s.get(f"{base}/hub/login", timeout=30)
    s.post(
        f"{base}/hub/login",
        data={"username": user, "password": password, "_xsrf": s.cookies.get("_xsrf")},
        timeout=60,
    )
    return s, {"X-XSRFToken": s.cookies.get("_xsrf", path="/hub/") or s.cookies.get("_xsrf")}


def _login_and_spawn(base: str, user: str, password: str, project: str) -> float:
    t0 = time.perf_counter()
    s, h = _login(base, user, password)
    r = s.post(f"{base}/hub/api/users/{user}/servers/{project}", headers=h, timeout=120)
    r.raise_for_status()
    while True:
        sv = s.get(f"{base}/hub/api/users/{user}", headers=h, timeout=30).json()["servers"]
        if sv.get(project, {}).get("ready"):
            return time.perf_counter() - t0
        if time.perf_counter() - t0 > 300:
            raise TimeoutError(f"{user}'s server not ready in 300 s")
        time.sleep(0.1)


def _names(network: str) -> list[str]:
    label = f"label=vce.network={network}"
    return subprocess.run(
        ["docker", "ps", "-a", "--format", "{{.Names}}", "--filter", label],
        capture_output=True,
        text=True,
    ).stdout.split()


def _wait_stopped(base: str, user: str, password: str, project: str) -> None:
    """Log in and stop the (killed) server through the API so the next start is a fresh one."""
    s, h = _login(base, user, password)
    s.delete(f"{base}/hub/api/users/{user}/servers/{project}", headers=h, timeout=120)
    for _ in range(600):
        sv = s.get(f"{base}/hub/api/users/{user}", headers=h, timeout=30).json()["servers"]
        if project not in sv or not (sv[project].get("ready") or sv[project].get("pending")):
            return
        time.sleep(0.1)


def _idle_memory_mib(network: str) -> list[float]:
    names = _names(network)
    stats = subprocess.run(
        ["docker", "stats", "--no-stream", "--format", "{{.MemUsage}}", *names],
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    units = {"KiB": 1 / 1024, "MiB": 1.0, "GiB": 1024.0, "B": 1 / 2**20}
    out = []
    for line in stats:
        used = line.split("/")[0].strip()
        for unit, factor in units.items():
            if used.endswith(unit):
                out.append(float(used[: -len(unit)]) * factor)
                break
    return out


def main() -> None:
    """Print the spawn section of ``make bench``."""
    if (
        shutil.which("configurable-http-proxy") is None
        or subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True).returncode
    ):
        print("skipped: needs Docker, the sandbox image (make images) and configurable-http-proxy")
        return
    root = Path(tempfile.mkdtemp(prefix="vce-bench-spawn-"))
    data = REPO / "datasets"
    if not (data / "demo" / "manifest.json").is_file():
        data = root / "datasets"
        subprocess.run(
            [
                str(Path(sys.executable).parent / "vce"),
                "datasets",
                "generate",
                "--out",
                str(data / "demo"),
                "--videos",
                "500",
                "--seed",
                "7",
            ],
            check=True,
            capture_output=True,
        )
    config = root / "vce.toml"
    config.write_text(
        f"[hub]\npublic_port = {_free_port()}\nproxy_api_port = {_free_port()}\n"
        f'hub_port = {_free_port()}\nstate_dir = "{root / "var"}"\nidle_timeout = 0\n'
        f'[network]\nname = "vcebench{uuid.uuid4().hex[:4]}"\n'
        f'subnet = "10.214.{random.randint(10, 250)}.0/24"\n'
        f'[airlock]\nport = {_free_port()}\n[data]\nroot = "{data}"\n'
        f'[sandbox]\nimage = "{IMAGE}"\n'
    )
    settings = load_settings(config, environ={})
    baseline = bare_container_seconds()
    try:
        deploy.start(settings, config)
        users = [f"bench{i}" for i in range(USERS)]
        passwords = {u: ensure_account(settings.state_dir / "jupyterhub.sqlite", u) for u in users}
        env = {**os.environ, "VCE_CONFIG": str(config), "VCE_ACTOR": "bench"}
        vce = str(Path(sys.executable).parent / "vce")

        def run(*args: str) -> None:
            subprocess.run([vce, "project", *args], env=env, check=True, capture_output=True)

        run("create", "bench", "--title", "Spawn benchmark", "--pi", users[0])
        run("grant", "bench", "demo")
        for u in users[1:]:
            run("add-member", "bench", u)
        base = settings.public_url.rstrip("/")
        with ThreadPoolExecutor(USERS) as pool:
            times = list(
                pool.map(lambda u: _login_and_spawn(base, u, passwords[u], "bench"), users)
            )
        time.sleep(10)
        memory = _idle_memory_mib(settings["network"]["name"])
        single = []  # one researcher alone: what a spawn costs without contention
        for u in users:
            _wait_stopped(base, u, passwords[u], "bench")
        for _ in range(3):
            single.append(_login_and_spawn(base, users[0], passwords[users[0]], "bench"))
            _wait_stopped(base, users[0], passwords[users[0]], "bench")
    finally:
        deploy.stop(settings)
        vols = [f"vce-home-bench{i}--bench" for i in range(USERS)]
        subprocess.run(["docker", "volume", "rm", "-f", *vols], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
    b50 = statistics.median(baseline)
    p50, p95 = _percentile(times, 0.5), _percentile(times, 0.95)
    print(
        f"baseline: bare hardened container of {IMAGE} to listening, p50 {b50:.2f} s "
        f"(n={len(baseline)})"
    )
    print(
        f"login-to-ready, {USERS} concurrent researchers: p50 {p50:.2f} s, p95 {p95:.2f} s "
        f"(target p50 <= 4 s); ratio to baseline p50 {p50 / b50:.1f}x, p95 {p95 / b50:.1f}x"
    )
    s50 = statistics.median(single)
    print(
        f"login-to-ready, one researcher alone: p50 {s50:.2f} s (n={len(single)}); "
        f"ratio to baseline {s50 / b50:.1f}x"
    )
    if memory:
        print(
            f"idle memory per sandbox: mean {statistics.mean(memory):.0f} MiB, "
            f"max {max(memory):.0f} MiB (n={len(memory)})"
        )
    load = os.getloadavg()[0]
    print(f"load average during the run: {load:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
