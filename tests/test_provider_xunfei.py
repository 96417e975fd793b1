"""Xunfei Spark channels (type 18) through the running gateway, against a WebSocket fake that checks signatures.

Also the OpenAI-compatible Spark HTTP API (type 48), which goes through the OpenAI adaptor unchanged.
"""

from __future__ import annotations

import time

import aiohttp
import openai
import orjson
import pytest

from oneapi.adaptors.xunfei import signed_url
from oneapi.constants import ChannelType
from tests.conftest import Gateway
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.xunfei import FakeXunfei
from tests.providers import HI, WEATHER_TOOL, Customer, stream_chat, wire, wired_to


@pytest.fixture
async def spark(serve_fake) -> FakeXunfei:
    fake = await serve_fake(FakeXunfei())
    fake.url = fake.url.replace("http://", "ws://")  # what a Spark channel's base URL looks like
    return fake


MODELS = "SparkDesk-v3.5,Spark-Max-32K,Spark-Lite"
wired = wired_to("spark", ChannelType.XUNFEI, MODELS)


async def test_chat_over_a_signed_websocket_is_billed_from_the_last_frame(wired: Customer, spark: FakeXunfei):
    client = wired.client

    answer = await client.chat.completions.create(model="SparkDesk-v3.5", messages=HI, temperature=1.7, n=3,
                                                  max_tokens=256)

    assert answer.choices[0].message.content == spark.reply and answer.choices[0].finish_reason == "stop"
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == spark.usage
    assert spark.paths == ["/v3.5/chat"] and not spark.handshake_failures
    [frame] = spark.frames
    assert frame["header"] == {"app_id": spark.app_id}
    assert frame["parameter"]["chat"] == {"domain": "generalv3.5", "temperature": 1.0, "max_tokens": 256}
    assert frame["payload"]["message"]["text"] == HI
    await wired.assert_billed("SparkDesk-v3.5", ChannelType.XUNFEI, *spark.usage)


async def test_stream_sends_one_chunk_per_frame_and_is_billed(wired: Customer, spark: FakeXunfei):
    client = wired.client

    chunks = await stream_chat(client, model="SparkDesk-v3.5", messages=HI, extra_body={"top_k": 4})

    assert "".join(c.choices[0].delta.content or "" for c in chunks) == spark.reply
    assert [c.choices[0].finish_reason for c in chunks][-2:] == [None, "stop"]
    assert spark.frames[0]["parameter"]["chat"]["top_k"] == 4
    await wired.assert_billed("SparkDesk-v3.5", ChannelType.XUNFEI, *spark.usage)


# Every Spark version, by One API's model names and by Xunfei's product names: (model, path, domain).
VERSIONS = [
    ("SparkDesk-v1.1", "/v1.1/chat", "lite"), ("Spark-Lite", "/v1.1/chat", "lite"),
    ("SparkDesk-v2.1", "/v2.1/chat", "generalv2"),
    ("SparkDesk-v3.1", "/v3.1/chat", "generalv3"), ("Spark-Pro", "/v3.1/chat", "generalv3"),
    ("Spark-Pro-128K", "/chat/pro-128k", "pro-128k"),
    ("SparkDesk-v3.5", "/v3.5/chat", "generalv3.5"), ("Spark-Max", "/v3.5/chat", "generalv3.5"),
    ("Spark-Max-32K", "/chat/max-32k", "max-32k"),
    ("SparkDesk-v4.0", "/v4.0/chat", "4.0Ultra"), ("Spark-4.0-Ultra", "/v4.0/chat", "4.0Ultra"),
]


@pytest.mark.parametrize(("model", "path", "spark_domain"), VERSIONS, ids=[v[0] for v in VERSIONS])
async def test_the_model_name_picks_the_version_path_and_domain(gateway: Gateway, spark: FakeXunfei, model: str,
                                                                path: str, spark_domain: str):
    client = (await wire(gateway, spark, ChannelType.XUNFEI, model)).client

    answer = await client.chat.completions.create(model=model, messages=HI)

    assert answer.choices[0].message.content == spark.reply
    assert spark.paths == [path] and spark.frames[0]["parameter"]["chat"]["domain"] == spark_domain


