"""Google Gemini (SPEC §4.6): OpenAI chat and embeddings <-> generateContent / batchEmbedContents.

Fixed against One API: system messages become ``systemInstruction`` for every model (no dummy
"Okay" turn); tool calls and tool results are converted both ways, streams included (with their
``index``), legacy ``functions`` too; the last chunk carries the finish reason; usage is the provider's
``usageMetadata`` (thoughts included); and embeddings keep their input order in ``index``. Like Claude's,
thinking is asked for with ``reasoning_effort`` (a ``thinkingBudget``, with thought summaries) and the
thought parts come back as DeepSeek's ``reasoning_content``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson

from oneapi.adaptors.base import RelayRequest, UpstreamRequest
from oneapi.adaptors.google import body_error, google_error, google_headers, no_candidates
from oneapi.adaptors.native import PassThroughAdaptor
from oneapi.adaptors.shaping import (
    add_turn,
    conversion_error,
    message_text,
    parse_data_url,
    tools_form,
)
from oneapi.adaptors.transport import Answer
from oneapi.constants import RelayMode
from oneapi.errors import RelayError
from oneapi.security.fetcher import fetch_client_image
from oneapi.wire import gemini as wire
from oneapi.wire.openai_chat import chat_chunk, embedding_list, new_id

SAFETY_CATEGORIES = (
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
    "HARM_CATEGORY_CIVIC_INTEGRITY",
)
_V1BETA_MODELS = re.compile(r"gemini-(1\.5|[2-9])")


def api_version(req: RelayRequest, body: dict[str, Any]) -> str:
    """The channel's version, else v1beta for the models that only exist there, else GEMINI_VERSION;
    v1 is raised to v1beta when the request needs fields only v1beta knows."""
    version = req.upstream.config.get("api_version") or (
        "v1beta" if _V1BETA_MODELS.search(req.model) else req.settings.gemini_version)
    if version == "v1" and ("systemInstruction" in body or "tools" in body):
        return "v1beta"
    return version


def model_path(model: str) -> str:
    return model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"


# -- chat request ----------------------------------------------------------------------------------
async def convert_chat(req: RelayRequest) -> dict[str, Any]:
    body = tools_form(req.body)
    system: list[dict[str, str]] = []
    contents: list[dict[str, Any]] = []
    tool_names: dict[str, str] = {}  # tool call id -> function name, to name the function responses
    for i, message in enumerate(body["messages"]):
        role = message.get("role")
        content = message.get("content")
        if role in ("system", "developer"):
            if message_text(content):
                system.append({"text": message_text(content)})
            continue
        if role == "user":
            parts = await _parts(req, content, i)
        elif role == "assistant":
            role = "model"
            parts = await _parts(req, content, i) + wire.function_calls(message.get("tool_calls"), tool_names, i)
        elif role == "tool":
            role = "user"
            parts = [wire.function_response(message, tool_names, i)]
        else:
            raise conversion_error(f"messages[{i}]: role {role!r} is not supported by Gemini")
        add_turn(contents, role, "parts", parts)
    request: dict[str, Any] = {
        "contents": contents,
        "safetySettings": [{"category": category, "threshold": req.settings.gemini_safety_setting}
                           for category in SAFETY_CATEGORIES],
    }
    if system:
        request["systemInstruction"] = {"parts": system}
    config = wire.generation_config(body)
    if config:
        request["generationConfig"] = config
    tools = body.get("tools")
    if tools:
        request["tools"] = [{"functionDeclarations": [wire.declaration(tool, i) for i, tool in enumerate(tools)]}]
        tool_config = wire.tool_config(body.get("tool_choice"))
        if tool_config:
            request["toolConfig"] = tool_config
    return request


async def _parts(req: RelayRequest, content: Any, index: int) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        raise conversion_error(f"messages[{index}].content must be a string or an array of parts")
    parts: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            if part.get("text"):
                parts.append({"text": str(part["text"])})
        elif kind == "image_url":
            image_url = part.get("image_url")
            url = image_url.get("url") if isinstance(image_url, dict) else image_url
            mime, data = await _image(req, url, index)
            parts.append({"inlineData": {"mimeType": mime, "data": data}})
        else:
            raise conversion_error(f"messages[{index}]: content part type {kind!r} is not supported by Gemini")
    return parts


async def _image(req: RelayRequest, url: Any, index: int) -> tuple[str, str]:
    """Gemini takes images inline only: a data URL as is, an http(s) URL fetched by us."""
    if not isinstance(url, str):
        raise conversion_error(f"messages[{index}]: image_url.url is required")
    data_url = parse_data_url(url)
    if data_url is not None:
        return data_url
    if not url.startswith(("http://", "https://")):
        raise conversion_error(f"messages[{index}]: image_url.url must be an http(s) or base64 data URL")
    image = await fetch_client_image(req.fetcher, url)
    return image.content_type, base64.b64encode(image.data).decode()


def _no_candidates(data: dict[str, Any]) -> RelayError:
    return no_candidates("Gemini", str((data.get("promptFeedback") or {}).get("blockReason") or ""))


def _chunk(req: RelayRequest, chunk_id: str, index: int, delta: dict[str, Any],
           reason: str | None = None) -> dict[str, Any]:
    chunk = chat_chunk(req, chunk_id, delta, reason)
    chunk["choices"][0]["index"] = index
    return chunk


class GeminiAdaptor(PassThroughAdaptor):
    modes = frozenset({RelayMode.CHAT, RelayMode.EMBEDDINGS, RelayMode.GEMINI})
    native_mode = RelayMode.GEMINI
    answers_legacy_functions = True

    async def prepare(self, req: RelayRequest) -> UpstreamRequest:
        if req.mode == RelayMode.EMBEDDINGS:
            body = self._embedding_request(req)
            task = "batchEmbedContents"
        elif req.mode == RelayMode.GEMINI:  # the client's own generateContent request, the model in the URL
            body = {key: value for key, value in req.body.items() if key != "model"}
            task = "streamGenerateContent?alt=sse" if req.stream else "generateContent"
        else:
            body = await convert_chat(req)
            task = "streamGenerateContent?alt=sse" if req.stream else "generateContent"
        url = f"{req.upstream.base_url}/{api_version(req, body)}/{model_path(req.model)}:{task}"
        return UpstreamRequest(url, google_headers(req), orjson.dumps(body))

    @staticmethod
    def _embedding_request(req: RelayRequest) -> dict[str, Any]:
        inputs = req.body.get("input")
        inputs = [inputs] if isinstance(inputs, str) else inputs
        if not isinstance(inputs, list) or not all(isinstance(text, str) for text in inputs):
            raise conversion_error("Gemini embeddings take input as a string or an array of strings")
        extra = {"outputDimensionality": req.body["dimensions"]} if req.body.get("dimensions") else {}
        model = model_path(req.model)
        return {"requests": [{"model": model, "content": {"parts": [{"text": text}]}, **extra} for text in inputs]}

    def convert(self, req: RelayRequest, data: Any) -> dict[str, Any]:
        if req.mode == RelayMode.EMBEDDINGS:
            return self._convert_embeddings(req, data)
        candidates = data.get("candidates") or []
        if not candidates:
            raise _no_candidates(data)
        choices = []
        texts: list[str] = []
        for i, candidate in enumerate(candidates):
            text, thoughts, calls = wire.candidate_parts(candidate)
            texts += (thoughts, text)
            message: dict[str, Any] = {"role": "assistant", "content": text if text or not calls else None}
            if thoughts:
                message["reasoning_content"] = thoughts
            if calls:
                message["tool_calls"] = calls
            choices.append({"index": candidate.get("index", i), "message": message,
                            "finish_reason": wire.finish_reason(candidate.get("finishReason"), bool(calls)) or "stop"})
        wire.record_usage(req, data)
        req.estimate_usage("".join(texts))  # only when Gemini reported no usage
        return {"id": new_id(), "object": "chat.completion", "created": req.created, "model": req.origin_model,
                "choices": choices, "usage": req.usage.as_openai()}

    @staticmethod
    def _convert_embeddings(req: RelayRequest, data: dict[str, Any]) -> dict[str, Any]:
        # batchEmbedContents reports no token counts: the prompt is charged by our estimate.
        req.estimate_usage("")
        return embedding_list(req, ((i, embedding.get("values") or [])
                                    for i, embedding in enumerate(data.get("embeddings") or [])))

    def record_answer(self, req: RelayRequest, data: dict[str, Any]) -> None:
        wire.record_usage(req, data)

    def watcher(self, req: RelayRequest) -> Callable[[dict[str, Any]], None]:
        def watch(data: dict[str, Any]) -> None:
            wire.record_usage(req, data)
            text, thoughts, _ = wire.candidate_parts((data.get("candidates") or [{}])[0])
            req.completion_text.append(thoughts + text)

        return watch

    async def convert_stream(self, req: RelayRequest, resp: Answer) -> AsyncIterator[dict[str, Any]]:
        chunk_id = new_id()
        tool_calls: dict[int, int] = {}  # candidate index -> tool calls streamed so far
        started: set[int] = set()
        async for data in self.json_events(resp, "Gemini stream chunk"):
            wire.record_usage(req, data)
            candidates = data.get("candidates")
            if not candidates and (data.get("promptFeedback") or {}).get("blockReason"):
                raise _no_candidates(data)
            for candidate in candidates or ():
                index = candidate.get("index", 0)
                text, thoughts, calls = wire.candidate_parts(candidate)
                delta: dict[str, Any] = {}
                if index not in started:
                    started.add(index)
                    delta["role"] = "assistant"
                for key, value in (("reasoning_content", thoughts), ("content", text)):
                    if value:
                        delta[key] = value
                        req.completion_text.append(value)  # thoughts are completion tokens too
                if calls:
                    first = tool_calls.get(index, 0)
                    delta["tool_calls"] = [{"index": first + k, **call} for k, call in enumerate(calls)]
                    tool_calls[index] = first + len(calls)
                if delta:
                    yield _chunk(req, chunk_id, index, delta)
                reason = wire.finish_reason(candidate.get("finishReason"), bool(tool_calls.get(index)))
                if reason:
                    yield _chunk(req, chunk_id, index, {}, reason)

    def parse_error(self, status: int, raw: bytes) -> RelayError:
        return google_error(status, raw)

    def body_error(self, data: Any) -> RelayError | None:
        return body_error(data)


ADAPTOR = GeminiAdaptor()
