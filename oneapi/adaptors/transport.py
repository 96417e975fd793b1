"""The HTTP/1.1 client that provider calls go through: pooled keep-alive connections, parsed by httptools.

Why not aiohttp's client here: a relayed request spends about 0.1 ms of CPU in ``ClientSession.request`` and
its response (URL objects, request and response objects, a stream reader, timers, traces), as much as the
whole gateway spends on auth, pricing and billing. A provider call needs little of that: one request with a
bytes body, an answer read to its end or streamed read by read, one deadline. This client does just that on
the event loop's own transports; what it does not do (RELAY_PROXY, websockets, Baidu's token form) goes
through the aiohttp session, which ``session`` exposes.

Its answers have the part of ``aiohttp.ClientResponse`` the adaptors use (``status``, ``headers``,
``content_type``, ``read()``, ``content.iter_any()``, ``release()``, ``async with``), and its failures are
aiohttp's exception types, so the relay handles both clients' answers and errors alike.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
import zlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import httptools
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from oneapi import __version__

IDLE_SECONDS = 15.0  # an idle connection older than this is closed, not reused (aiohttp's keep-alive default)
DRAIN_SECONDS = 2.0  # how long a released connection may take to finish an answer its reader stopped short of
DRAIN_BYTES = 64 * 1024  # and how much of that answer it may still send
MAX_HEADER_BYTES = 64 * 1024
MAX_REDIRECTS = 5
HIGH_WATER = 256 * 1024  # unread body bytes past which the socket stops being read until the reader catches up
USER_AGENT = f"oneapi/{__version__}"


class _Target:
    """What a URL gives the connection and the request line, worked out once per distinct URL."""

    __slots__ = ("host", "host_line", "hostname", "key", "path", "port", "tls")

    def __init__(self, url: str) -> None:
        parsed = URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.raw_host:
            raise aiohttp.InvalidUrlClientError(url)
        self.tls = parsed.scheme == "https"
        self.host = parsed.raw_host
        self.hostname = parsed.host or self.host
        self.port = parsed.port or (443 if self.tls else 80)
        self.key = (self.tls, self.host, self.port)
        named = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 literal goes in brackets
        host_header = named if parsed.is_default_port() else f"{named}:{self.port}"
        self.path = parsed.raw_path_qs or "/"
        self.host_line = f"Host: {host_header}\r\n"


@functools.lru_cache(maxsize=1024)
def _target(url: str) -> _Target:
    return _Target(url)


def _same_host_redirect(url: str, answer: UpstreamResponse) -> str | None:
    """Where a 307 / 308 sends the request (method and body kept), when that is the same host: another path, or
    https in place of http. A redirect to another host is not followed: the channel's key would go with it."""
    location = answer.headers.get("Location") if answer.status in (307, 308) else None
    if not location:
        return None
    try:
        here, there = URL(url), URL(url).join(URL(location))
    except ValueError:
        return None
    if there.host != here.host or there.scheme not in (here.scheme, "https"):
        return None
    if there.scheme == here.scheme and there.port != here.port:
        return None
    return str(there)


def _encode_headers(headers: dict[str, str]) -> str:
    lines = []
    for name, value in headers.items():
        if "\r" in name or "\n" in name or "\r" in value or "\n" in value or ":" in name:
            raise aiohttp.ClientConnectionError(f"the header {name.split(':')[0]!r} has a line break in it")
        lines.append(f"{name}: {value}\r\n")
    return "".join(lines)


def _decoder(encoding: str) -> Callable[[bytes], bytes] | None:
    """A streaming decoder for a Content-Encoding the upstream used although it was not asked for any."""
    if encoding in ("gzip", "x-gzip", "deflate"):
        return zlib.decompressobj(zlib.MAX_WBITS | 32).decompress  # a gzip or zlib header, detected
    if encoding == "br":
        import brotli

        process: Callable[[bytes], bytes] = brotli.Decompressor().process
        return process
    if encoding == "zstd":
        import zstandard

        return zstandard.ZstdDecompressor().decompressobj().decompress
    if encoding in ("", "identity"):
        return None
    raise aiohttp.ClientPayloadError(f"the upstream answered in an unknown content encoding {encoding!r}")


