"""``*.localhost`` resolves to loopback in the test process, as it does in browsers.

RFC 6761 reserves ``localhost`` and its subdomains for loopback, and Chromium and Firefox
resolve ``ada.localhost`` to 127.0.0.1 themselves; glibc only knows ``localhost`` from
/etc/hosts. With ``hub.domain = "localhost"`` every researcher's servers and the airlock have
names like that, so the tests' Python clients (requests, websockets) resolve them the way the
browser does. Installed once from the e2e hub conftest; nothing else changes.
"""

from __future__ import annotations

import socket

_original = socket.getaddrinfo


def _getaddrinfo(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
    if isinstance(host, bytes):
        host = host.decode()
    if isinstance(host, str) and host.lower().rstrip(".").endswith(".localhost"):
        host = "127.0.0.1"
    return _original(host, port, *args, **kwargs)


def install() -> None:
    """Make ``socket.getaddrinfo`` map ``*.localhost`` to 127.0.0.1 (idempotent)."""
    socket.getaddrinfo = _getaddrinfo
