"""Token writes: key generation and creation, shared by the admin API and registration."""

from __future__ import annotations

import secrets
import string
import time
import uuid

from oneapi.db.models import Token
from oneapi.state import AppState

_ALPHABET = string.ascii_letters + string.digits


def generate_key() -> str:
    """48 chars: 16 random alphanumerics, then a UUID's hex with every even-indexed letter upper-cased."""
    head = "".join(secrets.choice(_ALPHABET) for _ in range(16))
    tail = "".join(c.upper() if i % 2 == 0 and c.isalpha() else c for i, c in enumerate(uuid.uuid4().hex))
    return head + tail


async def create_token(state: AppState, user_id: int, name: str, *, remain_quota: int = 0,
                       unlimited_quota: bool = False, expired_time: int = -1, models: str | None = None,
                       subnet: str = "", key: str | None = None) -> Token:
    now = int(time.time())
    async with state.dbs.write_transaction():
        token = await Token.acreate(
            user_id=user_id, key=key or generate_key(), name=name, remain_quota=remain_quota,
            unlimited_quota=unlimited_quota, expired_time=expired_time, models=models or None, subnet=subnet,
            created_time=now, accessed_time=now,
        )
    state.cache.put_token(token)
    return token
