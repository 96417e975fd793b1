"""Gemini's generateContent <-> OpenAI chat, both directions, streams included.

Egress (a Gemini channel; the HTTP and inline images stay in ``oneapi.adaptors.gemini``): generation settings,
function declarations, tool config, finish reasons, candidates and usage. Ingress (the
/v1beta/models/{model}:generateContent front door): ``chat_request`` reads a Gemini request as chat and
``answer_of`` / ``ChunksFromChat`` say a chat answer and its chunks as Gemini's. Both read the same tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from oneapi.adaptors.base import RelayRequest
from oneapi.adaptors.shaping import conversion_error, message_text, reasoning_budget, tool_arguments
from oneapi.adaptors.usage import Usage
from oneapi.errors import RelayError
from oneapi.wire.anthropic import effort_of
from oneapi.wire.openai_chat import new_id

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


# -- ingress: a Gemini request as chat -----------------------------------------------------------------
_CHAT_FIELDS = {gemini: chat for chat, gemini in _GENERATION_FIELDS.items()}
_FINISH_REASONS = {"stop": "STOP", "length": "MAX_TOKENS", "content_filter": "SAFETY", "tool_calls": "STOP"}
_CHAT_TOOL_MODES = {"AUTO": "auto", "NONE": "none", "ANY": "required"}
# HTTP status -> google.rpc status, for errors said the way Gemini's clients read them.
RPC_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
              409: "ABORTED", 413: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 501: "UNIMPLEMENTED",
              502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


def invalid(message: str) -> RelayError:
    return RelayError(message, status=400, type="INVALID_ARGUMENT")


def chat_request(body: dict[str, Any], model: str, stream: bool) -> dict[str, Any]:
    """A generateContent request (the model comes from the URL) as a chat request."""
    contents = body.get("contents")
    if isinstance(contents, dict):
        contents = [contents]
    if not isinstance(contents, list) or not contents:
        raise invalid("* GenerateContentRequest.contents: contents is not specified")
    messages: list[dict[str, Any]] = []
    system = body.get("systemInstruction") or body.get("system_instruction")
    if isinstance(system, dict):
        text = "\n".join(str(part.get("text") or "") for part in system.get("parts") or () if isinstance(part, dict))
        if text:
            messages.append({"role": "system", "content": text})
    calls: dict[str, list[str]] = {}  # function name -> ids of its calls not answered yet
    for i, content in enumerate(contents):
        messages.extend(_chat_messages(content, i, calls))
    request: dict[str, Any] = {"model": model, "messages": messages}
    config = body.get("generationConfig") or body.get("generation_config") or {}
    for key, value in config.items() if isinstance(config, dict) else ():
        if key in _CHAT_FIELDS and value is not None:
            request[_CHAT_FIELDS[key]] = value
    if config.get("maxOutputTokens"):
        request["max_tokens"] = config["maxOutputTokens"]
    if config.get("stopSequences"):
        request["stop"] = list(config["stopSequences"])
    if config.get("responseMimeType") == "application/json":
        schema = config.get("responseJsonSchema") or config.get("responseSchema")
        request["response_format"] = ({"type": "json_schema", "json_schema": {"name": "response",
                                                                               "schema": json_schema(schema)}}
                                      if isinstance(schema, dict) else {"type": "json_object"})
    budget = (config.get("thinkingConfig") or {}).get("thinkingBudget")
    if isinstance(budget, int) and budget > 0:
        request["reasoning_effort"] = effort_of(budget)
    tools = [_chat_tool(declaration) for tool in body.get("tools") or () if isinstance(tool, dict)
             for declaration in tool.get("functionDeclarations") or tool.get("function_declarations") or ()]
    if tools:
        request["tools"] = tools
        calling = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
        mode = _CHAT_TOOL_MODES.get(str(calling.get("mode") or "").upper())
        allowed = calling.get("allowedFunctionNames") or []
        if mode == "required" and len(allowed) == 1:
            request["tool_choice"] = {"type": "function", "function": {"name": allowed[0]}}
        elif mode:
            request["tool_choice"] = mode
    if stream:
        request["stream"] = True
    return request


def _chat_messages(content: Any, index: int, calls: dict[str, list[str]]) -> list[dict[str, Any]]:
    if not isinstance(content, dict):
        raise invalid(f"* GenerateContentRequest.contents[{index}]: must be an object")
    role = "assistant" if content.get("role") == "model" else "user"
    parts: list[dict[str, Any]] = []
    tool_calls: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for part in content.get("parts") or ():
        if not isinstance(part, dict) or part.get("thought"):
            continue
        if isinstance(part.get("text"), str):
            parts.append({"type": "text", "text": part["text"]})
        elif isinstance(part.get("inlineData") or part.get("inline_data"), dict):
            data = part.get("inlineData") or part["inline_data"]
            mime = data.get("mimeType") or data.get("mime_type") or "image/png"
            parts.append({"type": "image_url", "image_url": {"url": f"data:{mime};base64,{data.get('data') or ''}"}})
        elif isinstance(part.get("functionCall"), dict):
            call = part["functionCall"]
            call_id = call.get("id") or f"call_{index}_{len(tool_calls)}"
            calls.setdefault(str(call.get("name")), []).append(call_id)
            tool_calls.append({"id": call_id, "type": "function", "function": {
                "name": call.get("name"), "arguments": orjson.dumps(call.get("args") or {}).decode()}})
        elif isinstance(part.get("functionResponse"), dict):
            answer = part["functionResponse"]
            pending = calls.get(str(answer.get("name"))) or [answer.get("id") or f"call_{index}"]
            results.append({"role": "tool", "tool_call_id": answer.get("id") or pending.pop(0),
                            "content": orjson.dumps(answer.get("response") or {}).decode()})
        else:
            raise invalid(f"* GenerateContentRequest.contents[{index}].parts: this part is not supported here")
    if role == "assistant":
        text = "".join(part["text"] for part in parts if part["type"] == "text")
        said: dict[str, Any] = {"role": "assistant", "content": text or None}
        if tool_calls:
            said["tool_calls"] = tool_calls
        return [said] if text or tool_calls else []
    return results + ([{"role": "user", "content": parts}] if parts else [])


def json_schema(schema: Any) -> Any:
    """Gemini's OpenAPI-style schema (types in capitals) as JSON Schema."""
    if isinstance(schema, list):
        return [json_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, str):
            converted[key] = value.lower()
        elif key == "properties" and isinstance(value, dict):
            converted[key] = {name: json_schema(prop) for name, prop in value.items()}
        elif key != "propertyOrdering":
            converted[key] = json_schema(value)
    return converted


