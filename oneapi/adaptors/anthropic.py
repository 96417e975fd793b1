"""Anthropic Claude (SPEC §4.4): OpenAI chat <-> the Messages API (the mapping is ``oneapi.wire.anthropic``).

A request that came in through the /v1/messages front door (``RelayMode.MESSAGES``) goes to Claude as it
is and comes back as it is: thinking signatures, cache_control and the prompt cache's usage survive.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import orjson

from oneapi.adaptors.base import RelayRequest, UpstreamRequest
from oneapi.adaptors.native import PassThroughAdaptor
from oneapi.adaptors.streams import iter_sse_data
from oneapi.adaptors.transport import Answer
from oneapi.adaptors.upstream_errors import generic_error, parse_json, try_json
from oneapi.constants import RelayMode
from oneapi.errors import RelayError, upstream_error
from oneapi.wire import anthropic as wire


def claude_headers(key: str, client_headers: Mapping[str, str], stream: bool = False) -> dict[str, str]:
    """Claude's credentials, with the client's ``anthropic-version`` and ``anthropic-beta`` passed on."""
    headers = {
        "x-api-key": key,
        "anthropic-version": client_headers.get("anthropic-version") or wire.API_VERSION,
        "Content-Type": "application/json",
        "Accept": "text/event-stream" if stream else "application/json",
    }
    beta = client_headers.get("anthropic-beta")
    if beta:
        headers["anthropic-beta"] = beta
    return headers


class AnthropicAdaptor(PassThroughAdaptor):
    modes = frozenset({RelayMode.CHAT, RelayMode.MESSAGES})
    native_mode = RelayMode.MESSAGES
    answers_legacy_functions = True

    async def prepare(self, req: RelayRequest) -> UpstreamRequest:
        if req.mode == RelayMode.MESSAGES:
            body = req.body_bytes()
        else:
            body = orjson.dumps(wire.messages_request(req.body, req.model, req.stream))
        headers = claude_headers(req.upstream.key, req.client_headers, req.stream)
        return UpstreamRequest(f"{req.upstream.base_url}/v1/messages", headers, body)

    def convert(self, req: RelayRequest, data: Any) -> dict[str, Any]:
        return wire.chat_completion_of(req, data)

    async def convert_stream(self, req: RelayRequest, resp: Answer) -> AsyncIterator[dict[str, Any]]:
        state = wire.ChatFromEvents(structured=wire.wants_structured_output(req.body))
        async for payload in iter_sse_data(resp):
            event = parse_json(payload, "Anthropic stream event")
            if isinstance(event, dict):
                for chunk in state.handle(req, event):
                    yield chunk

    def record_answer(self, req: RelayRequest, data: dict[str, Any]) -> None:
        wire.record_usage(req, data.get("usage") or {})

    def watcher(self, req: RelayRequest) -> Callable[[dict[str, Any]], None]:
        usage: dict[str, Any] = {}  # message_start's usage, then message_delta's (output_tokens is cumulative)

        def watch(event: dict[str, Any]) -> None:
            said = event.get("usage") or (event.get("message") or {}).get("usage")
            if isinstance(said, dict):
                usage.update({key: value for key, value in said.items() if value is not None})
                wire.record_usage(req, usage)
            delta = event.get("delta") or {}
            text = delta.get("text") or delta.get("thinking") or delta.get("partial_json")
            if isinstance(text, str):
                req.completion_text.append(text)

        return watch

    def parse_error(self, status: int, raw: bytes) -> RelayError:
        return wire.error_of(try_json(raw), status) or generic_error(status, raw)

    def body_error(self, data: Any) -> RelayError | None:
        if not isinstance(data, dict):
            return upstream_error(502, "the upstream answer is not a JSON object")
        return wire.error_of(data) if data.get("type") == "error" else None


ADAPTOR = AnthropicAdaptor()
