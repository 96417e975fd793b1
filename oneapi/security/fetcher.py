"""The one way the gateway fetches a URL a client gave it (image_url downloads): never an internal address.

Every address a host resolves to is checked before connecting, and the connection goes to exactly the
checked addresses (the check lives in the connector's resolver, so there is no window for DNS rebinding).
IP literals, whichever spelling (``2130706433``, ``0x7f.1``, ``[::ffff:127.0.0.1]``), are checked the same
way. Each redirect is a new, checked request. The client sees one generic error whatever went wrong, so
the gateway cannot be used to scan ports or map the network behind it. ``FETCH_ALLOW_PRIVATE=true`` lifts
the address rule for self-hosted setups whose images live on the LAN.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

from oneapi.config import Settings
from oneapi.errors import RelayError

logger = logging.getLogger(__name__)

MAX_REDIRECTS = 3
MAX_FETCH_BYTES = 20 * 1024 * 1024
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


IMAGE_REFUSED = "the image_url could not be downloaded as an image"


class FetchRefused(Exception):
    """Why a fetch was refused or failed; logged for the admin, never shown to the client."""


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 transition form carries (mapped, compatible, 6to4, Teredo, NAT64)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64 or address in _NAT64_LOCAL or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: Address) -> bool:
    """True only for a globally routable unicast address (and whatever IPv4 address it embeds)."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None:
            return is_public(inner)
    return address.is_global and not address.is_multicast and not address.is_reserved


def literal_address(host: str) -> Address | None:
    """``host`` as an IP address when it is one in any spelling inet_aton accepts (decimal, octal, hex)."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


class GuardedResolver(AbstractResolver):
    """Resolves like the system does, then refuses the whole host if any address is not public."""

    def __init__(self) -> None:
        self._inner = ThreadedResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            if not is_public(ipaddress.ip_address(result["host"])):
                raise OSError(f"{host} resolves to the non-public address {result['host']}")
        return results

    async def close(self) -> None:
        await self._inner.close()


@dataclass
class Fetched:
    content_type: str
    data: bytes


class SafeFetcher:
    """Downloads client-given URLs under the rules above, on its own connection pool."""

    def __init__(self, settings: Settings) -> None:
        self.allow_private = settings.fetch_allow_private
        self.proxy = settings.user_content_request_proxy or None
        self.timeout = aiohttp.ClientTimeout(total=settings.user_content_request_timeout)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            # Through a proxy the connection goes to the proxy: the target is checked in _check_url instead.
            resolver = None if self.allow_private or self.proxy else GuardedResolver()
            connector = aiohttp.TCPConnector(resolver=resolver, limit=64, ttl_dns_cache=None, use_dns_cache=False)
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False, auto_decompress=True)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _check_url(self, url: URL) -> None:
        if url.scheme not in ("http", "https") or not url.host:
            raise FetchRefused(f"only http(s) URLs are fetched, not {url.scheme!r}")
        if url.user is not None or url.password is not None:
            raise FetchRefused("URLs with credentials are not fetched")
        if self.allow_private:
            return
        address = literal_address(url.host)
        if address is not None and not is_public(address):
            raise FetchRefused(f"{url.host} is the non-public address {address}")
        if address is None and self.proxy:
            await GuardedResolver().resolve(url.host, url.port or 0, socket.AF_UNSPEC)

    async def fetch_image(self, url: str) -> Fetched:
        """The image at ``url`` (at most MAX_FETCH_BYTES); FetchRefused for anything else."""
        try:
            return await self._fetch(URL(url), 0, accept="image/")
        except FetchRefused:
            raise
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            raise FetchRefused(f"{type(exc).__name__}: {exc}") from None

    async def _fetch(self, url: URL, hops: int, accept: str) -> Fetched:
        await self._check_url(url)
        kwargs: dict[str, Any] = {"timeout": self.timeout, "allow_redirects": False, "proxy": self.proxy}
        async with self._client().get(url, **kwargs) as resp:
            if resp.status in (301, 302, 303, 307, 308):
                if hops >= MAX_REDIRECTS:
                    raise FetchRefused(f"more than {MAX_REDIRECTS} redirects")
                location = resp.headers.get("Location", "")
                return await self._fetch(url.join(URL(location)), hops + 1, accept)
            if resp.status != 200:
                raise FetchRefused(f"HTTP {resp.status}")
            if not resp.content_type.startswith(accept):
                raise FetchRefused(f"content type {resp.content_type!r}")
            if (resp.content_length or 0) > MAX_FETCH_BYTES:
                raise FetchRefused(f"{resp.content_length} bytes is over the limit")
            data = bytearray()
            async for piece in resp.content.iter_chunked(65536):
                data += piece
                if len(data) > MAX_FETCH_BYTES:
                    raise FetchRefused("over the size limit")
            return Fetched(resp.content_type, bytes(data))


async def fetch_client_image(fetcher: SafeFetcher, url: str) -> Fetched:
    """An image for the relay; every failure is the same 400 for the client, the reason goes to the log."""
    try:
        return await fetcher.fetch_image(url)
    except FetchRefused as exc:
        logger.info("image_url refused: %s", exc)
        raise RelayError(IMAGE_REFUSED, status=400, type="invalid_request_error", code="invalid_image_url",
                         param="image_url") from None
