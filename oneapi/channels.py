"""Channel writes that must keep three things in step: the row, its abilities, and the router cache."""

from __future__ import annotations

import itertools
import logging
import time

import orjson
from peewee import Expression

from oneapi.cache import split_list
from oneapi.constants import ChannelStatus
from oneapi.db.models import Ability, Channel
from oneapi.errors import ApiError
from oneapi.state import AppState

logger = logging.getLogger(__name__)

def ability_rows(channel: Channel) -> list[dict[str, object]]:
    """One ability per (group, model), as One API derives them (but trimmed and de-duplicated)."""
    enabled = channel.status == ChannelStatus.ENABLED
    return [
        {"group": group, "model": model, "channel_id": channel.id, "enabled": enabled,
         "priority": channel.priority or 0}
        for group, model in itertools.product(split_list(channel.group), split_list(channel.models))
    ]


async def rebuild_abilities(state: AppState, channel: Channel) -> None:
    """Replace the channel's abilities (inside the caller's write transaction)."""
    db = state.dbs.main
    await db.aexecute(Ability.delete().where(Ability.channel_id == channel.id))
    rows = ability_rows(channel)
    if rows:
        await db.aexecute(Ability.insert_many(rows))


async def set_channel_status(state: AppState, channel_id: int, status: ChannelStatus) -> None:
    """Enable or disable a channel everywhere: row, abilities and routing, in that order."""
    async with state.dbs.write_transaction():
        await state.dbs.main.aexecute(Channel.update(status=int(status)).where(Channel.id == channel_id))
        await state.dbs.main.aexecute(
            Ability.update(enabled=status == ChannelStatus.ENABLED).where(Ability.channel_id == channel_id)
        )
    channel = state.cache.channel(channel_id)
    if channel is not None:
        channel.status = int(status)
        state.cache.put_channel(channel)


async def create_channels(state: AppState, fields: dict[str, object]) -> list[Channel]:
    """Create one channel per non-empty line of ``key`` (One API's batch mode), abilities included."""
    keys = [line for line in str(fields.get("key") or "").split("\n") if line.strip()] or [""]
    created: list[Channel] = []
    async with state.dbs.write_transaction():
        for key in keys:
            values = {**fields, "key": key.strip(), "created_time": int(time.time())}
            values.pop("id", None)
            channel = await Channel.acreate(**values)
            await rebuild_abilities(state, channel)
            created.append(channel)
    for channel in created:
        state.cache.put_channel(channel)
    return created


# Columns the admin may set. The rest (used_quota, balance, test results, created_time) are the server's
# own counters: a UI that sends back what it read earlier must not overwrite them (SPEC §10.2 lost updates).
EDITABLE_FIELDS: dict[str, type] = {
    "type": int, "key": str, "status": int, "name": str, "weight": int, "base_url": str, "other": str,
    "models": str, "group": str, "model_mapping": str, "priority": int, "config": str, "system_prompt": str,
}
# One API's pointer columns: an update writes them even when zero or empty; the others only when set.
NULLABLE_FIELDS = frozenset({"weight", "priority", "base_url", "model_mapping", "system_prompt", "other"})
JSON_OBJECT_FIELDS = ("model_mapping", "config")


def channel_fields(body: dict[str, object], for_update: bool) -> dict[str, object]:
    """The storable fields of a channel JSON body, type-checked.

    For an update, GORM's rule applies: zero values of ordinary columns are skipped (so ``{id, status}``
    or an empty ``key`` keep everything else), while the nullable columns take whatever was sent.
    """
    fields: dict[str, object] = {}
    for name, kind in EDITABLE_FIELDS.items():
        value = body.get(name)
        if value is None:
            continue
        if kind is int:
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int) or not -(2**63) <= value < 2**63:
                raise ApiError(f"{name} must be a 64-bit integer")
        elif not isinstance(value, str):
            raise ApiError(f"{name} must be a string")
        if for_update and not value and name not in NULLABLE_FIELDS:
            continue
        fields[name] = value
    for name in JSON_OBJECT_FIELDS:
        text = fields.get(name)
        if text:
            try:
                parsed = orjson.loads(str(text))
            except orjson.JSONDecodeError:
                parsed = None
            if not isinstance(parsed, dict):
                raise ApiError(f"{name} must be a JSON object")
    if "status" in fields and fields["status"] not in tuple(ChannelStatus):
        raise ApiError("status must be 0, 1, 2 or 3")
    return fields


async def get_channel(channel_id: int) -> Channel | None:
    return await Channel.aget_or_none(Channel.id == channel_id)


async def update_channel(state: AppState, channel_id: int, fields: dict[str, object]) -> Channel | None:
    """Write the fields, reload the row and rebuild its abilities; None when the channel does not exist."""
    await state.ledger.drain()  # the reloaded row must include used_quota settled so far
    async with state.dbs.write_transaction():
        if fields:
            await state.dbs.main.aexecute(Channel.update(**fields).where(Channel.id == channel_id))
        channel = await get_channel(channel_id)
        if channel is not None:
            await rebuild_abilities(state, channel)
    if channel is not None:
        state.cache.put_channel(channel)
    return channel


async def delete_channels(state: AppState, where: Expression) -> int:
    """Delete the matching channels and their abilities (One API leaves the disabled ones' abilities behind)."""
    async with state.dbs.write_transaction():
        ids = [c.id for c in await state.dbs.main.list(Channel.select(Channel.id).where(where))]
        if ids:
            await state.dbs.main.aexecute(Ability.delete().where(Ability.channel_id.in_(ids)))
            await state.dbs.main.aexecute(Channel.delete().where(Channel.id.in_(ids)))
    if ids:
        state.cache.drop_channels(ids)
    return len(ids)


async def record_channel_values(state: AppState, channel_id: int, **values: object) -> None:
    """Store measured values (test time, response time, balance) on the row and the cached channel."""
    async with state.dbs.write_transaction():
        await state.dbs.main.aexecute(Channel.update(**values).where(Channel.id == channel_id))
    cached = state.cache.channel(channel_id)
    if cached is not None:
        for name, value in values.items():
            setattr(cached, name, value)
        state.cache.put_channel(cached)

