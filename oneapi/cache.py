"""The in-process cache that lets a relayed request run without reading the database.

Tokens, users and channels are loaded at start and refreshed every SYNC_FREQUENCY seconds; every
write made through this process updates the cache at once (``put_*`` / ``drop_*``), so an edit in the
admin takes effect on the next request. A token key this process has never seen (created by another
node) is looked up once in the database and then cached.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from oneapi.constants import ChannelStatus
from oneapi.db.connect import Databases
from oneapi.db.models import Channel, Token, User

logger = logging.getLogger(__name__)

_MISS_TTL = 30.0  # seconds an unknown key stays known-unknown
_MISS_MAX = 10_000


def split_list(value: str | None) -> list[str]:
    """A comma-separated column as clean, de-duplicated items (One API neither trims nor de-duplicates)."""
    seen: dict[str, None] = {}
    for item in (value or "").split(","):
        item = item.strip()
        if item:
            seen[item] = None
    return list(seen)


@dataclass(slots=True)
class Tier:
    """Channels of one priority serving one (group, model), with cumulative weights for weighted choice."""

    priority: int
    channels: list[Channel] = field(default_factory=list)
    cumulative: list[int] = field(default_factory=list)

    def pick(self, exclude: set[int], rng: random.Random) -> Channel | None:
        if not exclude:
            roll = rng.random() * self.cumulative[-1]
            return self.channels[bisect.bisect_right(self.cumulative, roll)]
        candidates = [c for c in self.channels if c.id not in exclude]
        if not candidates:
            return None
        weights = [c.weight if c.weight and c.weight > 0 else 1 for c in candidates]
        return rng.choices(candidates, weights)[0]


RouteKey = tuple[str, str]
# What a channel was routed by: enabled, priority, weight and its (group, model) pairs.
Placement = tuple[bool, int, int, tuple[RouteKey, ...]]


def _weight(channel: Channel) -> int:
    return channel.weight if channel.weight and channel.weight > 0 else 1


def _tier(priority: int, channels: list[Channel]) -> Tier:
    return Tier(priority, channels, list(itertools.accumulate(_weight(c) for c in channels)))


class Router:
    """(group, model) -> priority tiers, highest first; built from the enabled channels.

    Built in one pass at load; afterwards ``put`` and ``drop`` change only the routes of the one channel, so
    that a channel test or an auto-disable does not rebuild 1,000 channels x 100 models of routes."""

    def __init__(self, channels: Iterable[Channel]) -> None:
        self._routes: dict[RouteKey, list[Tier]] = {}
        self._group_models: dict[str, list[str]] = {}
        # Every (group, model) some channel lists, enabled or not: "unknown model" (404) vs "no channel up" (503).
        self._listed: Counter[RouteKey] = Counter()
        self._placed: dict[int, Placement] = {}
        pairs_of: dict[tuple[str | None, str | None], tuple[RouteKey, ...]] = {}
        building: dict[RouteKey, dict[int, list[Channel]]] = {}
        for channel in sorted(channels, key=_channel_id):
            enabled, priority, _, pairs = self._record(channel.id, self._placement(channel, pairs_of))
            if not enabled:
                continue
            for pair in pairs:
                by_priority = building.get(pair)
                if by_priority is None:
                    building[pair] = {priority: [channel]}
                elif priority in by_priority:
                    by_priority[priority].append(channel)
                else:
                    by_priority[priority] = [channel]
        for pair, by_priority in building.items():
            self._routes[pair] = [_tier(p, by_priority[p]) for p in sorted(by_priority, reverse=True)]
            self._group_models.setdefault(pair[0], []).append(pair[1])
        for models in self._group_models.values():
            models.sort()

    @staticmethod
    def _placement(channel: Channel, pairs_of: dict[tuple[str | None, str | None], tuple[RouteKey, ...]]
                   ) -> Placement:
        key = (channel.group, channel.models)
        pairs = pairs_of.get(key)
        if pairs is None:
            pairs = pairs_of[key] = tuple(itertools.product(split_list(channel.group), split_list(channel.models)))
        return channel.status == ChannelStatus.ENABLED, channel.priority or 0, _weight(channel), pairs

    def _record(self, channel_id: int, placement: Placement) -> Placement:
        self._placed[channel_id] = placement
        self._listed.update(placement[3])
        return placement

    def put(self, channel: Channel) -> None:
        """Route ``channel`` as it is now (new, edited, enabled or disabled)."""
        placement = self._placement(channel, {})
        old = self._placed.get(channel.id)
        if old == placement:  # same routes: the tiers take the new object (its key or base_url may differ)
            if placement[0]:
                for pair in placement[3]:
                    tier = next(t for t in self._routes[pair] if t.priority == placement[1])
                    tier.channels[bisect.bisect_left(tier.channels, channel.id, key=_channel_id)] = channel
            return
        if old is not None:
            self.drop(channel.id)
        enabled, priority, _, pairs = self._record(channel.id, placement)
        if not enabled:
            return
        for pair in pairs:
            tiers = self._routes.get(pair)
            if tiers is None:
                tiers = self._routes[pair] = []
                bisect.insort(self._group_models.setdefault(pair[0], []), pair[1])
            index = next((i for i, t in enumerate(tiers) if t.priority <= priority), len(tiers))
            if index < len(tiers) and tiers[index].priority == priority:
                members = tiers[index].channels
                members.insert(bisect.bisect_left(members, channel.id, key=_channel_id), channel)
                tiers[index] = _tier(priority, members)
            else:
                tiers.insert(index, _tier(priority, [channel]))

    def drop(self, channel_id: int) -> None:
        """Stop routing to the channel and forget that it listed its models."""
        old = self._placed.pop(channel_id, None)
        if old is None:
            return
        enabled, priority, _, pairs = old
        self._listed.subtract(pairs)
        for pair in pairs:
            if self._listed[pair] <= 0:
                del self._listed[pair]
            tiers = self._routes.get(pair)
            if not enabled or tiers is None:
                continue
            index = next(i for i, t in enumerate(tiers) if t.priority == priority)
            members = [c for c in tiers[index].channels if c.id != channel_id]
            if members:
                tiers[index] = _tier(priority, members)
            else:
                del tiers[index]
            if not tiers:
                del self._routes[pair]
                self._group_models[pair[0]].remove(pair[1])

    def tiers(self, group: str, model: str) -> list[Tier]:
        return self._routes.get((group, model), [])

    def models(self, group: str) -> list[str]:
        return self._group_models.get(group, [])

    def lists(self, group: str, model: str) -> bool:
        """Whether any channel of ``group`` (even a disabled one) lists ``model``."""
        return (group, model) in self._listed

    def choose(self, group: str, model: str, exclude: set[int], rng: random.Random) -> Channel | None:
        """Weighted choice in the highest tier that still has a channel not in ``exclude``."""
        for tier in self.tiers(group, model):
            channel = tier.pick(exclude, rng)
            if channel is not None:
                return channel
        return None


def _channel_id(channel: Channel) -> int:
    return channel.id


class Cache:
    def __init__(self) -> None:
        self.tokens: dict[str, Token] = {}
        self.tokens_by_id: dict[int, Token] = {}
        self.users: dict[int, User] = {}
        self.channels: dict[int, Channel] = {}
        self.router = Router(())
        self._missing: dict[str, float] = {}
        # Called with (kind, id) after every local write, so that other nodes can be told (oneapi/sync.py).
        self.on_change: Callable[[str, int], None] | None = None

    def _changed(self, kind: str, ids: Iterable[int]) -> None:
        if self.on_change is not None:
            for item_id in ids:
                self.on_change(kind, item_id)

    async def load(self, dbs: Databases) -> None:
        """Read every token, user and channel; replaces the cached objects wholesale."""
        users = await dbs.main.list(User.select())
        tokens = await dbs.main.list(Token.select())
        channels = await dbs.main.list(Channel.select())
        await dbs.release()
        self.users = {u.id: u for u in users}
        self.tokens = {t.key: t for t in tokens}
        self.tokens_by_id = {t.id: t for t in tokens}
        self.channels = {c.id: c for c in channels}
        self.router = Router(self.channels.values())
        self._missing.clear()

    # -- tokens ----------------------------------------------------------------------------------
    async def token_by_key(self, dbs: Databases, key: str) -> Token | None:
        token = self.tokens.get(key)
        if token is not None:
            return token
        missed = self._missing.get(key)
        if missed is not None and time.monotonic() - missed < _MISS_TTL:
            return None
        try:
            token = await Token.aget_or_none(Token.key == key) if key else None
            user = None
            if token is not None and token.user_id not in self.users:
                user = await User.aget_or_none(User.id == token.user_id)
        finally:
            # The connection goes back at once: the request is about to wait for the ledger, which needs one.
            await dbs.release()
        if token is None:
            if len(self._missing) >= _MISS_MAX:
                self._missing.clear()
            self._missing[key] = time.monotonic()
            return None
        self._store_token(token)
        if user is not None:
            self.users[user.id] = user
        return token

    def token_by_id(self, token_id: int) -> Token | None:
        return self.tokens_by_id.get(token_id)

    def put_token(self, token: Token) -> None:
        self._store_token(token)
        self._changed("token", [token.id])

    def drop_token(self, token_id: int) -> None:
        self._forget_token(token_id)
        self._changed("token", [token_id])

    def _store_token(self, token: Token) -> None:
        self._forget_token(token.id)
        self.tokens[token.key] = token
        self.tokens_by_id[token.id] = token
        self._missing.pop(token.key, None)

    def _forget_token(self, token_id: int) -> None:
        old = self.tokens_by_id.pop(token_id, None)
        if old is not None:
            self.tokens.pop(old.key, None)

    # -- users -----------------------------------------------------------------------------------
    def user(self, user_id: int) -> User | None:
        return self.users.get(user_id)

    def put_user(self, user: User) -> None:
        self.users[user.id] = user
        self._changed("user", [user.id])

    def user_by_access_token(self, access_token: str) -> User | None:
        if not access_token:
            return None
        return next((u for u in self.users.values() if u.access_token == access_token), None)

    def drop_user(self, user_id: int) -> None:
        self.users.pop(user_id, None)
        self._changed("user", [user_id])

    # -- channels --------------------------------------------------------------------------------
    def channel(self, channel_id: int) -> Channel | None:
        return self.channels.get(channel_id)

    def put_channel(self, channel: Channel) -> None:
        self.channels[channel.id] = channel
        self.router.put(channel)
        self._changed("channel", [channel.id])

    def drop_channels(self, channel_ids: Iterable[int]) -> None:
        channel_ids = list(channel_ids)
        for channel_id in channel_ids:
            self.channels.pop(channel_id, None)
            self.router.drop(channel_id)
        self._changed("channel", channel_ids)
