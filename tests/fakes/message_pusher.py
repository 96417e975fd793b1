"""songquanpeng/message-pusher: ``POST /push/<user>`` with ``{title, description, content, token}``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class FakeMessagePusher:
    token: str = "pusher-token"
    url: str = ""
    messages: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)

    @property
    def address(self) -> str:
        return f"{self.url}/push/root"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/push/{user}", self.push)
        return app

    async def push(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("token") != self.token:
            return web.json_response({"success": False, "message": "无效的 token"})
        await self.messages.put(body)
        return web.json_response({"success": True, "message": "ok"})
