"""DeepL translation as a chat model (SPEC §4.1): ``deepl-zh`` / ``deepl-en`` / ``deepl-ja`` translate the last
message into the language their name ends with, and the translation comes back as the assistant's answer.

DeepL has no streaming, so a stream request gets the whole translation in one chunk. DeepL reports no
token usage; it bills characters, and the default price (``deepl-*`` ratio) is per character, so the prompt
is counted as the number of characters sent (One API counted UTF-8 bytes) and the completion as zero.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import orjson

from oneapi.adaptors.base import Completion, HttpAdaptor, RelayRequest, UpstreamRequest
from oneapi.adaptors.shaping import message_text
from oneapi.constants import RelayMode
from oneapi.errors import RelayError, upstream_error
from oneapi.wire.openai_chat import chat_chunk, chat_completion, new_id, sse, usage_chunk

DEFAULT_TARGET_LANG = "ZH"


def target_lang(model: str) -> str:
    """``deepl-ja`` -> ``JA``; a model name without a language part translates to Chinese, as in One API."""
    parts = model.split("-")
    return parts[1].upper() if len(parts) > 1 and parts[1] else DEFAULT_TARGET_LANG


def _source_text(req: RelayRequest) -> str:
    messages = req.body["messages"]
    return message_text(messages[-1].get("content")) if messages else ""


class DeepLAdaptor(HttpAdaptor):
    modes = frozenset({RelayMode.CHAT})

    async def prepare(self, req: RelayRequest) -> UpstreamRequest:
        body = {"text": [_source_text(req)], "target_lang": target_lang(req.model)}
        headers = {"Authorization": f"DeepL-Auth-Key {req.upstream.key}", "Content-Type": "application/json"}
        return UpstreamRequest(f"{req.upstream.base_url}/v2/translate", headers, orjson.dumps(body))

    def parse_error(self, status: int, raw: bytes) -> RelayError:
        if status == 403 and not raw.strip():  # DeepL refuses a bad key with an empty 403
            return upstream_error(403, "DeepL refused the channel's authentication key (HTTP 403)", "deepl_error",
                                  "deepl_error")
        return super().parse_error(status, raw)

    def body_error(self, data: Any) -> RelayError | None:
        if isinstance(data, dict) and data.get("message") and not data.get("translations"):
            return upstream_error(500, str(data["message"]), "deepl_error", "deepl_error")
        return None

    async def _translate(self, req: RelayRequest) -> str:
        data = await self.fetch_json(req, "DeepL answer")
        translations = data.get("translations") if isinstance(data, dict) else None
        text = str(translations[0].get("text") or "") if translations else ""
        req.report_usage(len(_source_text(req)), 0)
        return text

    async def complete(self, req: RelayRequest) -> Completion:
        text = await self._translate(req)
        answer = chat_completion(req, new_id(), {"role": "assistant", "content": text}, "stop")
        return Completion(orjson.dumps(answer))

    async def stream(self, req: RelayRequest) -> AsyncGenerator[bytes, None]:
        text = await self._translate(req)
        chunk_id = new_id()
        req.completion_text.append(text)
        yield sse(chat_chunk(req, chunk_id, {"role": "assistant", "content": text}, "stop"))
        if req.include_usage:
            yield sse(usage_chunk(req, chunk_id))


ADAPTOR = DeepLAdaptor()
