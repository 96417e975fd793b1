"""OpenAI and the OpenAI-compatible family: the request goes through untouched, the answer comes back untouched.

The family differs only in where the request goes, so it is data: ``_PATH_RULES`` maps a channel type to
the upstream path for a client path. Usage is read from the answer; for streams we ask the upstream for
it with ``stream_options.include_usage`` and drop that extra chunk when the client did not ask for it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import Any

import orjson

from oneapi.adaptors.base import Adaptor, Completion, RelayRequest, off_loop_if_large, refusal
from oneapi.adaptors.native import forward_sse
from oneapi.adaptors.streams import iter_sse_batches
from oneapi.adaptors.transport import Answer
from oneapi.adaptors.upstream_errors import generic_error, parse_json
from oneapi.constants import ChannelType, RelayMode
from oneapi.errors import RelayError
from oneapi.wire import responses
from oneapi.wire.openai_chat import StreamProgress, conform, encode_embeddings, sse, usage_chunk

CLOUDFLARE_GATEWAY = "https://gateway.ai.cloudflare.com"


def _without_v1(path: str) -> str:
    return path[3:] if path.startswith("/v1/") else path


def _chat_or_embeddings(chat: str, embeddings: str) -> Callable[[str], str]:
    return lambda path: embeddings if path.endswith("embeddings") else chat


# channel type -> client path -> upstream path (appended to the base URL)
_PATH_RULES: dict[int, Callable[[str], str]] = {
    ChannelType.MINIMAX: lambda path: "/v1/text/chatcompletion_v2",
    ChannelType.DOUBAO: _chat_or_embeddings("/api/v3/chat/completions", "/api/v3/embeddings"),
    ChannelType.NOVITA: _without_v1,
    ChannelType.BAIDU_V2: _chat_or_embeddings("/v2/chat/completions", "/v2/embeddings"),
    ChannelType.ALI_BAILIAN: _chat_or_embeddings(
        "/compatible-mode/v1/chat/completions", "/compatible-mode/v1/embeddings"
    ),
    ChannelType.OPENAI_COMPATIBLE: _without_v1,
    ChannelType.GEMINI_OPENAI_COMPATIBLE: _without_v1,
    ChannelType.XUNFEI_V2: lambda path: path,
}

_EXTRA_HEADERS: dict[int, dict[str, str]] = {
    ChannelType.OPENROUTER: {"HTTP-Referer": "https://github.com/songquanpeng/one-api", "X-Title": "One API"},
}


def upstream_url(req: RelayRequest) -> str:
    base = req.upstream.base_url
    rule = _PATH_RULES.get(req.upstream.type)
    if rule is not None:
        path = rule(req.path)
    elif base.startswith(CLOUDFLARE_GATEWAY):
        path = _without_v1(req.path)
    else:
        path = req.path
    url = base + path
    return f"{url}?{req.query}" if req.query else url


def _report_usage(req: RelayRequest, usage: dict[str, Any]) -> None:
    """OpenAI's usage object; without ``completion_tokens`` the completion is what the total adds to the prompt."""
    prompt = usage.get("prompt_tokens") or 0
    completion = usage.get("completion_tokens")
    if completion is None:
        completion = max((usage.get("total_tokens") or 0) - prompt, 0)
    req.report_usage(prompt, completion)


