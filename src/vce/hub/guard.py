"""Checks on every request the hub serves, before its handler runs.

1. **Sandboxes reach the hub's API, not its UI.** The hub listens on the sandbox network's
   gateway because single-user servers need its API (OAuth, activity). Its login and sign-up
   pages need not be reachable from there: a sandbox that can post to them can guess
   passwords from inside the boundary. A request whose TCP peer lies in the sandbox network
   (other than the gateway itself, where the host's proxy connects from) gets 403 unless its
   path is under ``/hub/api/``. The peer is the socket's address, not ``X-Forwarded-For``
   (JupyterHub runs Tornado with ``xheaders``, which a sandbox could set).
2. **Break-glass is audited.** Every request a JupyterHub administrator makes to the hub is
   appended to the airlock's hash-chained audit log (actor, method, path): day-to-day
   administration goes through the ``vce-administrator`` role, so these are the emergencies.

JupyterHub has no hook that runs for every handler, so :func:`install` wraps
``BaseHandler.prepare`` in the hub process (``jupyterhub_config.py`` calls it).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

from tornado import web

from vce.clientaddr import Network, in_any, peer_address

AuditWriter = Callable[[str, str, str, dict[str, Any]], None]


@cache
def audit_writer(db_url: str) -> AuditWriter:
    """``write(actor, action, subject, payload)`` into the airlock database's audit chain."""
    from vce.hub.reconciler import audit_sink
    from vce.hub.registry import shared_registry

    def write(actor: str, action: str, subject: str, payload: dict[str, Any]) -> None:
        sink = audit_sink(shared_registry(db_url))
        if sink is not None:
            sink(actor, action, subject, payload)

    return write


def refuses_ui(peer: str, path: str, sandboxes: Iterable[Network], gateway: str) -> bool:
    """Whether a request from ``peer`` for ``path`` is a sandbox asking for the hub's UI.

    >>> nets = [ipaddress.ip_network("10.9.0.0/24")]
    >>> refuses_ui("10.9.0.5", "/hub/login", nets, "10.9.0.1")
    True
    >>> refuses_ui("10.9.0.5", "/hub/api/user", nets, "10.9.0.1")
    False
    >>> refuses_ui("10.9.0.5", "/hub/api", nets, "10.9.0.1")  # a server's version check
    False
    >>> refuses_ui("10.9.0.5", "/hub/apiary", nets, "10.9.0.1")
    True
    >>> refuses_ui("10.9.0.1", "/hub/login", nets, "10.9.0.1")  # the host's proxy
    False
    """
    if peer == gateway or not in_any(peer, sandboxes):
        return False
    return not (path == "/hub/api" or path.startswith("/hub/api/"))


def install(sandbox_subnet: str, gateway: str, audit_db_url: str) -> None:
    """Wrap JupyterHub's ``BaseHandler.prepare`` with the two checks (idempotent)."""
    from jupyterhub.handlers.base import BaseHandler

    original = getattr(BaseHandler.prepare, "__vce_original__", BaseHandler.prepare)
    sandboxes = (ipaddress.ip_network(sandbox_subnet, strict=False),)
    write = audit_writer(audit_db_url) if audit_db_url else None

    async def prepare(self: Any) -> None:
        if refuses_ui(peer_address(self.request), self.request.path, sandboxes, gateway):
            raise web.HTTPError(403, "only the hub's API is reachable from a sandbox")
        await original(self)
        user = self.current_user
        if (
            write is not None
            and getattr(user, "admin", False)
            and getattr(user, "name", "")
            and not self.request.path.startswith("/hub/static/")
        ):
            write(
                user.name,
                "hub.break_glass.request",
                f"user:{user.name}",
                {"method": self.request.method, "path": self.request.path},
            )

    prepare.__vce_original__ = original  # type: ignore[attr-defined]
    BaseHandler.prepare = prepare  # type: ignore[method-assign]