async def test_the_request_goes_as_a_text_frame_which_is_all_spark_accepts(wired: Customer, spark: FakeXunfei):
    client = wired.client
    await client.chat.completions.create(model="SparkDesk-v3.5", messages=HI)
    url, host = signed_url(spark.url, "/v3.5/chat", spark.api_key, spark.api_secret, time.time())

    async with aiohttp.ClientSession() as session, session.ws_connect(url, headers={"Host": host}) as ws:
        await ws.send_bytes(orjson.dumps(spark.frames[0]))  # the same frame, sent binary
        closed = await ws.receive()

    assert closed.type == aiohttp.WSMsgType.CLOSE and ws.close_code == aiohttp.WSCloseCode.UNSUPPORTED_DATA
    assert spark.refused_frames == ["BINARY"] and len(spark.frames) == 1


async def test_function_call_round_trip(wired: Customer, spark: FakeXunfei):
    client = wired.client
    question = {"role": "user", "content": "Weather in Hefei?"}

    chunks = await stream_chat(client, model="SparkDesk-v3.5", messages=[question], tools=[WEATHER_TOOL])

    calls = [call for c in chunks for call in c.choices[0].delta.tool_calls or ()]
    assert [(c.function.name, c.function.arguments) for c in calls] == [("get_weather", spark.function_arguments)]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert spark.frames[0]["payload"]["functions"] == {"text": [WEATHER_TOOL["function"]]}

    answer = await client.chat.completions.create(model="SparkDesk-v3.5", tools=[WEATHER_TOOL], messages=[
        question,
        {"role": "assistant", "content": None, "tool_calls": [{"id": calls[0].id, "type": "function", "function": {
            "name": "get_weather", "arguments": calls[0].function.arguments}}]},
        {"role": "tool", "tool_call_id": calls[0].id, "content": "Sunny, 25°C"}])

    assert answer.choices[0].message.content == f"{spark.reply}; you said: Sunny, 25°C"
    assert [m["role"] for m in spark.frames[1]["payload"]["message"]["text"]] == ["user", "assistant", "user"]
    assert "get_weather" in spark.frames[1]["payload"]["message"]["text"][1]["content"]


async def test_function_call_without_stream(wired: Customer, spark: FakeXunfei):
    client = wired.client

    answer = await client.chat.completions.create(model="SparkDesk-v3.5", messages=HI, tools=[WEATHER_TOOL])

    [call] = answer.choices[0].message.tool_calls
    assert call.id.startswith("call_") and call.function.name == "get_weather"
    assert answer.choices[0].finish_reason == "tool_calls"


async def test_frames_with_an_error_code_are_errors(wired: Customer, spark: FakeXunfei):
    client = wired.client

    spark.fail_next(11200, "授权错误：该appId没有相关功能的授权 或者 业务量超过限制")
    with pytest.raises(openai.PermissionDeniedError) as denied:
        await client.chat.completions.create(model="SparkDesk-v3.5", messages=HI)
    assert denied.value.body["type"] == "xunfei_error" and denied.value.body["code"] == "11200"

    spark.fail_next(10013, "输入内容审核不通过，涉嫌违规，请重新调整输入内容")
    with pytest.raises(openai.BadRequestError) as bad:
        await client.chat.completions.create(model="SparkDesk-v3.5", messages=HI, stream=True)
    assert "10013" in bad.value.body["message"]


async def test_a_wrong_secret_is_refused_at_the_handshake(gateway: Gateway, spark: FakeXunfei):
    wrong_secret = f"{spark.app_id}|{'x' * 32}|{spark.api_key}"
    stranger = await wire(gateway, spark, ChannelType.XUNFEI, MODELS, key=wrong_secret)

    refused = await stranger.refused_at_no_cost(openai.AuthenticationError, model="SparkDesk-v3.5")

    assert "APPID|APISecret|APIKey" in refused.body["message"]
    assert spark.handshake_failures == ["HMAC signature does not match"] and not spark.frames


async def test_spark_v2_http_api_is_relayed_as_openai(gateway: Gateway, make_fake_openai):
    fake: FakeOpenAI = await make_fake_openai(key="spark-api-password")
    wired = await wire(gateway, fake, ChannelType.XUNFEI_V2, "generalv3.5")

    stream = await wired.client.chat.completions.create(model="generalv3.5", messages=HI, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream])

    assert text == fake.reply
    assert fake.headers[0]["Authorization"] == "Bearer spark-api-password"
    await wired.assert_billed("generalv3.5", ChannelType.XUNFEI_V2, *fake.usage)
