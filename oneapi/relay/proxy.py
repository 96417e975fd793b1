"""``/v1/oneapi/proxy/<channel>/<path>``: forward any request to a channel's base URL, unbilled (SPEC §2.11).

One API lets any token holder use this on any channel, unbilled and unlogged; here only tokens of
admins may, since it spends the channel's credentials without any accounting.
"""

from __future__ import annotations

import aiohttp
from aiohttp import web

from oneapi.constants import ChannelStatus, Role
from oneapi.errors import RelayError
from oneapi.relay.auth import authenticate_token
from oneapi.state import STATE

_DROPPED_REQUEST_HEADERS = {"host", "content-length", "accept-encoding", "connection", "authorization"}
_DROPPED_RESPONSE_HEADERS = {"content-length", "transfer-encoding", "connection", "content-encoding"}


async def proxy(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    caller = await authenticate_token(request, state)
    if caller.user.role < Role.ADMIN:
        raise RelayError("only tokens of admins may use the proxy route", status=403)
    channel_id = request.match_info["channel"]
    channel = state.cache.channel(int(channel_id)) if channel_id.isdigit() else None
    if channel is None:
        raise RelayError("无效的渠道 Id", status=400)
    if channel.status != ChannelStatus.ENABLED:
        raise RelayError("该渠道已被禁用", status=403)
    url = (channel.base_url or "").rstrip("/") + "/" + request.match_info["target"]
    if request.query_string:
        url += "?" + request.query_string
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROPPED_REQUEST_HEADERS}
    headers["Authorization"] = channel.key
    try:
        async with state.http.request(request.method, url, headers=headers, data=await request.read(),
                                      timeout=aiohttp.ClientTimeout(total=state.settings.relay_timeout or None)
                                      ) as upstream:
            response = web.StreamResponse(status=upstream.status, headers={
                k: v for k, v in upstream.headers.items() if k.lower() not in _DROPPED_RESPONSE_HEADERS})
            await response.prepare(request)
            async for data in upstream.content.iter_any():
                await response.write(data)
            await response.write_eof()
            return response
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise RelayError(f"the upstream could not be reached: {exc}", status=502, type="upstream_error") from None
