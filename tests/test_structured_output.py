"""Structured output (``response_format`` json_object and json_schema) on every provider that can say it: the
openai SDK's ``parse`` helpers get an object of the client's model back, streamed or not."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from tests.conftest import Gateway
from tests.provider_cases import Case, cases

STRUCTURED = ("openai", "azure", "anthropic", "gemini")


class Reading(BaseModel):
    kind: str
    value: float


class Forecast(BaseModel):
    city: str
    days: int
    rain: bool | None  # optional in OpenAI's strict schemas is nullable: anyOf [boolean, null]
    readings: list[Reading]  # a nested model: a $ref into $defs


QUESTION = [{"role": "user", "content": "The forecast for Paris, as JSON."}]


@cases(*STRUCTURED)
async def test_parse_returns_the_model_object(gateway: Gateway, serve_fake: Any, case: Case):
    _, buyer = await case.wire(gateway, serve_fake)

    answer = await buyer.client.chat.completions.parse(model=case.chat_model, messages=QUESTION,
                                                       response_format=Forecast)

    parsed = answer.choices[0].message.parsed
    assert isinstance(parsed, Forecast) and parsed.city and parsed.readings, answer
    assert answer.choices[0].finish_reason == "stop"


@cases(*STRUCTURED)
async def test_streamed_structured_output_parses_at_the_end(gateway: Gateway, serve_fake: Any, case: Case):
    _, buyer = await case.wire(gateway, serve_fake)

    async with buyer.client.chat.completions.stream(model=case.chat_model, messages=QUESTION,
                                                    response_format=Forecast) as stream:
        async for _ in stream:
            pass
        final = await stream.get_final_completion()

    assert isinstance(final.choices[0].message.parsed, Forecast), final


@cases(*STRUCTURED)
async def test_json_object_mode_answers_a_json_object(gateway: Gateway, serve_fake: Any, case: Case):
    _, buyer = await case.wire(gateway, serve_fake)

    answer = await buyer.client.chat.completions.create(model=case.chat_model, messages=QUESTION,
                                                        response_format={"type": "json_object"})

    assert isinstance(json.loads(answer.choices[0].message.content), dict), answer
