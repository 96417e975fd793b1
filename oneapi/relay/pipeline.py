"""The relay, top to bottom: auth -> parse -> distribute -> pre-consume -> adapt -> relay -> settle -> log.

``relay()`` is the whole life of one /v1 request. Each step is a small function below it, in the order
it runs. The database is touched once on the way in (the reservation, a conditional UPDATE), written while
the upstream call is already under way when the cached balances cover it: nothing reaches the client before
it is durable. The settlement and the log row are queued to the ledger; the answer's last byte waits until
they are durable.

The wire format the client speaks is its front door (``oneapi.relay.doors``): the door reads the request
as chat (keeping the client's own body for channels that speak the same format), and says the answer,
the stream and the errors back in its format. The OpenAI API is the door with nothing to convert.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import orjson
from aiohttp import web

from oneapi.adaptors.base import Completion, RelayRequest, Upstream, channel_config, off_loop_if_large
from oneapi.adaptors.registry import adaptor_for
from oneapi.billing import ratios
from oneapi.billing.ledger import Charge, InsufficientQuota, LedgerUnavailable, Reservation, consume_log
from oneapi.billing.tokens import TokenCounter
from oneapi.constants import ChannelStatus, RelayMode, default_base_url
from oneapi.db.models import Channel
from oneapi.errors import RelayError, model_not_found
from oneapi.relay import health
from oneapi.relay.auth import Caller, authenticate_token, check_model_allowed
from oneapi.relay.doors import OPENAI, FrontDoor
from oneapi.relay.images import image_quota
from oneapi.relay.request import Parsed
from oneapi.state import STATE, AppState

logger = logging.getLogger(__name__)
T = TypeVar("T")

SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "Connection": "keep-alive",
    "X-Accel-Buffering": "no",
}
EXACT_PROMPT_BYTES = 4096  # bodies above this are tokenized for the reservation: bytes would over-reserve
_TEXT_MODES = (RelayMode.CHAT, RelayMode.COMPLETIONS, RelayMode.EMBEDDINGS, RelayMode.MODERATIONS, RelayMode.EDITS)


@dataclass(slots=True)
class Attempt:
    """One try on one channel: what was reserved, and how it is priced."""

    channel: Channel
    request: RelayRequest
    reserved: int
    model_ratio: float
    group_ratio: float
    completion_ratio: float
    system_prompt_reset: bool
    reservation: Reservation
    fixed_quota: int | None = None  # images and speech are priced up front, not per token
    settled: bool = False  # the reservation is settled or given back: nothing more may move it


async def relay(request: web.Request, mode: RelayMode, door: FrontDoor = OPENAI) -> web.StreamResponse:
    state = request.app[STATE]
    started = time.monotonic()
    caller = await authenticate_token(request, state, door.credential(request))
    parsed = await door.parse(request, mode, caller)
    check_model_allowed(caller.token, parsed.model)
    pinned = caller.pinned_channel is not None
    channel = pick_channel(state, caller, parsed.model, set())
    retries = 0 if pinned else max(state.options.int("RetryTimes"), 0)
    tried: set[int] = set()
    while True:
        attempt = await pre_consume(state, request, caller, parsed, door, channel)
        try:
            return await send(state, request, caller, parsed, door, attempt, started)
        except RelayError as error:
            refund(state, caller, attempt)
            health.record_failure(state, channel, error)
            tried.add(channel.id)
            next_channel = None
            if error.retryable and retries > 0:
                next_channel = state.cache.router.choose(caller.user.group, parsed.model, tried, state.rng)
            if next_channel is None:
                if error.status == 429 and error.upstream:
                    error.message = "当前分组上游负载已饱和，请稍后再试"
                raise
            retries -= 1
            logger.info("retrying %s on channel #%s after channel #%s failed: %s", parsed.model,
                        next_channel.id, channel.id, error.message)
            channel = next_channel
        except BaseException:
            refund(state, caller, attempt)  # a bug, a client gone, a cancel: give back what was not settled, now
            raise


# -- distribute ----------------------------------------------------------------------------------
def pick_channel(state: AppState, caller: Caller, model: str, exclude: set[int]) -> Channel:
    if caller.pinned_channel is not None:
        if not caller.pinned_channel.isdigit():
            raise RelayError("无效的渠道 Id", status=400)
        channel = state.cache.channel(int(caller.pinned_channel))
        if channel is None:
            raise RelayError("无效的渠道 Id", status=400)
        if channel.status != ChannelStatus.ENABLED:
            raise RelayError("该渠道已被禁用", status=403)
        return channel
    router = state.cache.router
    channel = router.choose(caller.user.group, model, exclude, state.rng)
    if channel is None and not router.lists(caller.user.group, model):
        raise model_not_found(model)
    if channel is None:
        raise RelayError(f"当前分组 {caller.user.group} 下对于模型 {model} 无可用渠道", status=503,
                         code="model_not_available")
    return channel


def mapped_model(channel: Channel, model: str) -> str:
    mapping = channel.model_mapping
    if not mapping or mapping == "{}":
        return model
    try:
        table = orjson.loads(mapping)
    except orjson.JSONDecodeError:
        logger.error("channel #%s has an invalid model_mapping; ignoring it", channel.id)
        return model
    target = table.get(model) if isinstance(table, dict) else None
    return target if isinstance(target, str) and target else model


# A channel's forced system prompt in the front doors' native bodies: (field, value).
_SYSTEM_FIELDS: dict[RelayMode, Callable[[str], tuple[str, Any]]] = {
    RelayMode.MESSAGES: lambda prompt: ("system", prompt),
    RelayMode.RESPONSES: lambda prompt: ("instructions", prompt),
    RelayMode.GEMINI: lambda prompt: ("systemInstruction", {"parts": [{"text": prompt}]}),
}


def with_system_prompt(body: dict[str, Any], prompt: str) -> dict[str, Any]:
    messages = list(body["messages"])
    if messages and isinstance(messages[0], dict) and messages[0].get("role") == "system":
        messages[0] = {**messages[0], "content": prompt}
    else:
        messages.insert(0, {"role": "system", "content": prompt})
    return {**body, "messages": messages}


def upstream_for(channel: Channel) -> Upstream:
    """The channel as adaptors see it (shared with the channel test)."""
    return Upstream(
        id=channel.id,
        type=channel.type,
        key=channel.key,
        base_url=(channel.base_url or default_base_url(channel.type)).rstrip("/"),
        config=channel_config(channel.type, channel.config, channel.other),
        name=channel.name or "",
    )


# -- pre-consume ---------------------------------------------------------------------------------
async def pre_consume(state: AppState, request: web.Request, caller: Caller, parsed: Parsed, door: FrontDoor,
                      channel: Channel) -> Attempt:
    """Build the upstream request for this channel, price it, and reserve the quota it may cost."""
    model = mapped_model(channel, parsed.model)
    mode, body, raw, path, query = door.outgoing(request, parsed, channel.type)
    if model != parsed.model:
        body, raw = {**body, "model": model}, None
    reset = False
    if channel.system_prompt and mode == RelayMode.CHAT and isinstance(body.get("messages"), list):
        body, raw, reset = with_system_prompt(body, channel.system_prompt), None, True
    elif channel.system_prompt and mode in _SYSTEM_FIELDS:  # a front door's own body: its own system field
        key, value = _SYSTEM_FIELDS[mode](channel.system_prompt)
        body, raw, reset = {**body, key: value}, None, True
    if state.settings.enforce_include_usage and parsed.stream:
        raw = None
    if parsed.mode not in _TEXT_MODES and parsed.mode != RelayMode.IMAGES:
        raw = parsed.raw  # form bodies go through byte for byte

    options = state.options
    model_ratio = ratios.model_ratio(options, model, channel.type)
    group_ratio = ratios.group_ratio(options, caller.user.group)
    ratio = model_ratio * group_ratio
    counter = state.counter
    counter.approximate = options.bool("ApproximateTokenEnabled")
    prompt_tokens: int | None = 0
    fixed_quota = None
    if parsed.mode in _TEXT_MODES:
        prompt_tokens = await _prompt_count(counter, parsed, parsed.body, model)
        max_tokens = parsed.body.get("max_tokens") or parsed.body.get("max_completion_tokens") or 0
        reserve_for = len(parsed.raw) if prompt_tokens is None else prompt_tokens
        reserved = ratios.pre_consume_quota(reserve_for, int(max_tokens), ratio, options.int("PreConsumedQuota"))
    elif parsed.mode == RelayMode.IMAGES:
        fixed_quota = reserved = image_quota(body, model, ratio)
    elif parsed.mode == RelayMode.AUDIO_SPEECH:
        fixed_quota = reserved = int(len(str(body.get("input", "")).encode()) * ratio)
    else:
        reserved = int(options.int("PreConsumedQuota") * ratio)

    upstream = upstream_for(channel)
    relay_request = RelayRequest(
        mode=mode,
        path=path,
        query=query,
        body=body,
        raw=raw,
        model=model,
        origin_model=parsed.model,
        stream=parsed.stream,
        include_usage=parsed.include_usage,
        prompt_tokens=prompt_tokens,
        upstream=upstream,
        http=state.transport,
        settings=state.settings,
        counter=counter,
        client_headers=request.headers,
        timeout=_upstream_timeout(state.settings.relay_timeout),
        fetcher=state.fetcher,
    )
    token = caller.token
    try:
        reservation = state.ledger.reserve(caller.user.id, token.id, not token.unlimited_quota, reserved,
                                           request.get("request_id", ""))
    except LedgerUnavailable:
        raise _unavailable() from None
    completion_ratio = ratios.completion_ratio(options, model, channel.type)
    attempt = Attempt(channel, relay_request, reserved, model_ratio, group_ratio, completion_ratio, reset,
                      reservation, fixed_quota)
    if not reservation.held:
        await debited(attempt)  # likely refused (or a top-up the cache has not seen yet): ask before calling out
    return attempt


async def debited(attempt: Attempt) -> None:
    """Wait until the reservation is durable; a refused one ends the request with the client's error."""
    try:
        await asyncio.shield(attempt.reservation.debited)  # a client gone now must not cancel the debit itself
    except LedgerUnavailable:
        attempt.settled = True  # nothing was taken: nothing to give back
        raise _unavailable() from None
    except InsufficientQuota as exc:
        attempt.settled = True
        if exc.who == "token":
            raise RelayError("令牌额度不足", status=403, code="pre_consume_token_quota_failed") from None
        raise RelayError("user quota is not enough", status=403, code="insufficient_user_quota") from None


