"""One API's per-IP rate limits (SPEC §7): a sliding log of the last N request times per client.

GlobalAPI (GLOBAL_API_RATE_LIMIT per 180 s) covers every /api route and the dashboard billing routes;
Critical (20 per 1200 s) covers login and registration. A refused request gets 429 with an empty body.
DEBUG=true or a limit of 0 switches a limiter off. The logs live in process memory, like One API's
in-memory limiter; stale clients are swept every 20 minutes.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from oneapi.relay.auth import client_ip
from oneapi.state import STATE

GLOBAL_API_WINDOW = 180.0
CRITICAL_LIMIT, CRITICAL_WINDOW = 20, 1200.0
_SWEEP_EVERY = 1200.0
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
            hits = self._hits[key] = deque(maxlen=self.limit)
        if len(hits) == self.limit and now - hits[0] < self.window:
            return False
        hits.append(now)
        return True

    def _sweep(self, now: float) -> None:
        self._hits = {k: v for k, v in self._hits.items() if v and now - v[-1] < self.window}
        self._swept = now


@dataclass
class RateLimits:
    """The process's limiters, made on first use from the settings (0 or DEBUG: none)."""

    limiters: dict[str, SlidingWindowLimiter | None] = field(default_factory=dict)

    def allow(self, request: web.Request, mark: str, limit: int, window: float) -> bool:
        if mark not in self.limiters:
            enabled = request.app[STATE].settings.rate_limit_enabled and limit > 0
            self.limiters[mark] = SlidingWindowLimiter(limit, window) if enabled else None
        limiter = self.limiters[mark]
        return limiter is None or limiter.allow(mark + client_ip(request))


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
    if not request.app[RATE_LIMITS].allow(request, "GA", limit, GLOBAL_API_WINDOW):
        return web.Response(status=429)
    response = await handler(request)
    if (isinstance(response, web.Response) and response.body and not response.prepared
            and request.path.startswith("/api/")):
        response.enable_compression()
    return response


def critical(handler: Handler) -> Handler:
    """Decorate a login/registration handler with the Critical limit (20 per 20 minutes per IP)."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        if not request.app[RATE_LIMITS].allow(request, "CT", CRITICAL_LIMIT, CRITICAL_WINDOW):
            return web.Response(status=429)
        return await handler(request)

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


def install(app: web.Application) -> None:
    app[RATE_LIMITS] = RateLimits()
    app.middlewares.append(global_api_limit)
