"""Helpers the account tests share: options set through the admin API, and a browser with its own cookies."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.conftest import Gateway


async def set_options(gateway: Gateway, **options: Any) -> None:
    """PUT each option as root would in the settings page (booleans as true/false)."""
    for key, value in options.items():
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        answer = await gateway.api("PUT", "/api/option/", {"key": key, "value": text})
        assert answer["success"], (key, answer)


def browser() -> aiohttp.ClientSession:
    """A fresh cookie jar that keeps cookies set by 127.0.0.1 (aiohttp's default jar drops them)."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def call(session: aiohttp.ClientSession, gateway: Gateway, method: str, path: str, **kwargs: Any) -> Any:
    """One request from ``session``; asserts the gateway never answers 500 and returns the JSON body."""
    async with session.request(method, gateway.url + path, **kwargs) as resp:
        assert resp.status < 500, (path, resp.status, await resp.text())
        return await resp.json(content_type=None)


async def register(session: aiohttp.ClientSession, gateway: Gateway, username: str, query: str = "",
                   **fields: str) -> Any:
    """A visitor signing up as ``username`` with password "password123" and ``fields`` (email,
    verification_code), ``query`` after the path (``?turnstile=...``); the answer's JSON body."""
    return await call(session, gateway, "POST", f"/api/user/register{query}",
                      json={"username": username, "password": "password123", **fields})
