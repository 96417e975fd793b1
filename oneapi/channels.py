"""Channel writes that must keep three things in step: the row, its abilities, and the router cache."""

from __future__ import annotations

import itertools
import logging
import time

from oneapi.cache import split_list
from oneapi.constants import ChannelStatus
from oneapi.db.models import Ability, Channel
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
        state.cache.channels[channel.id] = channel
    state.cache.put_channel(created[-1])
    return created
