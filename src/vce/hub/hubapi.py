"""A minimal client for JupyterHub's REST API (stdlib only: the CLI must not need more)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class HubAPIError(RuntimeError):
    """The hub answered with an error status, or could not be reached."""

    def __init__(self, status: int, message: str) -> None:
        """Keep the HTTP status (0 when the hub is unreachable)."""
        super().__init__(f"hub API {status}: {message}")
        self.status = status


class HubAPI:
    """Calls ``<url>/hub/api/...`` with ``Authorization: token <token>``."""

    def __init__(self, url: str, token: str, timeout: float = 10.0) -> None:
        """``url`` is the hub's base URL, e.g. ``http://127.0.0.1:8000``."""
        self.base = url.rstrip("/") + "/hub/api/"
        self.token = token
        self.timeout = timeout

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One request; returns the decoded JSON body (``None`` when empty)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.base + path.lstrip("/"),
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise HubAPIError(exc.code, exc.read().decode(errors="replace")[:500]) from None
        except (urllib.error.URLError, OSError) as exc:
            raise HubAPIError(0, f"hub not reachable at {self.base}: {exc}") from None
        return json.loads(raw) if raw else None

    def reachable(self) -> bool:
        """Whether the hub answers (``GET /hub/api/``)."""
        try:
            self.call("GET", "")
        except HubAPIError as exc:
            return exc.status != 0
        return True

    def users(self) -> list[dict[str, Any]]:
        """Every user with their servers (``state`` included with admin:server_state)."""
        out: list[dict[str, Any]] = []
        offset = 0
        while True:
            page = self.call("GET", f"users?offset={offset}&limit=200")
            items = page["items"] if isinstance(page, dict) and "items" in page else page
            out.extend(items)
            if len(items) < 200:
                return out
            offset += 200

    def user(self, name: str) -> dict[str, Any] | None:
        """One user, or ``None``."""
        try:
            return self.call("GET", f"users/{urllib.parse.quote(name)}")
        except HubAPIError as exc:
            if exc.status == 404:
                return None
            raise

    def stop_server(self, user: str, server: str) -> None:
        """Stop (not delete) a named server."""
        self.call(
            "DELETE", f"users/{urllib.parse.quote(user)}/servers/{urllib.parse.quote(server)}"
        )

    def groups(self) -> dict[str, set[str]]:
        """Group name → member names."""
        page = self.call("GET", "groups?limit=1000")
        items = page["items"] if isinstance(page, dict) and "items" in page else page
        return {g["name"]: set(g["users"]) for g in items}
