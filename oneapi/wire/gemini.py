"""Gemini's generateContent <-> OpenAI chat, both directions, streams included.

Egress (a Gemini channel; the HTTP and inline images stay in ``oneapi.adaptors.gemini``): generation settings,
function declarations, tool config, finish reasons, candidates and usage. Ingress (the
/v1beta/models/{model}:generateContent front door): ``chat_request`` reads a Gemini request as chat and
``answer_of`` / ``ChunksFromChat`` say a chat answer and its chunks as Gemini's. Both read the same tables.
"""

from __future__ import annotations

from typing import Any

import orjson

from oneapi.adaptors.answers import new_id
from oneapi.adaptors.base import RelayRequest
from oneapi.adaptors.shaping import conversion_error, message_text, reasoning_budget, tool_arguments

_FILTERED = {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}
# The JSON Schema keywords Gemini's OpenAPI-subset Schema knows; it refuses any other ("Unknown name ...").
_SCHEMA_KEYS = {"type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems", "properties",
                "required", "minProperties", "maxProperties", "minLength", "maxLength", "pattern", "example",
                "anyOf", "propertyOrdering", "default", "items", "minimum", "maximum"}
_GENERATION_FIELDS = {
    "temperature": "temperature",
    "top_p": "topP",
    "top_k": "topK",
    "n": "candidateCount",
    "seed": "seed",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
}


def function_calls(tool_calls: Any, tool_names: dict[str, str], index: int) -> list[dict[str, Any]]:
    parts = []
    for call in tool_calls or ():
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not function.get("name"):
            raise conversion_error(f"messages[{index}].tool_calls: every call needs function.name")
        if call.get("id"):
            tool_names[call["id"]] = function["name"]
        arguments = tool_arguments(function.get("arguments"), f"messages[{index}].tool_calls")
        parts.append({"functionCall": {"name": function["name"], "args": arguments}})
    return parts


def function_response(message: dict[str, Any], tool_names: dict[str, str], index: int) -> dict[str, Any]:
    name = tool_names.get(message.get("tool_call_id") or "") or message.get("name")
    if not name:
        raise conversion_error(f"messages[{index}]: tool_call_id matches no tool call of an earlier assistant message")
    text = message_text(message.get("content"))
    try:
        result = orjson.loads(text)
    except orjson.JSONDecodeError:
        result = text
    return {"functionResponse": {"name": name, "response": result if isinstance(result, dict) else {"result": result}}}


def generation_config(body: dict[str, Any]) -> dict[str, Any]:
    config = {target: body[source] for source, target in _GENERATION_FIELDS.items() if body.get(source) is not None}
    max_tokens = body.get("max_tokens") or body.get("max_completion_tokens")
    if max_tokens:
        config["maxOutputTokens"] = max_tokens
    stop = body.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    response_format = body.get("response_format")
    if isinstance(response_format, dict):
        kind = response_format.get("type")
        if kind == "json_object":
            config["responseMimeType"] = "application/json"
        elif kind == "json_schema":
            config["responseMimeType"] = "application/json"
            schema = (response_format.get("json_schema") or {}).get("schema")
            if isinstance(schema, dict):
                config["responseSchema"] = gemini_schema(schema)
        elif kind == "text":
            config["responseMimeType"] = "text/plain"
    budget = reasoning_budget(body)
    if budget is not None:
        # Budget 0 turns thinking off (on the models that allow it): then there are no thoughts to include.
        config["thinkingConfig"] = {"thinkingBudget": budget, **({"includeThoughts": True} if budget else {})}
    return config


