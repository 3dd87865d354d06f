"""``*.localhost`` resolves to loopback in the test process, as it does in browsers.

RFC 6761 reserves ``localhost`` and its subdomains for loopback, and Chromium and Firefox
resolve ``ada.localhost`` to 127.0.0.1 themselves; glibc only knows ``localhost`` from
/etc/hosts. With ``hub.domain = "localhost"`` every researcher's servers and the airlock have
names like that, so the tests' Python clients (requests, websockets) resolve them the way the
browser does. Installed once from the e2e hub conftest; nothing else changes.

Cookies too: with subdomains JupyterHub sets its session-id cookie with ``Domain=localhost``
(shared with the subdomains, for logout), which Chromium keeps and Python's cookie jar drops
(a domain without a dot), so every request would start a new session and fail its XSRF check.
:class:`LoopbackCookies` keeps it as a cookie of ``localhost`` itself. (requests copies a
session's cookies into a jar with the default policy before sending, so the policy can only
decide what is stored: subdomains do not get that cookie, which they do not need.)
"""

from __future__ import annotations

import http.cookiejar
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


def _is_loopback_name(host: str) -> bool:
    host = host.lower().split(":")[0].removesuffix(".local")
    return host == "localhost" or host.endswith(".localhost")


class LoopbackCookies(http.cookiejar.DefaultCookiePolicy):
    """Store a ``Domain=localhost`` cookie as a host cookie of ``localhost``."""

    def set_ok_domain(self, cookie, request):  # type: ignore[no-untyped-def]
        host = http.cookiejar.request_host(request)
        if cookie.domain.lstrip(".") == "localhost" and _is_loopback_name(host):
            cookie.domain = http.cookiejar.eff_request_host(request)[1]
            cookie.domain_specified = cookie.domain_initial_dot = False
            return True
        return super().set_ok_domain(cookie, request)
