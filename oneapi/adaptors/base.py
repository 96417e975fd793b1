"""The seam between the relay pipeline and the providers.

An adaptor takes one OpenAI-shaped request (``RelayRequest``), calls its provider, and gives back an
OpenAI-shaped answer: ``complete()`` returns the whole body, ``stream()`` yields SSE events as they
arrive. Either way it records the usage the provider reported in ``request.usage``. Adding a provider
means adding one module under ``oneapi/adaptors/`` and one line in ``registry.py``; the pipeline never
changes.

Most providers speak JSON over HTTP; they subclass ``HttpAdaptor`` and fill in four small hooks
(``prepare``, ``convert``, ``convert_stream`` and, when needed, ``parse_error``). A provider with another
transport (Xunfei's WebSocket) implements ``complete`` and ``stream`` directly.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable, Container, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from oneapi.billing.tokens import TokenCounter
from oneapi.config import Settings
from oneapi.constants import ChannelType, RelayMode
from oneapi.errors import RelayError, backoff_headers, upstream_error


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reported: bool = False  # True when the provider said so, False for our tiktoken estimate
    cache_read_tokens: int = 0  # of prompt_tokens, read from the provider's prompt cache (cheaper)
    cache_write_tokens: int = 0  # of prompt_tokens, written to it (dearer)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def as_openai(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


@dataclass(slots=True)
class Upstream:
    """The channel as an adaptor needs it: credentials, where to call, and its per-type settings."""

    id: int
    type: int
    key: str
    base_url: str  # the channel's base_url, or the type's default; never ends with '/'
    config: dict[str, str] = field(default_factory=dict)  # ChannelConfig JSON with the `other` fallbacks
    name: str = ""


@dataclass(slots=True)
class RelayRequest:
    """Everything an adaptor may read about the request it relays."""

    mode: RelayMode
    path: str  # the client's path, e.g. "/v1/chat/completions"
    query: str  # the client's query string, without '?'
    body: dict[str, Any]  # the OpenAI-shaped request, with the mapped model and forced system prompt applied
    raw: bytes | None  # the client's exact bytes when body was not changed; forward these when possible
    model: str  # the upstream (mapped) model name
    origin_model: str  # the model the client asked for
    stream: bool
    include_usage: bool  # the client asked for a final usage chunk (stream_options.include_usage)
    prompt_tokens: int | None  # our count; None until first needed (only when the provider reports no usage)
    upstream: Upstream
    http: aiohttp.ClientSession
    settings: Settings
    counter: TokenCounter
    client_headers: Mapping[str, str]
    timeout: aiohttp.ClientTimeout
    usage: Usage = field(default_factory=Usage)
    created: int = field(default_factory=lambda: int(time.time()))
    completion_text: list[str] = field(default_factory=list)  # streamed text, for the usage estimate

    @property
    def legacy_functions(self) -> bool:
        """The client offered functions the legacy way (``functions``, no ``tools``), so it reads answers as
        ``function_call``, not ``tool_calls``."""
        return bool(self.body.get("functions")) and not self.body.get("tools")

    def body_bytes(self) -> bytes:
        return self.raw if self.raw is not None else orjson.dumps(self.body)

    def counted_prompt_tokens(self) -> int:
        """Our tiktoken count of the prompt, made once and only when something needs it."""
        if self.prompt_tokens is None:
            self.prompt_tokens = self.counter.prompt(self.body, self.model)
        return self.prompt_tokens

    def estimate_usage(self, completion_text: str) -> None:
        """Fill usage from our own count when the provider reported none."""
        if not self.usage.reported:
            self.usage.prompt_tokens = self.counted_prompt_tokens()
            self.usage.completion_tokens = self.counter.text(completion_text, self.model)

    def report_usage(self, prompt_tokens: int | None, completion_tokens: int | None) -> None:
        """Record provider-reported counts; a missing prompt count falls back to our estimate."""
        self.usage.prompt_tokens = int(prompt_tokens) if prompt_tokens else self.counted_prompt_tokens()
        self.usage.completion_tokens = int(completion_tokens or 0)
        self.usage.reported = True


@dataclass(slots=True)
class Completion:
    """A whole (non-stream) answer, already in OpenAI's shape."""

    body: bytes
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class UpstreamRequest:
    url: str
    headers: dict[str, str]
    body: bytes
    method: str = "POST"


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


def report_total_usage(req: RelayRequest, usage: Any, prompt: str, completion: str, total: str) -> None:
    """Counts given as prompt / completion / total under the provider's key names; a missing completion count
    is the total minus the prompt (embeddings report no completion)."""
    if isinstance(usage, dict) and usage.get(total):
        prompt_tokens = int(usage.get(prompt) or 0)
        completion_tokens = usage.get(completion)
        req.report_usage(prompt_tokens,
                         completion_tokens if completion_tokens is not None else usage[total] - prompt_tokens)


