"""What a notebook in a hub-spawned sandbox cannot do to its server, the host or other
researchers (findings 1, 4, 8 and 9 of issue 15), tried from the kernel of the real stack.

Every attack is a cell run in the researcher's own kernel (the sandbox's uid, the spawner's
hardening and seccomp profile); every claim is judged from outside: the hub's API, the
server's HTTP answers, Docker, the airlock's audit chain.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest
from hubstack import Deployment, HubUser, container_of, vce

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def pair(deployment: Deployment) -> tuple[HubUser, HubUser, str]:
    for name in ("kira", "lars"):
        deployment.account(name)
    slug = deployment.project("kira", "lars")
    kira, lars = deployment.login("kira"), deployment.login("lars")
    kira.start(slug)
    lars.start(slug)
    return kira, lars, slug


def test_the_kernel_cannot_trace_its_server(pair: tuple[HubUser, HubUser, str]) -> None:
    kira, _, slug = pair
    out = kira.execute(
        slug,
        "import ctypes, errno, os, subprocess\n"
        "libc = ctypes.CDLL('libc.so.6', use_errno=True)\n"
        "def attach(pid):\n"
        "    rc = libc.ptrace(16, pid, None, None)\n"
        "    if rc != 0:\n"
        "        return errno.errorcode[ctypes.get_errno()]\n"
        "    os.waitpid(pid, 0x40000000)  # __WALL: until it stops, then let it go again\n"
        "    libc.ptrace(17, pid, None, None)\n"
        "    return 'attached'\n"
        "child = subprocess.Popen(['sleep', '30'])\n"
        "print(attach(os.getppid()), attach(child.pid))\n"
        "child.kill()\n"
        "try:\n"
        "    open(f'/proc/{os.getppid()}/mem', 'rb'); print('mem-read')\n"
        "except OSError as e:\n"
        "    print(errno.errorcode[e.errno])\n",
    )
    assert out["status"] == "ok", out
    server, child, mem = out["stdout"].split()
    assert (server, child) == ("EPERM", "EPERM")  # non-dumpable server, seccomp without ptrace
    assert mem in {"EACCES", "EPERM"}


def test_a_full_home_stops_at_its_quota(pair: tuple[HubUser, HubUser, str]) -> None:
    kira, _, slug = pair
    out = kira.execute(
        slug,
        "import errno, os\n"
        "written = 0\n"
        "try:\n"
        "    with open(os.path.expanduser('~/fill.bin'), 'wb') as f:\n"
        "        for _ in range(200):\n"
        "            f.write(b'\\0' * (1024 * 1024)); f.flush(); os.fsync(f.fileno())\n"
        "            written += 1\n"
        "    print(written, 'none')\n"
        "except OSError as e:\n"
        "    print(written, errno.errorcode[e.errno])\n",
    )
    written, error = out["stdout"].split()
    assert error == "ENOSPC" and int(written) <= 64, out  # 200 MiB would have fitted before
    upload = {"type": "file", "format": "text", "content": "y" * (2 * MiB)}
    full = kira.server_api(slug, "contents/upload.txt", "PUT", json=upload)
    assert full.status_code == 507, full.text
    message = full.json()["message"]
    assert "64M" in message and "sandbox.home_quota" in message
    kira.execute(slug, "import os; os.remove(os.path.expanduser('~/fill.bin'))")
    again = kira.server_api(slug, "contents/upload.txt", "PUT", json=upload)
    assert again.status_code in (200, 201), again.text  # uploads work again once there is room


def test_docker_dns_does_not_name_other_researchers(
    deployment: Deployment, pair: tuple[HubUser, HubUser, str]
) -> None:
    kira, _, slug = pair
    other = container_of("lars", slug)
    fmt = "{{(index .NetworkSettings.Networks " + f'"{deployment.network}"' + ").IPAddress}}"
    ip = subprocess.run(
        ["docker", "inspect", "-f", fmt, other], capture_output=True, text=True, check=True
    ).stdout.strip()
    out = kira.execute(
        slug,
        "import json, socket\n"
        "def look(fn, arg):\n"
        "    try:\n"
        "        return str(fn(arg))\n"
        "    except OSError as e:\n"
        "        return 'error ' + type(e).__name__\n"
        f"print(json.dumps([look(socket.gethostbyname, 'vce-lars--{slug}'),\n"
        f"                  look(socket.gethostbyname, 'vce-lars--{slug}.{deployment.network}'),\n"
        f"                  look(socket.gethostbyaddr, {ip!r})]))\n",
    )
    forward, qualified, reverse = json.loads(out["stdout"])
    assert forward.startswith("error") and qualified.startswith("error"), out
    assert "lars" not in reverse and slug not in reverse, reverse


def test_a_mixed_case_server_name_leaves_the_real_server_alone(
    pair: tuple[HubUser, HubUser, str],
) -> None:
    kira, _, slug = pair
    running = container_of("kira", slug)
    r = kira.api("POST", f"users/kira/servers/{slug.upper()}")
    deadline = time.monotonic() + 20
    while r.status_code in (201, 202) and time.monotonic() < deadline:
        if kira.server(slug.upper()) is None:
            break
        time.sleep(0.5)
    assert kira.server(slug.upper()) is None or not kira.server(slug.upper()).get("ready")
    assert container_of("kira", slug) == running  # the running sandbox was not touched
    assert kira.execute(slug, "print(6 * 7)")["stdout"].strip() == "42"


SEED_HOME = r"""
import json, os, nbformat
from nbformat.sign import NotebookNotary
home = os.path.expanduser("~")
hostile = {"ServerApp": {"contents_manager_class":
               "jupyter_server.services.contents.largefilemanager.AsyncLargeFileManager",
           "jpserver_extensions": {"vce.sandbox.hardening": False}},
           "CappedFileContentsManager": {"max_file_bytes": 10 ** 9}}
