"""Google Gemini channels (type 24) through the gateway, with the official OpenAI SDK as the client."""

from __future__ import annotations

import base64

import openai
import orjson
import pytest

from oneapi.constants import ChannelType
from tests.conftest import Gateway
from tests.fakes.gemini import PNG_DOT, FakeGemini
from tests.providers import (
    RED_PNG_B64,
    RED_PNG_DATA_URL,
    WEATHER_TOOL,
    expected_quota,
    fake_upstream,
    stream_chat,
    tool_reply,
    wire,
)

MODEL = "gemini-1.5-flash"
TYPE = ChannelType.GEMINI


gemini = fake_upstream(FakeGemini)


async def test_chat_sends_a_system_instruction_and_bills_usage_metadata(gateway: Gateway, gemini: FakeGemini):
    wired = await wire(gateway, gemini, TYPE, MODEL)
    answer = await wired.client.chat.completions.create(
        model=MODEL, max_tokens=64, temperature=0.5, stop=["END"],
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                  {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "How are you?"}])

    assert answer.choices[0].message.content == gemini.reply
    assert answer.choices[0].finish_reason == "stop"
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (130, 50)
    assert gemini.paths[-1] == f"/v1beta/models/{MODEL}:generateContent"
    sent = gemini.requests[-1]
    assert sent["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert sent["contents"] == [{"role": "user", "parts": [{"text": "Hi"}]},
                                {"role": "model", "parts": [{"text": "Hello!"}]},
                                {"role": "user", "parts": [{"text": "How are you?"}]}]
    assert sent["generationConfig"] == {"temperature": 0.5, "maxOutputTokens": 64, "stopSequences": ["END"]}
    assert {s["threshold"] for s in sent["safetySettings"]} == {"BLOCK_NONE"} and len(sent["safetySettings"]) == 5
    await wired.assert_billed(MODEL, TYPE, 130, 50)


async def test_stream_ends_with_the_finish_reason_and_bills_usage_metadata(gateway: Gateway, gemini: FakeGemini):
    wired = await wire(gateway, gemini, TYPE, MODEL)
    chunks = await stream_chat(wired.client, model=MODEL, messages=[{"role": "user", "content": "Hi"}],
                               stream_options={"include_usage": True})

    with_choices = [c for c in chunks if c.choices]
    assert "".join(c.choices[0].delta.content or "" for c in with_choices) == gemini.reply
    assert [c.choices[0].finish_reason for c in with_choices] == [None] * (len(with_choices) - 1) + ["stop"]
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (130, 50)
    assert gemini.paths[-1] == f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
    await wired.assert_billed(MODEL, TYPE, 130, 50)


async def test_function_calls_round_trip(gateway: Gateway, gemini: FakeGemini):
    gemini.function_calls = [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})]
    wired = await wire(gateway, gemini, TYPE, MODEL)
    question, first = await wired.required_tool_calls(MODEL)

    sent = gemini.requests[-1]
    parameters = sent["tools"][0]["functionDeclarations"][0]["parameters"]
    assert "additionalProperties" not in parameters and parameters["required"] == ["city"]
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}

    second = await wired.client.chat.completions.create(
        model=MODEL, tools=[WEATHER_TOOL], messages=tool_reply(question, first, '{"temperature": 21}', "Rainy"))

    assert second.choices[0].message.content == gemini.reply
    contents = gemini.requests[-1]["contents"]
    assert contents[1] == {"role": "model", "parts": [
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
        {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}}]}
    assert contents[2] == {"role": "user", "parts": [
        {"functionResponse": {"name": "get_weather", "response": {"temperature": 21}}},
        {"functionResponse": {"name": "get_weather", "response": {"result": "Rainy"}}}]}
    await wired.assert_billed(MODEL, TYPE, 130, 50, requests=2)


async def test_streamed_function_calls_carry_their_index(gateway: Gateway, gemini: FakeGemini):
    gemini.function_calls = [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})]
    wired = await wire(gateway, gemini, TYPE, MODEL)
    chunks = await stream_chat(wired.client, model=MODEL, messages=[{"role": "user", "content": "Weather?"}],
                               tools=[WEATHER_TOOL])

    calls = [call for chunk in chunks for call in chunk.choices[0].delta.tool_calls or ()]
    assert [(c.index, c.function.name, orjson.loads(c.function.arguments)) for c in calls] == [
        (0, "get_weather", {"city": "Paris"}), (1, "get_weather", {"city": "Rome"})]
    assert all(c.id and c.type == "function" for c in calls)
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    await wired.assert_billed(MODEL, TYPE, 130, 50)


