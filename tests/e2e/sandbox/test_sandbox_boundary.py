"""The kernel cannot control its server, and the bulk channels of finding 4 are closed.

Every attack is code a researcher runs in a notebook: it goes over the kernel websocket to a
kernel of the real image's server (uid 1000, the hub's hardening flags and seccomp profile),
exactly as JupyterLab sends a cell. What comes back is judged from the outside: the reply the
browser would get, the HTTP answer, the refusal report the airlock receives.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_kernel_ws import CellRun, run_cells
from sandbox_container import SandboxContainer, running_sandbox

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]

KiB, MiB = 1024, 1024 * 1024


def in_kernel(
    box: SandboxContainer, code: str, user_expressions: dict[str, str] | None = None
) -> CellRun:
    """Run one cell in a fresh kernel of ``box`` (as a notebook would); return the run."""
    created = box.api("POST", "api/kernels", json={"name": "python3"})
    assert created.status_code == 201, created.text
    kid = created.json()["id"]
    try:
        ws = box.url.replace("http", "ws", 1) + f"api/kernels/{kid}/channels"
        (run,) = asyncio.run(run_cells(ws, box.token, [code], 120, user_expressions))
        return run
    finally:
        box.api("DELETE", f"api/kernels/{kid}")


PTRACE = """
import ctypes, errno, os, subprocess
libc = ctypes.CDLL("libc.so.6", use_errno=True)
PTRACE_ATTACH, PTRACE_DETACH = 16, 17
server = os.getppid()
cmdline = open(f"/proc/{server}/cmdline", "rb").read().replace(b"\\0", b" ").decode()
result = {"server_cmdline": cmdline}

def attach(pid):
    rc = libc.ptrace(PTRACE_ATTACH, pid, None, None)
    err = ctypes.get_errno()
    if rc != 0:
        return errno.errorcode[err]
    os.waitpid(pid, 0x40000000)  # __WALL: until it stops, then let it go again
    libc.ptrace(PTRACE_DETACH, pid, None, None)
    return "attached"

result["attach_server"] = attach(server)
try:
    with open(f"/proc/{server}/mem", "rb") as f:
        result["server_mem"] = "read"
except OSError as e:
    result["server_mem"] = errno.errorcode[e.errno]

class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]

buf = ctypes.create_string_buffer(8)
local = iovec(ctypes.cast(buf, ctypes.c_void_p), 8)
remote = iovec(0x400000, 8)
libc.process_vm_readv.argtypes = [ctypes.c_int, ctypes.POINTER(iovec), ctypes.c_ulong,
                                  ctypes.POINTER(iovec), ctypes.c_ulong, ctypes.c_ulong]
