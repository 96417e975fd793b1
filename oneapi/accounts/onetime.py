"""One-time secrets (verification codes, reset tokens, OAuth states, Turnstile passes) shared by every
node and worker: in Redis when it is enabled, otherwise in our ``one_time_secrets`` table.

Each secret lives under ``purpose:subject``, expires, and is taken at most once: taking it compares and
deletes in one atomic step (a Lua script in Redis, a conditional DELETE in SQL), so two nodes racing with
the same code cannot both succeed. Only a SHA-256 digest is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from peewee import IntegrityError

from oneapi.db.models import OneTimeSecret
from oneapi.state import AppState

_TAKE_SCRIPT = """
local stored = redis.call('GET', KEYS[1])
if stored and stored == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""
_REDIS_PREFIX = "oneapi:once:"


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _key(purpose: str, subject: str) -> str:
    return f"{purpose}:{subject}"[:191]


async def put(state: AppState, purpose: str, subject: str, value: str, ttl: int) -> None:
    """Store ``value`` for ``ttl`` seconds, replacing any earlier secret of the same purpose and subject."""
    key, digest = _key(purpose, subject), _digest(value)
    if (redis := state.redis) is not None:
        await redis.set(_REDIS_PREFIX + key, digest, ex=ttl)
        return
    now = int(time.time())
    async with state.dbs.write_transaction():  # expired rows of any key go too: the table stays small
        await state.dbs.main.aexecute(OneTimeSecret.delete().where((OneTimeSecret.key == key)
                                                                   | (OneTimeSecret.expires_at <= now)))
        await state.dbs.main.aexecute(OneTimeSecret.insert(key=key, digest=digest, expires_at=now + ttl))


async def claim(state: AppState, purpose: str, subject: str, ttl: int) -> bool:
    """Mark ``purpose:subject`` as used for ``ttl`` seconds; False when it already is (a rate limit)."""
    key = _key(purpose, subject)
    if (redis := state.redis) is not None:
        return bool(await redis.set(_REDIS_PREFIX + key, "1", ex=ttl, nx=True))
    now = int(time.time())
    try:
        async with state.dbs.write_transaction():
            await state.dbs.main.aexecute(OneTimeSecret.delete().where(
                (OneTimeSecret.key == key) & (OneTimeSecret.expires_at <= now)))
            await state.dbs.main.aexecute(OneTimeSecret.insert(key=key, digest="", expires_at=now + ttl))
    except IntegrityError:
        return False
    return True


async def drop(state: AppState, purpose: str, subject: str) -> None:
    key = _key(purpose, subject)
    if (redis := state.redis) is not None:
        await redis.delete(_REDIS_PREFIX + key)
        return
    async with state.dbs.write_transaction():
        await state.dbs.main.aexecute(OneTimeSecret.delete().where(OneTimeSecret.key == key))


async def check(state: AppState, purpose: str, subject: str, value: str) -> bool:
    """Whether ``value`` is the live secret, without using it up."""
    key, digest = _key(purpose, subject), _digest(value)
    if (redis := state.redis) is not None:
        stored = await redis.get(_REDIS_PREFIX + key)
        stored = stored.decode() if isinstance(stored, bytes) else stored
        return stored is not None and hmac.compare_digest(stored, digest)
    rows = await state.dbs.main.list(OneTimeSecret.select().where(
        (OneTimeSecret.key == key) & (OneTimeSecret.expires_at > int(time.time()))))
    return bool(rows) and hmac.compare_digest(rows[0].digest, digest)


async def take(state: AppState, purpose: str, subject: str, value: str) -> bool:
    """Use the secret up: True once for the right, unexpired value, False ever after."""
    if not value:
        return False
    key, digest = _key(purpose, subject), _digest(value)
    if (redis := state.redis) is not None:
        return bool(await redis.eval(_TAKE_SCRIPT, 1, _REDIS_PREFIX + key, digest))
    async with state.dbs.write_transaction():
        deleted = await state.dbs.main.aexecute(OneTimeSecret.delete().where(
            (OneTimeSecret.key == key) & (OneTimeSecret.digest == digest)
            & (OneTimeSecret.expires_at > int(time.time()))))
    return deleted == 1

