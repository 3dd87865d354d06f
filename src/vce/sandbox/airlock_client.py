"""Talk to the airlock from inside a sandbox: ask for exports and follow them.

Only the standard library (``urllib``): the sandbox image should not need an HTTP stack for
three calls. The server's own JupyterHub API token (``JUPYTERHUB_API_TOKEN``) authenticates
the request as this researcher; the airlock never trusts anything else the sandbox sends — it
re-runs the SQL itself on the full data.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_TIMEOUT_S = 30.0
MAX_FILE_BYTES = 16 * 1024 * 1024
"""Client-side cap on file exports; the airlock applies the policy's own limit too."""


PREDICTED_BLOCK = (
    "Note: the static check in this sandbox expects the airlock to block this query "
    "(vce.check(sql) shows why); revise it and ask again."
)


class AirlockError(Exception):
    """The airlock could not be reached or refused the request; the message says what to do."""


class AirlockUnreachable(AirlockError):
    """No answer from the airlock (network, hub restarting, wrong URL)."""


class AirlockRefused(AirlockError):
    """The airlock answered with an error (4xx/5xx); ``code`` and ``status`` say which."""

    def __init__(self, message: str, code: str, status: int) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass(frozen=True)
class ExportRequest:
    """One export request as the airlock reports it."""

    data: dict[str, Any]
    local_check: Any = None  # the sandbox's own vce.check verdict on the SQL, when it has one

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    @property
    def id(self) -> str:
        """The airlock's id for this request."""
        return str(self.data.get("id"))

    @property
    def state(self) -> str:
        """Where the request is: e.g. pending review, approved, rejected, released."""
        return str(self.data.get("state"))

    def __str__(self) -> str:
        d = self.data
        reasons = d.get("reasons") or []
        lines = [f"export request {d.get('id')} · {d.get('name')!r} · {d.get('state')}"]
        lines += [f"  - {_reason_text(r)}" for r in reasons]
        if self.local_check is not None and not self.local_check.allowed:
            lines.append(f"  {PREDICTED_BLOCK}")
            lines += [f"    [{i.rule}] {i.message}" for i in self.local_check.issues]
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        d = self.data
        e = html.escape
        reasons = "".join(f"<li>{e(_reason_text(r))}</li>" for r in d.get("reasons") or [])
        if self.local_check is not None and not self.local_check.allowed:
            reasons += f"<li>{e(PREDICTED_BLOCK)}{self.local_check._repr_html_()}</li>"
        return (
            f"<div class='vce-export'><b>Export request {e(str(d.get('id')))}</b> · "
            f"{e(str(d.get('name')))} · <code>{e(str(d.get('state')))}</code>"
            + (f"<ul>{reasons}</ul>" if reasons else "")
            + "</div>"
        )


def _reason_text(reason: Any) -> str:
    if isinstance(reason, dict):
        rule = reason.get("rule") or reason.get("code")
        message = reason.get("message") or json.dumps(reason)
        return f"[{rule}] {message}" if rule else str(message)
    return str(reason)


@dataclass(frozen=True)
class ExportList:
    """The project's export requests, newest as the airlock orders them."""

    requests: tuple[ExportRequest, ...]

    def __len__(self) -> int:
        return len(self.requests)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.requests)

    def __getitem__(self, i: int) -> ExportRequest:
        return self.requests[i]

    def __str__(self) -> str:
        if not self.requests:
            return "no export requests yet for this project"
        rows = [
            f"{r.data.get('id')!s:>6}  {r.data.get('state')!s:<16} {r.data.get('kind')!s:<6} "
            f"{r.data.get('created')!s:<25} {r.data.get('name')}"
            for r in self.requests
        ]
        return "\n".join(["    id  state            kind   created                   name", *rows])

    __repr__ = __str__

    def _repr_html_(self) -> str:
        e = html.escape
        head = "".join(f"<th>{h}</th>" for h in ("id", "state", "kind", "created", "name"))
        body = "".join(
            "<tr>"
            + "".join(
                f"<td>{e(str(r.data.get(k, '')))}</td>"
                for k in ("id", "state", "kind", "created", "name")
            )
            + "</tr>"
            for r in self.requests
        )
        return f"<table class='vce-exports'><tr>{head}</tr>{body}</table>"


