"""Multi-node cache coherence over Redis: a write on one node reaches every node's cache at once.

One API lets cached tokens, users and channels go stale for up to SYNC_FREQUENCY seconds (a disabled
token keeps working, a disabled channel keeps being routed). With Redis enabled (REDIS_CONN_STRING and
SYNC_FREQUENCY, as in One API), every cache write is published on one channel; the other nodes re-read
that row from the shared database. The periodic full reload stays as the safety net.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

import orjson
import redis.asyncio as aioredis

from oneapi.db.models import Channel, Token, User
from oneapi.state import AppState

logger = logging.getLogger(__name__)

CHANNEL = "oneapi:cache"


def connect_redis(url: str, password: str = "") -> aioredis.Redis:
    """A bounded, blocking pool: the default pool raises instead of waiting once 100 are in use."""
    pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=64, timeout=5,
                                                    password=password or None)
    return aioredis.Redis(connection_pool=pool)


class CacheSync:
    """Publishes this node's cache writes and applies the other nodes' ones."""

    def __init__(self, state: AppState, client: aioredis.Redis) -> None:
        self.state = state
        self.client = client
        self.node = uuid.uuid4().hex
        self._outbox: asyncio.Queue[bytes] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self.ready = asyncio.Event()

    def start(self) -> list[asyncio.Task[None]]:
        self.state.cache.on_change = self._publish_later
        self.state.options.on_change = lambda key: self._publish_later("option", 0)
        self._tasks = [asyncio.create_task(self._listen(), name="redis-listen"),
                       asyncio.create_task(self._send(), name="redis-send")]
        return self._tasks

    def _publish_later(self, kind: str, item_id: int) -> None:
        self._outbox.put_nowait(orjson.dumps({"node": self.node, "kind": kind, "id": item_id}))

    async def _send(self) -> None:
        while True:
            message = await self._outbox.get()
            try:
                await self.client.publish(CHANNEL, message)
            except Exception:  # Redis down: the periodic reload will still catch up
                logger.warning("could not publish a cache change to Redis", exc_info=True)

    async def _listen(self) -> None:
        while True:
            try:
                async with self.client.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    self.ready.set()
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            await self._apply(orjson.loads(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("Redis subscription lost; retrying in 1 s", exc_info=True)
                await asyncio.sleep(1)

    async def _apply(self, event: dict) -> None:
        if event.get("node") == self.node:
            return
        cache = self.state.cache
        hook, cache.on_change = cache.on_change, None  # applying a remote change must not echo it
        try:
            kind = event.get("kind")
            if kind == "option":
                await self.state.options.load(self.state.dbs)
            elif kind == "token":
                token = await Token.aget_or_none(Token.id == event["id"])
                cache.put_token(token) if token is not None else cache.drop_token(event["id"])
            elif kind == "user":
                user = await User.aget_or_none(User.id == event["id"])
                cache.put_user(user) if user is not None else cache.drop_user(event["id"])
            elif kind == "channel":
                channel = await Channel.aget_or_none(Channel.id == event["id"])
                cache.put_channel(channel) if channel is not None else cache.drop_channels([event["id"]])
        except Exception:
            logger.exception("could not apply a cache change from another node: %s", event)
        finally:
            cache.on_change = hook
            await self.state.dbs.release()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.client.aclose()
