"""The provider balance behind a channel (``GET /api/channel/update_balance/:id``), per type as One API
asks each service (SPEC §5.3), stored on the channel in the service's own unit.

Services with a fixed balance URL are asked there, unless the channel names a base URL of its own (a
mirror or a gateway in front of the service): then that host answers the same path.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import aiohttp

from oneapi.channels import record_channel_values
from oneapi.constants import ChannelType, default_base_url
from oneapi.db.models import Channel
from oneapi.errors import ApiError
from oneapi.state import AppState

BALANCE_TIMEOUT = aiohttp.ClientTimeout(total=30)
Query = Callable[[AppState, Channel], Awaitable[float]]


async def _get_json(state: AppState, url: str, headers: dict[str, str]) -> dict[str, Any]:
    try:
        async with state.http.get(url, headers=headers, timeout=BALANCE_TIMEOUT) as resp:
            if resp.status != 200:
                raise ApiError(f"status code: {resp.status}")
            data = await resp.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise ApiError(f"查询余额失败：{exc or type(exc).__name__}") from None
    if not isinstance(data, dict):
        raise ApiError("查询余额失败：上游返回的不是 JSON 对象")
    return data


def _number(value: Any) -> float:
    """A JSON number or a numeric string (several services send amounts as strings)."""
    if isinstance(value, bool):
        raise ApiError("查询余额失败：上游返回的数值无效")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ApiError(f"查询余额失败：上游返回的数值无效（{value!r}）") from None


def _object(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name)
    return value if isinstance(value, dict) else {}


def _bearer(channel: Channel) -> dict[str, str]:
    return {"Authorization": f"Bearer {channel.key}"}


def _host(channel: Channel, fixed: str) -> str:
    """``fixed`` (One API's URL host), or the channel's own base URL when it set one."""
    own = (channel.base_url or "").rstrip("/")
    return own if own and own != default_base_url(channel.type).rstrip("/") else fixed


async def _openai(state: AppState, channel: Channel) -> float:
    """OpenAI and custom channels: the subscription's hard limit minus this period's usage (in cents)."""
    base = (channel.base_url or default_base_url(channel.type)).rstrip("/")
    subscription = await _get_json(state, f"{base}/v1/dashboard/billing/subscription", _bearer(channel))
    today = datetime.datetime.now(datetime.UTC).date()
    start = today.replace(day=1) if subscription.get("has_payment_method") else today - datetime.timedelta(days=100)
    usage = await _get_json(state, f"{base}/v1/dashboard/billing/usage?start_date={start}&end_date={today}",
                            _bearer(channel))
    return _number(subscription.get("hard_limit_usd") or 0) - _number(usage.get("total_usage") or 0) / 100


async def _closeai(state: AppState, channel: Channel) -> float:
    base = (channel.base_url or default_base_url(channel.type)).rstrip("/")
    grants = await _get_json(state, f"{base}/dashboard/billing/credit_grants", _bearer(channel))
    return _number(grants.get("total_available"))


async def _openai_sb(state: AppState, channel: Channel) -> float:
    host = _host(channel, "https://api.openai-sb.com")
    answer = await _get_json(state, f"{host}/sb-api/user/status?api_key={quote(channel.key)}", _bearer(channel))
    data = answer.get("data")
    if not isinstance(data, dict):
        raise ApiError(str(answer.get("msg") or "查询余额失败：上游未返回 data"))
    return _number(data.get("credit"))


async def _aiproxy(state: AppState, channel: Channel) -> float:
    host = _host(channel, "https://aiproxy.io")
    answer = await _get_json(state, f"{host}/api/report/getUserOverview", {"Api-Key": channel.key})
    if answer.get("success") is not True:
        raise ApiError(f"code: {answer.get('error_code', 0)}, message: {answer.get('message', '')}")
    return _number(_object(answer, "data").get("totalPoints"))


def _credit_grants(fixed_host: str, field: str) -> Query:
    """API2GPT and AIGC2D copy OpenAI's old credit_grants endpoint at a fixed host."""

    async def query(state: AppState, channel: Channel) -> float:
        grants = await _get_json(state, f"{_host(channel, fixed_host)}/dashboard/billing/credit_grants",
                                 _bearer(channel))
        return _number(grants.get(field))

    return query


async def _siliconflow(state: AppState, channel: Channel) -> float:
    answer = await _get_json(state, f"{_host(channel, 'https://api.siliconflow.cn')}/v1/user/info", _bearer(channel))
    if answer.get("code") != 20000:
        raise ApiError(f"code: {answer.get('code')}, message: {answer.get('message', '')}")
    return _number(_object(answer, "data").get("totalBalance"))


async def _deepseek(state: AppState, channel: Channel) -> float:
    answer = await _get_json(state, f"{_host(channel, 'https://api.deepseek.com')}/user/balance", _bearer(channel))
    infos = answer.get("balance_infos")
    for info in infos if isinstance(infos, list) else []:
        if isinstance(info, dict) and info.get("currency") == "CNY":
            return _number(info.get("total_balance"))
    raise ApiError("currency CNY not found")


async def _openrouter(state: AppState, channel: Channel) -> float:
    answer = await _get_json(state, f"{_host(channel, 'https://openrouter.ai/api')}/v1/credits", _bearer(channel))
    data = _object(answer, "data")
    return _number(data.get("total_credits") or 0) - _number(data.get("total_usage") or 0)


QUERIES: dict[int, Query] = {
    ChannelType.OPENAI: _openai,
    ChannelType.CUSTOM: _openai,
    ChannelType.CLOSEAI: _closeai,
    ChannelType.OPENAI_SB: _openai_sb,
    ChannelType.AIPROXY: _aiproxy,
    ChannelType.API2GPT: _credit_grants("https://api.api2gpt.com", "total_remaining"),
    ChannelType.AIGC2D: _credit_grants("https://api.aigc2d.com", "total_available"),
    ChannelType.SILICONFLOW: _siliconflow,
    ChannelType.DEEPSEEK: _deepseek,
    ChannelType.OPENROUTER: _openrouter,
}


async def update_balance(state: AppState, channel: Channel) -> float:
    """Ask the channel's service for its balance and store it with the time; ``尚未实现`` for other types."""
    query = QUERIES.get(channel.type)
    if query is None:
        raise ApiError("尚未实现")
    balance = await query(state, channel)
    await record_channel_values(state, channel.id, balance=balance, balance_updated_time=int(time.time()))
    return balance
