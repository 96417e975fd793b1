"""Google PaLM 2 (SPEC §4.5): OpenAI chat <-> ``v1beta2 generateMessage``.

PaLM neither streams nor reports usage. A stream request gets the whole answer as one ordinary
chunk (not One API's JSON-encoded string), and usage is our own count. Fixed against One API: the
requested model goes into the URL (``PaLM-2``, One API's catalogue name, means ``chat-bison-001``) and
``topK`` comes from ``top_k``, not from ``max_tokens``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import orjson

from oneapi.adaptors.base import HttpAdaptor, RelayRequest, UpstreamRequest
from oneapi.adaptors.google import body_error, google_error, google_headers, no_candidates
from oneapi.adaptors.shaping import conversion_error, message_text
from oneapi.errors import RelayError
from oneapi.wire.openai_chat import chat_chunk, new_id, sse, usage_chunk

_MODEL_ALIASES = {"PaLM-2": "chat-bison-001"}
_AUTHORS = {"user": "0", "assistant": "1"}


def convert_request(body: dict[str, Any]) -> dict[str, Any]:
    """System messages become the prompt's ``context``; turns of one author in a row are joined."""
    context: list[str] = []
    messages: list[dict[str, str]] = []
    for i, message in enumerate(body["messages"]):
        role = message.get("role")
        text = message_text(message.get("content"))
        if role in ("system", "developer"):
            context.append(text)
            continue
        author = _AUTHORS.get(role)
        if author is None:
            raise conversion_error(f"messages[{i}]: role {role!r} is not supported by PaLM")
        if messages and messages[-1]["author"] == author:
            messages[-1]["content"] += "\n" + text
        else:
            messages.append({"author": author, "content": text})
    prompt: dict[str, Any] = {"messages": messages}
    if any(context):
        prompt["context"] = "\n".join(text for text in context if text)
    request: dict[str, Any] = {"prompt": prompt}
    for source, target in (("temperature", "temperature"), ("top_p", "topP"), ("top_k", "topK"),
                           ("n", "candidateCount")):
        if body.get(source) is not None:
            request[target] = body[source]
    return request


class PalmAdaptor(HttpAdaptor):
    async def prepare(self, req: RelayRequest) -> UpstreamRequest:
        model = _MODEL_ALIASES.get(req.model, req.model)
        url = f"{req.upstream.base_url}/v1beta2/models/{model}:generateMessage"
        return UpstreamRequest(url, google_headers(req), orjson.dumps(convert_request(req.body)))

    def convert(self, req: RelayRequest, data: Any) -> dict[str, Any]:
        candidates = [c for c in data.get("candidates") or () if isinstance(c, dict)]
        if not candidates:
            reasons = ", ".join(str(f.get("reason")) for f in data.get("filters") or () if isinstance(f, dict))
            raise no_candidates("PaLM", reasons)
        texts = [str(candidate.get("content") or "") for candidate in candidates]
        req.estimate_usage("".join(texts))
        return {
            "id": new_id(),
            "object": "chat.completion",
            "created": req.created,
            "model": req.origin_model,
            "choices": [{"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                        for i, text in enumerate(texts)],
            "usage": req.usage.as_openai(),
        }

    async def stream(self, req: RelayRequest) -> AsyncGenerator[bytes, None]:
        answer = orjson.loads((await self.complete(req)).body)  # PaLM has no stream: one whole answer
        for choice in answer["choices"]:
            chunk = chat_chunk(req, answer["id"], {"role": "assistant", "content": choice["message"]["content"]},
                               "stop")
            chunk["choices"][0]["index"] = choice["index"]
            yield sse(chunk)
        if req.include_usage:
            yield sse(usage_chunk(req, answer["id"]))

    def parse_error(self, status: int, raw: bytes) -> RelayError:
        return google_error(status, raw)

    def body_error(self, data: Any) -> RelayError | None:
        return body_error(data)


ADAPTOR = PalmAdaptor()
