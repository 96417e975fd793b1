"""Fake sign-in providers speaking their real protocols: GitHub, Lark (Feishu passport), an OpenID Connect
provider with discovery, a WeChat Server, and Cloudflare Turnstile's siteverify.

Each checks the credentials it is sent (client id and secret, redirect URI, bearer token, server token,
Turnstile secret) and hands out single-use codes, as the real services do.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.server import FakeServer

CLIENT_ID = "client-id-123"
CLIENT_SECRET = "client-secret-456"


def _single_use(store: dict[str, Any], token: str, meaning: Any) -> str:
    """Hand out ``token``, remembering what it stands for (a profile, a WeChat id, a client IP) until it is used."""
    store[token] = meaning
    return token


@dataclass
class _CodeGrant(FakeServer):
    """The authorization-code half every OAuth provider shares: codes -> access tokens -> profiles."""

    redirect_uri: str = ""  # what the token request must name, when the provider checks it
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    grants: list[dict[str, Any]] = field(default_factory=list)

    def issue_code(self, profile: dict[str, Any]) -> str:
        """What the provider would append to the redirect after the user agreed."""
        return _single_use(self.codes, secrets.token_hex(10), profile)

    def exchange(self, body: dict[str, Any]) -> tuple[str | None, str]:
        """An access token for a good request, or (None, error code)."""
        self.grants.append(dict(body))
        if body.get("client_id") != CLIENT_ID or body.get("client_secret") != CLIENT_SECRET:
            return None, "invalid_client"
        if self.redirect_uri and body.get("redirect_uri") != self.redirect_uri:
            return None, "redirect_uri_mismatch"
        profile = self.codes.pop(str(body.get("code", "")), None)  # a code works once
        if profile is None:
            return None, "invalid_grant"
        token = secrets.token_hex(16)
        self.tokens[token] = profile
        return token, ""

    def profile(self, request: web.Request) -> dict[str, Any] | None:
        header = request.headers.get("Authorization", "")
        return self.tokens.get(header.removeprefix("Bearer ")) if header.startswith("Bearer ") else None


class FakeGitHub(_CodeGrant):
    """``callback`` and ``consenting`` make the authorize page act as a user who agrees at once."""

    callback: str = ""  # the OAuth app's registered callback URL
    consenting: dict[str, Any] | None = None

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/login/oauth/authorize", self.authorize),
                web.post("/login/oauth/access_token", self.access_token), web.get("/user", self.user)]

    async def authorize(self, request: web.Request) -> web.Response:
        if request.query.get("client_id") != CLIENT_ID or self.consenting is None:
            return web.Response(status=404, text="Not Found")
        code = self.issue_code(self.consenting)
        raise web.HTTPFound(f"{self.callback}?code={code}&state={request.query.get('state', '')}")

    async def access_token(self, request: web.Request) -> web.Response:
        token, error = self.exchange(await request.json())
        if token is None:
            description = {"invalid_client": "The client_id and/or client_secret passed are incorrect.",
                           "invalid_grant": "The code passed is incorrect or expired."}[error]
            return web.json_response({"error": "bad_verification_code" if error == "invalid_grant" else
                                      "incorrect_client_credentials", "error_description": description})
        return web.json_response({"access_token": token, "token_type": "bearer", "scope": "user:email"})

    async def user(self, request: web.Request) -> web.Response:
        profile = self.profile(request)
        if profile is None:
            return web.json_response({"message": "Bad credentials"}, status=401)
        return web.json_response({"id": 1, "node_id": "U_1", **profile})


class FakeLark(_CodeGrant):
    def routes(self) -> list[web.RouteDef]:
        return [web.post("/suite/passport/oauth/token", self.token),
                web.get("/suite/passport/oauth/userinfo", self.userinfo)]

    async def token(self, request: web.Request) -> web.Response:
        body = await request.json()
        token, error = self.exchange(body) if body.get("grant_type") == "authorization_code" else (None, "bad")
        if token is None:
            return web.json_response({"error": error, "error_description": f"lark refused: {error}"}, status=400)
        return web.json_response({"access_token": token, "token_type": "Bearer", "expires_in": 7200})

    async def userinfo(self, request: web.Request) -> web.Response:
        profile = self.profile(request)
        if profile is None:
            return web.json_response({"code": 20005, "msg": "invalid access token"}, status=401)
        return web.json_response({"union_id": "on_1", "en_name": "", **profile})


class FakeOIDC(_CodeGrant):
    def routes(self) -> list[web.RouteDef]:
        return [web.get("/.well-known/openid-configuration", self.discovery),
                web.post("/oauth2/token", self.token), web.get("/oauth2/userinfo", self.userinfo)]

    @property
    def well_known(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"

    async def discovery(self, request: web.Request) -> web.Response:
        return web.json_response({"issuer": self.url, "authorization_endpoint": f"{self.url}/oauth2/authorize",
                                  "token_endpoint": f"{self.url}/oauth2/token",
                                  "userinfo_endpoint": f"{self.url}/oauth2/userinfo",
                                  "response_types_supported": ["code"]})

    async def token(self, request: web.Request) -> web.Response:
        form = dict(await request.post())  # client_secret_post, form-encoded as RFC 6749 says
        token, error = self.exchange(form) if form.get("grant_type") == "authorization_code" else (None, "bad")
        if token is None:
            return web.json_response({"error": error, "error_description": f"oidc refused: {error}"}, status=400)
        return web.json_response({"access_token": token, "token_type": "Bearer", "id_token": "x.y.z"})

    async def userinfo(self, request: web.Request) -> web.Response:
        profile = self.profile(request)
        if profile is None:
            return web.json_response({"error": "invalid_token"}, status=401)
        return web.json_response(profile)


@dataclass
class FakeWeChatServer(FakeServer):
    """songquanpeng/wechat-server: ``GET /api/wechat/user?code=`` with the server token in Authorization."""

    token: str = "wechat-server-token"
    codes: dict[str, str] = field(default_factory=dict)

    def issue_code(self, wechat_id: str) -> str:
        return _single_use(self.codes, secrets.token_hex(3), wechat_id)

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/api/wechat/user", self.user)]

    async def user(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != self.token:
            return web.json_response({"success": False, "message": "无权进行此操作，Token 无效"})
        wechat_id = self.codes.pop(request.query.get("code", ""), "")
        if not wechat_id:
            return web.json_response({"success": False, "message": "验证码错误或已过期"})
        return web.json_response({"success": True, "message": "", "data": wechat_id})


@dataclass
class FakeTurnstile(FakeServer):
    """Cloudflare's siteverify: a token passes once, for the right secret and the client IP it was made for."""

    secret: str = "turnstile-secret"
    tokens: dict[str, str] = field(default_factory=dict)  # token -> remote IP
    checks: list[dict[str, str]] = field(default_factory=list)

    @property
    def verify_url(self) -> str:
        return f"{self.url}/turnstile/v0/siteverify"

    def solve(self, ip: str = "127.0.0.1") -> str:
        return _single_use(self.tokens, secrets.token_urlsafe(16), ip)

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/turnstile/v0/siteverify", self.siteverify)]

    async def siteverify(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.checks.append(form)
        if form.get("secret") != self.secret:
            return web.json_response({"success": False, "error-codes": ["invalid-input-secret"]})
        ip = self.tokens.pop(form.get("response", ""), None)
        if ip is None:
            return web.json_response({"success": False, "error-codes": ["timeout-or-duplicate"]})
        if form.get("remoteip") != ip:
            return web.json_response({"success": False, "error-codes": ["invalid-input-response"]})
        return web.json_response({"success": True, "challenge_ts": "2026-01-01T00:00:00Z", "hostname": "gw"})
