"""Cloudflare Turnstile on the routes One API guards with it (register, verification and reset mail).

The ``turnstile`` query parameter is verified server side (secret, response, client IP) at
TURNSTILE_VERIFY_URL. As One API does, a pass is remembered for the browser, so its next guarded request
needs no new challenge; we keep the pass server side for an hour, on every node.
"""

from __future__ import annotations

import aiohttp
from aiohttp import web

from oneapi.accounts import onetime
from oneapi.accounts.visitor import visitor_id
from oneapi.errors import ApiError
from oneapi.security.client_ip import client_ip
from oneapi.state import STATE

PASS_TTL = 3600
_PURPOSE = "turnstile"


async def check_turnstile(request: web.Request) -> None:
    """Return when Turnstile is off or the browser passed it; raise One API's refusals otherwise."""
    state = request.app[STATE]
    if not state.options.bool("TurnstileCheckEnabled"):
        return
    visitor = visitor_id(request)
    if await onetime.check(state, _PURPOSE, visitor, "pass"):
        return
    response = request.query.get("turnstile", "")
    if not response:
        raise ApiError("Turnstile token 为空")
    form = {"secret": state.options.get("TurnstileSecretKey"), "response": response, "remoteip": client_ip(request)}
    try:
        async with state.http.post(state.settings.turnstile_verify_url, data=form,
                                   timeout=aiohttp.ClientTimeout(total=10)) as resp:
            result = await resp.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise ApiError(f"Turnstile 校验失败：{exc or type(exc).__name__}") from None
    if not isinstance(result, dict) or result.get("success") is not True:
        raise ApiError("Turnstile 校验失败，请刷新重试！")
    await onetime.put(state, _PURPOSE, visitor, "pass", PASS_TTL)
