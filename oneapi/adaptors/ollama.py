"""Ollama's native API (SPEC §4.13): ``/api/chat`` and ``/api/embed``, streamed as NDJSON.

Sampling parameters move into Ollama's ``options`` (``max_tokens`` becomes ``num_predict``) and image parts
travel as base64 in the message's ``images``. Ollama reports its own token counts: ``prompt_eval_count`` for
the prompt and ``eval_count`` for the answer, on the final (``done``) object of a stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from oneapi.adaptors.base import HttpAdaptor, RelayRequest, UpstreamRequest
from oneapi.adaptors.shaping import parse_data_url
from oneapi.adaptors.streams import iter_ndjson
from oneapi.adaptors.transport import Answer
from oneapi.constants import RelayMode
from oneapi.errors import RelayError, upstream_error
from oneapi.wire.openai_chat import chat_chunk, chat_completion, embedding_list, new_id

# OpenAI request field -> Ollama option
_OPTIONS = {"seed": "seed", "temperature": "temperature", "top_p": "top_p", "top_k": "top_k",
            "frequency_penalty": "frequency_penalty", "presence_penalty": "presence_penalty",
            "max_tokens": "num_predict", "num_ctx": "num_ctx", "stop": "stop"}
_FINISH_REASONS = {"stop": "stop", "length": "length"}


def _message(message: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI message -> Ollama's: the text (the last text part, as One API), images as bare base64."""
    content = message.get("content")
    text = content if isinstance(content, str) else ""
    images: list[str] = []
    if isinstance(content, list):
        for part in content:
            if not isinstance(part, dict):
                continue
            if part.get("type") == "text":
                text = str(part.get("text") or "")
            elif part.get("type") == "image_url":
                url = part.get("image_url")
                url = url.get("url") if isinstance(url, dict) else url
                parsed = parse_data_url(str(url or ""))
                if parsed is None:
                    raise RelayError("Ollama only accepts images sent inline as data: URLs", status=400,
                                     code="invalid_image_url")
                images.append(parsed[1])
    out: dict[str, Any] = {"role": message.get("role") or "user", "content": text}
    if images:
        out["images"] = images
    return out


def _usage(req: RelayRequest, data: dict[str, Any]) -> None:
    if data.get("prompt_eval_count") is not None or data.get("eval_count") is not None:
        req.report_usage(data.get("prompt_eval_count"), data.get("eval_count"))


class OllamaAdaptor(HttpAdaptor):
    modes = frozenset({RelayMode.CHAT, RelayMode.EMBEDDINGS})

    async def prepare(self, req: RelayRequest) -> UpstreamRequest:
        body = req.body
        options = {target: body[source] for source, target in _OPTIONS.items() if body.get(source) is not None}
        headers = {"Content-Type": "application/json"}
        if req.mode == RelayMode.EMBEDDINGS:
            payload: dict[str, Any] = {"model": req.model, "input": body["input"]}
            if body.get("dimensions"):
                payload["dimensions"] = body["dimensions"]
            if options:
                payload["options"] = options
            return UpstreamRequest(f"{req.upstream.base_url}/api/embed", headers, orjson.dumps(payload))
        payload = {"model": req.model, "messages": [_message(m) for m in body["messages"]], "stream": req.stream}
        if options:
            payload["options"] = options
        return UpstreamRequest(f"{req.upstream.base_url}/api/chat", headers, orjson.dumps(payload))

    def body_error(self, data: Any) -> RelayError | None:
        if isinstance(data, dict) and isinstance(data.get("error"), str) and data["error"]:
            return upstream_error(500, data["error"], "ollama_error")
        return None

    def convert(self, req: RelayRequest, data: Any) -> dict[str, Any]:
        _usage(req, data)
        if req.mode == RelayMode.EMBEDDINGS:
            return embedding_list(req, enumerate(data.get("embeddings") or ()))
        message = data.get("message") or {}
        finish = _FINISH_REASONS.get(str(data.get("done_reason") or "stop"), "stop")
        return chat_completion(req, new_id(), {"role": "assistant", "content": str(message.get("content") or "")},
                               finish)

    async def convert_stream(self, req: RelayRequest, resp: Answer) -> AsyncIterator[dict[str, Any]]:
        chunk_id = new_id()
        async for data in self.json_events(resp, "Ollama stream line", iter_ndjson):
            text = str((data.get("message") or {}).get("content") or "")
            req.completion_text.append(text)
            finish = None
            if data.get("done"):
                _usage(req, data)
                finish = _FINISH_REASONS.get(str(data.get("done_reason") or "stop"), "stop")
            yield chat_chunk(req, chunk_id, {"role": "assistant", "content": text}, finish)


ADAPTOR = OllamaAdaptor()
