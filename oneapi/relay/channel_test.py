"""Channel tests (SPEC §5.1): one small chat request through the channel's own adaptor, as the relay sends it.

A test records the channel's response time and test time and writes a test log (type 5). The bulk test
(manual or every CHANNEL_TEST_FREQUENCY minutes) also applies the automatic disable/enable rules. Unlike
One API, auto-enable only brings back channels that were *auto*-disabled: a channel an admin switched
off stays off (SPEC §10.2).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import aiohttp
import orjson
from aiohttp import web
from multidict import CIMultiDict

from oneapi.accounts.notify import channel_disabled, channel_enabled
from oneapi.adaptors.base import RelayRequest
from oneapi.adaptors.registry import adaptor_for
from oneapi.background import cancel_and_wait, unless_cancelled
from oneapi.channels import record_channel_values, set_channel_status
from oneapi.constants import ChannelStatus, LogType, RelayMode
from oneapi.db.models import Channel
from oneapi.errors import RelayError
from oneapi.logs import record_log
from oneapi.relay.health import should_disable
from oneapi.relay.pipeline import mapped_model, upstream_for
from oneapi.security.redact import redact
from oneapi.state import STATE, AppState

logger = logging.getLogger(__name__)

DEFAULT_TEST_MODEL = "gpt-3.5-turbo"
TEST_TIMEOUT = aiohttp.ClientTimeout(total=60, sock_connect=15)


@dataclass(slots=True)
class ProbeResult:
    model: str  # the upstream model the test used (after the mapping)
    reply: str  # the model's answer, or the error text
    seconds: float
    error: RelayError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def pick_test_model(channel: Channel, requested: str) -> str:
    """One API's choice: the requested model if it is a *substring* of the channel's list, else the first one;
    then the channel's model mapping."""
    model = requested
    if not model or model not in (channel.models or ""):
        model = (channel.models or "").split(",")[0].strip() or DEFAULT_TEST_MODEL
    return mapped_model(channel, model)


def build_test_request(state: AppState, channel: Channel, model: str) -> RelayRequest:
    """A non-stream chat request with TEST_PROMPT, shaped like the relay's own requests."""
    body = {"model": model, "messages": [{"role": "user", "content": state.settings.test_prompt}]}
    return RelayRequest(
        mode=RelayMode.CHAT, path="/v1/chat/completions", query="", body=body, raw=None, model=model,
        origin_model=model, stream=False, include_usage=False,
        prompt_tokens=state.counter.prompt(body, model), upstream=upstream_for(channel), http=state.transport,
        settings=state.settings, counter=state.counter, client_headers=CIMultiDict(), timeout=TEST_TIMEOUT,
        fetcher=state.fetcher,
    )


def _error_text(error: RelayError) -> str:
    """The failure as One API words it, without any secret the upstream may have quoted."""
    if error.upstream and error.status >= 400:
        suffix = f", error message: {error.message}" if error.message else ""
        return redact(f"http status code: {error.status}{suffix}")
    return redact(error.message)


async def _ask(state: AppState, channel: Channel, model: str) -> str:
    """The reply text; raises RelayError for anything that is not a chat completion with string content."""
    adaptor = adaptor_for(channel.type)
    if not adaptor.supports(RelayMode.CHAT):
        raise RelayError(f"channel type {channel.type} does not serve chat completions")
    await state.dbs.release()  # no pooled connection held across the upstream call
    try:
        completion = await adaptor.complete(build_test_request(state, channel, model))
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise RelayError(f"the upstream could not be reached: {exc or type(exc).__name__}") from None
    try:
        answer = orjson.loads(completion.body)
        content = answer["choices"][0]["message"]["content"]
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        content = None
    if completion.status != 200 or not isinstance(content, str):
        snippet = completion.body[:300].decode(errors="replace")
        raise RelayError(f"the upstream answer is not a chat completion: {snippet}")
    return content


