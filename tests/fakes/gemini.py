"""Fake Google Generative Language APIs: Gemini (generateContent, streamGenerateContent, batchEmbedContents)
and PaLM 2 (v1beta2 generateMessage), written from Google's API reference.

Both check the key like Google does: no key -> 403 PERMISSION_DENIED, a wrong ``x-goog-api-key`` -> 400
INVALID_ARGUMENT with ErrorInfo reason API_KEY_INVALID. Unknown JSON fields are refused ("Invalid JSON
payload received. Unknown name ..."), including ``systemInstruction`` and ``tools`` on Gemini's v1, and
JSON Schema keywords Gemini's Schema lacks. Usage numbers are the fake's (``usage``).

Thinking as Google documents it for Gemini 2.5: a thinking model thinks unless ``thinkingBudget`` is 0 (and a
budget outside its range, or any ``thinkingConfig`` for a model that cannot think, is a 400), reports
``usageMetadata.thoughtsTokenCount`` apart from ``candidatesTokenCount``, and sends its thought summary as
parts marked ``thought: true`` (ahead of the answer, in a chunk of their own when streaming) only when
``includeThoughts`` is set.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson
from aiohttp import web

from tests.fakes.server import FakeServer, Refusal
from tests.fakes.shared import schema_example, split_text, stream_fault

# A 1x1 PNG, served at /images/dot.png for "the gateway fetches http image URLs".
PNG_DOT = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")

_CATEGORIES = {"HARM_CATEGORY_HARASSMENT", "HARM_CATEGORY_HATE_SPEECH", "HARM_CATEGORY_SEXUALLY_EXPLICIT",
               "HARM_CATEGORY_DANGEROUS_CONTENT", "HARM_CATEGORY_CIVIC_INTEGRITY"}
_THRESHOLDS = {"HARM_BLOCK_THRESHOLD_UNSPECIFIED", "BLOCK_LOW_AND_ABOVE", "BLOCK_MEDIUM_AND_ABOVE",
               "BLOCK_ONLY_HIGH", "BLOCK_NONE", "OFF"}
_V1_FIELDS = {"contents", "safetySettings", "generationConfig", "cachedContent"}
_V1BETA_FIELDS = _V1_FIELDS | {"systemInstruction", "tools", "toolConfig"}
_GENERATION_FIELDS = {"stopSequences", "responseMimeType", "responseSchema", "candidateCount", "maxOutputTokens",
                      "temperature", "topP", "topK", "seed", "presencePenalty", "frequencyPenalty",
                      "responseLogprobs", "logprobs", "thinkingConfig"}
_SCHEMA_FIELDS = {"type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems",
                  "properties", "required", "minProperties", "maxProperties", "minLength", "maxLength", "pattern",
                  "example", "anyOf", "propertyOrdering", "default", "items", "minimum", "maximum"}
_THINKING_FIELDS = {"thinkingBudget", "includeThoughts"}
_PART_FIELDS = {"text", "inlineData", "functionCall", "functionResponse", "fileData"}


class GoogleError(Refusal):
    """Google's error answer: ``{"error": {"code", "message", "status", "details"}}``."""

    def __init__(self, status: int, rpc_status: str, message: str, reason: str | None = None,
                 retry_delay: str | None = None) -> None:
        error: dict[str, Any] = {"code": status, "message": message, "status": rpc_status}
        details: list[dict[str, Any]] = []
        if reason:
            details.append({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason,
                            "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}})
        if retry_delay:  # how Google says when to retry a 429: in the body, not a header
            details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay})
        if details:
            error["details"] = details
        super().__init__(web.json_response({"error": error}, status=status))


def invalid(message: str) -> GoogleError:
    return GoogleError(400, "INVALID_ARGUMENT", message)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.title() for word in rest)


def normalise(obj: dict[str, Any], allowed: set[str], where: str = "") -> dict[str, Any]:
    """Proto JSON accepts lowerCamelCase and snake_case field names; anything else is refused."""
    result = {}
    for name, value in obj.items():
        camel = _camel(name)
        if camel not in allowed:
            raise invalid(f'Invalid JSON payload received. Unknown name "{name}" at \'{where}\': Cannot find field.')
        result[camel] = value
    return result


@dataclass
class _Google(FakeServer):
    key: str = "google-upstream-key"
    query_in_paths: ClassVar[bool] = True

    def fail_next(self, status: int, rpc_status: str, message: str, retry_delay: str | None = None) -> None:
        self.failures.append(GoogleError(status, rpc_status, message, retry_delay=retry_delay))

    def _check(self, request: web.Request) -> None:
        self.record(request)
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        if not key:
            raise GoogleError(403, "PERMISSION_DENIED",
                              "Method doesn't allow unregistered callers (callers without established identity). "
                              "Please use API Key or other form of API consumer identity to call this API.")
        if key != self.key:
            raise GoogleError(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.",
                              "API_KEY_INVALID")

    async def _body(self, request: web.Request) -> dict[str, Any]:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            raise invalid("Invalid JSON payload received.") from None
        if not isinstance(body, dict):
            raise invalid("Invalid JSON payload received. Expected an object.")
        self.requests.append(body)
        if self.failures:
            raise self.failures.pop(0)
        return body


