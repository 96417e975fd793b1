"""The relay's HTTP/1.1 client to the providers (oneapi/adaptors/transport.py), seen from both of its ends.

The upstream here is a raw TCP server that writes HTTP/1.1 answers byte for byte, so each test can frame its
answer the way some real server does (chunked, gzip, no length, ``Connection: close``, cut short, not HTTP at
all) and count the connections the gateway opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import gzip
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import brotli
import openai
import orjson
import pytest
from aiohttp import web

from tests.conftest import Gateway, start_fake
from tests.test_relay_openai import logs_of

CHAT = {"model": "gpt-3.5-turbo", "messages": [{"role": "user", "content": "hi"}]}
ANSWER = orjson.dumps({
    "id": "chatcmpl-raw", "object": "chat.completion", "created": 1700000000, "model": "gpt-3.5-turbo",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello there"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}})


def chunk(delta: dict, finish: str | None = None, usage: dict | None = None) -> bytes:
    event = {"id": "chatcmpl-raw", "object": "chat.completion.chunk", "created": 1700000000,
             "model": "gpt-3.5-turbo", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage is not None:
        event = {**event, "choices": [], "usage": usage}
    return b"data: " + orjson.dumps(event) + b"\n\n"


STREAM = (chunk({"role": "assistant", "content": ""}) + chunk({"content": "hel"}) + chunk({"content": "lo"})
          + chunk({}, "stop") + chunk({}, usage={"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9})
          + b"data: [DONE]\n\n")

Answer = Callable[[asyncio.StreamWriter, bytes], Awaitable[bool]]  # writes one answer; False: close after


@dataclass
class RawUpstream:
    """Reads each request (head and Content-Length body) and lets ``answer`` write whatever bytes it likes."""

    answer: Answer
    connections: int = 0
    heads: list[bytes] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    url: str = ""
    server: asyncio.Server | None = None

    async def start(self, tls: ssl.SSLContext | None = None) -> RawUpstream:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=tls)
        port = self.server.sockets[0].getsockname()[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                body = await reader.readexactly(length)
                self.heads.append(head)
                self.bodies.append(body)
                if not await self.answer(writer, body):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


@pytest.fixture
async def raw_upstream() -> AsyncIterator[Callable[..., Awaitable[RawUpstream]]]:
    started: list[RawUpstream] = []

    async def start(answer: Answer, tls: ssl.SSLContext | None = None) -> RawUpstream:
        started.append(await RawUpstream(answer).start(tls))
        return started[-1]

    yield start
    for upstream in started:
        await upstream.close()


def head(status: str = "200 OK", content_type: str = "application/json", **headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Type: {content_type}",
             *(f"{name.replace('_', '-')}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def wants_stream(body: bytes) -> bool:
    return bool(orjson.loads(body).get("stream"))


async def keep_alive(writer: asyncio.StreamWriter, body: bytes) -> bool:
    """A well-behaved server: Content-Length answers on a connection that stays open."""
    if wants_stream(body):
        writer.write(head(content_type="text/event-stream", Content_Length=str(len(STREAM))) + STREAM)
    else:
        writer.write(head(Content_Length=str(len(ANSWER))) + ANSWER)
    await writer.drain()
    return True


async def used_quota(gateway: Gateway, user: dict) -> int:
    await gateway.drain()
    return (await gateway.api("GET", f"/api/user/{user['id']}"))["data"]["used_quota"]


async def setup(gateway: Gateway, base_url: str, quota: int = 10**9) -> tuple[openai.AsyncOpenAI, dict]:
    await gateway.add_channel(base_url)
    user = await gateway.add_user(quota=quota)
    key = await gateway.add_token(user["access_token"])
    client = openai.AsyncOpenAI(api_key=key, base_url=gateway.url + "/v1", max_retries=0)
    gateway.clients.append(client)
    return client, user


async def test_requests_reuse_one_kept_alive_connection(gateway: Gateway, raw_upstream):
    upstream = await raw_upstream(keep_alive)
    client, user = await setup(gateway, upstream.url)
    for _ in range(3):
        answer = await client.chat.completions.create(**CHAT)
        assert answer.choices[0].message.content == "hello there" and answer.usage.total_tokens == 10
        stream = await client.chat.completions.create(**CHAT, stream=True)
        assert "".join([c.choices[0].delta.content or "" async for c in stream if c.choices]) == "hello"
    assert upstream.connections == 1, "six requests one after another went over one connection"
    request_head = upstream.heads[0].decode()
    port = upstream.url.rsplit(":", 1)[1]
    assert request_head.startswith("POST /v1/chat/completions HTTP/1.1\r\n")
    assert f"\r\nHost: 127.0.0.1:{port}\r\n" in request_head
    assert "\r\nAuthorization: Bearer sk-upstream\r\n" in request_head
    assert "accept-encoding" not in request_head.lower(), "no compression is asked for: bytes pass on as sent"
    assert orjson.loads(upstream.bodies[0]) == CHAT
    assert await used_quota(gateway, user) > 0

    answers = await asyncio.gather(*(client.chat.completions.create(**CHAT) for _ in range(4)))
    assert all(a.choices[0].message.content == "hello there" for a in answers)
    assert upstream.connections <= 5, "requests at once take a connection each, idle ones are reused"


async def chunked_gzip(writer: asyncio.StreamWriter, body: bytes) -> bool:
    """Chunked transfer of a gzip body (although none was asked for), cut at awkward places, over slow writes."""
    return await chunked(writer, body, "gzip", gzip.compress)


async def chunked_brotli(writer: asyncio.StreamWriter, body: bytes) -> bool:
    return await chunked(writer, body, "br", brotli.compress)


async def chunked(writer: asyncio.StreamWriter, body: bytes, encoding: str, compress: Callable[[bytes], bytes],
                  ) -> bool:
    payload = compress(STREAM if wants_stream(body) else ANSWER)
    content_type = "text/event-stream" if wants_stream(body) else "application/json; charset=utf-8"
    writer.write(head(content_type=content_type, Transfer_Encoding="chunked", Content_Encoding=encoding))
    for start in range(0, len(payload), 7):
        piece = payload[start:start + 7]
        writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        await writer.drain()
        await asyncio.sleep(0)
    writer.write(b"0\r\n\r\n")
    await writer.drain()
    return True


async def until_close(writer: asyncio.StreamWriter, body: bytes) -> bool:
    """An HTTP/1.0-style answer: no length, the body ends when the server closes the connection."""
    writer.write(head(content_type="text/event-stream" if wants_stream(body) else "application/json",
                      Connection="close"))
    for piece in (STREAM if wants_stream(body) else ANSWER).split(b"\n\n"):
        writer.write(piece + b"\n\n")
        await writer.drain()
    return False


@pytest.mark.parametrize("answer", [chunked_gzip, chunked_brotli, until_close])
async def test_every_way_of_framing_an_answer_reads_the_same(gateway: Gateway, raw_upstream, answer: Answer):
    upstream = await raw_upstream(answer)
    client, user = await setup(gateway, upstream.url)
    for _ in range(2):
        got = await client.chat.completions.create(**CHAT)
        assert got.choices[0].message.content == "hello there" and got.usage.total_tokens == 10
        stream = await client.chat.completions.create(**CHAT, stream=True, stream_options={"include_usage": True})
        chunks = [c async for c in stream]
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "hello"
        assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 9
    assert upstream.connections == (4 if answer is until_close else 1), "[DONE] came before the body's end"
    assert await used_quota(gateway, user) > 0


async def test_a_connection_the_upstream_closed_while_idle_is_not_used_again(gateway: Gateway, raw_upstream):
    async def closes_when_idle(writer: asyncio.StreamWriter, body: bytes) -> bool:
        await keep_alive(writer, body)  # says nothing of closing, then closes the idle connection
        return False

    upstream = await raw_upstream(closes_when_idle)
    client, _ = await setup(gateway, upstream.url)
    for _ in range(3):
        assert (await client.chat.completions.create(**CHAT)).choices[0].message.content == "hello there"
        await asyncio.sleep(0.05)  # the close reaches the gateway
    assert upstream.connections == 3


async def test_a_request_meeting_the_idle_close_of_a_kept_connection_goes_again_on_a_new_one(
        gateway: Gateway, raw_upstream):
    """Node's and uvicorn's servers close an idle connection after 5 s; a request sent on it just then gets no
    answer at all. It is sent once more on a new connection (but not again when a new connection fails so)."""
    answered: dict[int, int] = {}

    async def closes_the_second_request(writer: asyncio.StreamWriter, body: bytes) -> bool:
        connection = id(writer)
        answered[connection] = answered.get(connection, 0) + 1
        if answered[connection] > 1:
            return False  # it read the request, as a server does whose idle timer has just fired
        return await keep_alive(writer, body)

    upstream = await raw_upstream(closes_the_second_request)
    client, user = await setup(gateway, upstream.url)
    for _ in range(3):
        assert (await client.chat.completions.create(**CHAT)).choices[0].message.content == "hello there"
    assert upstream.connections == 3 and len(upstream.bodies) == 5
    assert len({bytes(body) for body in upstream.bodies}) == 1
    await gateway.drain()
    logs = await logs_of(gateway, username=user["username"])
    assert len(logs) == 3 and all(log["completion_tokens"] == 3 for log in logs), "each answer billed once"


async def test_connection_close_is_honoured(gateway: Gateway, raw_upstream):
    async def says_close(writer: asyncio.StreamWriter, body: bytes) -> bool:
        writer.write(head(Content_Length=str(len(ANSWER)), Connection="close") + ANSWER)
        await writer.drain()
        await asyncio.sleep(0.2)  # it would still read another request, but was told none comes
        return True

    upstream = await raw_upstream(says_close)
    client, _ = await setup(gateway, upstream.url)
    for _ in range(2):
        assert (await client.chat.completions.create(**CHAT)).choices[0].message.content == "hello there"
    assert upstream.connections == 2


async def test_a_redirect_is_followed_on_the_same_host_only(gateway: Gateway, raw_upstream):
    """307 / 308 keep the method and body; one to another host is not followed, as the key would go with it."""
    elsewhere = await raw_upstream(keep_alive)

    async def moved(writer: asyncio.StreamWriter, body: bytes) -> bool:
        path = upstream.heads[-1].split(b" ")[1]
        if path.startswith(b"/v1/"):
            writer.write(head("308 Permanent Redirect", Location="/moved" + path.decode(), Content_Length="0"))
        elif path.startswith(b"/away/"):
            writer.write(head("307 Temporary Redirect", Content_Length="0",
                              Location=elsewhere.url + "/v1/chat/completions"))
        else:
            return await keep_alive(writer, body)
        await writer.drain()
        return True

    upstream = await raw_upstream(moved)
    client, _ = await setup(gateway, upstream.url)
    assert (await client.chat.completions.create(**CHAT)).choices[0].message.content == "hello there"
    assert [h.split(b" ")[1] for h in upstream.heads] == [b"/v1/chat/completions", b"/moved/v1/chat/completions"]
    assert orjson.loads(upstream.bodies[1]) == CHAT and upstream.connections == 1

    away, _ = await setup(gateway, upstream.url + "/away")
    await gateway.api("PUT", "/api/channel/", {"id": 1, "status": 2})  # the first channel off: the second serves
    with pytest.raises(openai.APIStatusError):
        await away.chat.completions.create(**CHAT)
    assert upstream.heads[-1].startswith(b"POST /away/v1/chat/completions ")
    assert elsewhere.heads == [], "the key did not follow a redirect to another host"


async def cut_mid_body(writer: asyncio.StreamWriter, body: bytes) -> bool:
    writer.write(head(Content_Length=str(len(ANSWER))) + ANSWER[:20])
    await writer.drain()
    return False


async def not_http(writer: asyncio.StreamWriter, body: bytes) -> bool:
    writer.write(b"SSH-2.0-OpenSSH_9.6\r\n")
    await writer.drain()
    return False


async def says_nothing(writer: asyncio.StreamWriter, body: bytes) -> bool:
    return False


async def headers_then_silence(writer: asyncio.StreamWriter, body: bytes) -> bool:
    writer.write(head(Content_Length=str(len(ANSWER))) + ANSWER[:10])
    await writer.drain()
    await asyncio.sleep(5)
    return False


async def endless_headers(writer: asyncio.StreamWriter, body: bytes) -> bool:
    writer.write(b"HTTP/1.1 200 OK\r\n" + b"X-Padding: " + b"p" * 100_000 + b"\r\n\r\n")
    await writer.drain()
    return False


@pytest.mark.parametrize(("answer", "status", "message"), [
    (endless_headers, 502, "more than 64 KB of headers"),
    (cut_mid_body, 502, "closed the connection before the answer's end"),
    (not_http, 502, "not valid HTTP"),
    (says_nothing, 502, "closed the connection without answering"),
    (headers_then_silence, 504, "did not answer in time"),  # RELAY_TIMEOUT covers the body, not just the head
])
async def test_a_broken_answer_is_an_openai_error_and_costs_nothing(make_gateway, raw_upstream, answer: Answer,
                                                                    status: int, message: str):
    gateway = await make_gateway(RELAY_TIMEOUT="1")
    upstream = await raw_upstream(answer)
    client, user = await setup(gateway, upstream.url, quota=50_000)
    with pytest.raises(openai.APIStatusError) as raised:
        await client.chat.completions.create(**CHAT)
    assert raised.value.status_code == status
    error = raised.value.body
    assert isinstance(error, dict) and message in error["message"] and error["type"] == "upstream_error", error
    assert await used_quota(gateway, user) == 0
    after = (await gateway.api("GET", f"/api/user/{user['id']}"))["data"]
    assert after["quota"] == 50_000, "the reservation was given back"


@pytest.fixture
def unanswered_address() -> Iterator[str]:
    """A URL whose connects hang: a listener that never accepts, its queue (a backlog of 0) full, so the
    kernel drops the next SYNs, as a firewall that drops packets or a host that is down would."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(listener.getsockname())
        fillers.append(filler)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    for sock in (*fillers, listener):
        sock.close()