class OpenAIAdaptor(Adaptor):
    modes = frozenset(
        {
            RelayMode.CHAT,
            RelayMode.COMPLETIONS,
            RelayMode.EMBEDDINGS,
            RelayMode.MODERATIONS,
            RelayMode.IMAGES,
            RelayMode.EDITS,
            RelayMode.AUDIO_SPEECH,
            RelayMode.AUDIO_TRANSCRIPTION,
            RelayMode.AUDIO_TRANSLATION,
            RelayMode.RESPONSES,
        }
    )

    def url(self, req: RelayRequest) -> str:
        return upstream_url(req)

    def headers(self, req: RelayRequest) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {req.upstream.key}",
            "Content-Type": req.client_headers.get("Content-Type", "application/json"),
            "Accept": "text/event-stream" if req.stream else req.client_headers.get("Accept", "application/json"),
        }
        headers.update(_EXTRA_HEADERS.get(req.upstream.type, {}))
        return headers

    def body(self, req: RelayRequest) -> bytes:
        if req.stream and req.mode in (RelayMode.CHAT, RelayMode.COMPLETIONS) and not req.include_usage:
            options = req.body.get("stream_options")
            options = dict(options) if isinstance(options, dict) else {}
            options["include_usage"] = True
            return orjson.dumps({**req.body, "stream_options": options})
        return req.body_bytes()

    async def _send(self, req: RelayRequest) -> Answer:
        resp = await req.http.post(self.url(req), data=self.body(req), headers=self.headers(req), timeout=req.timeout)
        if resp.status not in (200, 201):
            raise await refusal(resp, self.parse_error)
        return resp

    def parse_error(self, status: int, raw: bytes) -> RelayError:
        """An error answer (non-2xx) -> RelayError; subclasses read their provider's own error body."""
        return generic_error(status, raw)

    async def complete(self, req: RelayRequest) -> Completion:
        resp = await self._send(req)
        async with resp:
            raw = await resp.read()
            content_type = resp.headers.get("Content-Type", "application/json")
        data = parse_json(raw) if content_type.startswith("application/json") else None
        if isinstance(data, dict):
            error = data.get("error")
            if isinstance(error, dict) and error.get("type"):
                raise generic_error(resp.status if resp.status >= 400 else 500, raw)
        if req.mode in (RelayMode.AUDIO_TRANSCRIPTION, RelayMode.AUDIO_TRANSLATION):
            await off_loop_if_large(len(raw), self._record_transcript, req, data, raw)
        elif req.mode == RelayMode.RESPONSES:
            responses.record_usage(req, data)
        elif isinstance(data, dict):
            await off_loop_if_large(len(raw), self._record_usage, req, data)  # counts the text if usage is missing
            changed = conform(req, data) if req.mode == RelayMode.CHAT else False
            if changed or (req.mode == RelayMode.EMBEDDINGS and encode_embeddings(req, data)):
                raw = orjson.dumps(data)
        return Completion(raw, resp.status, {"Content-Type": content_type})

    def _record_transcript(self, req: RelayRequest, data: Any, raw: bytes) -> None:
        """Whisper reports no usage: the transcript's tokens are the billed amount (as prompt tokens)."""
        if isinstance(data, dict):
            text = str(data.get("text") or "")
        else:
            lines = raw.decode(errors="replace").splitlines()
            if any("-->" in line for line in lines):  # srt / vtt: keep the cue text only
                lines = [line for i, line in enumerate(lines) if i and "-->" in lines[i - 1]]
            text = "\n".join(lines)
        req.usage.prompt_tokens = req.counter.text(text, req.model)
        req.usage.completion_tokens = 0

    def _record_usage(self, req: RelayRequest, data: dict[str, Any]) -> None:
        usage = data.get("usage")
        if isinstance(usage, dict) and (usage.get("total_tokens") or usage.get("prompt_tokens")):
            _report_usage(req, usage)
            return
        texts = []
        for choice in data.get("choices") or ():
            if isinstance(choice, dict):
                message = choice.get("message")
                if isinstance(message, dict) and isinstance(message.get("content"), str):
                    texts.append(message["content"])
                elif isinstance(choice.get("text"), str):
                    texts.append(choice["text"])
        req.estimate_usage("".join(texts))

    async def stream(self, req: RelayRequest) -> AsyncGenerator[bytes, None]:
        resp = await self._send(req)
        async with resp:
            if resp.content_type == "application/json":
                raw = await resp.read()
                raise generic_error(resp.status if resp.status >= 400 else 500, raw)
            if req.mode == RelayMode.RESPONSES:
                async for data in forward_sse(resp, lambda event: self._watch_response(req, event)):
                    yield data
                return
            progress = StreamProgress()
            async for payloads in iter_sse_batches(resp):
                # Everything that arrived in one read goes to the client in one write.
                forwarded = bytearray()
                for payload in payloads:
                    try:
                        said = self._forward(req, payload, progress)
                    except RelayError:
                        if forwarded:  # what came before the error still reaches the client
                            yield bytes(forwarded)
                        raise
                    if said is not None:
                        forwarded += b"data: " + said + b"\n\n"
                if forwarded:
                    yield bytes(forwarded)
        if req.mode == RelayMode.CHAT:
            progress.check_finished()
        await req.estimate_streamed_usage()
        if req.include_usage and not progress.usage_sent:
            # The upstream sent its usage on a chunk with choices, or not at all: the client still gets the
            # final usage chunk it asked for.
            yield sse(usage_chunk(req, progress.chunk_id))

    @staticmethod
    def _watch_response(req: RelayRequest, event: dict[str, Any]) -> None:
        """A Responses stream's text (for an estimate if it breaks off) and the final usage."""
        if isinstance(event.get("delta"), str):
            req.completion_text.append(event["delta"])
        if event.get("type") in ("response.completed", "response.incomplete", "response.failed"):
            responses.record_usage(req, event.get("response"))

    def _forward(self, req: RelayRequest, payload: bytes, progress: StreamProgress) -> bytes | None:
        """Account for one event: the payload the client gets (completed where an OpenAI-compatible upstream
        left out a field OpenAI always sends), None for an event the client must not see."""
        chunk = parse_json(payload, "upstream stream event")
        if not isinstance(chunk, dict):
            return None
        if req.mode == RelayMode.CHAT and (text := progress.pass_usual(chunk)) is not None:
            if text:
                req.completion_text.append(text)
            return payload
        if isinstance(chunk.get("error"), dict):
            raise generic_error(500, payload)
        if not self._account(req, chunk):
            return None
        if req.mode != RelayMode.CHAT:
            return payload
        progress.saw(chunk)
        return orjson.dumps(chunk) if conform(req, chunk) else payload

    def _account(self, req: RelayRequest, chunk: dict[str, Any]) -> bool:
        """Record the chunk's text and usage; False for a chunk the client must not see."""
        usage = chunk.get("usage")
        if isinstance(usage, dict) and usage.get("total_tokens"):
            _report_usage(req, usage)
        choices = chunk.get("choices")
        if not choices:
            # Azure's content-filter chunks carry nothing; the usage chunk only when it was asked for.
            return bool(usage) and req.include_usage
        for choice in choices:
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta")
            if isinstance(delta, dict) and isinstance(delta.get("content"), str):
                req.completion_text.append(delta["content"])
            elif isinstance(choice.get("text"), str):
                req.completion_text.append(choice["text"])
        return True


ADAPTOR = OpenAIAdaptor()