def gemini_schema(schema: Any, defs: dict[str, Any] | None = None, seen: frozenset[str] = frozenset()) -> Any:
    """A JSON Schema in Gemini's subset: ``$ref``s inlined from ``$defs``, ``anyOf [X, null]`` and
    ``type: [X, "null"]`` as X with ``nullable``, ``const`` as a one-value ``enum``, other unknown keywords
    dropped; property names are left alone."""
    if not isinstance(schema, dict):
        return schema
    defs = {**(defs or {}), **schema.get("$defs", {}), **schema.get("definitions", {})}
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        if name not in defs or name in seen:
            raise conversion_error(f"the schema's $ref {ref!r} is unknown or recursive, which Gemini cannot express")
        rest = {key: value for key, value in schema.items() if key != "$ref"}
        return gemini_schema({**defs[name], **rest}, defs, seen | {name})
    converted: dict[str, Any] = {}
    options = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(options, list):
        kept = [option for option in options if not (isinstance(option, dict) and option.get("type") == "null")]
        if len(kept) == 1:
            converted.update(gemini_schema(kept[0], defs, seen))
        elif kept:
            converted["anyOf"] = [gemini_schema(option, defs, seen) for option in kept]
        if len(kept) < len(options):
            converted["nullable"] = True
    kind = schema.get("type")
    if isinstance(kind, list):
        if "null" in kind:
            converted["nullable"] = True
        kind = next((k for k in kind if k != "null"), None)
    if kind is not None:
        converted["type"] = kind
    if "const" in schema:
        converted["enum"] = [schema["const"]]
    for key, value in schema.items():
        if key in ("type", "anyOf") or key not in _SCHEMA_KEYS:
            continue
        if key == "properties" and isinstance(value, dict):
            converted[key] = {name: gemini_schema(prop, defs, seen) for name, prop in value.items()}
        elif key == "items":
            converted[key] = gemini_schema(value, defs, seen)
        else:
            converted[key] = value
    return converted


def declaration(tool: Any, index: int) -> dict[str, Any]:
    function = tool.get("function") if isinstance(tool, dict) else None
    if not isinstance(function, dict) or not function.get("name"):
        raise conversion_error(f"tools[{index}]: only function tools with a name are supported")
    declaration: dict[str, Any] = {"name": function["name"]}
    if function.get("description"):
        declaration["description"] = function["description"]
    parameters = function.get("parameters")
    if isinstance(parameters, dict) and parameters.get("properties"):  # Gemini rejects an empty OBJECT
        declaration["parameters"] = gemini_schema(parameters)
    return declaration


def tool_config(choice: Any) -> dict[str, Any] | None:
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if name:
            return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
        return None
    modes = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
    return {"functionCallingConfig": {"mode": modes[choice]}} if choice in modes else None


# -- chat response ---------------------------------------------------------------------------------
def finish_reason(reason: Any, called_tools: bool) -> str | None:
    if not reason or reason == "FINISH_REASON_UNSPECIFIED":
        return None
    if called_tools:
        return "tool_calls"
    if reason == "MAX_TOKENS":
        return "length"
    return "content_filter" if reason in _FILTERED else "stop"


def candidate_parts(candidate: dict[str, Any]) -> tuple[str, str, list[dict[str, Any]]]:
    """A candidate's answer text, its thought summaries (parts marked ``thought``) and its function calls as
    OpenAI tool calls."""
    texts: list[str] = []
    thoughts: list[str] = []
    calls = []
    for part in (candidate.get("content") or {}).get("parts") or ():
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("text"), str):
            (thoughts if part.get("thought") else texts).append(part["text"])
        call = part.get("functionCall")
        if isinstance(call, dict):
            arguments = orjson.dumps(call.get("args") or {}).decode()
            calls.append({"id": call.get("id") or new_id("call_"), "type": "function",
                          "function": {"name": call.get("name"), "arguments": arguments}})
    return "".join(texts), "".join(thoughts), calls


def record_usage(req: RelayRequest, data: dict[str, Any]) -> None:
    usage = data.get("usageMetadata")
    if isinstance(usage, dict) and usage.get("promptTokenCount"):
        completion = int(usage.get("candidatesTokenCount") or 0) + int(usage.get("thoughtsTokenCount") or 0)
        req.report_usage(usage["promptTokenCount"], completion)