async def once_debited(attempt: Attempt, call: Awaitable[T]) -> T:
    """Run the upstream call while the reservation is being written; its result is only taken once the
    reservation is durable, and a refused reservation cancels the call (before it starts, if already known)."""
    upstream = asyncio.ensure_future(call)
    try:
        await debited(attempt)
    except BaseException:
        upstream.cancel()
        with contextlib.suppress(BaseException):
            await upstream
        raise
    return await upstream


def _unavailable() -> RelayError:
    return RelayError("the database is not reachable; try again shortly", status=503, code="database_unavailable")


@functools.lru_cache(maxsize=4)
def _upstream_timeout(relay_timeout: int) -> aiohttp.ClientTimeout:
    """RELAY_TIMEOUT (0: none) for the whole upstream call, 30 s to connect; one immutable object per value."""
    return aiohttp.ClientTimeout(total=relay_timeout or None, sock_connect=30)


async def _prompt_count(counter: TokenCounter, parsed: Parsed, body: dict[str, Any], model: str) -> int | None:
    """The prompt's token count now, or None to count it only if the upstream reports no usage.

    A small prompt without images is reserved by its byte size (a prompt never has more tokens than bytes), so
    most requests never tokenize; a larger one is counted exactly (past OFF_LOOP_CHARS in a thread).
    """
    if counter.approximate:
        return counter.prompt(body, model)
    if len(parsed.raw) > EXACT_PROMPT_BYTES or b"image_url" in parsed.raw:
        return await off_loop_if_large(len(parsed.raw), counter.prompt, body, model)
    return None


