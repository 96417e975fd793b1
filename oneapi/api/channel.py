"""/api/channel/*: the admin's upstream accounts. Keys go in and never come back out."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from oneapi.api.common import admin_reads, body_id, check_columns, check_length, path_id, read_json, row_dict
from oneapi.auth import require
from oneapi.balance import QUERIES, update_balance
from oneapi.cache import split_list
from oneapi.catalogue import owners
from oneapi.channels import (
    channel_fields,
    create_channels,
    delete_channels,
    get_channel,
    update_channel,
)
from oneapi.constants import ChannelStatus, Role
from oneapi.db.models import Ability, Channel
from oneapi.errors import ApiError, api_ok, found, json_response
from oneapi.relay.channel_test import ChannelTester, run_channel_test
from oneapi.relay.models import catalogue_entry
from oneapi.state import STATE

logger = logging.getLogger(__name__)

CHANNEL_NOT_FOUND = "渠道不存在"
CHANNEL_TESTER: web.AppKey[ChannelTester] = web.AppKey("channel_tester", ChannelTester)


def channel_dict(channel: Channel) -> dict[str, Any]:
    return row_dict(channel, hidden=("key",))


async def _existing(channel_id: int) -> Channel:
    return found(await get_channel(channel_id), CHANNEL_NOT_FOUND)


list_channels, search_channels, get_channel_by_id = admin_reads(Channel, channel_dict, _existing)


def _check_columns(fields: dict[str, Any]) -> None:
    """The channel's columns, and each model and group as its abilities' rows will hold them."""
    check_columns(Channel, fields)
    for name, column in (("models", Ability.model), ("group", Ability.group)):
        for item in split_list(str(fields.get(name) or "")):
            check_length(name, item, column.max_length)


@require(Role.ADMIN)
async def add_channel(request: web.Request) -> web.Response:
    """One channel per non-empty line of ``key`` (batch mode), otherwise identical."""
    body = await read_json(request)
    fields = channel_fields(body, for_update=False)
    if "key" in fields:  # one channel per line: each line is a row's key
        _check_columns({**fields, "key": max(str(fields["key"] or "").split("\n"), key=len)})
    else:
        _check_columns(fields)
    created = await create_channels(request.app[STATE], fields)
    return api_ok([c.id for c in created])


@require(Role.ADMIN)
async def edit_channel(request: web.Request) -> web.Response:
    body = await read_json(request)
    fields = channel_fields(body, for_update=True)
    _check_columns(fields)
    channel = await update_channel(request.app[STATE], body_id(body), fields)
    return api_ok(channel_dict(found(channel, CHANNEL_NOT_FOUND)))


@require(Role.ADMIN)
async def remove_channel(request: web.Request) -> web.Response:
    if not await delete_channels(request.app[STATE], Channel.id == path_id(request)):
        raise ApiError(CHANNEL_NOT_FOUND)
    return api_ok()


@require(Role.ADMIN)
async def remove_disabled_channels(request: web.Request) -> web.Response:
    disabled = Channel.status.in_([int(ChannelStatus.MANUALLY_DISABLED), int(ChannelStatus.AUTO_DISABLED)])
    return api_ok(await delete_channels(request.app[STATE], disabled))


@require(Role.ADMIN)
async def channel_models(request: web.Request) -> web.Response:
    """The built-in catalogue as OpenAI model objects, without the envelope (as One API)."""
    return json_response({"object": "list", "data": [catalogue_entry(model) for model in owners()]})


@require(Role.ADMIN)
async def test_channel(request: web.Request) -> web.Response:
    """Test one channel now: ``{success, message: reply or error, time: seconds, modelName}``."""
    channel = await _existing(path_id(request))
    requested = request.query.get("model", "")
    result = await run_channel_test(request.app[STATE], channel, requested)
    return json_response({"success": result.ok, "message": result.reply, "time": result.seconds,
                          "modelName": requested})


@require(Role.ADMIN)
async def test_all_channels(request: web.Request) -> web.Response:
    """Start the bulk test in the background (``?scope=all|disabled``)."""
    disabled_only = request.query.get("scope", "all") == "disabled"
    if not request.app[CHANNEL_TESTER].start(request.app[STATE], disabled_only):
        raise ApiError("测试已在运行中")
    return api_ok()


@require(Role.ADMIN)
async def channel_balance(request: web.Request) -> web.Response:
    channel = await _existing(path_id(request))
    return api_ok(balance=await update_balance(request.app[STATE], channel))


@require(Role.ADMIN)
async def all_channel_balances(request: web.Request) -> web.Response:
    """Refresh the balance of every enabled channel whose provider reports one."""
    state = request.app[STATE]
    query = Channel.select().where((Channel.status == int(ChannelStatus.ENABLED)) & Channel.type.in_(list(QUERIES)))
    for channel in await state.dbs.main.list(query):
        try:
            await update_balance(state, channel)
        except ApiError as error:
            logger.warning("balance of channel #%s not updated: %s", channel.id, error.message)
    return api_ok()