def _chat_tool(declaration: Any) -> dict[str, Any]:
    if not isinstance(declaration, dict) or not declaration.get("name"):
        raise invalid("* GenerateContentRequest.tools: every function declaration needs a name")
    parameters = declaration.get("parametersJsonSchema") or declaration.get("parameters")
    function: dict[str, Any] = {"name": declaration["name"],
                                "parameters": json_schema(parameters) if isinstance(parameters, dict)
                                else {"type": "object", "properties": {}}}
    if declaration.get("description"):
        function["description"] = declaration["description"]
    return {"type": "function", "function": function}


# -- ingress: a chat answer as Gemini's ------------------------------------------------------------------
def usage_metadata(usage: Usage) -> dict[str, int]:
    return {"promptTokenCount": usage.prompt_tokens, "candidatesTokenCount": usage.completion_tokens,
            "totalTokenCount": usage.total_tokens}


def _call_part(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    arguments = orjson.loads(function.get("arguments") or "{}") if function.get("arguments") else {}
    return {"functionCall": {"name": function.get("name"), "args": arguments if isinstance(arguments, dict) else {}}}


def answer_of(answer: dict[str, Any], model: str, usage: Usage) -> dict[str, Any]:
    """A ``chat.completion`` as a GenerateContentResponse, one candidate per choice."""
    candidates = []
    for i, choice in enumerate(answer.get("choices") or ()):
        message = choice.get("message") or {}
        parts: list[dict[str, Any]] = []
        if message.get("reasoning_content"):
            parts.append({"text": message["reasoning_content"], "thought": True})
        if message.get("content"):
            parts.append({"text": message["content"]})
        parts.extend(_call_part(call) for call in message.get("tool_calls") or ())
        candidates.append({"content": {"role": "model", "parts": parts}, "index": choice.get("index", i),
                           "finishReason": _FINISH_REASONS.get(choice.get("finish_reason"), "STOP")})
    return {"candidates": candidates, "usageMetadata": usage_metadata(usage), "modelVersion": model}


@dataclass
class ChunksFromChat:
    """Chat chunks as Gemini's stream: text (and thoughts) as they come, each function call whole once its
    arguments are complete, and the finish reason with the usage in the last chunk."""

    model: str
    calls: dict[int, dict[str, Any]] = field(default_factory=dict)  # chat tool call index -> call so far
    finish: str | None = None

    def chunk(self, chunk: dict[str, Any]) -> bytes:
        parts: list[dict[str, Any]] = []
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            if delta.get("reasoning_content"):
                parts.append({"text": delta["reasoning_content"], "thought": True})
            if delta.get("content"):
                parts.append({"text": delta["content"]})
            for call in delta.get("tool_calls") or ():
                function = call.get("function") or {}
                known = self.calls.setdefault(call.get("index", 0), {"function": {"name": "", "arguments": ""}})
                known["function"]["name"] += function.get("name") or ""
                known["function"]["arguments"] += function.get("arguments") or ""
            if choice.get("finish_reason"):
                self.finish = choice["finish_reason"]
        return self._say({"content": {"role": "model", "parts": parts}, "index": 0}) if parts else b""

    def _say(self, candidate: dict[str, Any], **extra: Any) -> bytes:
        payload = {"candidates": [candidate], "modelVersion": self.model, **extra}
        return b"data: " + orjson.dumps(payload) + b"\r\n\r\n"

    def end(self, usage: Usage) -> bytes:
        parts = [_call_part(call) for _, call in sorted(self.calls.items())]
        candidate = {"content": {"role": "model", "parts": parts}, "index": 0,
                     "finishReason": _FINISH_REASONS.get(self.finish or "stop", "STOP")}
        return self._say(candidate, usageMetadata=usage_metadata(usage))


def error_body(error: RelayError) -> dict[str, Any]:
    """Our error in Google's shape: ``{"error": {code, message, status}}``."""
    return {"error": {"code": error.status, "message": error.message,
                      "status": RPC_STATUS.get(error.status, "UNKNOWN")}}
