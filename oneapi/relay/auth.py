"""Token authentication for /v1 (SPEC §2.2): which token, which user, and which channel if pinned.

Everything comes from the in-process cache; the database is read only for a key this process has
never seen. Messages and statuses are One API's, so clients that parse them keep working.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass

from aiohttp import web

from oneapi.constants import Role, TokenStatus, UserStatus
from oneapi.db.models import Token, User
from oneapi.errors import RelayError
from oneapi.security.client_ip import client_ip
from oneapi.state import AppState


@dataclass(slots=True)
class Caller:
    token: Token
    user: User
    pinned_channel: str | None  # the text after `sk-KEY-`, validated by the distributor


def _denied(message: str, status: int = 401) -> RelayError:
    return RelayError(message, status=status, type="one_api_error")


def token_key(authorization: str) -> tuple[str, str | None]:
    """``Bearer sk-KEY-CHANNEL`` -> (KEY, CHANNEL or None); bare keys and keys without sk- work too."""
    key = authorization.strip()
    if key.startswith("Bearer "):
        key = key[len("Bearer "):].strip()
    if key.startswith("sk-"):
        key = key[3:]
    parts = key.split("-")
    return parts[0], parts[1] if len(parts) > 1 else None


def _in_subnets(ip: str, subnets: str) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    for cidr in subnets.split(","):
        cidr = cidr.strip()
        if not cidr:
            continue
        try:
            if address in ipaddress.ip_network(cidr, strict=False):
                return True
        except ValueError:
            continue
    return False


async def authenticate_token(request: web.Request, state: AppState, credential: str | None = None) -> Caller:
    """The caller of ``Authorization`` or, from a front door with its own header, of ``credential``."""
    key, pinned = token_key(request.headers.get("Authorization", "") if credential is None else credential)
    if not key:
        raise _denied("未提供令牌")
    token = await state.cache.token_by_key(state.dbs, key)
    if token is None:
        raise _denied("无效的令牌")
    if token.status == TokenStatus.EXHAUSTED:
        raise _denied(f"令牌 {token.name}（#{token.id}）额度已用尽")
    if token.status == TokenStatus.EXPIRED:
        raise _denied("该令牌已过期")
    if token.status != TokenStatus.ENABLED:
        raise _denied("该令牌状态不可用")
    if token.expired_time != -1 and token.expired_time < time.time():
        raise _denied("该令牌已过期")
    if not token.unlimited_quota and token.remain_quota <= 0:
        raise _denied("该令牌额度已用尽")
    if token.subnet:
        ip = client_ip(request)
        if not _in_subnets(ip, token.subnet):
            raise _denied(f"该令牌只能在指定网段使用：{token.subnet}，当前 ip：{ip}", 403)
    user = state.cache.user(token.user_id)
    if user is None or user.status != UserStatus.ENABLED:
        raise _denied("用户已被封禁", 403)
    if pinned is not None and user.role < Role.ADMIN:
        raise _denied("普通用户不支持指定渠道", 403)
    return Caller(token, user, pinned)


def check_model_allowed(token: Token, model: str) -> None:
    if token.models and model:
        allowed = {m.strip() for m in token.models.split(",") if m.strip()}
        if model not in allowed:
            raise _denied(f"该令牌无权使用模型：{model}", 403)
