"""Fakes of the balance endpoints One API reads (SPEC §5.3), each with that service's answer shape and
its way of passing the key (Bearer header, ``Api-Key`` header, or ``?api_key=``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.server import FakeServer


def _credit_grants(available: float, field_name: str = "total_available") -> dict[str, Any]:
    return {"object": "credit_summary", "total_granted": available + 5, "total_used": 5, field_name: available,
            "grants": {"object": "list", "data": []}}


# service -> (path, how the key travels, answer for a balance of 42.5 "units")
SERVICES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "closeai": ("/dashboard/billing/credit_grants", "bearer", _credit_grants(42.5)),
    "openai_sb": ("/sb-api/user/status", "query", {"msg": "ok", "data": {"credit": "42.5", "level": 1}}),
    "aiproxy": ("/api/report/getUserOverview", "api-key",
                {"success": True, "error_code": 0, "message": "", "data": {"totalPoints": 42.5, "usedPoints": 7}}),
    "api2gpt": ("/dashboard/billing/credit_grants", "bearer", _credit_grants(42.5, "total_remaining")),
    "aigc2d": ("/dashboard/billing/credit_grants", "bearer", _credit_grants(42.5)),
    "siliconflow": ("/v1/user/info", "bearer",
                    {"code": 20000, "message": "OK", "status": True,
                     "data": {"id": "u1", "name": "n", "balance": "2.5", "chargeBalance": "40.00",
                              "totalBalance": "42.5", "status": "normal"}}),
    "deepseek": ("/user/balance", "bearer",
                 {"is_available": True, "balance_infos": [
                     {"currency": "USD", "total_balance": "1.00", "granted_balance": "0", "topped_up_balance": "1"},
                     {"currency": "CNY", "total_balance": "42.50", "granted_balance": "2.50",
                      "topped_up_balance": "40.00"}]}),
    "openrouter": ("/v1/credits", "bearer", {"data": {"total_credits": 50, "total_usage": 7.5}}),
}
REFUSALS: dict[str, dict[str, Any]] = {  # what each answers for a bad key, where it is not just HTTP 401
    "openai_sb": {"msg": "api_key 无效", "data": None},
    "aiproxy": {"success": False, "error_code": 1001, "message": "invalid api key", "data": None},
    "siliconflow": {"code": 20002, "message": "Invalid token", "status": False, "data": None},
    "deepseek": {"is_available": False, "balance_infos": [{"currency": "USD", "total_balance": "0"}]},
}


@dataclass
class FakeBalance(FakeServer):
    service: str
    key: str = "sk-balance"
    seen: list[dict[str, str]] = field(default_factory=list)

    def routes(self) -> list[web.RouteDef]:
        return [web.get(SERVICES[self.service][0], self.answer)]

    def _authorized(self, request: web.Request) -> bool:
        style = SERVICES[self.service][1]
        if style == "bearer":
            return request.headers.get("Authorization") == f"Bearer {self.key}"
        if style == "api-key":
            return request.headers.get("Api-Key") == self.key
        return request.query.get("api_key") == self.key

    async def answer(self, request: web.Request) -> web.Response:
        self.seen.append(dict(request.query))
        if not self._authorized(request):
            refusal = REFUSALS.get(self.service)
            return web.json_response(refusal) if refusal else web.json_response(
                {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}, status=401)
        return web.json_response(SERVICES[self.service][2])
