"""Who the client is: the socket peer, or what a trusted proxy says about the peer before it.

Proxies append to ``X-Forwarded-For``, so only the entries a trusted proxy added can be believed; the
rightmost entry that is not itself a trusted proxy is the client. The leftmost entries are the client's
own words and never count. This one function feeds rate limits, login limits, token subnets and logs.
"""

from __future__ import annotations

import ipaddress

from aiohttp import web

from oneapi.security.networks import Network, parse_networks
from oneapi.state import STATE

CLIENT_IP_KEY = web.RequestKey("client_ip", str)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip().removeprefix("[").split("]")[0].split("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address | None, proxies: tuple[Network, ...]) -> bool:
    return address is not None and any(address in network for network in proxies)


def resolve_client_ip(peer: str, forwarded_for: str, real_ip: str, proxies: tuple[Network, ...]) -> str:
    """The client's address from the peer and the proxy headers (empty strings when absent)."""
    peer_address = _address(peer)
    if peer_address is None or not _trusted(peer_address, proxies):
        return str(peer_address) if peer_address is not None else peer
    nearest = peer_address  # walking back from the peer: every hop so far was a trusted proxy
    entries = [e for e in forwarded_for.split(",") if e.strip()]
    for entry in reversed(entries):
        address = _address(entry)
        if address is None:
            return str(nearest)  # not written by a proxy: the client's own words start here
        if not _trusted(address, proxies):
            return str(address)
        nearest = address
    if not entries and (real := _address(real_ip)) is not None:
        return str(real)
    return str(nearest)


def client_ip(request: web.Request) -> str:
    """The client's address for this request (computed once per request)."""
    cached = request.get(CLIENT_IP_KEY)
    if cached is not None:
        return cached
    proxies = parse_networks(request.app[STATE].settings.trusted_proxies)
    ip = resolve_client_ip(request.remote or "", request.headers.get("X-Forwarded-For", ""),
                           request.headers.get("X-Real-IP", ""), proxies)
    request[CLIENT_IP_KEY] = ip
    return ip


def is_trusted_proxy(request: web.Request) -> bool:
    """Whether the socket peer is one of ``TRUSTED_PROXIES`` (so its X-Forwarded-* headers count)."""
    return _trusted(_address(request.remote or ""), parse_networks(request.app[STATE].settings.trusted_proxies))


def is_https(request: web.Request) -> bool:
    """The browser used HTTPS: directly, or to a trusted proxy that says so in X-Forwarded-Proto."""
    if request.secure:
        return True
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return proto == "https" and is_trusted_proxy(request)
