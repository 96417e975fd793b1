"""Each front door reaches every channel type: the channel test's table of fakes (one per type), asked the test
prompt through /v1/messages, /v1/responses and Gemini's generateContent, whole and streamed. The answer is the
provider's reply said in the door's format, and the consume log bills exactly the usage the client was told."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.conftest import Gateway
from tests.test_channel_test_all_types import PROBES, TEST_PROMPT, Probe, add_probed_channel


async def _messages(gateway: Gateway, key: str, model: str, stream: bool) -> tuple[str, tuple[int, int]]:
    body = {"model": model, "max_tokens": 256, "stream": stream, "messages": [{"role": "user", "content": TEST_PROMPT}]}
    async with gateway.http.post(gateway.url + "/v1/messages", json=body, headers={"x-api-key": key}) as resp:
        assert resp.status == 200, await resp.text()
        raw = await resp.read()
    if not stream:
        answer = orjson.loads(raw)
        text = "".join(block["text"] for block in answer["content"] if block["type"] == "text")
        return text, (answer["usage"]["input_tokens"], answer["usage"]["output_tokens"])
    events = _events(raw)
    assert events[0]["type"] == "message_start" and events[-1]["type"] == "message_stop"
    text = "".join(e["delta"].get("text", "") for e in events if e["type"] == "content_block_delta")
    usage = {**events[0]["message"]["usage"], **next(e["usage"] for e in events if e["type"] == "message_delta")}
    return text, (usage["input_tokens"], usage["output_tokens"])


async def _responses(gateway: Gateway, key: str, model: str, stream: bool) -> tuple[str, tuple[int, int]]:
    body = {"model": model, "input": TEST_PROMPT, "stream": stream, "store": False}
    async with gateway.http.post(gateway.url + "/v1/responses", json=body,
                                 headers={"Authorization": f"Bearer {key}"}) as resp:
        assert resp.status == 200, await resp.text()
        raw = await resp.read()
    if stream:
        events = _events(raw)
        assert events[0]["type"] == "response.created" and events[-1]["type"] == "response.completed"
        answer = events[-1]["response"]
    else:
        answer = orjson.loads(raw)
    text = "".join(part["text"] for item in answer["output"] if item["type"] == "message"
                   for part in item["content"] if part["type"] == "output_text")
    return text, (answer["usage"]["input_tokens"], answer["usage"]["output_tokens"])


async def _gemini(gateway: Gateway, key: str, model: str, stream: bool) -> tuple[str, tuple[int, int]]:
    task = "streamGenerateContent?alt=sse" if stream else "generateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": TEST_PROMPT}]}]}
    async with gateway.http.post(f"{gateway.url}/v1beta/models/{model}:{task}", json=body,
                                 headers={"x-goog-api-key": key}) as resp:
        assert resp.status == 200, await resp.text()
        raw = await resp.read()
    chunks = _events(raw) if stream else [orjson.loads(raw)]
    text = "".join(part.get("text", "") for chunk in chunks for candidate in chunk.get("candidates") or ()
                   for part in candidate["content"].get("parts") or () if not part.get("thought"))
    usage = chunks[-1]["usageMetadata"]
    return text, (usage["promptTokenCount"], usage.get("candidatesTokenCount", 0))


def _events(raw: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line[5:]) for line in raw.splitlines() if line.startswith(b"data:")]


DOORS = {"messages": _messages, "responses": _responses, "gemini": _gemini}


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("probe", PROBES, ids=lambda probe: probe.id)
async def test_every_door_to_every_channel_type(gateway: Gateway, serve_fake, probe: Probe, door: str):
    if door == "gemini" and "/" in probe.model:
        pytest.skip("a model name with '/' cannot be a path segment of Gemini's URL")
    fake, _ = await add_probed_channel(gateway, serve_fake, probe)
    key = await gateway.add_token()
    told = []
    for stream in (False, True):
        text, usage = await DOORS[door](gateway, key, probe.model, stream)
        assert text == probe.reply(fake)
        told.append(usage)
    await gateway.drain()
    logs = (await gateway.api("GET", "/api/log/?p=0&type=2"))["data"]
    billed = sorted((log["prompt_tokens"], log["completion_tokens"]) for log in logs)
    assert billed == sorted(told) and all(log["quota"] > 0 for log in logs)


NATIVE_SYSTEM = [  # (door, channel type, the system field its native upstream gets)
    ("messages", "ANTHROPIC", lambda sent: sent["system"]),
    ("responses", "OPENAI", lambda sent: sent["instructions"]),
    ("gemini", "GEMINI", lambda sent: sent["systemInstruction"]["parts"][0]["text"]),
]


@pytest.mark.parametrize(("door", "channel_type", "system_of"), NATIVE_SYSTEM, ids=[d for d, _, _ in NATIVE_SYSTEM])
async def test_a_channels_system_prompt_replaces_the_natives_own(gateway: Gateway, serve_fake, door: str,
                                                                 channel_type: str, system_of: Any):
    probe = next(p for p in PROBES if p.type.name == channel_type)
    fake, channel = await add_probed_channel(gateway, serve_fake, probe)
    updated = await gateway.api("PUT", "/api/channel/", {**channel, "system_prompt": "You are the house bot."})
    assert updated["success"], updated
    key = await gateway.add_token()
    await DOORS[door](gateway, key, probe.model, False)
    assert system_of(fake.requests[-1]) == "You are the house bot."
    await gateway.drain()
    log = (await gateway.api("GET", "/api/log/?p=0&type=2"))["data"][0]
    assert log["system_prompt_reset"] is True
