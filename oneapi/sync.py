"""Cache coherence: a write in one process reaches the caches of every other process at once.

One API lets cached tokens, users and channels go stale for up to SYNC_FREQUENCY seconds (a disabled
token keeps working, a disabled channel keeps being routed). Here every cache write is announced on a bus;
the other processes re-read that row from the shared database. Two buses:
- Redis pub/sub when Redis is enabled (REDIS_CONN_STRING and SYNC_FREQUENCY, as in One API): every process of
  every node subscribes;
- without Redis, the workers of one node (``--workers N``) tell each other through their supervisor
  (oneapi/workers.py), one JSON line per change over a Unix socket.
The periodic full reload stays as the safety net.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from oneapi.background import cancel_and_wait, unless_cancelled
from oneapi.cache import Cache
from oneapi.db.connect import Databases
from oneapi.db.models import Channel, Token, User
from oneapi.options import Options

if TYPE_CHECKING:
    import redis.asyncio as aioredis

logger = logging.getLogger(__name__)

CHANNEL = "oneapi:cache"


def connect_redis(url: str, password: str = "") -> aioredis.Redis:
    """A bounded, blocking pool: the default pool raises instead of waiting once 100 are in use."""
    import redis.asyncio as aioredis  # imported only when Redis is enabled

    pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=64, timeout=5,
                                                    password=password or None)
    return aioredis.Redis(connection_pool=pool)


class Bus(Protocol):
    """Carries change messages to the other processes; ``client`` is the Redis client, if the bus is Redis."""

    @property
    def client(self) -> aioredis.Redis | None: ...

    async def publish(self, message: bytes) -> None: ...

    def messages(self, ready: asyncio.Event) -> AsyncIterator[bytes]: ...

    async def close(self) -> None: ...


class RedisBus:
    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client

    async def publish(self, message: bytes) -> None:
        await self.client.publish(CHANNEL, message)

    async def messages(self, ready: asyncio.Event) -> AsyncIterator[bytes]:
        """Every message on the channel, resubscribing after a lost connection."""
        while True:
            try:
                async with self.client.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    ready.set()
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            yield message["data"]
            except asyncio.CancelledError:
                raise
            except Exception:
                unless_cancelled()
                logger.warning("Redis subscription lost; retrying in 1 s", exc_info=True)
                await asyncio.sleep(1)

    async def close(self) -> None:
        await self.client.aclose()


class WorkersBus:
    """One JSON line per change over the Unix socket to the supervisor, which repeats it to the other workers."""

    client = None

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._writer: asyncio.StreamWriter | None = None
        self._reader: asyncio.StreamReader | None = None

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await asyncio.open_unix_connection(sock=self.sock)
        return self._reader, self._writer

    async def publish(self, message: bytes) -> None:
        _, writer = await self._open()
        writer.write(message + b"\n")
        await writer.drain()

    async def messages(self, ready: asyncio.Event) -> AsyncIterator[bytes]:
        reader, _ = await self._open()
        ready.set()
        while line := await reader.readline():
            yield line
        logger.warning("the supervisor's socket closed: cache changes of the other workers arrive by reload only")

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        else:
            self.sock.close()


class CacheSync:
    """Publishes this process's cache writes and applies the other processes' ones."""

    def __init__(self, cache: Cache, options: Options, dbs: Databases, bus: Bus) -> None:
        self.cache = cache
        self.options = options
        self.dbs = dbs
        self.bus = bus
        self.client = bus.client  # the rate limiter counts in Redis when there is one
        self.node = uuid.uuid4().hex
        self._outbox: asyncio.Queue[bytes] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self.ready = asyncio.Event()

    def start(self) -> list[asyncio.Task[None]]:
        self.cache.on_change = self._publish_later
        self.options.on_change = lambda key: self._publish_later("option", 0)
        self._tasks = [asyncio.create_task(self._listen(), name="sync-listen"),
                       asyncio.create_task(self._send(), name="sync-send")]
        return self._tasks

    def _publish_later(self, kind: str, item_id: int) -> None:
        self._outbox.put_nowait(orjson.dumps({"node": self.node, "kind": kind, "id": item_id}))

    async def _send(self) -> None:
        while True:
            message = await self._outbox.get()
            try:
                await self.bus.publish(message)
            except Exception:  # bus down: the periodic reload will still catch up
                unless_cancelled()
                logger.warning("could not publish a cache change", exc_info=True)

    async def _listen(self) -> None:
        async for message in self.bus.messages(self.ready):
            try:
                event = orjson.loads(message)
            except orjson.JSONDecodeError:
                logger.warning("ignored a malformed cache change message")
                continue
            await self._apply(event)
            unless_cancelled()  # a cancel the database bridge swallowed

    async def _apply(self, event: dict[str, Any]) -> None:
        if event.get("node") == self.node:
            return
        cache = self.cache
        hook, cache.on_change = cache.on_change, None  # applying a remote change must not echo it
        try:
            kind = event.get("kind")
            if kind == "option":
                await self.options.load(self.dbs)
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
            unless_cancelled()
            logger.exception("could not apply a cache change from another process: %s", event)
        finally:
            cache.on_change = hook
            await self.dbs.release()

    async def close(self) -> None:
        await cancel_and_wait(self._tasks)
        await self.bus.close()
