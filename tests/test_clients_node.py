"""The official openai Node SDK (tests/node, installed by scripts/test with ``npm ci``) against the gateway: chat,
a stream with usage, the stream helper, a tool round trip, embeddings and error classes, per channel type."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import Gateway
from tests.providers import CLIENT_UPSTREAMS

NODE_DIR = Path(__file__).parent / "node"


def _node() -> str:
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "openai").is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail("node and tests/node/node_modules are required in CI (scripts/test runs npm ci)")
        pytest.skip("the Node SDK is not installed: run scripts/test (npm ci in tests/node)")
    return node


async def run_node(env: dict[str, str]) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        _node(), str(NODE_DIR / "clients.mjs"), cwd=NODE_DIR, env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0, err.decode()
    return orjson.loads(out.splitlines()[-1])


@pytest.mark.parametrize("name", list(CLIENT_UPSTREAMS))
async def test_node_sdk(gateway: Gateway, serve_fake, name: str):
    make_fake, channel_type, chat_model, reply, embedding_model = CLIENT_UPSTREAMS[name]
    fake = await serve_fake(make_fake())
    models = ",".join(m for m in (chat_model, embedding_model) if m)
    await gateway.add_channel(fake.url, key=fake.key, models=models, type=channel_type)
    user = await gateway.add_user()
    key = await gateway.add_token(user["access_token"])
    result = await run_node({"ONEAPI_BASE_URL": gateway.url + "/v1", "ONEAPI_KEY": key, "CHAT_MODEL": chat_model,
                             "EMBEDDING_MODEL": embedding_model or ""})
    assert result["chat"]["content"] == reply and result["chat"]["finish"] == "stop"
    assert result["chat"]["object"] == "chat.completion" and result["chat"]["totalTokens"] > 0
    assert result["stream"] == {"text": reply, "usageChunks": 1, "usageWithChoices": 0}
    assert result["streamHelper"]["text"] == reply
    assert result["tools"] == {"finish": "tool_calls", "name": "get_weather", "args": {"city": "Paris"},
                               "answer": reply}
    if embedding_model:
        assert [(e["index"], e["numbers"]) for e in result["embeddings"]] == [(0, True), (1, True)]
        assert all(e["length"] > 0 for e in result["embeddings"])
    assert sorted(result["models"]) == sorted(models.split(","))
    assert result["missingModel"] == {"status": 404, "code": "model_not_found", "type": "invalid_request_error",
                                      "notFound": True, "auth": False}
    assert result["badKey"]["status"] == 401 and result["badKey"]["auth"] is True
