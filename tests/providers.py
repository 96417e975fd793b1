"""What the provider tests share: a fake upstream served for each test, a customer whose token reaches a channel
to it, and the bill to expect.

The expected quota is computed from ``oneapi.billing.ratios`` with the default options, i.e. with One API's
price tables, from the token counts the fake upstream reported.
"""

from __future__ import annotations

import inspect
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import openai
import orjson
import pytest

from oneapi.adaptors.base import RelayRequest
from oneapi.billing import ratios
from oneapi.constants import ChannelType, RelayMode
from oneapi.db.models import Channel
from oneapi.options import Options
from oneapi.relay.pipeline import upstream_for
from tests.conftest import Gateway
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.gemini import FakeGemini
from tests.fakes.openai_upstream import FakeOpenAI

HI = [{"role": "user", "content": "hi"}]
# An 8x8 red PNG, small enough to inline in a data URL.
RED_PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAEklEQVR4nGP4z8CAFWEXHbQSACj/P8Fu7N9hAAAAAElFTkSuQmCC"
RED_PNG_DATA_URL = f"data:image/png;base64,{RED_PNG_B64}"
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                   "additionalProperties": False}}}


# Channel types the client suites run against: fake, channel type, chat model, the fake's reply, embedding model.
CLIENT_UPSTREAMS: dict[str, tuple[type, int, str, str, str | None]] = {
    "openai": (FakeOpenAI, ChannelType.OPENAI, "gpt-4o-mini", "Hello from fake", "text-embedding-3-small"),
    "claude": (FakeAnthropic, ChannelType.ANTHROPIC, "claude-3-haiku-20240307", "Hello from Claude", None),
    "gemini": (FakeGemini, ChannelType.GEMINI, "gemini-1.5-flash", "Hello from Gemini", "text-embedding-004"),
}


def fake_upstream(make_fake: Callable[[], Any]) -> Any:
    """A fixture serving a new ``make_fake()`` for each test: ``claude = fake_upstream(FakeAnthropic)``
    (pytest names the fixture after the variable it is assigned to)."""

    @pytest.fixture
    async def served(serve_fake: Callable[[Any], Any]) -> Any:
        return await serve_fake(make_fake())

    return served


