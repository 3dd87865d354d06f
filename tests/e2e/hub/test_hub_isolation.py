"""DESIGN's first trust boundary, tested from inside a running sandbox — one test per claim.

Each attack runs in the researcher's container (``docker exec``: same user, capabilities,
namespaces, cgroup and no-new-privileges as the notebook kernel), and each network claim has a
control showing the target really listens, so a test fails if isolation breaks.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
from hubstack import Deployment, container_of, sandbox_exec

from vce.hub import deploy

pytestmark = [pytest.mark.docker, pytest.mark.timeout(300)]

CONNECT = """
import socket, sys
s = socket.socket(); s.settimeout(3)
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    print("CONNECTED")
except OSError as e:
    print("BLOCKED", e)
"""


@dataclass
class Sandboxes:
    mine: str
    other: str
    other_ip: str
    project: str


@pytest.fixture(scope="module")
def sandboxes(deployment: Deployment) -> Sandboxes:
    for name in ("iris", "otto"):
        deployment.account(name)
    slug = deployment.project("iris", "otto")
    for name in ("iris", "otto"):
        deployment.login(name).start(slug)
    other = container_of("otto", slug)
    ip = inspect_ip(other, deployment.network)
    return Sandboxes(container_of("iris", slug), other, ip, slug)


def inspect_ip(container: str, network: str) -> str:
    fmt = "{{(index .NetworkSettings.Networks " + f'"{network}"' + ").IPAddress}}"
    out = subprocess.run(
        ["docker", "inspect", "-f", fmt, container], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def connect_from(container: str, host: str, port: int) -> str:
    r = subprocess.run(
        ["docker", "exec", container, "python3", "-c", CONNECT, host, str(port)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return r.stdout.strip() or r.stderr.strip()


def host_can_connect(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=3):
            return True
    except OSError:
        return False


@pytest.fixture
def host_listener() -> Iterator[int]:
    """A TCP listener the test starts on the host, on every address (0.0.0.0)."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", 0))
    srv.listen(8)
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.5)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                conn.close()
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join()
    srv.close()


@pytest.fixture
def other_network_listener(deployment: Deployment) -> Iterator[str]:
    """A web server in a container on another (ordinary) Docker network; yields its address."""
    name = f"vcet-other-{uuid.uuid4().hex[:6]}"
    subprocess.run(["docker", "network", "create", name], check=True, capture_output=True)
    try:
        subprocess.run(
            [
                "docker",
                "run",
                "-d",
                "--rm",
                "--name",
                name,
                "--network",
                name,
                "--read-only",
                "--entrypoint",
                "python3",
                deployment.image,
                "-m",
                "http.server",
                "8000",
            ],
            check=True,
            capture_output=True,
        )
        yield inspect_ip(name, name)
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
        subprocess.run(["docker", "network", "rm", name], capture_output=True)


def test_cannot_reach_a_listener_on_another_docker_network(
    sandboxes: Sandboxes, other_network_listener: str
) -> None:
    ip = other_network_listener
    for _ in range(30):  # control: it listens, the host reaches it
        if host_can_connect(ip, 8000):
            break
        import time

        time.sleep(0.3)
    assert host_can_connect(ip, 8000)
    assert connect_from(sandboxes.mine, ip, 8000).startswith("BLOCKED")


def test_cannot_reach_host_ports_other_than_hub_api_and_airlock(
    deployment: Deployment, sandboxes: Sandboxes, host_listener: int
) -> None:
    gw = deployment.settings.gateway
    assert host_can_connect(gw, host_listener)  # control: listening on the gateway address too
    assert connect_from(sandboxes.mine, gw, host_listener).startswith("BLOCKED")
    s = deployment.settings
    assert connect_from(sandboxes.mine, gw, s["hub"]["hub_port"]) == "CONNECTED"
    assert connect_from(sandboxes.mine, gw, s["airlock"]["port"]) == "CONNECTED"


def test_cannot_reach_another_researchers_container(sandboxes: Sandboxes) -> None:
    assert host_can_connect(sandboxes.other_ip, 8888)  # control: the proxy's route works
    assert connect_from(sandboxes.mine, sandboxes.other_ip, 8888).startswith("BLOCKED")


def test_no_docker_socket(sandboxes: Sandboxes) -> None:
    r = sandbox_exec(
        sandboxes.mine,
        "import glob, os\n"
        "found = [p for p in ('/var/run/docker.sock', '/run/docker.sock') if os.path.exists(p)]\n"
        "for top in ('/var', '/run', '/tmp', '/home', '/data', '/opt', '/etc', '/srv', '/mnt'):\n"
        "    found += glob.glob(top + '/**/*.sock', recursive=True)\n"
        "print('SOCKETS', found)",
    )
    assert r.stdout.strip() == "SOCKETS []", r.stderr


