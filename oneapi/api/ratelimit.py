"""One API's per-IP rate limits (SPEC §7): a sliding log of the last N request times per client.

GlobalAPI (GLOBAL_API_RATE_LIMIT per 180 s) covers every /api route and the dashboard billing routes;
Critical (20 per 1200 s) covers login and registration. A refused request gets 429 with an empty body.
DEBUG=true or a limit of 0 switches a limiter off. With Redis enabled the logs live in Redis
(``rateLimit:<mark><ip>``, as One API keeps them), so every node counts the same requests; otherwise in
process memory, with stale clients swept every 20 minutes and at most MAX_CLIENTS of them kept.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from oneapi.security.bounded import forget_oldest
from oneapi.security.client_ip import client_ip
from oneapi.state import STATE

if TYPE_CHECKING:  # redis is imported only by deployments that use it
    from redis.asyncio import Redis

GLOBAL_API_WINDOW = 180.0
CRITICAL_LIMIT, CRITICAL_WINDOW = 20, 1200.0
_SWEEP_EVERY = 1200.0
MAX_CLIENTS = 100_000  # clients remembered per limiter: a flood of addresses cannot grow memory without end
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class SlidingWindowLimiter:
    """Allows ``limit`` requests per ``window`` seconds and key; refused requests are not recorded."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._hits: dict[str, deque[float]] = {}
        self._swept = time.monotonic()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        if now - self._swept > _SWEEP_EVERY:
            self._sweep(now)
        hits = self._hits.get(key)
        if hits is None:
            if len(self._hits) >= MAX_CLIENTS:
                self._make_room(now)
            hits = self._hits[key] = deque(maxlen=self.limit)
        if len(hits) == self.limit and now - hits[0] < self.window:
            return False
        hits.append(now)
        return True

    def _sweep(self, now: float) -> None:
        self._hits = {k: v for k, v in self._hits.items() if v and now - v[-1] < self.window}
        self._swept = now

    def _make_room(self, now: float) -> None:
        """Sweep; if every client is still in its window, forget the tenth seen first (the oldest keys)."""
        self._sweep(now)
        forget_oldest(self._hits, MAX_CLIENTS)


# One atomic step of the sliding log: refuse while the list is full and its oldest entry is in the window.
_REDIS_ALLOW = """
local limit, window, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if redis.call('LLEN', KEYS[1]) >= limit and now - tonumber(redis.call('LINDEX', KEYS[1], -1)) < window then
  return 0
end
redis.call('LPUSH', KEYS[1], now)
redis.call('LTRIM', KEYS[1], 0, limit - 1)
redis.call('EXPIRE', KEYS[1], 1200)
return 1
"""


class RedisWindowLimiter:
    """The same sliding log in Redis, shared by every node."""

    def __init__(self, client: Redis, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._script = client.register_script(_REDIS_ALLOW)

    async def allow(self, key: str) -> bool:
        return bool(await self._script(keys=[f"rateLimit:{key}"], args=[self.limit, self.window, time.time()]))


@dataclass
class RateLimits:
    """The process's limiters, made on first use from the settings (0 or DEBUG: none)."""

    limiters: dict[str, SlidingWindowLimiter | RedisWindowLimiter | None] = field(default_factory=dict)

    async def allow(self, request: web.Request, mark: str, limit: int, window: float) -> bool:
        if mark not in self.limiters:
            state = request.app[STATE]
            limiter: SlidingWindowLimiter | RedisWindowLimiter | None = None
            if state.settings.rate_limit_enabled and limit > 0:
                redis = state.redis
                limiter = RedisWindowLimiter(redis, limit, window) if redis else SlidingWindowLimiter(limit, window)
            self.limiters[mark] = limiter
        limiter = self.limiters[mark]
        if limiter is None:
            return True
        key = mark + client_ip(request)
        if isinstance(limiter, RedisWindowLimiter):
            return await limiter.allow(key)
        return limiter.allow(key)


RATE_LIMITS: web.AppKey[RateLimits] = web.AppKey("rate_limits", RateLimits)


def _limited(request: web.Request) -> bool:
    path = request.path
    return path.startswith(("/api/", "/dashboard/", "/v1/dashboard/")) or path == "/api"


@web.middleware
async def global_api_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
    """GlobalAPI on /api and the billing emulation; /api answers are gzip-compressed when accepted."""
    if not _limited(request):
        return await handler(request)
    limit = request.app[STATE].settings.global_api_rate_limit
    if not await request.app[RATE_LIMITS].allow(request, "GA", limit, GLOBAL_API_WINDOW):
        return web.Response(status=429)
    response = await handler(request)
    if (isinstance(response, web.Response) and response.body and not response.prepared
            and request.path.startswith("/api/")):
        response.enable_compression()
    return response


def critical(handler: Handler) -> Handler:
    """Decorate a login/registration handler with the Critical limit (20 per 20 minutes per IP)."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        if not await request.app[RATE_LIMITS].allow(request, "CT", CRITICAL_LIMIT, CRITICAL_WINDOW):
            return web.Response(status=429)
        return await handler(request)

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


def install(app: web.Application) -> None:
    app[RATE_LIMITS] = RateLimits()
    app.middlewares.append(global_api_limit)
