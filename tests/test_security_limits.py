"""Bounded memory before auth, every body encoding, and headers that cannot cause a 500."""

from __future__ import annotations

import asyncio
import gzip
import resource
import zlib

import aiohttp
import brotli
import orjson
import pytest
import zstandard

from tests.conftest import Gateway
from tests.fakes.openai_upstream import FakeOpenAI

CHAT = {"model": "gpt-3.5-turbo", "messages": [{"role": "user", "content": "hi"}]}
ENCODERS = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
    "zstd": lambda data: zstandard.ZstdCompressor().compress(data),
}


@pytest.fixture
async def small(make_gateway, fake_openai: FakeOpenAI) -> tuple[Gateway, str]:
    gateway = await make_gateway(ONEAPI_MAX_BODY_MB="1")
    await gateway.add_channel(fake_openai.url)
    return gateway, await gateway.add_token()


async def raw_exchange(gateway: Gateway, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """Send bytes on a socket and read the answer (for what aiohttp's client will not send)."""
    host, port = gateway.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(head + body)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(65536), 60)  # a hang is the failure, not a timing
    writer.close()
    status = int(answer.split(b" ", 2)[1])
    return status, answer.split(b"\r\n\r\n", 1)[1]


async def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_sent(small):
    gateway, key = small
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n").encode()
    # Only 10 bytes of the promised gigabyte are sent: an answer at all proves nothing was waited for.
    status, body = await raw_exchange(gateway, head, b'{"model":')
    assert status == 413
    error = orjson.loads(body)["error"]
    assert error["code"] == "request_too_large" and error["type"] == "invalid_request_error"


async def test_a_streamed_body_is_cut_off_at_the_limit(small):
    gateway, key = small

    async def endless():
        for _ in range(200):
            yield b" " * 65536

    async with gateway.http.post(gateway.url + "/v1/chat/completions", data=endless(),
                                 headers={"Authorization": key, "Content-Type": "application/json"}) as resp:
        assert resp.status == 413
        assert (await resp.json())["error"]["code"] == "request_too_large"


@pytest.mark.parametrize("path", ["/api/user/login", "/api/user/register", "/api/user/reset"])
async def test_unauthenticated_routes_take_small_bodies_only(gateway: Gateway, path: str):
    big = orjson.dumps({"username": "root", "password": "x" * 70_000})
    async with gateway.http.post(gateway.url + path, data=big,
                                 headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == 413
        assert await resp.json() == {"success": False, "message": "the request body is too large"}


async def test_memory_stays_flat_when_many_clients_send_huge_bodies_at_once(gateway: Gateway):
    async def huge():
        for _ in range(160):  # 10 MiB each, without a Content-Length
            yield b"a" * 65536

    async def one() -> int:
        async with aiohttp.ClientSession() as session:
            try:
                async with session.post(gateway.url + "/api/user/login", data=huge()) as resp:
                    return resp.status
            except aiohttp.ClientError:
                return 413  # the gateway answered and closed while we were still sending

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    statuses = await asyncio.gather(*(one() for _ in range(40)))
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert set(statuses) == {413}
    assert grown_mib < 100, f"peak memory grew {grown_mib:.0f} MiB for 400 MiB of refused bodies"


@pytest.mark.parametrize("encoding", sorted(ENCODERS))
async def test_every_common_encoding_is_decoded(small, encoding: str):
    gateway, key = small
    async with gateway.http.post(gateway.url + "/v1/chat/completions", data=ENCODERS[encoding](orjson.dumps(CHAT)),
                                 headers={"Authorization": key, "Content-Type": "application/json",
                                          "Content-Encoding": encoding}) as resp:
        assert resp.status == 200, await resp.text()


@pytest.mark.parametrize("encoding", sorted(ENCODERS))
async def test_a_zip_bomb_is_refused_with_413(small, encoding: str):
    gateway, key = small
    bomb = ENCODERS[encoding](b'{"model": "gpt-3.5-turbo", "pad": "' + b"0" * (8 * 1024 * 1024) + b'"}')
    assert len(bomb) < 1024 * 1024
    async with gateway.http.post(gateway.url + "/v1/chat/completions", data=bomb,
                                 headers={"Authorization": key, "Content-Type": "application/json",
                                          "Content-Encoding": encoding}) as resp:
        assert resp.status == 413
        assert (await resp.json())["error"]["code"] == "request_too_large"


async def test_an_unknown_encoding_is_415_and_a_corrupt_one_400(small):
    gateway, key = small
    for encoding, status in (("compress", 415), ("zstd", 400), ("br", 400)):
        async with gateway.http.post(gateway.url + "/v1/chat/completions", data=b"not compressed at all",
                                     headers={"Authorization": key, "Content-Encoding": encoding}) as resp:
            body = await resp.json()
            assert resp.status == status, body
            assert set(body["error"]) >= {"message", "type", "code"}


async def test_compressed_admin_bodies_are_decoded_too(gateway: Gateway):
    body = gzip.compress(orjson.dumps({"name": "zipped", "remain_quota": 1, "expired_time": -1}))
    async with gateway.http.post(gateway.url + "/api/token/", data=body,
                                 headers={"Authorization": "0123456789abcdef0123456789abcdef",
                                          "Content-Type": "application/json", "Content-Encoding": "gzip"}) as resp:
        assert (await resp.json())["success"] is True


@pytest.mark.parametrize(("path", "status"), [("/v1/chat/completions", 401), ("/api/user/self", 401)])
async def test_a_non_utf8_authorization_header_is_refused_in_the_route_shape(gateway: Gateway, path: str,
                                                                             status: int):
    method = b"POST" if path.startswith("/v1") else b"GET"
    head = (method + b" " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\xc3(\r\n"
            b"Content-Length: 2\r\nContent-Type: application/json\r\n\r\n{}")
    got, body = await raw_exchange(gateway, head)
    assert got == status
    answer = orjson.loads(body)
    assert "error" in answer if path.startswith("/v1") else answer["success"] is False
