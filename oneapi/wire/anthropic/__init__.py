"""Anthropic's Messages API <-> OpenAI chat, both directions, streams included.

Egress (a Claude channel): ``messages_request`` turns a chat request into a Messages request, and
``chat_completion_of`` / ``ChatFromEvents`` turn Claude's answer and events back into chat. Ingress (the
/v1/messages front door): ``chat_request`` reads a Messages request as chat, and ``message_of`` /
``EventsFromChat`` say a chat answer and its chunks as a Message and Anthropic's event sequence. Both
directions read the same tables (stop reasons, tool choice, error types).

One module per concern, each holding both directions: ``request`` (requests), ``message`` (answers, stop
reasons, usage), ``stream`` (events and chunks), ``errors`` (error bodies and types) and ``structured``
(structured output as a forced tool).
"""

from oneapi.wire.anthropic.errors import claude_error, error_body, error_of, invalid
from oneapi.wire.anthropic.message import (
    chat_completion_of,
    finish_reason,
    message_id,
    message_of,
    prompt_tokens,
    record_usage,
    stop_reason,
    usage_of,
)
from oneapi.wire.anthropic.request import API_VERSION, DEFAULT_MAX_TOKENS, chat_request, effort_of, messages_request
from oneapi.wire.anthropic.stream import ChatFromEvents, EventsFromChat
from oneapi.wire.anthropic.structured import RESPONSE_TOOL, wants_structured_output

__all__ = [
    "API_VERSION",
    "DEFAULT_MAX_TOKENS",
    "RESPONSE_TOOL",
    "ChatFromEvents",
    "EventsFromChat",
    "chat_completion_of",
    "chat_request",
    "claude_error",
    "effort_of",
    "error_body",
    "error_of",
    "finish_reason",
    "invalid",
    "message_id",
    "message_of",
    "messages_request",
    "prompt_tokens",
    "record_usage",
    "stop_reason",
    "usage_of",
    "wants_structured_output",
]
