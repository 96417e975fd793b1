"""What several fakes write the same way: OpenAI-style token usage, SSE ``data:`` events, replies in chunks."""

from __future__ import annotations

import base64
import struct
from typing import Any

import orjson
from aiohttp import web


def token_usage(prompt: int, completion: int) -> dict[str, int]:
    """``usage`` as OpenAI (and the providers that copied it) report it."""
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


async def sse_event(response: web.StreamResponse, payload: dict[str, Any]) -> None:
    """One ``data: <json>`` event of an event stream."""
    await response.write(b"data: " + orjson.dumps(payload) + b"\n\n")


# What a broken upstream does to a stream after its first piece of text: "malformed" sends an event that is
# not JSON, "truncated" ends the body there (no finish, no [DONE]).
STREAM_FAULTS = ("malformed", "truncated")


async def stream_fault(response: web.StreamResponse, fault: str | None) -> bool:
    """Break the stream as ``fault`` says; True when the fake must stop writing."""
    if fault == "malformed":
        await response.write(b'data: {"choices": [{"delta": {"content": "oops\n\n')
    return fault is not None


def split_text(text: str, parts: int) -> list[str]:
    """``text`` in at most ``parts`` pieces of equal length (the last may be shorter); none for no text."""
    size = max(1, -(-len(text) // max(parts, 1)))
    return [text[i : i + size] for i in range(0, len(text), size)]


def schema_example(schema: Any, defs: dict[str, Any] | None = None) -> Any:
    """A value that satisfies ``schema``, the way a model answering with structured output would: every
    property given, the first enum value, ``$ref`` followed, a nullable type filled rather than null. Types may
    be JSON Schema's (``"object"``) or Gemini's (``"OBJECT"``)."""
    if not isinstance(schema, dict):
        return None
    defs = {**(defs or {}), **schema.get("$defs", {}), **schema.get("definitions", {})}
    if "$ref" in schema:
        return schema_example(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if schema.get("enum"):
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if isinstance(s, dict) and s.get("type") != "null"]
        return schema_example(options[0], defs) if options else None
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    kind = str(kind or "object").lower()
    if kind == "object":
        return {name: schema_example(prop, defs) for name, prop in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [schema_example(schema.get("items") or {"type": "string"}, defs)]
    return {"string": "Paris", "integer": 21, "number": 21.5, "boolean": True}.get(kind)


def structured_reply(body: dict[str, Any], reply: str) -> str:
    """The answer text to an OpenAI chat request: JSON fitting its ``response_format`` when it asks for
    structured output, else ``reply``."""
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        return orjson.dumps(schema_example(response_format["json_schema"]["schema"])).decode()
    if response_format.get("type") == "json_object":
        return orjson.dumps({"answer": reply}).decode()
    return reply


def openai_embedding(body: dict[str, Any], index: int, vector: list[float]) -> dict[str, Any]:
    """One item of OpenAI's embeddings answer, packed as OpenAI does when the request says
    ``encoding_format: "base64"`` (little-endian float32)."""
    if body.get("encoding_format") == "base64":
        packed = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        return {"object": "embedding", "index": index, "embedding": packed}
    return {"object": "embedding", "index": index, "embedding": vector}


def sized(vector: list[float], dimensions: Any) -> list[float]:
    """``vector`` cut or padded to the ``dimensions`` a request asked for (as models with shortened embeddings
    answer); as it is when none were asked for."""
    if not isinstance(dimensions, int) or dimensions <= 0:
        return vector
    return (vector + [0.5] * dimensions)[:dimensions]
