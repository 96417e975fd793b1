"""Token writes: key generation, creation, edits and deletion, shared by the admin API and registration.

The token cache is what /v1 authenticates against, so every write here updates it at once: a token
disabled, deleted or given more quota behaves that way on the next relayed request.
"""

from __future__ import annotations

import ipaddress
import secrets
import string
import time
import uuid
from typing import Any

from oneapi.constants import TokenStatus
from oneapi.db.models import Token
from oneapi.errors import ApiError, found
from oneapi.state import AppState

_ALPHABET = string.ascii_letters + string.digits
NAME_MAX = 30


def generate_key() -> str:
    """48 chars: 16 random alphanumerics, then a UUID's hex with every even-indexed letter upper-cased."""
    head = "".join(secrets.choice(_ALPHABET) for _ in range(16))
    tail = "".join(c.upper() if i % 2 == 0 and c.isalpha() else c for i, c in enumerate(uuid.uuid4().hex))
    return head + tail


def validate_token_fields(name: str | None, subnet: str | None) -> None:
    """One API's checks before a token is stored: name length and every CIDR of the subnet list."""
    if name is not None and len(name) > NAME_MAX:
        raise ApiError("参数错误：令牌名称过长")
    for cidr in (subnet or "").split(","):
        cidr = cidr.strip()
        if not cidr:
            continue
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise ApiError(f"参数错误：无效的网段：{cidr}") from None


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


async def get_own_token(user_id: int, token_id: int) -> Token:
    """A token of this user; other users' tokens look exactly like missing ones."""
    return found(await Token.aget_or_none((Token.id == token_id) & (Token.user_id == user_id)), "令牌不存在")


def refuse_enabling(token: Token) -> None:
    """One API's refusals to switch an expired or spent token back on, with the hint how to fix it."""
    if token.expired_time != -1 and token.expired_time <= time.time():
        raise ApiError("令牌已过期，无法启用，请先修改令牌过期时间，或者设置为永不过期")
    if not token.unlimited_quota and token.remain_quota <= 0:
        raise ApiError("令牌可用额度已用尽，无法启用，请先修改令牌剩余额度，或者设置为无限额度")


async def update_token(state: AppState, token: Token, fields: dict[str, Any]) -> Token:
    """Apply ``fields`` to the token: enabling one that is expired or spent (by the new values) is refused."""
    for name, value in fields.items():
        setattr(token, name, value)
    if fields.get("status") == TokenStatus.ENABLED:
        refuse_enabling(token)
    async with state.dbs.write_transaction():
        await state.dbs.main.aexecute(Token.update(**fields).where(Token.id == token.id))
        row = await Token.aget_or_none(Token.id == token.id)
    fresh = found(row, "令牌不存在")
    state.cache.put_token(fresh)
    return fresh


async def delete_token(state: AppState, user_id: int, token_id: int) -> None:
    async with state.dbs.write_transaction():
        deleted = await state.dbs.main.aexecute(
            Token.delete().where((Token.id == token_id) & (Token.user_id == user_id)))
    if not deleted:
        raise ApiError("令牌不存在")
    state.cache.drop_token(token_id)
