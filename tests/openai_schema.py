"""What "speaks OpenAI" means, checked on the raw bytes a client receives.

Each answer is validated with the openai SDK's own generated types in pydantic's strict mode (no coercion: a
float ``created`` or an int error ``code`` fails), plus the rules the SDK's types relax: a chunk carries id,
object, created and model, and each choice its index, delta and a ``finish_reason`` key (null until the end);
tool-call deltas carry ``index``; the usage a client asked for with ``stream_options.include_usage`` comes in
one final chunk with ``choices: []`` and never on a chunk with choices; errors are exactly
``{"error": {"message", "type", "param", "code"}}`` with code a string or null.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

import orjson
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.shared import ErrorObject

from tests.conftest import Gateway

CHUNK_KEYS = {"id", "object", "created", "model", "choices"}


async def relay(gateway: Gateway, key: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    """POST to the gateway's /v1 as a client would: (status, the JSON answer or the list of stream events, each
    a decoded ``data:`` payload, ending with the string "[DONE]")."""
    headers = {"Authorization": f"Bearer {key}"}
    async with gateway.http.post(f"{gateway.url}{path}", json=body, headers=headers) as resp:
        raw = await resp.read()
        if resp.content_type != "text/event-stream":
            return resp.status, orjson.loads(raw)
    events: list[Any] = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        assert block.startswith("data: ") and "\n" not in block, f"not one SSE data line: {block!r}"
        payload = block[len("data: "):]
        events.append(payload if payload == "[DONE]" else orjson.loads(payload))
    return resp.status, events


def check_completion(data: Any) -> ChatCompletion:
    assert {"id", "object", "created", "model", "choices", "usage"} <= set(data), data
    for choice in data["choices"]:
        assert {"index", "message", "finish_reason"} <= set(choice), choice
        assert choice["finish_reason"] is not None, choice
        for call in choice["message"].get("tool_calls") or ():
            assert {"id", "type", "function"} <= set(call), call
    return ChatCompletion.model_validate(data, strict=True)


def check_stream(events: list[Any], include_usage: bool) -> list[ChatCompletionChunk]:
    """The events of a whole chat stream (ending with "[DONE]"), with at most one error event before the end."""
    assert events and events[-1] == "[DONE]", events[-3:]
    chunks = events[:-1]
    assert "[DONE]" not in chunks, "[DONE] before the end"
    errored = bool(chunks) and "error" in chunks[-1]
    if errored:
        check_error(chunks.pop())
    validated = []
    finished: set[int] = set()
    for position, chunk in enumerate(chunks):
        assert set(chunk) >= CHUNK_KEYS and chunk["object"] == "chat.completion.chunk", chunk
        if chunk["choices"]:
            assert chunk.get("usage") is None, f"usage on a chunk with choices: {chunk}"
        else:
            assert include_usage and position == len(chunks) - 1 and chunk.get("usage"), (
                f"a chunk without choices that is not the final usage chunk: {chunk}")
        for choice in chunk["choices"]:
            assert {"index", "delta", "finish_reason"} <= set(choice), choice
            assert choice["index"] not in finished, f"choice {choice['index']} goes on after its finish_reason"
            if choice["finish_reason"] is not None:
                finished.add(choice["index"])
            for call in choice["delta"].get("tool_calls") or ():
                assert isinstance(call.get("index"), int), f"a tool-call delta without index: {call}"
        validated.append(ChatCompletionChunk.model_validate(chunk, strict=True))
    if include_usage and not errored:
        assert chunks and not chunks[-1]["choices"], "include_usage was asked for but no usage chunk came"
    return validated


def check_error(body: Any) -> ErrorObject:
    assert set(body) == {"error"}, body
    error = body["error"]
    assert {"message", "type", "param", "code"} <= set(error), error
    assert isinstance(error["code"], str | None), f"error code {error['code']!r} is not a string or null"
    assert error["message"], error
    return ErrorObject.model_validate(error, strict=True)


def check_embeddings(data: Any, encoding_format: str) -> list[list[float]]:
    """An embeddings answer; with base64 each vector must be little-endian float32 bytes, as OpenAI sends."""
    vectors = []
    for item in data.get("data") or ():
        if encoding_format == "base64":
            assert isinstance(item["embedding"], str), item
            packed = base64.b64decode(item["embedding"], validate=True)
            assert packed and len(packed) % 4 == 0, item
            item["embedding"] = list(struct.unpack(f"<{len(packed) // 4}f", packed))
        vectors.append(item["embedding"])
    CreateEmbeddingResponse.model_validate(data, strict=True)
    return vectors
