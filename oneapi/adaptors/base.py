"""The seam between the relay pipeline and the providers.

An adaptor takes one OpenAI-shaped request (``RelayRequest``), calls its provider, and gives back an
OpenAI-shaped answer: ``complete()`` returns the whole body, ``stream()`` yields SSE events as they
arrive. Either way it records the usage the provider reported in ``request.usage``. Adding a provider
means adding one module under ``oneapi/adaptors/`` and one line in ``registry.py``; the pipeline never
changes.

Most providers speak JSON over HTTP; they subclass ``HttpAdaptor`` and fill in four small hooks
(``prepare``, ``convert``, ``convert_stream`` and, when needed, ``parse_error``). A provider with another
transport (Xunfei's WebSocket) implements ``complete`` and ``stream`` directly.

What adaptors share lives beside this module, one concern each: ``shaping`` (request conversion helpers),
``answers`` (OpenAI's answer and chunk shapes), ``streams`` (reading streamed bodies), ``usage`` and
``upstream_errors``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
import orjson

from oneapi.adaptors.streams import iter_sse_data
from oneapi.adaptors.transport import Answer, Transport
from oneapi.adaptors.upstream_errors import generic_error, parse_json, try_json
from oneapi.adaptors.usage import Usage
from oneapi.billing.tokens import TokenCounter
from oneapi.config import Settings
from oneapi.constants import ChannelType, RelayMode
from oneapi.errors import RelayError, backoff_headers
from oneapi.security.fetcher import SafeFetcher
from oneapi.wire.openai_chat import StreamProgress, function_call_form, sse, usage_chunk

T = TypeVar("T")

OFF_LOOP_CHARS = 32 * 1024  # an answer or text past this is converted / counted in a thread (~1 ms of tiktoken)


async def off_loop_if_large(size: int, function: Callable[..., T], *args: Any) -> T:
    """``function(*args)``, in a thread when its input (``size`` bytes or characters) is over OFF_LOOP_CHARS.

    What may count tokens goes through here: tiktoken takes about 35 ms a megabyte of prose and far longer on
    long runs of one character, and the event loop must not wait for it.
    """
    if size <= OFF_LOOP_CHARS:
        return function(*args)
    return await asyncio.to_thread(function, *args)


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
    http: Transport
    settings: Settings
    counter: TokenCounter
    client_headers: Mapping[str, str]
    timeout: aiohttp.ClientTimeout
    fetcher: SafeFetcher  # the only way to download a URL the client gave (oneapi/security/fetcher.py)
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

    async def streamed_text_tokens(self) -> int:
        """Our count of the text streamed so far (a long one in a thread)."""
        text = "".join(self.completion_text)
        return await off_loop_if_large(len(text), self.counter.text, text, self.model)

    async def estimate_streamed_usage(self) -> None:
        """After a stream: usage from our own count of its text when the provider reported none."""
        if not self.usage.reported:
            completion_tokens = await self.streamed_text_tokens()
            self.usage.prompt_tokens = self.counted_prompt_tokens()
            self.usage.completion_tokens = completion_tokens

    async def bill_delivered(self) -> None:
        """After a stream broke off: the provider's counts (if any came) may stop short of the text the client
        was given, so the completion is at least our count of that text."""
        delivered = await self.streamed_text_tokens()
        if not self.usage.prompt_tokens:
            self.usage.prompt_tokens = self.counted_prompt_tokens()
        self.usage.completion_tokens = max(self.usage.completion_tokens, delivered)

    def report_usage(self, prompt_tokens: int | None, completion_tokens: int | None) -> None:
        """Record provider-reported counts; a missing prompt count falls back to our estimate."""
        self.usage.prompt_tokens = int(prompt_tokens) if prompt_tokens else self.counted_prompt_tokens()
        self.usage.completion_tokens = int(completion_tokens or 0)
        self.usage.reported = True

    def report_total_usage(self, usage: Any, prompt: str, completion: str, total: str) -> None:
        """Counts given as prompt / completion / total under the provider's key names; a missing completion
        count is the total minus the prompt (embeddings report no completion)."""
        if isinstance(usage, dict) and usage.get(total):
            prompt_tokens = int(usage.get(prompt) or 0)
            completion_tokens = usage.get(completion)
            self.report_usage(prompt_tokens,
                              completion_tokens if completion_tokens is not None else usage[total] - prompt_tokens)


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


async def refusal(resp: Answer, parse_error: Callable[[int, bytes], RelayError]) -> RelayError:
    """A non-2xx answer as our error, carrying the upstream's back-off headers on to the client."""
    raw = await resp.read()
    resp.release()
    error = parse_error(resp.status, raw)
    error.headers = {**error.headers, **backoff_headers(resp.headers)}
    return error


