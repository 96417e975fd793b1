"""A fake DeepL API (``POST /v2/translate``), written from DeepL's API reference.

Auth is the ``Authorization: DeepL-Auth-Key <key>`` header; anything else gets DeepL's bare 403 (no body).
The JSON body needs ``text`` (a list of strings) and a supported ``target_lang``; an unsupported language is
a 400 with DeepL's ``{"message": ...}``. The "translation" is deterministic: ``<target_lang>: <text>``.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from aiohttp import web

from tests.fakes.server import FakeServer

TARGET_LANGS = {"AR", "BG", "CS", "DA", "DE", "EL", "EN", "EN-GB", "EN-US", "ES", "ET", "FI", "FR", "HU", "ID", "IT",
                "JA", "KO", "LT", "LV", "NB", "NL", "PL", "PT", "PT-BR", "PT-PT", "RO", "RU", "SK", "SL", "SV", "TR",
                "UK", "ZH", "ZH-HANS", "ZH-HANT"}


@dataclass
class FakeDeepL(FakeServer):
    key: str = "279a2e9d-83b3-c416-7e2d-f721593e42a0:fx"

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v2/translate", self.translate)]

    async def translate(self, request: web.Request) -> web.Response:
        self.record(request)
        if request.headers.get("Authorization") != f"DeepL-Auth-Key {self.key}":
            return web.Response(status=403)
        body = orjson.loads(await request.read())
        self.requests.append(body)
        texts = body.get("text")
        if not isinstance(texts, list) or not texts or not all(isinstance(text, str) for text in texts):
            return web.json_response({"message": "Parameter 'text' not specified."}, status=400)
        target = str(body.get("target_lang") or "").upper()
        if target not in TARGET_LANGS:
            return web.json_response({"message": "Value for 'target_lang' not supported."}, status=400)
        return web.json_response({"translations": [{"detected_source_language": "EN", "text": f"{target}: {text}"}
                                                   for text in texts]})
