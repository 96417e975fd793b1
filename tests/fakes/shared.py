"""What several fakes write the same way: OpenAI-style token usage, SSE ``data:`` events, replies in chunks."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web


def token_usage(prompt: int, completion: int) -> dict[str, int]:
    """``usage`` as OpenAI (and the providers that copied it) report it."""
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


async def sse_event(response: web.StreamResponse, payload: dict[str, Any]) -> None:
    """One ``data: <json>`` event of an event stream."""
    await response.write(b"data: " + orjson.dumps(payload) + b"\n\n")


def split_text(text: str, parts: int) -> list[str]:
    """``text`` in at most ``parts`` pieces of equal length (the last may be shorter); none for no text."""
    size = max(1, -(-len(text) // max(parts, 1)))
    return [text[i : i + size] for i in range(0, len(text), size)]
