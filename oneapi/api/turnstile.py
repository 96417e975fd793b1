"""Cloudflare Turnstile on registration (SPEC §7), when TurnstileCheckEnabled is on."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from oneapi.errors import ApiError
from oneapi.relay.auth import client_ip
from oneapi.state import STATE

SITEVERIFY_URL = "https://challenges.cloudflare.com/turnstile/v0/siteverify"


async def check_turnstile(request: web.Request) -> None:
    """Verify the ``turnstile`` query parameter with Cloudflare; raises One API's refusals."""
    state = request.app[STATE]
    if not state.options.bool("TurnstileCheckEnabled"):
        return
    response = request.query.get("turnstile", "")
    if not response:
        raise ApiError("Turnstile token 为空")
    form = {"secret": state.options.get("TurnstileSecretKey"), "response": response, "remoteip": client_ip(request)}
    try:
        async with state.http.post(SITEVERIFY_URL, data=form, timeout=aiohttp.ClientTimeout(total=10)) as resp:
            result = await resp.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise ApiError(f"Turnstile 校验失败：{exc}") from None
    if not isinstance(result, dict) or result.get("success") is not True:
        raise ApiError("Turnstile 校验失败，请刷新重试！")