async def test_a_connect_that_hangs_is_a_timeout_and_costs_nothing(make_gateway, unanswered_address: str):
    gateway = await make_gateway(RELAY_TIMEOUT="1")
    client, user = await setup(gateway, unanswered_address, quota=50_000)
    with pytest.raises(openai.APIStatusError) as raised:
        await client.chat.completions.create(**CHAT)
    assert raised.value.status_code == 504  # not 502: Python's TimeoutError is an OSError too
    error = raised.value.body
    assert isinstance(error, dict) and "did not answer in time" in error["message"], error
    assert error["code"] == "upstream_timeout", error
    assert await used_quota(gateway, user) == 0  # after the ledger's queue is written
    after = (await gateway.api("GET", f"/api/user/{user['id']}"))["data"]
    assert after["quota"] == 50_000, "the reservation was given back"


async def test_a_slow_reader_pauses_the_upstream_instead_of_filling_memory(gateway: Gateway, raw_upstream):
    """A stream larger than the high-water mark, read slowly: the gateway stops reading the upstream socket,
    so what the upstream could write stays far below what it wanted to send until the client reads."""
    event = chunk({"content": "x" * 4000})
    events = 10_000  # 40 MB: several times what the kernel's socket buffers on both sides can hold
    written = 0

    async def floods(writer: asyncio.StreamWriter, body: bytes) -> bool:
        nonlocal written
        writer.write(head(content_type="text/event-stream", Transfer_Encoding="chunked"))
        for _ in range(events):
            writer.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
            await writer.drain()
            written += len(event)
        end = chunk({}, "stop") + chunk({}, usage={"prompt_tokens": 7, "completion_tokens": 9, "total_tokens": 16})
        writer.write(f"{len(end):x}\r\n".encode() + end + b"\r\n0\r\n\r\n")  # usage given: nothing to count
        await writer.drain()
        return False

    upstream = await raw_upstream(floods)
    key = await gateway.add_token()
    await gateway.add_channel(upstream.url)
    async with gateway.http.post(gateway.url + "/v1/chat/completions", json={**CHAT, "stream": True},
                                 headers={"Authorization": key}) as resp:
        assert resp.status == 200
        await resp.content.readany()
        await asyncio.sleep(0.5)  # the client reads nothing for a while
        assert written < 20 * 1024 * 1024, f"the upstream wrote {written} bytes to a client reading nothing"
        received = len(await resp.read())
    assert written == events * len(event) and received > events * 4000, "the whole stream came through after"