@dataclass
class FakeGemini(_Google):
    reply: str = "Hello from Gemini"
    usage: tuple[int, int] = (130, 50)  # (promptTokenCount, candidatesTokenCount)
    models: tuple[str, ...] = ("gemini-1.5-flash", "gemini-1.5-pro", "gemini-2.0-flash", "gemini-pro",
                               "text-embedding-004", "gemini-2.5-flash")
    # Thinking models and their thinkingBudget range (besides -1, dynamic thinking).
    thinking_models: dict[str, tuple[int, int]] = field(default_factory=lambda: {"gemini-2.5-flash": (0, 24576)})
    thoughts: str = "The user says hi, so a short friendly greeting fits."
    thoughts_tokens: int = 40
    function_calls: list[tuple[str, dict[str, Any]]] = field(
        default_factory=lambda: [("get_weather", {"city": "Paris"})])
    finish_reason: str = "STOP"
    block_prompt: str | None = None  # e.g. "SAFETY": no candidates, promptFeedback.blockReason
    stream_fault: str | None = None  # one of shared.STREAM_FAULTS, after the first chunk

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/{version}/models/{call}", self.dispatch), web.get("/images/dot.png", self.image)]

    async def image(self, request: web.Request) -> web.Response:
        return web.Response(body=PNG_DOT, content_type="image/png")

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        self._check(request)
        version = request.match_info["version"]
        model, _, method = request.match_info["call"].rpartition(":")
        if version not in ("v1", "v1beta") or model not in self.models:
            raise GoogleError(404, "NOT_FOUND", f"models/{model} is not found for API version {version}, or is "
                              "not supported for generateContent.")
        body = await self._body(request)
        if method == "batchEmbedContents":
            return self._embed(model, body)
        if method not in ("generateContent", "streamGenerateContent"):
            raise GoogleError(404, "NOT_FOUND", f"Method {method} not found.")
        body = validate_generate(body, version)
        thinking, thought = self._thinking(model, body.get("generationConfig") or {})
        reply = self._reply(body)
        if method == "generateContent":
            return web.json_response(self._answer(body, reply, with_usage=True, thinking=thinking,
                                                  thought=thought))
        return await self._stream(request, body, reply, thinking, thought)

    def _reply(self, body: dict[str, Any]) -> str:
        """``reply``, or JSON fitting the ``responseSchema`` when the request asks for a JSON answer."""
        config = body.get("generationConfig") or {}
        if config.get("responseMimeType") != "application/json":
            return self.reply
        schema = config.get("responseSchema")
        return orjson.dumps(schema_example(schema) if schema else {"answer": self.reply}).decode()

    def _thinking(self, model: str, config: dict[str, Any]) -> tuple[bool, str]:
        """(whether the model thinks for this request, the thought summary it sends back); a thinkingConfig
        it cannot honour is refused."""
        budget_range = self.thinking_models.get(model)
        config = normalise(config, _GENERATION_FIELDS, "generation_config")
        if "thinkingConfig" not in config:
            return budget_range is not None, ""
        thinking = normalise(config["thinkingConfig"], _THINKING_FIELDS, "generation_config.thinking_config")
        if budget_range is None:
            raise invalid("Thinking is not enabled for models/" + model)
        budget = thinking.get("thinkingBudget", -1)
        if not isinstance(budget, int) or (budget != -1 and not budget_range[0] <= budget <= budget_range[1]):
            raise invalid(f"The thinking budget {budget} is invalid. Please choose a value between "
                          f"{budget_range[0]} and {budget_range[1]}.")
        thinks = budget != 0
        return thinks, self.thoughts if thinks and thinking.get("includeThoughts") is True else ""

    def _answer(self, body: dict[str, Any], text: str | None, with_usage: bool, finish: bool = True,
                thinking: bool = False, thought: str = "") -> dict[str, Any]:
        """One response (or stream chunk): the ``thought`` part if any, then the answer's parts unless
        ``text`` is None."""
        if self.block_prompt:
            return {"promptFeedback": {"blockReason": self.block_prompt},
                    "usageMetadata": {"promptTokenCount": self.usage[0], "totalTokenCount": self.usage[0]}}
        parts = ([{"text": thought, "thought": True}] if thought else []) + (
            self._parts(body, text) if text is not None else [])
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finish:
            candidate["finishReason"] = self.finish_reason
            candidate["safetyRatings"] = [{"category": c, "probability": "NEGLIGIBLE"} for c in sorted(_CATEGORIES)]
        answer: dict[str, Any] = {"candidates": [candidate], "modelVersion": "fake-001"}
        prompt, completion = self.usage
        answer["usageMetadata"] = {"promptTokenCount": prompt, "totalTokenCount": prompt}
        if with_usage:
            thoughts = self.thoughts_tokens if thinking else 0
            answer["usageMetadata"].update(candidatesTokenCount=completion,
                                           totalTokenCount=prompt + completion + thoughts)
            if thoughts:
                answer["usageMetadata"]["thoughtsTokenCount"] = thoughts
        return answer

    def _parts(self, body: dict[str, Any], text: str) -> list[dict[str, Any]]:
        last = body["contents"][-1]["parts"]
        answered = any("functionResponse" in part for part in last)
        if body.get("tools") and self.function_calls and not answered:
            return [{"functionCall": {"name": name, "args": args}} for name, args in self.function_calls]
        return [{"text": text}]

    async def _stream(self, request: web.Request, body: dict[str, Any], reply: str, thinking: bool,
                      thought: str) -> web.StreamResponse:
        if request.query.get("alt") != "sse":
            pieces = [self._answer(body, reply, with_usage=True, thinking=thinking, thought=thought)]
            return web.json_response(pieces)  # without alt=sse Google streams one JSON array
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        chunks = [self._answer(body, None, with_usage=False, finish=False, thought=thought)] if thought else []
        if self.block_prompt or (body.get("tools") and self._parts(body, "")[0].get("functionCall")):
            chunks += [self._answer(body, "", with_usage=True, thinking=thinking)]
        else:
            pieces = split_text(reply, 3)
            chunks += [self._answer(body, piece, with_usage=i == len(pieces) - 1, finish=i == len(pieces) - 1,
                                    thinking=thinking) for i, piece in enumerate(pieces)]
        for chunk in chunks:
            await response.write(b"data: " + orjson.dumps(chunk) + b"\r\n\r\n")
            if await stream_fault(response, self.stream_fault):
                break
        return response

    def _embed(self, model: str, body: dict[str, Any]) -> web.Response:
        body = normalise(body, {"requests"})
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            raise invalid("* BatchEmbedContentsRequest.requests: contents is not specified")
        embeddings = []
        for i, item in enumerate(requests):
            item = normalise(item, {"model", "content", "taskType", "title", "outputDimensionality"},
                             f"requests[{i}]")
            if item.get("model") != f"models/{model}":
                raise invalid(f"Model names should match: requests[{i}].model is {item.get('model')!r}, the batch "
                              f"is for models/{model}")
            parts = (item.get("content") or {}).get("parts") or []
            text = "".join(part.get("text", "") for part in parts)
            if not text:
                raise invalid(f"* BatchEmbedContentsRequest.requests[{i}].content: contents is not specified")
            size = int(item.get("outputDimensionality") or 4)
            embeddings.append({"values": [float(len(text))] + [0.5] * (size - 1)})
        return web.json_response({"embeddings": embeddings})


