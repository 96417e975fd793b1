"""The OpenAI Responses front door (/v1/responses), driven by the openai SDK's ``client.responses``: natively to an
OpenAI channel, converted to chat for a Claude channel; stored responses continue on any channel."""

from __future__ import annotations

import openai
import pytest
from openai.types.responses import Response

from oneapi.constants import ChannelType
from tests.conftest import Gateway
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai_upstream import FakeOpenAI
from tests.providers import fake_upstream, wire

CLAUDE = "claude-3-5-haiku-20241022"
GPT = "gpt-4o-mini"
WEATHER = {"type": "function", "name": "get_weather", "description": "The weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}

claude = fake_upstream(FakeAnthropic)
gpt = fake_upstream(FakeOpenAI)


async def test_native_openai_tool_round_trip_continues_from_the_stored_response(gateway: Gateway,
                                                                                 gpt: FakeOpenAI):
    buyer = await wire(gateway, gpt, ChannelType.OPENAI, GPT)
    client = buyer.client
    first = await client.responses.create(model=GPT, input="Weather in Paris?", tools=[WEATHER],
                                          instructions="Be brief.", reasoning={"effort": "low"})
    assert isinstance(first, Response)
    call = first.output[0]
    assert (call.type, call.name, call.arguments) == ("function_call", "get_weather", '{"city":"Paris"}')
    assert gpt.requests[-1]["reasoning"] == {"effort": "low"}  # as the client sent it

    second = await client.responses.create(model=GPT, previous_response_id=first.id, tools=[WEATHER], input=[
        {"type": "function_call_output", "call_id": call.call_id, "output": '{"sky": "sunny"}'}])
    assert second.output_text == gpt.reply
    sent = gpt.requests[-1]
    assert "previous_response_id" not in sent  # the gateway put the stored conversation in front instead
    assert [item.get("type", "message") for item in sent["input"]] == ["message", "function_call",
                                                                       "function_call_output"]
    assert "instructions" not in sent  # OpenAI does not carry instructions over either
    await buyer.assert_billed(GPT, ChannelType.OPENAI, 11, 7, requests=2)


async def test_converted_to_claude_with_instructions_retrieve_and_delete(gateway: Gateway, claude: FakeAnthropic):
    buyer = await wire(gateway, claude, ChannelType.ANTHROPIC, CLAUDE)
    client = buyer.client
    answer = await client.responses.create(model=CLAUDE, instructions="Be brief.", input="Hi", max_output_tokens=64)
    assert isinstance(answer, Response) and answer.status == "completed"
    assert answer.output_text == claude.reply
    assert (answer.usage.input_tokens, answer.usage.output_tokens, answer.usage.total_tokens) == (13, 5, 18)
    sent = claude.requests[-1]
    assert sent["system"] == "Be brief." and sent["max_tokens"] == 64
    assert sent["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]

    again = await client.responses.retrieve(answer.id)
    assert again.output_text == claude.reply and again.id == answer.id
    follow = await client.responses.create(model=CLAUDE, previous_response_id=answer.id, input="And again?")
    assert follow.output_text == claude.reply
    assert [m["role"] for m in claude.requests[-1]["messages"]] == ["user", "assistant", "user"]
    assert "system" not in claude.requests[-1]

    await client.responses.delete(answer.id)
    with pytest.raises(openai.NotFoundError):
        await client.responses.retrieve(answer.id)
    with pytest.raises(openai.NotFoundError):
        await gateway.openai((await wire(gateway, claude, ChannelType.ANTHROPIC, CLAUDE)).key).responses.retrieve(
            follow.id)  # another token's response is not there for you
    await buyer.assert_billed(CLAUDE, ChannelType.ANTHROPIC, 13, 5, requests=2)


async def test_store_false_is_not_kept_and_an_unknown_previous_id_is_refused(gateway: Gateway, gpt: FakeOpenAI):
    buyer = await wire(gateway, gpt, ChannelType.OPENAI, GPT)
    answer = await buyer.client.responses.create(model=GPT, input="Hi", store=False)
    with pytest.raises(openai.NotFoundError):
        await buyer.client.responses.retrieve(answer.id)
    with pytest.raises(openai.BadRequestError) as refused:
        await buyer.client.responses.create(model=GPT, input="Hi", previous_response_id="resp_nope")
    assert refused.value.body["param"] == "previous_response_id"


@pytest.mark.parametrize("channel", ["native", "converted"])
async def test_stream_has_the_responses_event_sequence_with_tools(gateway: Gateway, gpt: FakeOpenAI,
                                                                  claude: FakeAnthropic, channel: str):
    fake, kind, model = (gpt, ChannelType.OPENAI, GPT) if channel == "native" else (
        claude, ChannelType.ANTHROPIC, CLAUDE)
    buyer = await wire(gateway, fake, kind, model)
    async with buyer.client.responses.stream(model=model, input="Weather in Paris?", tools=[WEATHER]) as stream:
        kinds = [event.type async for event in stream]
        final = await stream.get_final_response()
    assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert "response.function_call_arguments.delta" in kinds and kinds[-1] == "response.completed"
    calls = [item for item in final.output if item.type == "function_call"]
    assert [(c.name, c.arguments) for c in calls] == [("get_weather", '{"city":"Paris"}')]

    async with buyer.client.responses.stream(model=model, input="Hi") as stream:
        kinds = [event.type async for event in stream]
        final = await stream.get_final_response()
    text_events = [k for k in kinds if k in ("response.content_part.added", "response.output_text.delta")]
    assert text_events[:2] == ["response.content_part.added", "response.output_text.delta"]
    assert "response.output_text.done" in kinds and final.output_text == fake.reply
    assert (await buyer.client.responses.retrieve(final.id)).output_text == fake.reply
    await buyer.assert_billed(model, kind, *fake.usage, requests=2)


async def test_stored_responses_on_every_backend(make_gateway, sql_dsn: str, serve_fake):
    gateway = await make_gateway(SQL_DSN=sql_dsn)
    fake = await serve_fake(FakeOpenAI())
    buyer = await wire(gateway, fake, ChannelType.OPENAI, GPT)
    answer = await buyer.client.responses.create(model=GPT, input="x" * 100_000)  # more than MySQL's TEXT holds
    kept = await buyer.client.responses.retrieve(answer.id)
    assert kept.output_text == fake.reply
    follow = await buyer.client.responses.create(model=GPT, input="more", previous_response_id=answer.id)
    assert fake.requests[-1]["input"][0]["content"] == "x" * 100_000
    await buyer.client.responses.delete(follow.id)
