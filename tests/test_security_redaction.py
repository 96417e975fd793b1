"""No secret leaves: upstream errors, channel tests, admin answers and logs never carry a key or a token."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import openai
import pytest
from aiohttp import web

from tests.conftest import ROOT_ACCESS_TOKEN, Gateway
from tests.fakes.server import FakeServer

# A composite key as Baidu/Xunfei/Tencent channels store them; the upstream echoes one part of it.
COMPOSITE = "AKIDsecretpart0001|SKEYsecretpart0002|APPsecret0003"


@dataclass
class EchoingUpstream(FakeServer):
    """An OpenAI-compatible upstream that quotes the credentials it got back in its error, as some do."""

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/chat/completions", self.chat)]

    async def chat(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        second = auth.split("|")[1] if "|" in auth else auth
        message = (f"Incorrect API key provided: {auth}. Part {second} is not valid; "
                   f"headers were Authorization: {auth}; see https://x.example/?key={second}")
        logging.getLogger("oneapi.test").debug("upstream saw %s", auth)
        return web.json_response({"error": {"message": message, "type": "invalid_request_error",
                                            "code": "invalid_api_key"}}, status=401)


@pytest.fixture
async def echoing(serve_fake) -> EchoingUpstream:
    return await serve_fake(EchoingUpstream())


def leaks(text: str, token: str = "") -> list[str]:
    secrets = [COMPOSITE, *COMPOSITE.split("|"), ROOT_ACCESS_TOKEN]
    if token:
        secrets += [token, token.removeprefix("sk-")]
    return [s for s in secrets if s in text]


async def test_upstream_errors_channel_tests_and_logs_carry_no_secret(gateway: Gateway, echoing: EchoingUpstream,
                                                                     caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    channel = await gateway.add_channel(echoing.url, key=COMPOSITE)
    key = await gateway.add_token()
    with pytest.raises(openai.APIStatusError) as caught:
        await gateway.openai(key).chat.completions.create(model="gpt-3.5-turbo",
                                                          messages=[{"role": "user", "content": "hi"}])
    relayed = str(caught.value.body) + caught.value.message
    assert "Incorrect API key provided" in relayed
    assert leaks(relayed, key) == []
    tested = await gateway.api("GET", f"/api/channel/test/{channel['id']}")
    assert not tested["success"] and leaks(str(tested), key) == []
    logging.getLogger("oneapi.test").warning("caller sent Authorization: Bearer %s and cookie session=%s",
                                             key, "x" * 40)
    logged = caplog.text + "".join(r.getMessage() for r in caplog.records)
    assert "upstream saw" in logged
    assert leaks(logged, key) == []


async def test_admin_listings_never_show_a_password_hash_or_access_token(gateway: Gateway):
    user = await gateway.add_user()
    for path in ("/api/user/", f"/api/user/{user['id']}", f"/api/user/search?keyword={user['username']}"):
        answer = str(await gateway.api("GET", path))
        assert user["access_token"] not in answer and "$2b$" not in answer