def validate_generate(body: dict[str, Any], version: str) -> dict[str, Any]:
    body = normalise(body, _V1BETA_FIELDS if version == "v1beta" else _V1_FIELDS, "")
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise invalid("* GenerateContentRequest.contents: contents is not specified")
    declared = set()
    for i, tool in enumerate(body.get("tools") or []):
        tool = normalise(tool, {"functionDeclarations", "googleSearch", "codeExecution"}, f"tools[{i}]")
        for j, declaration in enumerate(tool.get("functionDeclarations") or []):
            declaration = normalise(declaration, {"name", "description", "parameters", "response"},
                                    f"tools[{i}].function_declarations[{j}]")
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]{0,63}", declaration.get("name") or ""):
                raise invalid(f"* GenerateContentRequest.tools[{i}].function_declarations[{j}].name: Invalid function "
                              "name.")
            _validate_schema(declaration.get("parameters"), f"tools[{i}].function_declarations[{j}].parameters")
            declared.add(declaration["name"])
    for i, setting in enumerate(body.get("safetySettings") or []):
        if setting.get("category") not in _CATEGORIES or setting.get("threshold") not in _THRESHOLDS:
            raise invalid(f"Invalid value at 'safety_settings[{i}]'")
    config = normalise(body.get("generationConfig") or {}, _GENERATION_FIELDS, "generation_config")
    _validate_schema(config.get("responseSchema"), "generation_config.response_schema")
    system = body.get("systemInstruction")
    if system is not None:
        _validate_parts((system or {}).get("parts"), "system_instruction")
    calls_pending = 0
    for i, content in enumerate(contents):
        role = content.get("role", "user")
        if role not in ("user", "model"):
            raise invalid(f"Please use a valid role: user, model. (contents[{i}].role is {role!r})")
        parts = _validate_parts(content.get("parts"), f"contents[{i}]")
        calls = [p["functionCall"] for p in parts if "functionCall" in p]
        responses = [p["functionResponse"] for p in parts if "functionResponse" in p]
        if calls_pending and len(responses) != calls_pending:
            raise invalid("Please ensure that the number of function response parts is equal to the number of "
                          "function call parts of the function call turn.")
        if responses and not calls_pending:
            raise invalid(f"contents[{i}]: a function response turn must come right after a function call turn")
        for call in calls:
            if role != "model" or call.get("name") not in declared or not isinstance(call.get("args", {}), dict):
                raise invalid(f"contents[{i}]: functionCall needs role model and a declared function")
        for response in responses:
            if role != "user" or response.get("name") not in declared or not isinstance(response.get("response"), dict):
                raise invalid(f"contents[{i}]: functionResponse needs role user, a declared name and an object")
        calls_pending = len(calls)
    return body


