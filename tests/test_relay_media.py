"""Images and audio through an OpenAI channel: passed through, priced per picture, per character, per transcript."""

from __future__ import annotations

import math

import aiohttp

from tests.conftest import Gateway
from tests.fakes.openai_upstream import FakeOpenAI
from tests.test_relay_errors import assert_openai_error, post
from tests.test_relay_openai import logs_of


async def test_image_generation_is_priced_per_picture_and_size(gateway: Gateway, fake_openai: FakeOpenAI):
    await gateway.add_channel(fake_openai.url, models="dall-e-3")
    user = await gateway.add_user()
    client = gateway.openai(await gateway.add_token(user["access_token"]))
    result = await client.images.generate(model="dall-e-3", prompt="a cat", size="1792x1024", quality="hd", n=1)
    assert result.data[0].url == "https://images.example/0.png"
    [log] = await logs_of(gateway, username=user["username"])
    assert log["quota"] == int(20 * 2 * 1.5 * 1000), "dall-e-3 ratio 20 × size 2 × hd 1.5 × 1000"


async def test_image_requests_are_validated(gateway: Gateway, fake_openai: FakeOpenAI):
    await gateway.add_channel(fake_openai.url, models="dall-e-2,dall-e-3")
    key = await gateway.add_token()
    for body, code in (({"model": "dall-e-2"}, "prompt_missing"),
                       ({"model": "dall-e-2", "prompt": "x", "size": "999x999"}, "size_not_supported"),
                       ({"model": "dall-e-3", "prompt": "x", "n": 2}, "n_not_within_range"),
                       ({"model": "dall-e-2", "prompt": "x" * 1001}, "prompt_too_long")):
        status, answer = await post(gateway, key, json=body, path="/v1/images/generations")
        assert status == 400 and answer["error"]["code"] == code


async def test_speech_is_priced_per_input_byte(gateway: Gateway, fake_openai: FakeOpenAI):
    await gateway.add_channel(fake_openai.url, models="tts-1")
    user = await gateway.add_user()
    client = gateway.openai(await gateway.add_token(user["access_token"]))
    audio = await client.audio.speech.create(model="tts-1", voice="alloy", input="héllo")
    assert audio.content == "ID3-fake-mp3-héllo".encode()
    [log] = await logs_of(gateway, username=user["username"])
    assert log["quota"] == int(len("héllo".encode()) * 7.5)
    status, answer = await post(gateway, client.api_key, path="/v1/audio/speech",
                                json={"model": "tts-1", "voice": "alloy", "input": "x" * 5000})
    assert status == 400
    assert_openai_error(answer, "too long")


async def test_transcription_forwards_the_upload_and_bills_the_transcript(gateway: Gateway, fake_openai: FakeOpenAI):
    await gateway.add_channel(fake_openai.url, models="whisper-1")
    user = await gateway.add_user()
    key = await gateway.add_token(user["access_token"])
    client = gateway.openai(key)
    transcript = await client.audio.transcriptions.create(model="whisper-1", file=("a.wav", b"RIFF....WAVE"))
    assert transcript.text == "Hello from fake"
    form = aiohttp.FormData()
    form.add_field("file", b"RIFF....WAVE", filename="a.wav")
    form.add_field("model", "whisper-1")
    form.add_field("response_format", "text")
    async with gateway.http.post(gateway.url + "/v1/audio/transcriptions", data=form,
                                 headers={"Authorization": key}) as resp:
        assert resp.status == 200 and await resp.text() == "Hello from fake"
    logs = await logs_of(gateway, username=user["username"])
    tokens = gateway.state.counter.text("Hello from fake", "whisper-1")
    assert [log["quota"] for log in logs] == [math.ceil(tokens * 15)] * 2