class _ClosedUnanswered(aiohttp.ServerDisconnectedError):
    """The connection ended before any answer to the request on it: on a kept-alive connection, the upstream
    closed it while idle as the request went out (Node's and uvicorn's servers do after 5 s), so the request
    goes once more on a new connection. A new connection that ends so fails the request."""


class UpstreamResponse:
    """One answer: its status and headers, and its body as it arrives (fed by the connection it came on)."""

    def __init__(self, conn: _Connection) -> None:
        self._conn: _Connection | None = conn
        self._raw_headers: list[tuple[bytes, bytes]] = []
        self._headers: CIMultiDictProxy[str] | None = None
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._waiter: asyncio.Future[None] | None = None
        self._error: BaseException | None = None
        self.status = 0
        self.headers_done = False
        self.complete = False

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        if self._headers is None:
            self._headers = CIMultiDictProxy(CIMultiDict(
                (name.decode("latin-1"), value.decode("latin-1")) for name, value in self._raw_headers))
        return self._headers

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower case; aiohttp's default when there is none."""
        value = self.headers.get("Content-Type", "")
        return value.partition(";")[0].strip().lower() or "application/octet-stream"

    @property
    def content(self) -> UpstreamResponse:
        """The body as a stream (``iter_any()``), as ``aiohttp.ClientResponse.content`` is."""
        return self

    async def iter_any(self) -> AsyncIterator[bytes]:
        """Whatever of the body has arrived, each time something has, until its end."""
        while True:
            if self._chunks:
                chunks, self._chunks, self._buffered = self._chunks, [], 0
                if self._conn is not None:
                    self._conn.resume()
                yield chunks[0] if len(chunks) == 1 else b"".join(chunks)
            elif self.complete:
                return
            else:
                await self.wait()

    async def read(self) -> bytes:
        parts = [data async for data in self.iter_any()]
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def release(self) -> None:
        """Give the connection back (the pool reuses it once this answer has fully arrived)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.release(self)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    async def __aenter__(self) -> UpstreamResponse:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.release()

    # -- the connection's side -----------------------------------------------------------------------------
    async def wait(self) -> None:
        if self._error is not None:
            raise self._error
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None
        if self._error is not None:
            raise self._error

    def wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def feed(self, body: bytes) -> int:
        """Add body bytes; returns how many are waiting to be read."""
        self._chunks.append(body)
        self._buffered += len(body)
        self.wake()
        return self._buffered

    def fail(self, error: BaseException) -> None:
        if self._error is None and not self.complete:
            self._error = error
        self.wake()


class _Connection(asyncio.Protocol):
    """A kept-alive connection to one upstream, carrying one request and its answer at a time."""

    def __init__(self, pool: Transport, key: tuple[bool, str, int]) -> None:
        self._pool, self.key = pool, key
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._answer: UpstreamResponse | None = None  # the answer being received
        self._timer: asyncio.TimerHandle | None = None
        self._decode: Callable[[bytes], bytes] | None = None
        self._until_close = False
        self._header_bytes = 0
        self._paused = False
        self._draining = -1  # bytes it may still drop while finishing a released answer; -1: not draining
        self.reusable = True
        self.idle_since = 0.0

    @property
    def usable(self) -> bool:
        return self.reusable and self._transport is not None and not self._transport.is_closing()

    def send(self, request: bytes, deadline: float | None) -> UpstreamResponse:
        assert self._transport is not None and self._answer is None
        self._answer = UpstreamResponse(self)
        self._decode, self._until_close, self._header_bytes = None, False, 0
        if deadline is not None:
            self._timer = asyncio.get_running_loop().call_at(deadline, self._expire)
        self._transport.write(request)
        return self._answer

    def resume(self) -> None:
        """The reader took what was buffered: read the socket again if it was paused."""
        if self._paused and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()

    def release(self, answer: UpstreamResponse) -> None:
        """Pool the connection if ``answer`` has fully arrived, else close it.

        A reader that stopped at a stream's ``[DONE]`` usually has only the body's last bytes (the final empty
        chunk) still to come: the connection then waits a moment for them, dropping them, and is pooled.
        """
        if answer is not self._answer:
            return
        if answer.complete and self.usable:
            self._pool_it()
        elif answer.headers_done and answer._error is None and self.usable:
            self._draining = DRAIN_BYTES
            self._cancel_timer()
            self._timer = asyncio.get_running_loop().call_later(DRAIN_SECONDS, self.close)
            self.resume()
        else:
            self.close()

    def close(self, abort: bool = False) -> None:
        """Close the connection (``abort``: at once, dropping what is unsent); it is not reused."""
        self.reusable = False
        self._cancel_timer()
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.abort() if abort else transport.close()

    # -- asyncio.Protocol ----------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._answer is None:  # bytes on an idle connection
            self._fail(aiohttp.ServerDisconnectedError("the upstream sent bytes it was not asked for"))
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(aiohttp.ClientPayloadError("the upstream switched protocols"))
        except httptools.HttpParserError as exc:
            cause = exc.__context__  # an error of a callback of ours (an undecodable body) comes wrapped
            self._fail(cause if isinstance(cause, aiohttp.ClientPayloadError) else aiohttp.ClientPayloadError(
                f"the upstream's answer is not valid HTTP: {cause if isinstance(cause, zlib.error) else exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        self._transport = None
        self._cancel_timer()
        self._pool.forget(self)
        answer = self._answer
        if answer is None or answer.complete:
            return
        if self._until_close and answer.headers_done:  # a body without a length ends with the connection
            answer.complete = True
            answer.wake()
        elif answer.headers_done:
            answer.fail(aiohttp.ClientPayloadError("the upstream closed the connection before the answer's end"))
        elif self._header_bytes or answer.status:
            answer.fail(aiohttp.ServerDisconnectedError("the upstream closed the connection mid-answer"))
        else:
            answer.fail(_ClosedUnanswered("the upstream closed the connection without answering"))

    # -- httptools callbacks -------------------------------------------------------------------------------
    def on_status(self, status: bytes) -> None:
        self._header_bytes += len(status) + 1  # the answer has begun

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self._answer is not None
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > MAX_HEADER_BYTES:
            raise aiohttp.ClientPayloadError("the upstream's answer has more than 64 KB of headers")
        self._answer._raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        answer = self._answer
        assert answer is not None
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # an interim answer: the real one follows
            answer._raw_headers = []
            return
        framed = False
        for name, value in answer._raw_headers:
            lowered = name.lower()
            if lowered == b"content-length" or (lowered == b"transfer-encoding" and b"chunked" in value.lower()):
                framed = True
            elif lowered == b"content-encoding":
                self._decode = _decoder(value.decode("latin-1").strip().lower())
        self._until_close = not framed and status not in (204, 304)
        self.reusable = self._parser.should_keep_alive() and not self._until_close
        answer.status, answer.headers_done = status, True
        answer.wake()

    def on_body(self, body: bytes) -> None:
        answer = self._answer
        assert answer is not None
        if self._draining >= 0:
            self._draining -= len(body)
            if self._draining < 0:
                self.close()  # too much is left of an answer nobody reads
            return
        if self._decode is not None:
            body = self._decode(body)
        if answer.feed(body) > HIGH_WATER and not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()

    def on_message_complete(self) -> None:
        answer = self._answer
        if answer is None or not answer.headers_done:  # the end of an interim answer
            return
        self._cancel_timer()
        answer.complete = True
        answer.wake()
        if self._draining >= 0:  # a released answer's end came: the connection can serve another request
            self._draining = -1
            if self.usable:
                self._pool_it()
            else:
                self.close()

    # -- internals -----------------------------------------------------------------------------------------
    def _pool_it(self) -> None:
        self._answer = None
        self.resume()
        self._pool.keep(self)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fail(self, error: BaseException) -> None:
        if self._answer is not None:
            self._answer.fail(error)
        self.close(abort=True)

    def _expire(self) -> None:
        self._timer = None
        self._fail(TimeoutError("the upstream did not answer in time"))


Answer = UpstreamResponse | aiohttp.ClientResponse  # what a provider call returns, by either client


class Transport:
    """Keep-alive connections per (TLS, host, port); the newest idle one is reused first."""

    def __init__(self, session: aiohttp.ClientSession, proxy: str | None = None) -> None:
        self.session = session  # for what this client does not do: a proxy, websockets, forms
        self._proxy = proxy
        self._idle: dict[tuple[bool, str, int], list[_Connection]] = {}
        self._ssl: ssl.SSLContext | None = None

    async def request(self, method: str, url: str, *, headers: dict[str, str], data: bytes,
                      timeout: aiohttp.ClientTimeout) -> Answer:
        """Send one request and return once the answer's status and headers are in (its body may follow)."""
        if self._proxy:
            return await self.session.request(method, url, headers=headers, data=data, timeout=timeout)
        deadline = asyncio.get_running_loop().time() + timeout.total if timeout.total else None
        answer = await self._request_once(method, url, headers, data, timeout, deadline)
        for _ in range(MAX_REDIRECTS):
            location = _same_host_redirect(url, answer)
            if location is None:
                break
            await answer.read()
            answer.release()
            url = location
            answer = await self._request_once(method, url, headers, data, timeout, deadline)
        return answer

    async def _request_once(self, method: str, url: str, headers: dict[str, str], data: bytes,
                            timeout: aiohttp.ClientTimeout, deadline: float | None) -> UpstreamResponse:
        target = _target(url)
        given = {name.lower() for name in headers}  # a provider's signature may cover its own Host header
        host = "" if "host" in given else target.host_line
        agent = "" if "user-agent" in given else f"User-Agent: {USER_AGENT}\r\n"
        head = (f"{method} {target.path} HTTP/1.1\r\n{host}{agent}{_encode_headers(headers)}"
                f"Content-Length: {len(data)}\r\n\r\n").encode()  # values as UTF-8, as aiohttp sends them
        request = head + data
        conn = self._take(target.key)
        if conn is not None:
            try:
                return await self._exchange(conn, request, deadline)
            except _ClosedUnanswered:
                pass  # the upstream closed this idle connection as the request went out: once more, anew
        return await self._exchange(await self._connect(target, timeout, deadline), request, deadline)

    async def post(self, url: str, *, headers: dict[str, str], data: bytes,
                   timeout: aiohttp.ClientTimeout) -> Answer:
        return await self.request("POST", url, headers=headers, data=data, timeout=timeout)

    @staticmethod
    async def _exchange(conn: _Connection, request: bytes, deadline: float | None) -> UpstreamResponse:
        answer = conn.send(request, deadline)
        try:
            while not answer.headers_done:
                await answer.wait()
        except BaseException:
            conn.close()
            raise
        return answer

    def keep(self, conn: _Connection) -> None:
        conn.idle_since = time.monotonic()
        idle = self._idle.setdefault(conn.key, [])
        idle.append(conn)
        while idle[0].idle_since < conn.idle_since - IDLE_SECONDS:  # the oldest are the first to expire
            idle.pop(0).close()

    def forget(self, conn: _Connection) -> None:
        """A connection that closed while idle leaves the pool."""
        idle = self._idle.get(conn.key)
        if idle and conn in idle:
            idle.remove(conn)

    def close(self) -> None:
        """Close the idle connections (the session belongs to the application, which closes it)."""
        for idle in self._idle.values():
            for conn in idle[:]:
                conn.close()
        self._idle.clear()

    def _take(self, key: tuple[bool, str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if conn.usable and now - conn.idle_since < IDLE_SECONDS:
                return conn
            conn.close()
        return None

    async def _connect(self, target: _Target, timeout: aiohttp.ClientTimeout,
                       deadline: float | None) -> _Connection:
        loop = asyncio.get_running_loop()
        limit = timeout.sock_connect or None
        if deadline is not None:
            remaining = deadline - loop.time()
            limit = remaining if limit is None else min(limit, remaining)
        tls: dict[str, Any] = {}
        if target.tls:
            if self._ssl is None:  # loading the trust store takes tens of ms: not on the loop
                self._ssl = await asyncio.to_thread(ssl.create_default_context)
            tls = {"ssl": self._ssl, "server_hostname": target.hostname}
        try:
            async with asyncio.timeout(limit):
                _, conn = await loop.create_connection(lambda: _Connection(self, target.key), target.host, target.port,
                                                       **tls)
        except TimeoutError:  # an OSError too, but the relay answers it as a timeout (504), as aiohttp's was
            raise
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise aiohttp.ClientConnectionError(f"Cannot connect to host {target.host}:{target.port} "
                                                f"[{reason}]") from None
        return conn