def test_cannot_write_data_mounts_or_root_filesystem(sandboxes: Sandboxes) -> None:
    r = sandbox_exec(
        sandboxes.mine,
        "import os\n"
        "targets = ['/data/demo/videos/audience=adult/x.parquet', '/data/demo/new',\n"
        "           '/etc/passwd', '/usr/bin/x', '/opt/vce/bin/x', '/x']\n"
        "for t in targets:\n"
        "    try:\n"
        "        open(t, 'a').close(); print('WROTE', t)\n"
        "    except OSError as e:\n"
        "        print('REFUSED', t, e.errno)\n"
        "open(os.path.expanduser('~/ok.txt'), 'w').write('home is writable')\n"
        "print('HOME OK')",
    )
    assert "WROTE" not in r.stdout, r.stdout
    assert r.stdout.count("REFUSED") == 6 and "HOME OK" in r.stdout, r.stdout + r.stderr


def test_real_minor_rows_are_not_mounted(sandboxes: Sandboxes) -> None:
    r = sandbox_exec(
        sandboxes.mine,
        "import glob\nprint(sorted({p.split('/')[-1] for p in glob.glob('/data/*/*/audience=*')}))",
    )
    assert r.stdout.strip() == "['audience=adult']", r.stdout + r.stderr  # not U18-approved


def test_runs_as_uid_1000_without_capabilities(sandboxes: Sandboxes) -> None:
    r = sandbox_exec(
        sandboxes.mine,
        "import os\n"
        "status = dict(l.split(':\\t', 1) for l in open('/proc/self/status').read().splitlines()"
        " if ':\\t' in l)\n"
        "print(os.getuid(), os.getgid(), status['CapEff'].strip(), status['CapBnd'].strip(),"
        " status['NoNewPrivs'].strip())",
    )
    assert r.stdout.split() == ["1000", "1000", "0" * 16, "0" * 16, "1"], r.stdout + r.stderr


def test_fork_bomb_is_stopped_by_the_pids_limit(
    deployment: Deployment, sandboxes: Sandboxes
) -> None:
    r = sandbox_exec(
        sandboxes.mine,
        "import os, signal, time\n"
        "kids = []\n"
        "try:\n"
        "    for _ in range(100000):\n"
        "        pid = os.fork()\n"
        "        if pid == 0:\n"
        "            time.sleep(60); os._exit(0)\n"
        "        kids.append(pid)\n"
        "    print('UNLIMITED')\n"
        "except OSError as e:\n"
        "    print('STOPPED', len(kids), e.errno)\n"
        "for k in kids:\n"
        "    os.kill(k, signal.SIGKILL)\n"
        "for k in kids:\n"
        "    os.waitpid(k, 0)\n",
        timeout=120,
    )
    words = r.stdout.split()
    assert words[:1] == ["STOPPED"], r.stdout + r.stderr
    assert int(words[1]) < deployment.settings["sandbox"]["pids_limit"]
    assert deploy.health(deployment.settings)


def test_memory_exhaustion_kills_only_the_containers_process(
    deployment: Deployment, sandboxes: Sandboxes
) -> None:
    r = sandbox_exec(
        sandboxes.mine,
        "blocks = []\nwhile True:\n    blocks.append(bytearray(64 * 2**20))\n",
        timeout=120,
    )
    assert r.returncode == 137, (r.returncode, r.stderr[-300:])  # SIGKILL by the OOM killer
    assert deploy.health(deployment.settings)  # the hub is alive
    user = deployment.login("iris")
    assert user.server_api(sandboxes.project, "status").status_code == 200  # and the server too
    assert requests.get(deployment.url + "/hub/health", timeout=5).status_code == 200


def test_no_upstream_dns_resolver(sandboxes: Sandboxes) -> None:
    # Checked on the container's configuration, not by a lookup: a lookup that failed to be
    # blocked would leave this machine.
    out = subprocess.run(
        ["docker", "inspect", "-f", "{{json .HostConfig.Dns}}", sandboxes.mine],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == '["127.0.0.1"]'
    r = sandbox_exec(sandboxes.mine, "print(open('/etc/resolv.conf').read())")
    servers = [line.split()[1] for line in r.stdout.splitlines() if line.startswith("nameserver")]
    assert servers == ["127.0.0.11"], r.stdout  # only Docker's embedded DNS, no host resolver