def wired_to(fake_fixture: str, channel_type: int, models: str, **channel_fields: Any) -> Any:
    """A fixture: root's new token, reaching a channel of ``channel_type`` for ``models`` to the fake that the
    fixture named ``fake_fixture`` serves, with the fake's key: ``wired = wired_to("baidu", ChannelType.BAIDU,
    MODELS)`` (a test that needs another key calls ``wire`` itself)."""

    async def wired(gateway: Gateway, **fake: Any) -> Customer:
        return await wire(gateway, fake[fake_fixture], channel_type, models, **channel_fields)

    # pytest hands a fixture the fixtures its signature names: here the gateway and the fake's fixture.
    wired.__signature__ = inspect.Signature([  # type: ignore[attr-defined]
        inspect.Parameter("gateway", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        inspect.Parameter(fake_fixture, inspect.Parameter.KEYWORD_ONLY)])
    return pytest.fixture(wired)


@dataclass
class Customer:
    """A token of one user, the requests it makes, and what they cost."""

    gateway: Gateway
    key: str
    token_name: str
    user_id: int

    @property
    def client(self) -> openai.AsyncOpenAI:
        return self.gateway.openai(self.key)

    async def logs(self) -> list[dict[str, Any]]:
        """The consume logs of this token's requests, newest first, once the ledger has written them."""
        await self.gateway.drain()
        found = await self.gateway.api("GET", f"/api/log/?p=0&type=2&token_name={self.token_name}")
        assert found["success"], found
        return found["data"]

    async def quota_left(self) -> int:
        await self.gateway.drain()
        return (await self.gateway.api("GET", f"/api/user/{self.user_id}"))["data"]["quota"]

    async def assert_billed(self, model: str, channel_type: int, prompt: int, completion: int,
                            requests: int = 1) -> dict[str, Any]:
        """The newest of ``requests`` consume logs charged exactly (prompt, completion) at the default price."""
        logs = await self.logs()
        assert len(logs) == requests, logs
        log = logs[0]
        assert (log["prompt_tokens"], log["completion_tokens"]) == (prompt, completion)
        assert log["model_name"] == model
        assert log["quota"] == expected_quota(prompt, completion, model, channel_type) > 0
        return log

    async def streamed_hi_billed(self, model: str, channel_type: int, reply: str,
                                 usage: tuple[int, int]) -> list[Any]:
        """Stream "hi" asking for the usage chunk: the chunks, having checked they carry ``reply`` and end with "stop",
        and that the usage chunk and the stream's one consume log both say ``usage`` (prompt, completion)."""
        chunks = await stream_chat(self.client, model=model, messages=HI, stream_options={"include_usage": True})
        assert streamed_text(chunks) == reply
        assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
        last = chunks[-1]
        assert last.choices == [] and (last.usage.prompt_tokens, last.usage.completion_tokens) == usage
        assert last.usage.total_tokens == sum(usage)
        log = await self.assert_billed(model, channel_type, *usage)
        assert log["is_stream"]
        return chunks

    async def billed_embeddings(self, model: str, channel_type: int, tokens: int,
                                texts: str | list[str]) -> list[list[float]]:
        """Embed ``texts``: the vectors, in input order, having checked they are billed as the ``tokens`` the
        provider reported (and no completion)."""
        result = await self.client.embeddings.create(model=model, input=texts)
        assert [item.index for item in result.data] == list(range(len(result.data)))
        await self.assert_billed(model, channel_type, tokens, 0)
        return [item.embedding for item in result.data]

    async def refused_at_no_cost(self, error: type[openai.APIStatusError],
                                 **request: Any) -> openai.APIStatusError:
        """Ask for a chat answer to "hi" that the upstream refuses: the ``error`` the client got, having checked the
        reservation was given back and nothing was logged as consumed."""
        before = await self.quota_left()
        with pytest.raises(error) as caught:
            await self.client.chat.completions.create(messages=HI, **request)
        assert await self.quota_left() == before and await self.logs() == []
        return caught.value

    async def required_tool_calls(self, model: str) -> tuple[dict[str, Any], Any]:
        """Ask for the weather in Paris and Rome with a tool call required: the question and the answer, having
        checked the answer calls get_weather for Paris, then Rome, under two ids, and finishes with "tool_calls"."""
        question = {"role": "user", "content": "Weather in Paris and Rome?"}
        answer = await self.client.chat.completions.create(model=model, messages=[question], tools=[WEATHER_TOOL],
                                                           tool_choice="required")
        calls = answer.choices[0].message.tool_calls
        assert answer.choices[0].finish_reason == "tool_calls"
        assert [(c.function.name, orjson.loads(c.function.arguments)) for c in calls] == [
            ("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})]
        assert len({c.id for c in calls}) == 2
        return question, answer

    async def tool_round_trip(self, model: str, question_text: str, tool: dict[str, Any],
                              arguments: dict[str, Any], result: str) -> tuple[Any, Any]:
        """Ask with ``tool`` offered, check the answer calls it with ``arguments``, send ``result`` back; returns
        (the call, the second answer) for the provider's own checks of what it was sent."""
        question = {"role": "user", "content": question_text}
        first = await self.client.chat.completions.create(model=model, messages=[question], tools=[tool])
        [call] = first.choices[0].message.tool_calls
        assert first.choices[0].finish_reason == "tool_calls"
        assert call.function.name == tool["function"]["name"] and orjson.loads(call.function.arguments) == arguments
        second = await self.client.chat.completions.create(model=model, tools=[tool],
                                                      messages=tool_reply(question, first, result))
        return call, second

    async def legacy_function_round_trip(self, model: str) -> tuple[Any, Any]:
        """Ask for the weather with a forced legacy ``function_call``, answer it, and return both answers, having
        checked what the OpenAI side must show: the call to get_weather for Paris, then a plain reply."""
        question = {"role": "user", "content": "Weather in Paris?"}
        first = await self.client.chat.completions.create(model=model, messages=[question],
                                                           functions=[WEATHER_TOOL["function"]],
                                                           function_call={"name": "get_weather"})
        message = first.choices[0].message
        assert first.choices[0].finish_reason == "function_call"
        assert message.tool_calls is None
        # The legacy form carries one call: the first.
        assert (message.function_call.name, orjson.loads(message.function_call.arguments)) == (
            "get_weather", {"city": "Paris"})
        second = await self.client.chat.completions.create(model=model, functions=[WEATHER_TOOL["function"]],
                                                            messages=function_reply(question, first, "Sunny"))
        assert second.choices[0].message.function_call is None
        return first, second

    async def streamed_legacy_function_call(self, model: str) -> tuple[str, dict[str, Any], list[Any]]:
        """Stream a question with legacy ``functions`` (``function_call: auto``): the called function's name, its
        arguments and the chunks, having checked the stream ends with finish_reason ``function_call``."""
        chunks = await stream_chat(self.client, model=model, messages=[{"role": "user", "content": "Weather?"}],
                                   functions=[WEATHER_TOOL["function"]], function_call="auto")
        name, arguments = streamed_function_call(chunks)
        assert chunks[-1].choices[0].finish_reason == "function_call"
        return name, orjson.loads(arguments), chunks

    async def streamed_thinking(self, model: str, effort: str, thoughts: str, reply: str) -> list[Any]:
        """Stream "Hi" with ``reasoning_effort``: the chunks, having checked the thoughts come as reasoning_content
        deltas, all of them before the answer's first text."""
        chunks = await stream_chat(self.client, model=model, messages=[{"role": "user", "content": "Hi"}],
                                   reasoning_effort=effort, stream_options={"include_usage": True})
        deltas = [c.choices[0].delta for c in chunks if c.choices]
        reasoning = [getattr(d, "reasoning_content", None) or "" for d in deltas]
        assert "".join(reasoning) == thoughts
        assert "".join(d.content or "" for d in deltas) == reply
        assert max(i for i, r in enumerate(reasoning) if r) < next(i for i, d in enumerate(deltas) if d.content)
        return chunks

    async def assert_unknown_effort_refused(self, model: str, upstream_requests: list[Any]) -> None:
        """A reasoning_effort the gateway cannot map is refused with 400 before anything reaches the upstream."""
        sent = len(upstream_requests)
        with pytest.raises(openai.BadRequestError) as unknown:
            await self.client.chat.completions.create(model=model, messages=HI, extra_body={"reasoning_effort": "max"})
        assert unknown.value.code == "convert_request_failed" and "reasoning_effort 'max'" in unknown.value.message
        assert len(upstream_requests) == sent


async def new_customer(gateway: Gateway, quota: int = 10**9) -> Customer:
    """A new user (of the default group) with one token."""
    user = await gateway.add_user(quota=quota)
    token_name = f"t{secrets.token_hex(4)}"
    key = await gateway.add_token(user["access_token"], name=token_name)
    return Customer(gateway, key, token_name, user["id"])


async def customer(gateway: Gateway, base_url: str, channel_type: int, key: str, models: str,
                   **channel_fields: Any) -> Customer:
    """A new customer, after adding the channel (of the default group) their requests will go to."""
    await gateway.add_channel(base_url, key=key, models=models, type=channel_type, **channel_fields)
    return await new_customer(gateway)


async def wire(gateway: Gateway, fake: Any, channel_type: int, models: str, key: str | None = None,
               **channel_fields: Any) -> Customer:
    """Root with a new token, after adding a channel to the served ``fake`` (with its key unless told)."""
    await gateway.add_channel(fake.url, key=key if key is not None else fake.key, models=models, type=channel_type,
                              **channel_fields)
    token_name = f"t{secrets.token_hex(4)}"
    key = await gateway.add_token(name=token_name)
    root = (await gateway.api("GET", "/api/user/self"))["data"]
    return Customer(gateway, key, token_name, root["id"])


async def stream_chat(client: openai.AsyncOpenAI, **request: Any) -> list[Any]:
    """Every chunk of a streamed chat completion, once the stream has ended."""
    stream = await client.chat.completions.create(stream=True, **request)
    return [chunk async for chunk in stream]


def streamed_text(chunks: list[Any]) -> str:
    """The text the chunks carry (the usage chunk has no choices)."""
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def tool_reply(question: dict[str, Any], answer: Any, *results: str) -> list[dict[str, Any]]:
    """The messages that go on from an ``answer`` that called tools: the question, the assistant's message with
    its calls, and a tool message with the result of each call, in order."""
    message = answer.choices[0].message
    return [question, message.model_dump(exclude_none=True),
            *({"role": "tool", "tool_call_id": call.id, "content": result}
              for call, result in zip(message.tool_calls, results, strict=True))]


def function_reply(question: dict[str, Any], answer: Any, result: str) -> list[dict[str, Any]]:
    """The messages that go on from an ``answer`` that called a function the legacy way: the question, the
    assistant's message with its ``function_call``, and the ``function`` message with the result."""
    message = answer.choices[0].message
    return [question, message.model_dump(exclude_none=True),
            {"role": "function", "name": message.function_call.name, "content": result}]


def streamed_function_call(chunks: list[Any]) -> tuple[str, str]:
    """(name, arguments) of the legacy ``function_call`` the chunks carry, checking none carries ``tool_calls``."""
    name = arguments = ""
    for chunk in chunks:
        delta = chunk.choices[0].delta
        assert not delta.tool_calls, chunk
        if delta.function_call:
            name += delta.function_call.name or ""
            arguments += delta.function_call.arguments or ""
    return name, arguments


def expected_quota(prompt: int, completion: int, model: str, channel_type: int) -> int:
    """``ceil((prompt + completion × completion ratio) × model ratio × group ratio)`` for the default group."""
    options = Options()
    ratio = ratios.model_ratio(options, model, channel_type) * ratios.group_ratio(options, "default")
    return math.ceil((prompt + completion * ratios.completion_ratio(options, model, channel_type)) * ratio)


def offline_request(channel: Channel, path: str, mode: RelayMode, model: str = "gpt-3.5-turbo") -> RelayRequest:
    """The request an adaptor would get for ``channel`` — enough to build URLs and headers, no network.

    The upstream comes from the pipeline's own ``upstream_for``, so a channel without a base URL gets the
    type's default exactly as in a real relay.
    """
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    return RelayRequest(mode=mode, path=path, query="", body=body, raw=None, model=model, origin_model=model,
                        stream=False, include_usage=False, prompt_tokens=0, upstream=upstream_for(channel),
                        http=None, settings=None, counter=None, client_headers={}, timeout=None,  # type: ignore[arg-type]
                        fetcher=None)