for d in (".jupyter", ".local/etc/jupyter", ".config/jupyter", "."):
    os.makedirs(os.path.join(home, d), exist_ok=True)
    for name in ("jupyter_server_config.json", "jupyter_config.json"):
        with open(os.path.join(home, d, name), "w") as f:
            json.dump(hostile, f)
marker = os.path.join(home, "loaded-by-server")
for site in (".local/lib/python3.11/site-packages", ".ipython/profile_default/startup"):
    os.makedirs(os.path.join(home, site), exist_ok=True)
code = f"open({marker!r}, 'w').write(str(os.getpid()))\n"
for path in (".local/lib/python3.11/site-packages/usercustomize.py",
             ".local/lib/python3.11/site-packages/sitecustomize.py", "sitecustomize.py",
             ".ipython/profile_default/startup/00-x.py"):
    with open(os.path.join(home, path), "w") as f:
        f.write("import os\n" + code)
nb = nbformat.v4.new_notebook()
nb.cells.append(nbformat.v4.new_code_cell("1", outputs=[nbformat.v4.new_output(
    "display_data", data={"text/html": "<script>alert(1)</script>"})]))
os.makedirs(os.path.join(home, ".local/share/jupyter"), exist_ok=True)
NotebookNotary(data_dir=os.path.join(home, ".local/share/jupyter")).sign(nb)
nbformat.write(nb, os.path.join(home, "signed.ipynb"))
with open(os.path.join(home, "big.csv"), "w") as f:
    f.write("z" * (2 * 1024 * 1024))
print("seeded")
"""


def test_nothing_in_home_changes_the_server_at_its_next_start(
    deployment: Deployment, pair: tuple[HubUser, HubUser, str]
) -> None:
    kira, _, slug = pair
    seeded = kira.execute(slug, SEED_HOME)
    assert seeded["stdout"].strip() == "seeded", seeded
    kira.stop(slug)
    deadline = time.monotonic() + 60
    while kira.server(slug) is not None and time.monotonic() < deadline:
        time.sleep(0.5)
    kira.start(slug)
    big = kira.server_api(slug, "contents/big.csv")
    assert big.status_code == 403, big.status_code  # the hardening and its cap still hold
    assert kira.server_api(slug, "contents/loaded-by-server?content=0").status_code == 404
    cells = kira.server_api(slug, "contents/signed.ipynb").json()["content"]["cells"]
    assert not cells[0]["metadata"].get("trusted"), "the kernel's own signing key was trusted"
    # the refusal is in the audit chain, which outlives the container
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        exported = vce(
            "audit", "export", "--db", deployment.settings.airlock_database_url,
            config=deployment.config,
        )  # fmt: skip
        records = [json.loads(line) for line in exported.stdout.splitlines()]
        mine = [
            r
            for r in records
            if r["action"] == "sandbox.refused"
            and r["actor"] == "kira"
            and r["payload"]["path"].endswith("big.csv")
        ]
        if mine:
            break
        time.sleep(1)
    assert mine, "no sandbox.refused record for kira's refused read"
    assert mine[0]["payload"]["project"] == slug
