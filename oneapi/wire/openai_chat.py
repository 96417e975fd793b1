"""OpenAI's chat wire format, the pipeline's inner shape: chat completions, stream chunks and SSE events,
embeddings, and the legacy ``function_call`` form of tool calls, as adaptors build them and the OpenAI front
door sends them."""

from __future__ import annotations

import base64
import struct
import uuid
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import orjson

from oneapi.adaptors.usage import Usage
from oneapi.errors import RelayError


class Answering(Protocol):
    """What the answer shapes read of the request they answer (``adaptors.base.RelayRequest`` has it)."""

    body: dict[str, Any]
    origin_model: str
    stream: bool
    usage: Usage
    created: int


def sse(payload: dict[str, Any] | bytes) -> bytes:
    """One SSE event as the client receives it."""
    data = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return b"data: " + data + b"\n\n"


def named_event(payload: dict[str, Any]) -> bytes:
    """An SSE event named by its payload's ``type`` (Anthropic's and the Responses API's streams)."""
    return b"event: " + str(payload["type"]).encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def new_id(prefix: str = "chatcmpl-") -> str:
    return prefix + uuid.uuid4().hex


def _chat_object(req: Answering, object_id: str, kind: str, model: str | None,
                 choices: list[dict[str, Any]]) -> dict[str, Any]:
    """The fields every ``chat.completion`` and ``chat.completion.chunk`` starts with."""
    return {"id": object_id, "object": kind, "created": req.created, "model": model or req.origin_model,
            "choices": choices}


def chat_chunk(req: Answering, chunk_id: str, delta: dict[str, Any], finish_reason: str | None = None,
               model: str | None = None) -> dict[str, Any]:
    """An OpenAI ``chat.completion.chunk`` with one choice."""
    return _chat_object(req, chunk_id, "chat.completion.chunk", model,
                        [{"index": 0, "delta": delta, "finish_reason": finish_reason}])


def usage_chunk(req: Answering, chunk_id: str, model: str | None = None) -> dict[str, Any]:
    """The final ``choices: []`` chunk carrying usage, sent when the client asked for include_usage."""
    return {**_chat_object(req, chunk_id, "chat.completion.chunk", model, []), "usage": req.usage.as_openai()}


def chat_completion(req: Answering, completion_id: str, message: dict[str, Any], finish_reason: str | None,
                    model: str | None = None) -> dict[str, Any]:
    """An OpenAI ``chat.completion`` with one choice and the recorded usage."""
    return {**_chat_object(req, completion_id, "chat.completion", model,
                           [{"index": 0, "message": message, "finish_reason": finish_reason}]),
            "usage": req.usage.as_openai()}


def embedding_list(req: Answering, vectors: Iterable[tuple[int, Any]]) -> dict[str, Any]:
    """An OpenAI embeddings answer from (index, vector) pairs, with the recorded usage."""
    answer = {"object": "list", "model": req.origin_model, "usage": req.usage.as_openai(),
              "data": [{"object": "embedding", "index": index, "embedding": vector} for index, vector in vectors]}
    encode_embeddings(req, answer)
    return answer


def encode_embeddings(req: Answering, answer: dict[str, Any]) -> bool:
    """With ``encoding_format: "base64"`` (the openai SDK's default) each vector still given as floats is packed
    as OpenAI does, little-endian float32 bytes in base64; True when the answer was changed."""
    if req.body.get("encoding_format") != "base64":
        return False
    changed = False
    for item in answer.get("data") or ():
        vector = item.get("embedding") if isinstance(item, dict) else None
        if isinstance(vector, list):
            item["embedding"] = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            changed = True
    return changed


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