async def test_images_are_sent_inline_including_fetched_urls(make_gateway, gemini: FakeGemini):
    gateway = await make_gateway(FETCH_ALLOW_PRIVATE="true")  # the fake serves its image on 127.0.0.1
    wired = await wire(gateway, gemini, TYPE, MODEL)
    await wired.client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": [
        {"type": "text", "text": "Compare"},
        {"type": "image_url", "image_url": {"url": RED_PNG_DATA_URL}},
        {"type": "image_url", "image_url": {"url": f"{gemini.url}/images/dot.png"}}]}])

    assert gemini.requests[-1]["contents"][0]["parts"] == [
        {"text": "Compare"},
        {"inlineData": {"mimeType": "image/png", "data": RED_PNG_B64}},
        {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(PNG_DOT).decode()}}]


async def test_an_image_url_that_is_not_an_image_is_a_client_error(make_gateway, gemini: FakeGemini):
    gateway = await make_gateway(FETCH_ALLOW_PRIVATE="true")
    wired = await wire(gateway, gemini, TYPE, MODEL)
    with pytest.raises(openai.BadRequestError) as caught:
        await wired.client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": f"{gemini.url}/images/missing.png"}}]}])
    assert "could not be downloaded as an image" in caught.value.message
    assert gemini.requests == []


async def test_embeddings_keep_input_order(gateway: Gateway, gemini: FakeGemini):
    model = "text-embedding-004"
    wired = await wire(gateway, gemini, TYPE, model)
    result = await wired.client.embeddings.create(model=model, input=["a", "bbb", "cc"], dimensions=3)

    assert [(item.index, item.embedding) for item in result.data] == [
        (0, [1.0, 0.5, 0.5]), (1, [3.0, 0.5, 0.5]), (2, [2.0, 0.5, 0.5])]
    assert gemini.paths[-1] == f"/v1/models/{model}:batchEmbedContents"
    assert gemini.requests[-1]["requests"][1] == {"model": f"models/{model}", "content": {"parts": [{"text": "bbb"}]},
                                                   "outputDimensionality": 3}
    [log] = await wired.logs()
    # batchEmbedContents reports no token counts: the prompt is billed by the gateway's own count.
    assert log["prompt_tokens"] == result.usage.prompt_tokens > 0 and log["completion_tokens"] == 0
    assert log["quota"] == expected_quota(log["prompt_tokens"], 0, model, TYPE)


async def test_wrong_key_is_refused_as_google_does_and_surfaced(gateway: Gateway, gemini: FakeGemini):
    wired = await wire(gateway, gemini, TYPE, MODEL, key="wrong-key")
    refused = await wired.refused_at_no_cost(openai.BadRequestError, model=MODEL)

    assert refused.status_code == 400
    assert "API key not valid" in refused.message
    assert refused.code == "API_KEY_INVALID" and refused.type == "INVALID_ARGUMENT"


async def test_upstream_errors_and_blocked_prompts(gateway: Gateway, gemini: FakeGemini):
    wired = await wire(gateway, gemini, TYPE, MODEL)
    messages = [{"role": "user", "content": "Hi"}]
    gemini.fail_next(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).")
    with pytest.raises(openai.RateLimitError) as limited:
        await wired.client.chat.completions.create(model=MODEL, messages=messages, stream=True)
    assert limited.value.status_code == 429 and limited.value.type == "RESOURCE_EXHAUSTED"

    gemini.block_prompt = "SAFETY"
    with pytest.raises(openai.BadRequestError) as blocked:
        await wired.client.chat.completions.create(model=MODEL, messages=messages)
    assert blocked.value.code == "content_filter" and "SAFETY" in blocked.value.message

    gemini.block_prompt = None
    gemini.finish_reason = "MAX_TOKENS"
    answer = await wired.client.chat.completions.create(model=MODEL, messages=messages)
    assert answer.choices[0].finish_reason == "length"


async def test_api_version_and_safety_setting_choices(make_gateway, gemini: FakeGemini):
    gateway = await make_gateway(GEMINI_SAFETY_SETTING="BLOCK_ONLY_HIGH")
    plain = await wire(gateway, gemini, TYPE, "gemini-pro")
    await plain.client.chat.completions.create(model="gemini-pro", messages=[{"role": "user", "content": "Hi"}])
    assert gemini.paths[-1] == "/v1/models/gemini-pro:generateContent"  # GEMINI_VERSION's default
    assert {s["threshold"] for s in gemini.requests[-1]["safetySettings"]} == {"BLOCK_ONLY_HIGH"}

    # A v1 channel still gets v1beta when the request carries a system instruction (v1 has no such field).
    pinned = await wire(gateway, gemini, TYPE, "gemini-2.0-flash", config='{"api_version": "v1"}')
    await pinned.client.chat.completions.create(model="gemini-2.0-flash", messages=[
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])
    assert gemini.paths[-1] == "/v1beta/models/gemini-2.0-flash:generateContent"
    await pinned.client.chat.completions.create(model="gemini-2.0-flash", messages=[{"role": "user", "content": "Hi"}])
    assert gemini.paths[-1] == "/v1/models/gemini-2.0-flash:generateContent"


