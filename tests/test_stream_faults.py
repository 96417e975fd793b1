"""A broken upstream stream (an event that is not JSON, or a body that ends before the answer does) never reaches
the client raw: it gets the well-formed chunks up to the fault, then an error event in OpenAI's shape and the end
of the stream, and pays for what it was given."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Gateway
from tests.fakes.shared import STREAM_FAULTS
from tests.openai_schema import check_stream, relay
from tests.provider_cases import Case, cases
from tests.providers import HI


@cases("openai", "anthropic", "gemini")
@pytest.mark.parametrize("fault", STREAM_FAULTS)
async def test_a_broken_stream_ends_with_an_openai_error_and_bills_what_was_delivered(
        gateway: Gateway, serve_fake: Any, case: Case, fault: str):
    fake, buyer = await case.wire(gateway, serve_fake)
    fake.stream_fault = fault

    status, events = await relay(gateway, buyer.key, "/v1/chat/completions",
                                 {"model": case.chat_model, "messages": HI, "stream": True})

    assert status == 200
    chunks = check_stream(events, include_usage=False)  # well-formed, then one error event, then [DONE]
    error = events[-2].get("error")
    assert error and error["type"] == "upstream_error", events[-3:]
    delivered = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert delivered and fake.reply.startswith(delivered) and delivered != fake.reply
    assert all(c.choices[0].finish_reason is None for c in chunks if c.choices)
    [log] = await buyer.logs()
    assert log["completion_tokens"] > 0 and log["quota"] > 0
