"""Request shaping shared by the adaptors that convert OpenAI chat to another format: legacy functions said as
tools, tool arguments, turns, message text, data URLs, reasoning budgets, and the 400 for what cannot be said."""

from __future__ import annotations

from typing import Any

from oneapi.adaptors.upstream_errors import try_json
from oneapi.errors import RelayError


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