def refund(state: AppState, caller: Caller, attempt: Attempt) -> None:
    """Give the reservation back, unless the attempt was already settled (it moves once, whatever fails later)."""
    if attempt.settled:
        return
    attempt.settled = True
    state.ledger.refund(attempt.reservation, caller.user.id, caller.token.id, not caller.token.unlimited_quota,
                        attempt.reserved)


# -- adapt and relay -----------------------------------------------------------------------------
async def send(state: AppState, request: web.Request, caller: Caller, parsed: Parsed, door: FrontDoor,
               attempt: Attempt, started: float) -> web.StreamResponse:
    adaptor = adaptor_for(attempt.channel.type)
    req = attempt.request
    if not adaptor.supports(req.mode):
        raise RelayError(f"channel type {attempt.channel.type} does not serve {request.path}", status=400,
                         code="invalid_api_type", retryable=True)
    await state.dbs.release()  # never hold a pooled connection across an upstream call
    if parsed.stream:
        events = adaptor.stream(req)
        if door is not OPENAI:
            events = door.stream(request, req, events)
        return await _send_stream(state, request, caller, door, attempt, events, started)
    try:
        completion: Completion = await once_debited(attempt, adaptor.complete(req))
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise _transport_error(exc) from None
    completion = door.answer(request, req, completion)
    await settle(state, request, caller, door, attempt, started)
    headers = {"Content-Type": completion.headers.get("Content-Type", "application/json")}
    return web.Response(body=completion.body, status=completion.status, headers=headers)