def _certificate(tmp_path) -> tuple[str, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1: the CA file to trust, and the server's TLS context."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "upstream.pem", tmp_path / "upstream.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    return str(cert_file), server


async def test_https_upstreams_are_verified(make_gateway, raw_upstream, tmp_path, monkeypatch):
    ca_file, server_tls = _certificate(tmp_path)
    upstream = await raw_upstream(keep_alive, tls=server_tls)
    untrusting = await make_gateway()
    client, _ = await setup(untrusting, upstream.url)
    with pytest.raises(openai.APIStatusError) as raised:
        await client.chat.completions.create(**CHAT)
    assert raised.value.status_code == 502 and "CERTIFICATE_VERIFY_FAILED" in str(raised.value.body)

    monkeypatch.setenv("SSL_CERT_FILE", ca_file)  # the system's trust store, as OpenSSL reads it
    trusting = await make_gateway()
    client, user = await setup(trusting, upstream.url)
    for _ in range(2):
        assert (await client.chat.completions.create(**CHAT)).choices[0].message.content == "hello there"
    assert upstream.connections == 1, "the refused handshake never became a connection; the other was kept alive"
    assert await used_quota(trusting, user) > 0


async def test_relay_proxy_carries_every_provider_call(make_gateway, raw_upstream):
    """RELAY_PROXY: provider calls go through the forward proxy (the aiohttp session's path)."""
    upstream = await raw_upstream(keep_alive)
    proxied: list[str] = []

    async def forward(request: web.Request) -> web.Response:
        proxied.append(str(request.url))
        reader, writer = await asyncio.open_connection("127.0.0.1", int(upstream.url.rsplit(":", 1)[1]))
        body = await request.read()
        writer.write(f"POST {request.path} HTTP/1.1\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        answer = await reader.read(65536)
        writer.close()
        _, _, payload = answer.partition(b"\r\n\r\n")
        return web.Response(body=payload, content_type="application/json")

    proxy_app = web.Application()
    proxy_app.router.add_route("*", "/{tail:.*}", forward)
    proxy = await start_fake(proxy_app)
    gateway = await make_gateway(RELAY_PROXY=str(proxy.make_url("")).rstrip("/"))
    client, _ = await setup(gateway, upstream.url)
    assert (await client.chat.completions.create(**CHAT)).choices[0].message.content == "hello there"
    assert proxied == [upstream.url + "/v1/chat/completions"]
    await proxy.close()
