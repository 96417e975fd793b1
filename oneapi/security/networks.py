"""Address ranges as settings write them: ``TRUSTED_PROXIES`` is a comma-separated CIDR (or address) list.

Kept apart from client_ip.py so that config.py can check the setting at start without importing the request side.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def parse_networks(spec: str) -> tuple[Network, ...]:
    """The ranges of ``spec``; ValueError names the first part that is not an address or CIDR range."""
    networks = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"{part!r} is not an address or CIDR range") from None
    return tuple(networks)