async def test_legacy_functions_round_trip_as_gemini_function_calls(gateway: Gateway, gemini: FakeGemini):
    gemini.function_calls = [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})]
    wired = await wire(gateway, gemini, TYPE, MODEL)
    _, second = await wired.legacy_function_round_trip(MODEL)

    sent = gemini.requests[-2]
    assert [d["name"] for d in sent["tools"][0]["functionDeclarations"]] == ["get_weather"]
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}}
    assert second.choices[0].message.content == gemini.reply and second.choices[0].finish_reason == "stop"
    contents = gemini.requests[-1]["contents"]
    assert contents[1:] == [
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"result": "Sunny"}}}]}]
    await wired.assert_billed(MODEL, TYPE, 130, 50, requests=2)


async def test_streamed_legacy_function_call(gateway: Gateway, gemini: FakeGemini):
    gemini.function_calls = [("get_weather", {"city": "Rome"}), ("get_weather", {"city": "Paris"})]
    wired = await wire(gateway, gemini, TYPE, MODEL)
    name, arguments, _ = await wired.streamed_legacy_function_call(MODEL)

    assert (name, arguments) == ("get_weather", {"city": "Rome"})
    assert gemini.requests[-1]["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}
    await wired.assert_billed(MODEL, TYPE, 130, 50)


THINKER = "gemini-2.5-flash"


async def test_reasoning_effort_asks_for_thought_summaries_returned_as_reasoning_content(gateway: Gateway,
                                                                                        gemini: FakeGemini):
    wired = await wire(gateway, gemini, TYPE, THINKER)
    answer = await wired.client.chat.completions.create(model=THINKER, messages=[{"role": "user", "content": "Hi"}],
                                                        reasoning_effort="high")

    message = answer.choices[0].message
    assert message.content == gemini.reply
    assert message.reasoning_content == gemini.thoughts
    assert gemini.requests[-1]["generationConfig"] == {"thinkingConfig": {"thinkingBudget": 16384,
                                                                          "includeThoughts": True}}
    # thoughtsTokenCount is billed as completion tokens, on top of candidatesTokenCount.
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (130, 50 + 40)
    await wired.assert_billed(THINKER, TYPE, 130, 90)


async def test_streamed_thoughts_come_as_reasoning_content_deltas_before_the_answer(gateway: Gateway,
                                                                                    gemini: FakeGemini):
    wired = await wire(gateway, gemini, TYPE, THINKER)
    chunks = await wired.streamed_thinking(THINKER, "low", gemini.thoughts, gemini.reply)
    assert gemini.requests[-1]["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 1024,
                                                                         "includeThoughts": True}
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (130, 90)
    await wired.assert_billed(THINKER, TYPE, 130, 90)


async def test_reasoning_effort_maps_to_a_thinking_budget(gateway: Gateway, gemini: FakeGemini):
    wired = await wire(gateway, gemini, TYPE, THINKER)
    hi = [{"role": "user", "content": "Hi"}]
    for effort, budget in (("minimal", 1024), ("medium", 4096)):
        await wired.client.chat.completions.create(model=THINKER, messages=hi, reasoning_effort=effort)
        assert gemini.requests[-1]["generationConfig"]["thinkingConfig"] == {
            "thinkingBudget": budget, "includeThoughts": True}, effort

    # "none" turns thinking off: no thoughts, none billed.
    off = await wired.client.chat.completions.create(model=THINKER, messages=hi, reasoning_effort="none")
    assert gemini.requests[-1]["generationConfig"] == {"thinkingConfig": {"thinkingBudget": 0}}
    assert getattr(off.choices[0].message, "reasoning_content", None) is None
    assert off.usage.completion_tokens == 50

    # Without reasoning_effort Gemini 2.5 thinks on its own: nothing to show, but its thoughts are still billed.
    default = await wired.client.chat.completions.create(model=THINKER, messages=hi)
    assert "generationConfig" not in gemini.requests[-1]
    assert getattr(default.choices[0].message, "reasoning_content", None) is None
    assert default.usage.completion_tokens == 90

    await wired.assert_unknown_effort_refused(THINKER, gemini.requests)


async def test_reasoning_effort_on_a_model_that_cannot_think_is_googles_400(gateway: Gateway, gemini: FakeGemini):
    wired = await wire(gateway, gemini, TYPE, MODEL)
    with pytest.raises(openai.BadRequestError) as refused:
        await wired.client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}],
                                                   reasoning_effort="medium")
    assert refused.value.type == "INVALID_ARGUMENT" and "Thinking is not enabled" in refused.value.message
