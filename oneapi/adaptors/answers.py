"""OpenAI's answer shapes as adaptors build them: chat completions, stream chunks and SSE events,
embeddings, and the legacy ``function_call`` form of tool calls."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from oneapi.adaptors.base import RelayRequest


def sse(payload: dict[str, Any] | bytes) -> bytes:
    """One SSE event as the client receives it."""
    data = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return b"data: " + data + b"\n\n"


def new_id(prefix: str = "chatcmpl-") -> str:
    return prefix + uuid.uuid4().hex


def _chat_object(req: RelayRequest, object_id: str, kind: str, model: str | None,
                 choices: list[dict[str, Any]]) -> dict[str, Any]:
    """The fields every ``chat.completion`` and ``chat.completion.chunk`` starts with."""
    return {"id": object_id, "object": kind, "created": req.created, "model": model or req.origin_model,
            "choices": choices}


def chat_chunk(req: RelayRequest, chunk_id: str, delta: dict[str, Any], finish_reason: str | None = None,
               model: str | None = None) -> dict[str, Any]:
    """An OpenAI ``chat.completion.chunk`` with one choice."""
    return _chat_object(req, chunk_id, "chat.completion.chunk", model,
                        [{"index": 0, "delta": delta, "finish_reason": finish_reason}])


def usage_chunk(req: RelayRequest, chunk_id: str, model: str | None = None) -> dict[str, Any]:
    """The final ``choices: []`` chunk carrying usage, sent when the client asked for include_usage."""
    return {**_chat_object(req, chunk_id, "chat.completion.chunk", model, []), "usage": req.usage.as_openai()}


def chat_completion(req: RelayRequest, completion_id: str, message: dict[str, Any], finish_reason: str | None,
                    model: str | None = None) -> dict[str, Any]:
    """An OpenAI ``chat.completion`` with one choice and the recorded usage."""
    return {**_chat_object(req, completion_id, "chat.completion", model,
                           [{"index": 0, "message": message, "finish_reason": finish_reason}]),
            "usage": req.usage.as_openai()}


def embedding_list(req: RelayRequest, vectors: Iterable[tuple[int, Any]]) -> dict[str, Any]:
    """An OpenAI embeddings answer from (index, vector) pairs, with the recorded usage."""
    return {"object": "list", "model": req.origin_model, "usage": req.usage.as_openai(),
            "data": [{"object": "embedding", "index": index, "embedding": vector} for index, vector in vectors]}


def function_call_form(answer: dict[str, Any]) -> dict[str, Any] | None:
    """A ``chat.completion`` or chunk said the legacy way: the first tool call (index 0 in a stream) as
    ``function_call``, the legacy form having one call per answer, and finish reason ``function_call``.
    None for a chunk left with nothing to say (it only carried later calls)."""
    emptied = False
    for choice in answer.get("choices") or ():
        part = choice.get("message", choice.get("delta"))
        calls = part.pop("tool_calls", None) if isinstance(part, dict) else None
        if calls:
            first = next((call for call in calls if call.get("index", 0) == 0), None)
            function = (first or {}).get("function") or {}
            said = {key: function[key] for key in ("name", "arguments") if function.get(key) is not None}
            if said:
                part["function_call"] = said
            emptied = emptied or not part
        if choice.get("finish_reason") == "tool_calls":
            choice["finish_reason"] = "function_call"
    chunk_is_empty = all(not choice.get("delta") and not choice.get("finish_reason")
                         for choice in answer.get("choices") or ())
    return None if emptied and chunk_is_empty else answer
