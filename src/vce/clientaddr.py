"""Which address a request came from, when only a known proxy may say so.

Tornado's ``xheaders=True`` believes ``X-Real-Ip`` and ``X-Forwarded-For`` from anyone, so a
client picks its own address: a sandbox could pass the airlock's "downloads outside the sandbox
only" guard, and a password guesser could give every attempt a new address. Here the TCP peer
is the answer unless the peer is one of the configured proxies; then the last
``X-Forwarded-For`` entry — the one that proxy appended (configurable-http-proxy does) — is.
Entries further left were written by the client and are never read.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def peer_address(request: Any) -> str:
    """The TCP peer of a Tornado request, whatever ``xheaders`` made of ``remote_ip``."""
    context = getattr(getattr(request, "connection", None), "context", None)
    address = getattr(context, "address", None)
    if isinstance(address, tuple) and address:
        return str(address[0])
    return str(request.remote_ip)


def in_any(ip: str, networks: Iterable[Network]) -> bool:
    """Whether ``ip`` lies in one of ``networks`` (an unparseable address lies in none).

    >>> in_any("10.1.2.3", [ipaddress.ip_network("10.1.2.0/24")]), in_any("x", [])
    (True, False)
    """
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr in n for n in networks)


def from_proxy(peer: str, forwarded_for: str | None, trusted: Iterable[Network]) -> str:
    """The client's address given the TCP ``peer`` and its ``X-Forwarded-For`` header.

    >>> proxy = [ipaddress.ip_network("10.0.0.1/32")]
    >>> from_proxy("10.0.0.1", "6.6.6.6, 127.0.0.1", proxy)  # the proxy appended 127.0.0.1
    '127.0.0.1'
    >>> from_proxy("10.0.0.7", "127.0.0.1", proxy)  # not the proxy: the header is ignored
    '10.0.0.7'
    """
    if forwarded_for and in_any(peer, trusted):
        last = forwarded_for.split(",")[-1].strip()
        try:
            return str(ipaddress.ip_address(last))
        except ValueError:
            return peer
    return peer


def client_address(request: Any, trusted: Iterable[Network]) -> str:
    """The address of the client behind ``request`` (see :func:`from_proxy`)."""
    return from_proxy(peer_address(request), request.headers.get("X-Forwarded-For"), trusted)
