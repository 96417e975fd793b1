"""image_url downloads go through one safe fetcher: no internal address, one generic error for everything.

A Gemini channel makes the gateway download image URLs. The image server is a local fake on 127.0.0.1,
allowed only with FETCH_ALLOW_PRIVATE=true; with the default, every internal address (in every spelling)
is refused before any connection. Redirect checks are proven through USER_CONTENT_REQUEST_PROXY: a local
fake proxy answers for public addresses and redirects wherever the test wants.
"""

from __future__ import annotations

from dataclasses import dataclass

import openai
import pytest
from aiohttp import web

from oneapi.constants import ChannelType
from tests.conftest import Gateway
from tests.fakes.gemini import PNG_DOT, FakeGemini
from tests.fakes.server import FakeServer
from tests.providers import fake_upstream, wire

MODEL = "gemini-1.5-flash"
GENERIC = "the image_url could not be downloaded as an image"
gemini = fake_upstream(FakeGemini)


@dataclass
class ImageServer(FakeServer):
    """Serves /dot.png, /page.html, /big.png, /elsewhere redirecting to ``redirect_to``, and /hop/N redirecting
    N times before the image."""

    redirect_to: str = ""

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/{tail:.*}", self.handle)]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.record(request)
        path = request.path
        if path == "/dot.png":
            return web.Response(body=PNG_DOT, content_type="image/png")
        if path == "/page.html":
            return web.Response(text="<html></html>", content_type="text/html")
        if path == "/big.png":
            return web.Response(body=b"\0" * (21 * 1024 * 1024), content_type="image/png")
        if path == "/elsewhere":
            raise web.HTTPFound(self.redirect_to)
        if path.startswith("/hop/"):
            left = int(path.rsplit("/", 1)[1])
            raise web.HTTPFound(f"/hop/{left - 1}" if left > 1 else "/dot.png")
        raise web.HTTPNotFound()


@pytest.fixture
async def images(serve_fake) -> ImageServer:
    return await serve_fake(ImageServer())


async def ask(gateway: Gateway, gemini: FakeGemini, url: str) -> str:
    """'ok' when the image reached Gemini inline, else the client's error message."""
    wired = await wire(gateway, gemini, ChannelType.GEMINI, MODEL)
    try:
        await wired.client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": url}}]}])
    except openai.BadRequestError as exc:
        assert exc.body["code"] == "invalid_image_url", exc.body
        assert gemini.requests == []
        return exc.body["message"].split(" (request id")[0]
    return "ok"


async def test_a_private_image_server_is_used_when_allowed(make_gateway, gemini: FakeGemini, images: ImageServer):
    gateway = await make_gateway(FETCH_ALLOW_PRIVATE="true")
    assert await ask(gateway, gemini, images.url + "/hop/3") == "ok"
    assert images.paths == ["/hop/3", "/hop/2", "/hop/1", "/dot.png"]


@pytest.mark.parametrize("path", ["/hop/4", "/page.html", "/big.png", "/missing.png"])
async def test_every_failure_is_the_same_generic_error(make_gateway, gemini: FakeGemini, images: ImageServer,
                                                       path: str):
    gateway = await make_gateway(FETCH_ALLOW_PRIVATE="true")
    assert await ask(gateway, gemini, images.url + path) == GENERIC


async def test_a_closed_port_looks_like_any_other_failure(make_gateway, gemini: FakeGemini):
    gateway = await make_gateway(FETCH_ALLOW_PRIVATE="true")
    assert await ask(gateway, gemini, "http://127.0.0.1:1/x.png") == GENERIC


@pytest.mark.parametrize("host", [
    "127.0.0.1", "localhost", "2130706433", "0x7f.1", "017700000001", "127.1", "[::1]", "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]", "0.0.0.0", "[::]", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254",
    "[fd00:ec2::254]", "[fe80::1]", "[fc00::1]", "100.64.0.1", "224.0.0.1", "[ff02::1]", "255.255.255.255",
    "[64:ff9b::7f00:1]", "[2002:7f00:1::]", "[::127.0.0.1]", "[2001:0:4136:e378:8000:63bf:80ff:fffe]",
])
async def test_internal_addresses_are_refused_by_default(gateway: Gateway, gemini: FakeGemini,
                                                         images: ImageServer, host: str):
    port = images.url.rsplit(":", 1)[1]
    assert await ask(gateway, gemini, f"http://{host}:{port}/dot.png") == GENERIC
    assert images.paths == []


async def test_urls_with_credentials_are_refused(gateway: Gateway, gemini: FakeGemini):
    assert await ask(gateway, gemini, "http://user:pw@8.8.8.8/a.png") == GENERIC


async def test_redirects_are_checked_like_the_first_url(make_gateway, gemini: FakeGemini, images: ImageServer):
    # The fake proxy stands in for the internet: http://8.8.8.8/elsewhere reaches the image server.
    gateway = await make_gateway(USER_CONTENT_REQUEST_PROXY=images.url)
    images.redirect_to = "http://8.8.4.4/dot.png"
    assert await ask(gateway, gemini, "http://8.8.8.8/elsewhere") == "ok"
    for internal in (images.url + "/dot.png", "http://0x7f.1/dot.png", "http://169.254.169.254/latest",
                     "http://localhost/dot.png"):
        images.paths.clear()
        gemini.requests.clear()
        images.redirect_to = internal
        assert await ask(gateway, gemini, "http://8.8.8.8/elsewhere") == GENERIC
        assert images.paths == ["/elsewhere"]
