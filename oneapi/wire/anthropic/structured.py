"""Structured output (``response_format`` json_object / json_schema), asked for as LiteLLM and new-api do: one more
tool whose input schema is the response schema, forced unless the client offered tools of its own or thinking
is on; its input comes back as the answer's content (``message.py``, ``stream.py``).
"""

from __future__ import annotations

from typing import Any

from oneapi.adaptors.shaping import conversion_error

RESPONSE_TOOL = "json_response"  # the tool that carries a structured answer


def wants_structured_output(body: dict[str, Any]) -> bool:
    response_format = body.get("response_format")
    return isinstance(response_format, dict) and response_format.get("type") in ("json_object", "json_schema")


def response_tool(response_format: Any) -> dict[str, Any] | None:
    """The tool Claude answers a structured-output request with; None when plain text is asked for."""
    if response_format is None:
        return None
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"name": RESPONSE_TOOL, "description": "Respond with the answer as a JSON object.",
                "input_schema": {"type": "object"}}
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict) or schema.get("type", "object") != "object":
            raise conversion_error("response_format.json_schema.schema must be a JSON schema of an object for "
                                   "Anthropic")
        description = spec.get("description") or f"Respond with the answer as a {spec.get('name') or 'JSON'} object."
        return {"name": RESPONSE_TOOL, "description": description, "input_schema": schema}
    raise conversion_error('response_format.type must be "text", "json_object" or "json_schema"')