@dataclass(frozen=True)
class AirlockClient:
    """The airlock's export API as seen from one sandbox."""

    base_url: str
    token: str
    project: str
    timeout: float = DEFAULT_TIMEOUT_S

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> AirlockClient:
        """Build from what the hub sets in a sandbox; fail naming the missing variable."""
        env = dict(os.environ) if env is None else env
        missing = [
            k for k in ("VCE_AIRLOCK_URL", "JUPYTERHUB_API_TOKEN", "VCE_PROJECT") if not env.get(k)
        ]
        if missing:
            raise AirlockError(
                f"{', '.join(missing)} not set: exports work from a project server started by "
                "the VCE hub, which sets them. Restart your server from the hub's home page; "
                "if that does not help, tell your administrator."
            )
        url = env["VCE_AIRLOCK_URL"]
        return cls(
            url if url.endswith("/") else url + "/", env["JUPYTERHUB_API_TOKEN"], env["VCE_PROJECT"]
        )

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        url = urllib.parse.urljoin(self.base_url, path)
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Authorization", f"token {self.token}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            raise _refusal(e, url) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise AirlockUnreachable(
                f"cannot reach the airlock at {self.base_url} ({reason}). Your notebook and "
                "data are fine; try again in a minute (the hub may be restarting). If it "
                "persists, tell your administrator that the airlock service is down."
            ) from None

    def request_export(self, sql: str, name: str, purpose: str) -> ExportRequest:
        """Ask for the result of ``sql`` to be exported (the airlock re-runs it)."""
        body = {"kind": "query", "project": self.project, "name": name, "purpose": purpose}
        body["sql"] = sql
        return ExportRequest(self._request("POST", "api/requests", body))

    def request_file_export(self, path: str | Path, name: str, purpose: str) -> ExportRequest:
        """Ask for a file (a figure, a table you wrote) to be exported after review."""
        p = Path(path)
        if not p.is_file():
            raise AirlockError(f"{p} is not a file; give the path of the file to export")
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise AirlockError(
                f"{p} has {size} bytes, above the {MAX_FILE_BYTES} byte limit for file exports; "
                "export the query that produces it instead (vce.request_export)."
            )
        body = {
            "kind": "file",
            "project": self.project,
            "name": name,
            "purpose": purpose,
            "filename": p.name,
            "content_base64": base64.b64encode(p.read_bytes()).decode("ascii"),
        }
        return ExportRequest(self._request("POST", "api/requests", body))

    def resubmit(
        self, request_id: str | int, sql: str, purpose: str | None = None
    ) -> ExportRequest:
        """Send revised SQL for a denied or returned request (checked again, new revision)."""
        body: dict[str, Any] = {"sql": sql}
        if purpose:
            body["purpose"] = purpose
        path = f"api/requests/{urllib.parse.quote(str(request_id))}/resubmit"
        return ExportRequest(self._request("POST", path, body))

    def withdraw(self, request_id: str | int) -> ExportRequest:
        """Give up on a request that is not final yet."""
        path = f"api/requests/{urllib.parse.quote(str(request_id))}/withdraw"
        return ExportRequest(self._request("POST", path, {}))

    def exports(self) -> ExportList:
        """List this project's export requests and their states."""
        query = urllib.parse.urlencode({"project": self.project})
        doc = self._request("GET", f"api/requests?{query}")
        return ExportList(tuple(ExportRequest(r) for r in (doc or {}).get("requests", [])))


def _refusal(e: urllib.error.HTTPError, url: str) -> AirlockRefused:
    """Turn the airlock's JSON error (or whatever came back) into a readable exception."""
    raw = e.read() or b""
    code, message = f"http_{e.code}", raw.decode("utf-8", "replace").strip()[:500]
    try:
        err = json.loads(raw).get("error") or {}
        code = str(err.get("code") or code)
        message = str(err.get("message") or message)
    except (ValueError, AttributeError):
        pass
    if e.code in (401, 403) and not message:
        message = "not authorised; restart your server from the hub so it gets a fresh token"
    return AirlockRefused(
        f"the airlock refused the request ({e.code} {code}): {message or e.reason}", code, e.code
    )


def _client() -> AirlockClient:
    return AirlockClient.from_env()


def request_export(sql: str, *, name: str, purpose: str) -> ExportRequest:
    """Ask the airlock to export the result of ``sql``; it re-runs the query on the full data.

    ``name`` names the output (it becomes the released file's name), ``purpose`` tells the
    reviewer why you need it. Returns the request with its state and the airlock's first
    check reasons; follow it with :func:`exports`.
    """
    client = _client()
    req = client.request_export(sql, name, purpose)
    return dataclasses.replace(req, local_check=_local_check(sql))


def _local_check(sql: str) -> Any:
    """The sandbox's static verdict, or ``None`` if it cannot be computed (never blocks sending)."""
    try:
        from vce.sandbox.checking import check

        return check(sql)
    except Exception:
        return None


def request_file_export(path: str | Path, *, name: str, purpose: str) -> ExportRequest:
    """Ask the airlock to export a file you made (a figure, a small table) after review."""
    return _client().request_file_export(path, name, purpose)


def resubmit_export(
    request_id: str | int, sql: str, *, purpose: str | None = None
) -> ExportRequest:
    """Revise a ``denied`` or ``returned`` request with new SQL; the airlock checks it again."""
    req = _client().resubmit(request_id, sql, purpose)
    return dataclasses.replace(req, local_check=_local_check(sql))


def withdraw_export(request_id: str | int) -> ExportRequest:
    """Withdraw one of your requests that is not final yet."""
    return _client().withdraw(request_id)


def exports() -> ExportList:
    """List this project's export requests and where each one is."""
    return _client().exports()