async def run_channel_test(state: AppState, channel: Channel, requested_model: str = "") -> ProbeResult:
    """Test once; store test_time and response_time (0 on failure) and queue the test log."""
    model = pick_test_model(channel, requested_model)
    started = time.monotonic()
    try:
        result = ProbeResult(model, await _ask(state, channel, model), 0.0)
    except RelayError as error:
        result = ProbeResult(model, _error_text(error), 0.0, error)
    except Exception as exc:  # an adaptor bug must fail the test, not the admin's request
        logger.exception("channel #%s test crashed", channel.id)
        result = ProbeResult(model, f"internal error: {exc!r}", 0.0, RelayError(repr(exc)))
    result.seconds = time.monotonic() - started
    elapsed_ms = int(result.seconds * 1000)
    await record_channel_values(state, channel.id, test_time=int(time.time()),
                                response_time=max(elapsed_ms, 1) if result.ok else 0)
    outcome = f"测试成功，响应：{result.reply}" if result.ok else f"测试失败，错误：{result.reply}"
    record_log(state, 0, LogType.TEST, f"渠道 {channel.name} {outcome}", channel_id=channel.id, model_name=model,
               elapsed_time=elapsed_ms)
    return result


async def test_and_heal_channel(state: AppState, channel: Channel) -> None:
    """The bulk test's step: test, then disable a failing or slow enabled channel, or re-enable a recovered
    auto-disabled one, as the options allow."""
    result = await run_channel_test(state, channel)
    options = state.options
    if channel.status == ChannelStatus.ENABLED:
        threshold = options.float("ChannelDisableThreshold")
        reason = ""
        if result.ok and threshold > 0 and result.seconds > threshold:
            reason = f"响应时间 {result.seconds:.2f}s 超过阈值 {threshold:.2f}s"
        elif result.error is not None and should_disable(result.error):
            reason = result.reply
        if reason and options.bool("AutomaticDisableChannelEnabled"):
            logger.warning("channel test disables channel #%s (%s): %s", channel.id, channel.name, reason)
            await set_channel_status(state, channel.id, ChannelStatus.AUTO_DISABLED)
            channel_disabled(state, channel, reason)
    elif (channel.status == ChannelStatus.AUTO_DISABLED and result.ok
          and options.bool("AutomaticEnableChannelEnabled")):
        logger.info("channel test re-enables channel #%s (%s)", channel.id, channel.name)
        await set_channel_status(state, channel.id, ChannelStatus.ENABLED)
        channel_enabled(state, channel)


class ChannelTester:
    """The bulk test: one run at a time per process, in the background."""

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self._periodic: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, state: AppState, disabled_only: bool) -> bool:
        """Start a run; False when one is already going."""
        if self.running:
            return False
        self._task = asyncio.get_running_loop().create_task(self._run(state, disabled_only), name="channel-test")
        return True

    async def _run(self, state: AppState, disabled_only: bool) -> None:
        query = Channel.select().order_by(Channel.id)
        if disabled_only:
            query = query.where(Channel.status.in_([int(ChannelStatus.MANUALLY_DISABLED),
                                                    int(ChannelStatus.AUTO_DISABLED)]))
        try:
            channels = await state.dbs.main.list(query)
            for index, channel in enumerate(channels):
                if index and state.settings.polling_interval:
                    await asyncio.sleep(state.settings.polling_interval)
                try:
                    await test_and_heal_channel(state, channel)
                except Exception:
                    unless_cancelled()
                    logger.exception("testing channel #%s failed", channel.id)
            logger.info("channel test finished: %d channels", len(channels))
        finally:
            await state.dbs.release()

    async def wait(self) -> None:
        if self._task is not None:
            await asyncio.shield(self._task)

    async def stop(self, *_: object) -> None:
        await cancel_and_wait((self._periodic, self._task))

    async def start_periodic(self, app: web.Application) -> None:
        """An on_startup callback (after the app's own): every CHANNEL_TEST_FREQUENCY minutes, test all channels."""
        state = app[STATE]
        minutes = state.settings.channel_test_frequency
        if not minutes or not state.role.runs_node_jobs:  # once per node, not once per worker
            return

        async def loop() -> None:
            while True:
                await asyncio.sleep(minutes * 60)
                if self.start(state, disabled_only=False):
                    await self.wait()

        self._periodic = asyncio.get_running_loop().create_task(loop(), name="channel-test-periodic")
