"""The export calls against a real HTTP server on loopback speaking the documented API."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import vce
from vce.sandbox import AirlockRefused, AirlockUnreachable
from vce.sandbox.airlock_client import MAX_FILE_BYTES, AirlockError

TOKEN = "sandbox-token-123"


class Stub:
    """Records requests; answers like the airlock contract, or with a configured error."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.fail_with: tuple[int, bytes] | None = None
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/services/airlock/"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_a: Any) -> None:
                pass

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _common(self, body: dict[str, Any] | None) -> bool:
                stub.received.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "auth": self.headers.get("Authorization"),
                        "body": body,
                    }
                )
                if stub.fail_with:
                    self._send(*stub.fail_with)
                    return False
                if self.headers.get("Authorization") != f"token {TOKEN}":
                    self._send(403, b'{"error": {"code": "forbidden", "message": "bad token"}}')
                    return False
                return True

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self._common(body):
                    if self.path.endswith(("/resubmit", "/withdraw")):
                        body = {"project": "demo", "name": "by-region", "kind": "query"}
                    reply = {"id": "7", "state": "checking", "project": body["project"],
                             "name": body["name"], "kind": body["kind"],
                             "created": "2026-11-25T18:00:00Z",
                             "reasons": [{"rule": "min_entities", "message": "3 rows suppressed"}]}  # fmt: skip
                    self._send(201, json.dumps(reply).encode())

            def do_GET(self) -> None:
                if self._common(None):
                    one = {"id": "7", "state": "approved", "kind": "query", "name": "by-region",
                           "created": "2026-11-25T18:00:00Z"}  # fmt: skip
                    doc = one if self.path.endswith("/api/requests/7") else {"requests": [one]}
                    self._send(200, json.dumps(doc).encode())

        return Handler

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stub]:
    s = Stub()
    monkeypatch.setenv("VCE_AIRLOCK_URL", s.url)
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", TOKEN)
    monkeypatch.setenv("VCE_PROJECT", "demo")
    yield s
    s.close()


def test_request_export_posts_the_contract_body(stub: Stub) -> None:
    req = vce.request_export("SELECT 1", name="by-region", purpose="paper figure 2")
    (sent,) = stub.received
    assert sent["method"] == "POST" and sent["path"] == "/services/airlock/api/requests"
    assert sent["auth"] == f"token {TOKEN}"
    assert sent["body"] == {"kind": "query", "project": "demo", "name": "by-region",
                            "purpose": "paper figure 2", "sql": "SELECT 1"}  # fmt: skip
    assert req.id == "7" and req.state == "checking"
    assert "3 rows suppressed" in str(req) and "3 rows suppressed" in req._repr_html_()


def test_request_file_export_sends_base64(stub: Stub, tmp_path: Path) -> None:
    f = tmp_path / "figure.png"
    f.write_bytes(b"\x89PNG fake")
    vce.request_file_export(f, name="fig", purpose="slides")
    body = stub.received[0]["body"]
    assert body["kind"] == "file" and body["filename"] == "figure.png"
    assert base64.b64decode(body["content_base64"]) == b"\x89PNG fake"


def test_file_export_refuses_missing_and_huge_files(stub: Stub, tmp_path: Path) -> None:
    with pytest.raises(AirlockError, match="is not a file"):
        vce.request_file_export(tmp_path / "nope.csv", name="x", purpose="y")
    big = tmp_path / "big.bin"
    with big.open("wb") as fh:
        fh.truncate(MAX_FILE_BYTES + 1)
    with pytest.raises(AirlockError, match="export the query"):
        vce.request_file_export(big, name="x", purpose="y")
    assert stub.received == []


def test_exports_lists_the_project(stub: Stub) -> None:
    listed = vce.exports()
    assert stub.received[0]["path"] == "/services/airlock/api/requests?project=demo"
    assert len(listed) == 1 and listed[0].state == "approved"
    assert "by-region" in str(listed) and "<table" in listed._repr_html_()


def test_refusal_shows_the_airlock_message(stub: Stub) -> None:
    stub.fail_with = (400, b'{"error": {"code": "policy", "message": "user_id may not be output"}}')
    with pytest.raises(AirlockRefused, match="user_id may not be output") as err:
        vce.request_export("SELECT user_id FROM users", name="x", purpose="y")
    assert err.value.status == 400 and err.value.code == "policy"


def test_refusal_without_json_is_still_readable(stub: Stub) -> None:
    stub.fail_with = (502, b"<html>Bad gateway</html>")
    with pytest.raises(AirlockRefused, match="502"):
        vce.exports()


def test_wrong_token_is_refused(stub: Stub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "stolen")
    with pytest.raises(AirlockRefused, match="bad token"):
        vce.exports()


def test_unreachable_airlock_names_the_url(stub: Stub) -> None:
    url = stub.url
    stub.close()  # the port we opened is closed again: connection refused
    with pytest.raises(AirlockUnreachable, match="cannot reach the airlock at " + url):
        vce.request_export("SELECT 1", name="x", purpose="y")


def test_missing_environment_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    for k in ("VCE_AIRLOCK_URL", "JUPYTERHUB_API_TOKEN", "VCE_PROJECT"):
        monkeypatch.delenv(k, raising=False)
    with pytest.raises(AirlockError, match="VCE_AIRLOCK_URL, JUPYTERHUB_API_TOKEN, VCE_PROJECT"):
        vce.exports()


def test_resubmit_and_withdraw_paths(stub: Stub) -> None:
    vce.resubmit_export(7, "SELECT 2", purpose="narrower")
    vce.withdraw_export("7")
    resub, withdraw = stub.received
    assert resub["path"] == "/services/airlock/api/requests/7/resubmit"
    assert resub["body"] == {"sql": "SELECT 2", "purpose": "narrower"}
    assert withdraw["path"] == "/services/airlock/api/requests/7/withdraw"
    assert withdraw["method"] == "POST"