def _validate_parts(parts: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(parts, list) or not parts:
        raise invalid(f"* GenerateContentRequest.{where}.parts: contents.parts must not be empty.")
    normalised = []
    for j, part in enumerate(parts):
        part = normalise(part, _PART_FIELDS | {"thought"}, f"{where}.parts[{j}]")
        data = set(part) & _PART_FIELDS
        if len(data) != 1:
            raise invalid(f"* GenerateContentRequest.{where}.parts[{j}].data: required oneof field 'data' must have "
                          "one initialized field")
        if "text" in part and not part["text"]:
            raise invalid(f"* GenerateContentRequest.{where}.parts[{j}].text: must not be empty")
        if "inlineData" in part:
            inline = normalise(part["inlineData"], {"mimeType", "data"}, f"{where}.parts[{j}].inline_data")
            if not inline.get("mimeType"):
                raise invalid(f"{where}.parts[{j}].inline_data.mime_type is required")
            try:
                base64.b64decode(inline.get("data") or "", validate=True)
            except (binascii.Error, ValueError):
                raise invalid(f"Invalid value at '{where}.parts[{j}].inline_data.data' (TYPE_BYTES), Base64 decoding "
                              "failed") from None
            part["inlineData"] = inline
        normalised.append(part)
    return normalised


def _validate_schema(schema: Any, where: str) -> None:
    if schema is None:
        return
    if not isinstance(schema, dict):
        raise invalid(f"{where}: a schema must be an object")
    normalise(schema, _SCHEMA_FIELDS, where)
    if str(schema.get("type", "")).upper() == "OBJECT" and "properties" in schema and not schema["properties"]:
        raise invalid(f"* GenerateContentRequest.{where}.properties: should be non-empty for OBJECT type")
    for name, prop in (schema.get("properties") or {}).items():
        _validate_schema(prop, f"{where}.properties[{name}]")
    if "items" in schema:
        _validate_schema(schema["items"], f"{where}.items")
    for i, option in enumerate(schema.get("anyOf") or ()):
        _validate_schema(option, f"{where}.any_of[{i}]")


@dataclass
class FakePalm(_Google):
    reply: str = "Hello from PaLM"
    models: tuple[str, ...] = ("chat-bison-001",)
    filtered: str | None = None  # e.g. "OTHER": no candidates, a filters entry

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1beta2/models/{call}", self.generate_message)]

    async def generate_message(self, request: web.Request) -> web.Response:
        self._check(request)
        model, _, method = request.match_info["call"].rpartition(":")
        if model not in self.models or method != "generateMessage":
            raise GoogleError(404, "NOT_FOUND", f"models/{model} is not found for API version v1beta2")
        body = normalise(await self._body(request), {"prompt", "temperature", "candidateCount", "topP", "topK"})
        prompt = normalise(body.get("prompt") or {}, {"context", "examples", "messages"}, "prompt")
        messages = prompt.get("messages")
        if not isinstance(messages, list) or not messages:
            raise invalid("* GenerateMessageRequest.prompt.messages: messages must not be empty")
        for i, message in enumerate(messages):
            if not message.get("content"):
                raise invalid(f"* GenerateMessageRequest.prompt.messages[{i}].content: must not be empty")
            if i and message.get("author") == messages[i - 1].get("author"):
                raise invalid("Messages must alternate between authors.")
        top_k = body.get("topK")
        if top_k is not None and (not isinstance(top_k, int) or top_k < 1 or top_k > 40):
            raise invalid("topK must be between 1 and 40")
        if self.filtered:
            return web.json_response({"messages": messages, "filters": [{"reason": self.filtered}]})
        count = body.get("candidateCount") or 1
        candidates = [{"author": "1", "content": self.reply if i == 0 else f"{self.reply} #{i + 1}"}
                      for i in range(count)]
        return web.json_response({"candidates": candidates, "messages": messages})