class Adaptor:
    """A provider. Subclasses implement at least ``complete`` and ``stream`` for the modes they list."""

    modes: frozenset[RelayMode] = frozenset({RelayMode.CHAT})

    def supports(self, mode: RelayMode) -> bool:
        return mode in self.modes

    async def complete(self, req: RelayRequest) -> Completion:
        raise NotImplementedError

    def stream(self, req: RelayRequest) -> AsyncGenerator[bytes, None]:
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

    def convert_stream(self, req: RelayRequest, resp: Answer) -> AsyncIterator[dict[str, Any]]:
        """The provider's stream -> OpenAI chunk dicts; record usage as it arrives."""
        raise NotImplementedError

    def parse_error(self, status: int, raw: bytes) -> RelayError:
        return generic_error(status, raw)

    def body_error(self, data: Any) -> RelayError | None:
        """An error the provider reports inside a 200 answer (Baidu, Ali, Zhipu v3...)."""
        return None

    async def json_events(self, resp: Answer, what: str,
                          payloads: Callable[[Answer], AsyncIterator[bytes]] = iter_sse_data,
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

    async def send(self, req: RelayRequest, up: UpstreamRequest) -> Answer:
        resp = await req.http.request(up.method, up.url, headers=up.headers, data=up.body, timeout=req.timeout)
        if resp.status not in (200, 201):
            raise await refusal(resp, self.parse_error)
        return resp

    async def fetch_answer(self, req: RelayRequest, what: str = "upstream response") -> tuple[Any, int]:
        """Send the prepared request; its JSON answer and the answer's size in bytes. An error reported inside
        the answer is raised."""
        resp = await self.send(req, await self.prepare(req))
        async with resp:
            raw = await resp.read()
        data = parse_json(raw, what)
        error = self.body_error(data)
        if error is not None:
            raise error
        return data, len(raw)

    async def fetch_json(self, req: RelayRequest, what: str = "upstream response") -> Any:
        """``fetch_answer`` without the size, for answers that are not counted."""
        return (await self.fetch_answer(req, what))[0]

    async def complete(self, req: RelayRequest) -> Completion:
        data, size = await self.fetch_answer(req)
        answer = await off_loop_if_large(size, self.convert, req, data)  # it counts the text if usage is missing
        if self.answers_legacy_functions and req.legacy_functions:
            answer = function_call_form(answer) or answer
        return Completion(orjson.dumps(answer))

    async def stream(self, req: RelayRequest) -> AsyncGenerator[bytes, None]:
        resp = await self.send(req, await self.prepare(req))
        async with resp:
            if resp.content_type == "application/json":
                # A stream request answered with one JSON document is an error (SPEC §2.5 step 6).
                data = parse_json(await resp.read())
                raise self.body_error(data) or generic_error(resp.status if resp.status >= 400 else 500,
                                                             orjson.dumps(data))
            progress = StreamProgress()
            legacy = self.answers_legacy_functions and req.legacy_functions
            async for chunk in self.convert_stream(req, resp):
                progress.saw(chunk)
                said = function_call_form(chunk) if legacy else chunk
                if said is not None:
                    yield sse(said)
        progress.check_finished()
        await req.estimate_streamed_usage()
        if req.include_usage:
            yield sse(usage_chunk(req, progress.chunk_id))


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