async def _send_stream(state: AppState, request: web.Request, caller: Caller, door: FrontDoor, attempt: Attempt,
                       events: Any, started: float) -> web.StreamResponse:
    """Relay SSE events as they arrive; errors before the first event can still go to another channel."""
    try:
        first = await once_debited(attempt, anext(events, None))
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise _transport_error(exc) from None
    response = web.StreamResponse(headers=SSE_HEADERS)
    await response.prepare(request)
    finished = False
    try:
        if first is not None:
            await response.write(first)
            async for event in events:
                await response.write(event)
        finished = True
    except (ConnectionResetError, aiohttp.ClientConnectionResetError):
        logger.info("client went away mid-stream; billing what was produced")
    except (RelayError, aiohttp.ClientError, TimeoutError) as exc:
        error = exc if isinstance(exc, RelayError) else _transport_error(exc)
        logger.warning("upstream failed mid-stream on channel #%s: %s", attempt.channel.id, error.message)
        health.record_failure(state, attempt.channel, error)
        await attempt.request.bill_delivered()
        with contextlib.suppress(ConnectionResetError, aiohttp.ClientConnectionResetError):
            await response.write(door.stream_error(error, request.get("request_id", "")))
    finally:
        await events.aclose()
        if not attempt.request.usage.total_tokens:
            await attempt.request.estimate_streamed_usage()
        await settle(state, request, caller, door, attempt, started)
    if finished and door.done:  # the client's end of the answer, once it is billed; with the body's end
        with contextlib.suppress(ConnectionResetError, aiohttp.ClientConnectionResetError):
            await response.write_eof(door.done)
    return response


def _transport_error(exc: BaseException) -> RelayError:
    if isinstance(exc, TimeoutError):
        return RelayError("the upstream did not answer in time", status=504, type="upstream_error",
                          code="upstream_timeout", retryable=True, upstream=True)
    return RelayError(f"the upstream could not be reached: {exc}", status=502, type="upstream_error",
                      code="do_request_failed", retryable=True, upstream=True)


# -- settle and log ------------------------------------------------------------------------------
async def settle(state: AppState, request: web.Request, caller: Caller, door: FrontDoor, attempt: Attempt,
                 started: float) -> None:
    """Book the real charge and the consume log. The answer's last byte waits until they are durable (in the
    ledger's write-ahead file, which its next batch commits from): an answered request is always billed."""
    usage = attempt.request.usage
    if attempt.fixed_quota is not None:
        quota = attempt.fixed_quota
        content = f"倍率：{attempt.model_ratio:.2f} × {attempt.group_ratio:.2f}"
    else:
        ratio = attempt.model_ratio * attempt.group_ratio
        prompt = ratios.cached_prompt(usage.prompt_tokens, usage.cache_read_tokens, usage.cache_write_tokens)
        quota = ratios.text_quota(prompt, usage.completion_tokens, ratio, attempt.completion_ratio)
        content = (f"倍率：{attempt.model_ratio:.2f} × {attempt.group_ratio:.2f} × "
                   f"{attempt.completion_ratio:.2f}")
        if usage.cache_read_tokens or usage.cache_write_tokens:
            content += f"，缓存读 {usage.cache_read_tokens} × {ratios.CACHE_READ_RATIO}，" \
                       f"缓存写 {usage.cache_write_tokens} × {ratios.CACHE_WRITE_RATIO}"
    if door.name:
        content += f"，入口：{door.name}"
    log = None
    if state.options.bool("LogConsumeEnabled"):
        log = consume_log(
            user_id=caller.user.id,
            username=caller.user.username,
            token_name=caller.token.name or "",
            model_name=attempt.request.model,
            quota=quota,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            channel_id=attempt.channel.id,
            request_id=request.get("request_id", ""),
            elapsed_time=int((time.monotonic() - started) * 1000),
            is_stream=attempt.request.stream,
            system_prompt_reset=attempt.system_prompt_reset,
            content=content,
        )
    token = caller.token
    attempt.settled = True
    written = state.ledger.settle(Charge(attempt.reservation.id, caller.user.id, token.id, not token.unlimited_quota,
                                         attempt.channel.id, attempt.reserved, quota, log))
    health.record_success(state, attempt.channel)
    await asyncio.shield(written)  # a client that goes away now does not cancel the booking