rc = libc.process_vm_readv(server, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
result["vm_read_server"] = "read" if rc >= 0 else errno.errorcode[ctypes.get_errno()]
# Control for seccomp: a child of the kernel is dumpable and the kernel's own, so only a
# syscall filter stops the kernel from attaching to it.
child = subprocess.Popen(["sleep", "60"])
try:
    result["attach_own_child"] = attach(child.pid)
finally:
    child.kill()
print(json.dumps(result))
"""


def test_the_kernel_cannot_trace_or_read_its_server(sandbox_container: SandboxContainer) -> None:
    run = in_kernel(sandbox_container, "import json\n" + PTRACE)
    assert run.status == "ok", run.text()
    result = json.loads(run.text().strip().splitlines()[-1])
    assert "jupyter" in result["server_cmdline"]  # control: it is the server we aimed at
    assert result["attach_server"] == "EPERM"
    assert result["server_mem"] in {"EACCES", "EPERM"}
    assert result["vm_read_server"] == "EPERM"
    assert result["attach_own_child"] == "EPERM"  # seccomp, not only non-dumpable


def test_user_expressions_are_capped(sandbox_container: SandboxContainer) -> None:
    small = in_kernel(sandbox_container, "x = 40", {"ok": "x + 2"})
    assert small.reply["user_expressions"]["ok"]["data"]["text/plain"] == "42"  # normal use
    big = in_kernel(sandbox_container, "blob = 'a' * (4 * 1024 * 1024)", {"bulk": "blob"})
    refused = big.reply["user_expressions"]["bulk"]
    assert refused["status"] == "error" and refused["ename"] == "VCERefused"
    assert big.reply_bytes < 16 * KiB
    assert "was not sent" in big.text()
    reported = [r["what"] for r in sandbox_container.airlock.refusals]
    assert any("user_expressions" in what for what in reported)


def test_a_huge_output_message_is_not_sent(sandbox_container: SandboxContainer) -> None:
    run = in_kernel(
        sandbox_container,
        "from IPython.display import display\n"
        "display({'text/plain': 'b' * (9 * 1024 * 1024)}, raw=True)\nprint('done')",
    )
    assert run.status == "ok"
    sizes = [len(json.dumps(o)) for o in run.outputs]
    assert max(sizes) < 1 * MiB, sizes
    assert "done" in run.text() and "was not sent" in run.text()


def test_a_workspace_the_kernel_wrote_is_not_served_in_bulk(
    sandbox_container: SandboxContainer,
) -> None:
    code = """
import json, os
from jupyterlab_server.workspaces_handler import WORKSPACE_EXTENSION, slugify
d = os.environ["JUPYTERLAB_WORKSPACES_DIR"]
os.makedirs(d, exist_ok=True)
for name, size in (("small", 100), ("bulk", 2 * 1024 * 1024)):
    ws = {"data": {"payload": "c" * size}, "metadata": {"id": "/" + name}}
    with open(os.path.join(d, slugify(name) + WORKSPACE_EXTENSION), "w") as f:
        json.dump(ws, f)
print("written")
"""
    assert "written" in in_kernel(sandbox_container, code).text()
    small = sandbox_container.api("GET", "lab/api/workspaces/small")
    assert small.status_code == 200 and "c" * 100 in small.text  # control: files are served
    bulk = sandbox_container.api("GET", "lab/api/workspaces/bulk")
    assert bulk.status_code == 403 and "cccc" not in bulk.text
    assert "cap" in bulk.json()["message"]


@pytest.fixture(scope="module")
def small_budgets(sandbox_image: str, dataset: Path) -> Iterator[SandboxContainer]:
    """A sandbox of its own whose budgets are small enough to spend in a test."""
    with running_sandbox(
        sandbox_image,
        dataset,
        (
            f"--CappedFileContentsManager.session_budget_bytes={8 * MiB}",
            f"--GuardedKernelWebsocketConnection.reply_budget_bytes={1 * MiB}",
        ),
    ) as box:
        yield box


def test_a_file_split_under_the_cap_stops_at_the_contents_budget(
    small_budgets: SandboxContainer,
) -> None:
    code = """
import os
os.makedirs("parts", exist_ok=True)
for i in range(16):
    with open(f"parts/{i:02}.csv", "w") as f:
        f.write("d" * (1024 * 1024 - 100))
print("split")
"""
    assert "split" in in_kernel(small_budgets, code).text()
    answers = [small_budgets.api("GET", f"api/contents/parts/{i:02}.csv") for i in range(16)]
    served = [r for r in answers if r.status_code == 200]
    assert 4 <= len(served) <= 8  # about 8 MiB, then the budget is spent
    refused = [r for r in answers if r.status_code == 403]
    assert refused and "budget" in refused[0].json()["message"]
    # the file browser still works: listings and metadata are small
    assert small_budgets.api("GET", "api/contents/parts?content=0").status_code == 200
    assert any("budget" in r["what"] for r in small_budgets.airlock.refusals)


def test_many_small_replies_stop_at_the_reply_budget(small_budgets: SandboxContainer) -> None:
    expressions = {f"e{i}": f"'{i}' * {12 * KiB // 8}" for i in range(8)}  # ~12 KiB a reply
    created = small_budgets.api("POST", "api/kernels", json={"name": "python3"})
    kid = created.json()["id"]
    try:
        ws = small_budgets.url.replace("http", "ws", 1) + f"api/kernels/{kid}/channels"
        runs = asyncio.run(run_cells(ws, small_budgets.token, ["1"] * 200, 120, expressions))
    finally:
        small_budgets.api("DELETE", f"api/kernels/{kid}")
    # 200 replies of 12 KiB would carry 2.4 MiB; the reply budget is 1 MiB
    assert runs[-1].status == "error" and len(runs) < 200
    assert sum(r.reply_bytes for r in runs) < 1 * MiB + 64 * KiB
    after = in_kernel(small_budgets, "print(6 * 7)")
    assert "42" in after.text()  # a notebook still runs: small replies pass