def conform(req: Answering, answer: dict[str, Any]) -> bool:
    """Complete a chat completion (or chunk, when streaming) from an OpenAI-compatible upstream with what OpenAI
    always sends and some compatible upstreams leave out (``object``, ``created``, a choice's ``index`` and
    ``finish_reason``, a tool-call delta's ``index``), and move usage off chunks that carry choices (it belongs
    in the final usage chunk). True when the answer was changed. Runs on every stream chunk: the usual,
    complete chunk costs a few dict lookups."""
    changed = False
    if not (answer.get("id") and answer.get("object") and answer.get("created") and answer.get("model")):
        changed = _fill_head(req, answer)
    choices = answer.get("choices")
    stream = req.stream
    for position, choice in enumerate(choices if isinstance(choices, list) else ()):
        if not isinstance(choice, dict):
            continue
        if "index" not in choice:
            choice["index"], changed = position, True
        if not stream:
            if choice.get("finish_reason") is None:
                choice["finish_reason"], changed = "stop", True
            continue
        if "finish_reason" not in choice or "delta" not in choice:
            choice.setdefault("finish_reason", None)
            choice.setdefault("delta", {})
            changed = True
        delta = choice["delta"]
        calls = delta.get("tool_calls") if isinstance(delta, dict) else None
        for number, call in enumerate(calls or ()):
            if isinstance(call, dict) and "index" not in call:
                call["index"], changed = number, True
    if stream and choices and answer.get("usage") is not None:
        del answer["usage"]
        changed = True
    return changed


def _fill_head(req: Answering, answer: dict[str, Any]) -> bool:
    """The id, object, created and model an answer left out (or empty); True when one was filled in."""
    defaults: dict[str, Callable[[], Any]] = {
        "id": new_id, "object": lambda: "chat.completion.chunk" if req.stream else "chat.completion",
        "created": lambda: req.created, "model": lambda: req.origin_model}
    changed = False
    for key, default in defaults.items():
        if not answer.get(key):
            answer[key], changed = default(), True
    return changed


class StreamProgress:
    """What a chat stream has told the client so far: the chunk id, whether the answer finished, whether the
    final usage chunk went out."""

    __slots__ = ("_chunk_id", "finished", "usage_sent")

    def __init__(self) -> None:
        self._chunk_id = ""
        self.finished = False
        self.usage_sent = False

    @property
    def chunk_id(self) -> str:
        """The id the stream's chunks carry; one of our own (made when first needed) if they carry none."""
        if not self._chunk_id:
            self._chunk_id = new_id()
        return self._chunk_id

    def saw(self, chunk: dict[str, Any]) -> None:
        self._chunk_id = chunk.get("id") or self._chunk_id
        choices = chunk.get("choices")
        if choices:
            if not self.finished:
                for choice in choices:
                    if isinstance(choice, dict) and choice.get("finish_reason"):
                        self.finished = True
                        break
        elif chunk.get("usage"):
            self.usage_sent = True

    def pass_usual(self, chunk: dict[str, Any]) -> str | None:
        """The text of the chunk nearly every stream is made of, if ``chunk`` is one: OpenAI's whole head, one
        choice with its index and no finish reason yet, a delta without tool calls, no usage, no error. Such a
        chunk passes on as it came; None for any other, which takes the whole path (``saw`` and ``conform``).
        One pass of lookups instead of three: it runs on every chunk of every stream."""
        choices = chunk.get("choices")
        if (type(choices) is not list or len(choices) != 1 or chunk.get("usage") is not None or "error" in chunk
                or not (chunk.get("id") and chunk.get("object") and chunk.get("created") and chunk.get("model"))):
            return None
        choice = choices[0]
        if (type(choice) is not dict or choice.get("finish_reason") is not None or "finish_reason" not in choice
                or "index" not in choice):
            return None
        delta = choice.get("delta")
        if type(delta) is not dict or "tool_calls" in delta:
            return None
        content = delta.get("content")
        if content is None:
            content = ""
        elif type(content) is not str:
            return None
        self._chunk_id = chunk["id"]
        return content

    def check_finished(self) -> None:
        """A stream that ended without a finish reason was cut off: the client must not take it as whole."""
        if not self.finished:
            raise RelayError("the upstream stream ended before the answer was complete", status=502,
                             type="upstream_error", code="upstream_stream_truncated", retryable=True, upstream=True)
