"""Password guessing is limited per client IP and per username, counting failed sign-ins only.

The IP is oneapi/security/client_ip.py's (headers from an untrusted peer do not count), and the username
limit holds whatever address the guesses come from, so neither can be reset by changing headers. With
Redis enabled the counters live there and every node shares them; otherwise in process memory.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from aiohttp import web

from oneapi.security.bounded import forget_oldest
from oneapi.security.client_ip import client_ip
from oneapi.state import STATE

WINDOW = 900  # seconds
USERNAME_LIMIT = 10  # failed sign-ins per username per window
IP_LIMIT = 30  # failed sign-ins per client address per window
MAX_KEYS = 100_000  # counters kept in memory
TOO_MANY = "登录失败次数过多，请 15 分钟后再试"


def _keys(request: web.Request, username: str) -> tuple[tuple[str, int], tuple[str, int]]:
    name = username.strip().lower()[:64]
    return (f"loginFail:user:{name}", USERNAME_LIMIT), (f"loginFail:ip:{client_ip(request)}", IP_LIMIT)


@dataclass
class LoginLimits:
    """Fixed-window failure counters: a key is blocked once it reaches its limit within WINDOW."""

    _memory: dict[str, tuple[float, int]] = field(default_factory=dict)

    async def _count(self, request: web.Request, key: str) -> int:
        redis = request.app[STATE].redis
        if redis is not None:
            return int(await redis.get(key) or 0)
        started, count = self._memory.get(key, (0.0, 0))
        return count if time.monotonic() - started < WINDOW else 0

    async def blocked(self, request: web.Request, username: str) -> bool:
        for key, limit in _keys(request, username):
            if await self._count(request, key) >= limit:
                return True
        return False

    async def failed(self, request: web.Request, username: str) -> None:
        redis = request.app[STATE].redis
        now = time.monotonic()
        for key, _ in _keys(request, username):
            if redis is not None:
                async with redis.pipeline(transaction=True) as pipe:
                    pipe.incr(key)  # a pipeline queues commands; execute() sends them in one MULTI
                    pipe.expire(key, WINDOW, nx=True)
                    await pipe.execute()
                continue
            if len(self._memory) >= MAX_KEYS:  # a flood of distinct names: forget finished windows, then the oldest
                self._memory = {k: v for k, v in self._memory.items() if now - v[0] < WINDOW}
                forget_oldest(self._memory, MAX_KEYS)
            started, count = self._memory.get(key, (now, 0))
            if now - started >= WINDOW:
                started, count = now, 0
            self._memory[key] = (started, count + 1)


LOGIN_LIMITS: web.AppKey[LoginLimits] = web.AppKey("login_limits", LoginLimits)
