"""Run a notebook the way JupyterLab does: a session over the server's REST API, then
``execute_request`` messages over the kernel websocket (``/api/kernels/<id>/channels``).

Nothing runs inside the container except what the server itself starts, so this exercises the
server's HTTP and websocket API end to end (auth, sessions, kernels, message routing).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

OUTPUT_TYPES = {"stream", "execute_result", "display_data", "error"}


@dataclass
class CellRun:
    """One executed code cell: its source, the reply status and the iopub outputs."""

    source: str
    status: str = ""
    outputs: list[dict[str, Any]] = field(default_factory=list)
    reply: dict[str, Any] = field(default_factory=dict)
    """Content of the ``execute_reply`` (``user_expressions`` are there)."""
    reply_bytes: int = 0
    """Size of the ``execute_reply`` as the websocket delivered it."""

    def text(self) -> str:
        """Every stream, traceback and textual rich output (plain, HTML, …), joined."""
        parts = []
        for out in self.outputs:
            content = out["content"]
            if out["msg_type"] == "stream":
                parts.append(content["text"])
            elif out["msg_type"] == "error":
                parts.append("\n".join(content["traceback"]))
            else:
                data = content.get("data", {})
                parts += [
                    v for k, v in data.items() if k.startswith("text/") and isinstance(v, str)
                ]
        return "".join(parts)

    def mime_types(self) -> set[str]:
        """MIME types of the rich outputs (``image/png`` for a plot …)."""
        return {m for out in self.outputs for m in out["content"].get("data", {})}


def _request(msg_type: str, session: str, content: dict[str, Any]) -> dict[str, Any]:
    return {
        "header": {
            "msg_id": uuid.uuid4().hex,
            "msg_type": msg_type,
            "username": "researcher",
            "session": session,
            "date": datetime.now(UTC).isoformat(),
            "version": "5.3",
        },
        "parent_header": {},
        "metadata": {},
        "content": content,
        "channel": "shell",
        "buffers": [],
    }


def _execute_request(
    code: str, session: str, user_expressions: dict[str, str] | None = None
) -> dict[str, Any]:
    return _request(
        "execute_request",
        session,
        {
            "code": code,
            "silent": False,
            "store_history": True,
            "user_expressions": user_expressions or {},
            "allow_stdin": False,
            "stop_on_error": True,
        },
    )


async def _wait_until_ready(conn: Any, session: str, timeout: float) -> None:
    """Ask for kernel_info until the kernel answers, as JupyterLab does on connecting.

    A request sent while a just-started kernel is still opening its channels can be lost;
    a cell sent then would wait for a reply that never comes.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    sent: set[str] = set()
    while True:
        msg = _request("kernel_info_request", session, {})
        sent.add(msg["header"]["msg_id"])
        await conn.write_message(json.dumps(msg))
        retry_at = asyncio.get_running_loop().time() + 2
        while (now := asyncio.get_running_loop().time()) < retry_at:
            if now > deadline:
                raise TimeoutError(f"the kernel did not answer kernel_info in {timeout} s")
            try:
                raw = await asyncio.wait_for(conn.read_message(), retry_at - now)
            except TimeoutError:
                break
            if raw is None:
                raise ConnectionError("kernel websocket closed before the kernel was ready")
            reply = json.loads(raw)
            if (
                reply.get("msg_type") == "kernel_info_reply"
                and reply.get("parent_header", {}).get("msg_id") in sent
            ):
                return


async def run_cells(
    ws_url: str,
    token: str,
    cells: list[str],
    timeout: float,
    user_expressions: dict[str, str] | None = None,
) -> list[CellRun]:
    """Run ``cells`` in order on the kernel at ``ws_url``; stop after the first that fails.

    ``user_expressions`` go with every execute request (JupyterLab itself sends none).
    """
    conn = await websocket_connect(
        HTTPRequest(ws_url, headers={"Authorization": f"token {token}"}, request_timeout=timeout)
    )
    session = uuid.uuid4().hex
    runs: list[CellRun] = []
    try:
        await _wait_until_ready(conn, session, timeout)
        for source in cells:
            msg = _execute_request(source, session, user_expressions)
            msg_id = msg["header"]["msg_id"]
            await conn.write_message(json.dumps(msg))
            run = CellRun(source)
            idle = False
            while not (run.status and idle):
                raw = await asyncio.wait_for(conn.read_message(), timeout)
                if raw is None:
                    raise ConnectionError("kernel websocket closed while a cell was running")
                reply = json.loads(raw)
                if reply.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = reply["msg_type"]
                if reply["channel"] == "shell" and kind == "execute_reply":
                    run.status = reply["content"]["status"]
                    run.reply, run.reply_bytes = reply["content"], len(raw)
                elif kind == "status" and reply["content"]["execution_state"] == "idle":
                    idle = True
                elif kind in OUTPUT_TYPES:
                    run.outputs.append(reply)
            runs.append(run)
            if run.status != "ok":
                break
    finally:
        conn.close()
    return runs


def run_notebook(
    base_url: str, token: str, path: str, timeout: float = 180
) -> tuple[dict[str, Any], list[CellRun]]:
    """Open ``path`` through the contents API, start a session, run every code cell in order.

    Returns the notebook model as the server sent it and one :class:`CellRun` per executed
    cell; execution stops at the first failing cell, as *Run All* does. The session (and its
    kernel) is deleted afterwards.
    """
    headers = {"Authorization": f"token {token}"}
    opened = requests.get(f"{base_url}api/contents/{path}", headers=headers, timeout=60)
    opened.raise_for_status()
    model = opened.json()
    cells = [
        c["source"] if isinstance(c["source"], str) else "".join(c["source"])
        for c in model["content"]["cells"]
        if c["cell_type"] == "code"
    ]
    created = requests.post(
        f"{base_url}api/sessions",
        headers=headers,
        json={"path": path, "name": path, "type": "notebook", "kernel": {"name": "python3"}},
        timeout=60,
    )
    created.raise_for_status()
    session = created.json()
    ws_url = base_url.replace("http", "ws", 1) + f"api/kernels/{session['kernel']['id']}/channels"
    try:
        runs = asyncio.run(run_cells(ws_url, token, cells, timeout))
    finally:
        requests.delete(f"{base_url}api/sessions/{session['id']}", headers=headers, timeout=60)
    return model, runs
