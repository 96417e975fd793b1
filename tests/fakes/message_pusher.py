"""songquanpeng/message-pusher: ``POST /push/<user>`` with ``{title, description, content, token}``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.server import FakeServer


@dataclass
class FakeMessagePusher(FakeServer):
    token: str = "pusher-token"
    messages: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)

    @property
    def address(self) -> str:
        return f"{self.url}/push/root"

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/push/{user}", self.push)]

    async def push(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("token") != self.token:
            return web.json_response({"success": False, "message": "无效的 token"})
        await self.messages.put(body)
        return web.json_response({"success": True, "message": "ok"})
