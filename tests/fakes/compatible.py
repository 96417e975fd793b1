"""A fake OpenAI-compatible vendor: OpenAI's wire format and ``Bearer`` auth on whatever path the vendor uses.

Vendors of the OpenAI-compatible family (Doubao, Baidu V2, AliBailian, Minimax, Novita, 360...) serve the
same JSON under their own paths (``/api/v3/chat/completions``, ``/compatible-mode/v1/embeddings``,
``/v1/text/chatcompletion_v2``...). This fake answers every POST path whose end names chat or embeddings
with the OpenAI fake's handlers, and records each path so tests can check where a channel type sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from aiohttp import web

from tests.fakes.openai_upstream import FakeOpenAI

_CHAT_ENDINGS = ("/chat/completions", "/chatcompletion_v2")


@dataclass
class FakeCompatible(FakeOpenAI):
    query_in_paths: ClassVar[bool] = True

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/{path:.*}", self.dispatch)]

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        if request.path.endswith(_CHAT_ENDINGS):
            return await self.chat(request)
        if request.path.endswith("/embeddings"):
            return await self.embeddings(request)
        self.record(request)
        return web.json_response({"error": {"message": f"Invalid URL (POST {request.path})",
                                            "type": "invalid_request_error", "param": None, "code": None}},
                                 status=404)