async def iter_line_batches(resp: aiohttp.ClientResponse) -> AsyncIterator[list[bytes]]:
    """The complete lines of each network read, as soon as it arrives (without line endings; any length).

    Handing over a whole read lets a relay forward everything that arrived together in one write.
    """
    rest = b""
    async for data in resp.content.iter_any():
        lines = (rest + data).split(b"\n")
        rest = lines.pop()
        if lines:
            yield [line.rstrip(b"\r") for line in lines]
    if rest:
        yield [rest.rstrip(b"\r")]


async def iter_lines(resp: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    """The response body line by line as it arrives, without line endings; any line length."""
    async for lines in iter_line_batches(resp):
        for line in lines:
            yield line


async def iter_sse_batches(resp: aiohttp.ClientResponse) -> AsyncIterator[list[bytes]]:
    """The payloads of the ``data:`` lines (with or without the space) of each network read; stops at [DONE]."""
    async for lines in iter_line_batches(resp):
        payloads = []
        for line in lines:
            if not line.startswith(b"data:"):
                continue
            payload = line[5:].lstrip(b" ")
            if payload == b"[DONE]":
                if payloads:
                    yield payloads
                return
            if payload:
                payloads.append(payload)
        if payloads:
            yield payloads


async def iter_sse_data(resp: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    """The payloads of ``data:`` lines (with or without the space), ``[DONE]`` excluded."""
    async for payloads in iter_sse_batches(resp):
        for payload in payloads:
            yield payload


async def iter_ndjson(resp: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    """The non-blank lines of a newline-delimited JSON stream, one JSON document each."""
    async for line in iter_lines(resp):
        if line.strip():
            yield line


def parse_data_url(url: str) -> tuple[str, str] | None:
    """``data:<mime>;base64,<data>`` -> (mime, base64 data); None for any other URL."""
    if not url.startswith("data:") or ";base64," not in url:
        return None
    mime, _, data = url[5:].partition(";base64,")
    return mime or "application/octet-stream", data


def conversion_error(message: str) -> RelayError:
    """A client request the provider's format cannot express: 400 ``convert_request_failed``."""
    return RelayError(message, status=400, code="convert_request_failed")


# OpenAI's reasoning_effort as a thinking budget in tokens, for the providers that take a budget (Claude, Gemini):
# 1024 is the smallest Claude accepts, and 16384 is within every thinking Gemini's range.
REASONING_BUDGETS = {"none": 0, "minimal": 1024, "low": 1024, "medium": 4096, "high": 16384}


def reasoning_budget(body: dict[str, Any]) -> int | None:
    """The thinking budget the client's ``reasoning_effort`` asks for: None when it names none, 0 for "none"."""
    effort = body.get("reasoning_effort")
    if effort is None:
        return None
    if effort not in REASONING_BUDGETS:
        raise conversion_error(f"reasoning_effort {effort!r} is not supported; "
                               f"use one of {', '.join(REASONING_BUDGETS)}")
    return REASONING_BUDGETS[effort]


def channel_key_error(message: str) -> RelayError:
    """A channel key the provider's credentials cannot be read from: the admin's mistake, so another channel
    may still serve the request."""
    return RelayError(message, status=500, code="invalid_channel_key", retryable=True)


def error_number(code: Any) -> int:
    """A provider's error code as a number; 0 when it is not one."""
    try:
        return int(code)
    except (TypeError, ValueError):
        return 0


def status_for(number: int, statuses: Iterable[tuple[Container[int], int]], default: int = 500) -> int:
    """The HTTP status of a provider's numeric error code: that of the first group of codes holding it."""
    return next((status for codes, status in statuses if number in codes), default)


def tool_arguments(arguments: Any, where: str) -> dict[str, Any]:
    """An OpenAI tool call's JSON ``arguments`` as the object providers with native tool calls want."""
    parsed = try_json(arguments or "{}") if isinstance(arguments, str | bytes | None) else arguments
    if not isinstance(parsed, dict):
        raise conversion_error(f"{where}: function.arguments must be a JSON object")
    return parsed


def tools_form(body: dict[str, Any]) -> dict[str, Any]:
    """The request with OpenAI's legacy function calling (``functions``, ``function_call``, assistant
    ``function_call`` and role ``function`` messages) said with tools, the form adaptors convert. ``tools``, when
    given, win over ``functions``; a request with nothing legacy in it is returned as it is."""
    messages = body.get("messages")
    messages = messages if isinstance(messages, list) else []
    legacy_messages = any(isinstance(m, dict) and (m.get("role") == "function" or m.get("function_call"))
                          for m in messages)
    if not legacy_messages and "functions" not in body and "function_call" not in body:
        return body
    converted = {key: value for key, value in body.items() if key not in ("functions", "function_call")}
    functions = body.get("functions")
    if functions and not body.get("tools"):
        if not isinstance(functions, list):
            raise conversion_error("functions must be an array of function definitions")
        converted["tools"] = [{"type": "function", "function": function} for function in functions]
        if body.get("function_call") is not None:
            converted["tool_choice"] = _legacy_tool_choice(body["function_call"])
    converted["messages"] = _tool_messages(messages)
    return converted


def _legacy_tool_choice(function_call: Any) -> Any:
    if function_call in ("none", "auto"):
        return function_call
    if isinstance(function_call, dict) and isinstance(function_call.get("name"), str):
        return {"type": "function", "function": {"name": function_call["name"]}}
    raise conversion_error('function_call must be "none", "auto" or {"name": "<function name>"}')


def _tool_messages(messages: list[Any]) -> list[Any]:
    """Assistant ``function_call``s as one-call ``tool_calls`` and ``function`` results as ``tool`` messages that
    answer the latest call of that name (the legacy form has no call ids, tools need them)."""
    converted = []
    unanswered: dict[Any, str] = {}  # function name -> id given to its latest unanswered call
    for i, message in enumerate(messages):
        if isinstance(message, dict) and message.get("role") == "function":
            call_id = unanswered.pop(message.get("name"), None)
            if call_id is None:
                raise conversion_error(f"messages[{i}]: a function message must answer the function_call of an "
                                       f"earlier assistant message with the same name ({message.get('name')!r})")
            message = {"role": "tool", "tool_call_id": call_id, "name": message.get("name"),
                       "content": message.get("content")}
        elif isinstance(message, dict) and isinstance(message.get("function_call"), dict):
            call = message["function_call"]
            message = {key: value for key, value in message.items() if key != "function_call"}
            if not message.get("tool_calls"):
                call_id = f"call_legacy_{i}"
                unanswered[call.get("name")] = call_id
                message["tool_calls"] = [{"id": call_id, "type": "function", "function": call}]
        converted.append(message)
    return converted


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


def add_turn(turns: list[dict[str, Any]], role: str, key: str, parts: list[dict[str, Any]]) -> None:
    """Append a message's parts (under ``key``) as a turn; providers that want strictly alternating roles get
    consecutive messages of one role joined into one turn. A message with no parts adds nothing."""
    if not parts:
        return
    if turns and turns[-1]["role"] == role:
        turns[-1][key].extend(parts)
    else:
        turns.append({"role": role, key: parts})


def message_text(content: Any) -> str:
    """A message's text for providers that take plain strings: the string, or its text parts joined by lines."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(part.get("text") or "") for part in content
                         if isinstance(part, dict) and part.get("type") == "text")
    return ""


def try_json(raw: bytes | str) -> Any:
    """The decoded JSON, or None when ``raw`` is not JSON (error bodies and free text often are not)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def parse_json(raw: bytes, what: str = "upstream response") -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        snippet = raw[:200].decode(errors="replace")
        raise RelayError(
            f"the {what} is not valid JSON: {snippet!r}", status=502, code="unmarshal_response_body_failed",
            retryable=True, upstream=True,
        ) from None


def generic_error(status: int, raw: bytes) -> RelayError:
    """One API's upstream error parsing: OpenAI's error object, else the first message-like field."""
    data = try_json(raw)
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and error.get("message"):
            return upstream_error(status, str(error["message"]), str(error.get("type") or "upstream_error"),
                                  error.get("code"), error.get("param"))
        for key in ("message", "msg", "err", "error_msg"):
            if isinstance(data.get(key), str) and data[key]:
                return upstream_error(status, data[key])
        if isinstance(error, str) and error:
            return upstream_error(status, error)
        header = data.get("header")
        if isinstance(header, dict) and header.get("message"):
            return upstream_error(status, str(header["message"]))
    text = raw[:500].decode(errors="replace").strip()
    return upstream_error(status, text if text and data is None else "")


async def refusal(resp: aiohttp.ClientResponse, parse_error: Callable[[int, bytes], RelayError]) -> RelayError:
    """A non-2xx answer as our error, carrying the upstream's back-off headers on to the client."""
    raw = await resp.read()
    resp.release()
    error = parse_error(resp.status, raw)
    error.headers = backoff_headers(resp.headers)
    return error


class Adaptor:
    """A provider. Subclasses implement at least ``complete`` and ``stream`` for the modes they list."""

    modes: frozenset[RelayMode] = frozenset({RelayMode.CHAT})

    def supports(self, mode: RelayMode) -> bool:
        return mode in self.modes

    async def complete(self, req: RelayRequest) -> Completion:
        raise NotImplementedError

    def stream(self, req: RelayRequest) -> AsyncIterator[bytes]:
        """SSE events (``data: …\\n\\n``) in OpenAI's chunk shape; the pipeline adds ``data: [DONE]``."""
        raise NotImplementedError


class HttpAdaptor(Adaptor):
    """A provider reached with one HTTP request per call. Subclasses fill in the hooks below."""

    # True for adaptors whose request conversion reads ``tools_form(body)``: a client that offered legacy
    # ``functions`` then gets its tool calls back as ``function_call``.
    answers_legacy_functions: bool = False

    async def prepare(self, req: RelayRequest) -> UpstreamRequest:
        """URL, headers (with credentials) and body for this request."""
        raise NotImplementedError

    def convert(self, req: RelayRequest, data: Any) -> dict[str, Any]:
        """The provider's JSON answer -> an OpenAI answer; call ``req.report_usage`` on the way."""
        raise NotImplementedError

    def convert_stream(self, req: RelayRequest, resp: aiohttp.ClientResponse) -> AsyncIterator[dict[str, Any]]:
        """The provider's stream -> OpenAI chunk dicts; record usage as it arrives."""
        raise NotImplementedError

    def parse_error(self, status: int, raw: bytes) -> RelayError:
        return generic_error(status, raw)

    def body_error(self, data: Any) -> RelayError | None:
        """An error the provider reports inside a 200 answer (Baidu, Ali, Zhipu v3...)."""
        return None

    async def json_events(self, resp: aiohttp.ClientResponse, what: str,
                          payloads: Callable[[aiohttp.ClientResponse], AsyncIterator[bytes]] = iter_sse_data,
                          ) -> AsyncIterator[dict[str, Any]]:
        """The stream's JSON objects (SSE ``data:`` payloads unless ``payloads`` frames them otherwise); an
        error the provider reports inside an event is raised, and events that are not objects are skipped."""
        async for payload in payloads(resp):
            data = parse_json(payload, what)
            error = self.body_error(data)
            if error is not None:
                raise error
            if isinstance(data, dict):
                yield data

    async def send(self, req: RelayRequest, up: UpstreamRequest) -> aiohttp.ClientResponse:
        resp = await req.http.request(up.method, up.url, headers=up.headers, data=up.body, timeout=req.timeout)
        if resp.status not in (200, 201):
            raise await refusal(resp, self.parse_error)
        return resp

    async def fetch_json(self, req: RelayRequest, what: str = "upstream response") -> Any:
        """Send the prepared request and return its JSON answer; an error reported inside it is raised."""
        resp = await self.send(req, await self.prepare(req))
        async with resp:
            raw = await resp.read()
        data = parse_json(raw, what)
        error = self.body_error(data)
        if error is not None:
            raise error
        return data

    async def complete(self, req: RelayRequest) -> Completion:
        answer = self.convert(req, await self.fetch_json(req))
        if self.answers_legacy_functions and req.legacy_functions:
            answer = function_call_form(answer) or answer
        return Completion(orjson.dumps(answer))

    async def stream(self, req: RelayRequest) -> AsyncIterator[bytes]:
        resp = await self.send(req, await self.prepare(req))
        async with resp:
            if resp.content_type == "application/json":
                # A stream request answered with one JSON document is an error (SPEC §2.5 step 6).
                data = parse_json(await resp.read())
                raise self.body_error(data) or generic_error(resp.status if resp.status >= 400 else 500,
                                                             orjson.dumps(data))
            chunk_id = new_id()
            legacy = self.answers_legacy_functions and req.legacy_functions
            async for chunk in self.convert_stream(req, resp):
                chunk_id = chunk.get("id", chunk_id)
                said = function_call_form(chunk) if legacy else chunk
                if said is not None:
                    yield sse(said)
        if not req.usage.reported:
            req.estimate_usage("".join(req.completion_text))
        if req.include_usage:
            yield sse(usage_chunk(req, chunk_id))


def channel_config(channel_type: int, config: str | None, other: str | None) -> dict[str, str]:
    """The channel's ``config`` JSON with One API's fallbacks from the legacy ``other`` column."""
    parsed = try_json(config) if config else {}
    result = {str(k): "" if v is None else str(v) for k, v in parsed.items()} if isinstance(parsed, dict) else {}
    if other:
        if channel_type in (ChannelType.AZURE, ChannelType.XUNFEI, ChannelType.GEMINI):
            result.setdefault("api_version", other)
            result["api_version"] = result["api_version"] or other
        elif channel_type == ChannelType.AIPROXY_LIBRARY:
            result["library_id"] = result.get("library_id") or other
        elif channel_type == ChannelType.ALI:
            result["plugin"] = result.get("plugin") or other
    return result
