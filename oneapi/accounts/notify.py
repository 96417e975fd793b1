"""Notifications, always sent in the background so no request waits for them: the low-quota mail to a
user whose balance crosses QuotaRemindThreshold, and channel disabled/re-enabled messages to root, by
mail and through Message Pusher (MessagePusherAddress, MessagePusherToken) when configured."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

import aiohttp

from oneapi.accounts.mail import send_logged
from oneapi.constants import Role
from oneapi.db.models import Channel, User
from oneapi.logs import format_quota
from oneapi.state import AppState

logger = logging.getLogger(__name__)

PUSHER_TIMEOUT = aiohttp.ClientTimeout(total=10)
_tasks: set[asyncio.Task[Any]] = set()


def in_background(work: Coroutine[Any, Any, Any]) -> None:
    """Run ``work`` without anyone waiting for it (a reference is kept until it ends)."""
    task = asyncio.get_running_loop().create_task(work)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def drain(app: object = None) -> None:
    """Wait for the notifications under way (an ``on_shutdown`` callback)."""
    while _tasks:
        await asyncio.gather(*list(_tasks), return_exceptions=True)


# -- low quota ---------------------------------------------------------------------------------------
def quota_charged(state: AppState, user: User, before: int, after: int) -> None:
    """The ledger's ``on_charged``: mail the user once when this charge took them below the threshold
    (or to zero). A top-up above it and a later drop make a new crossing, and a new mail."""
    threshold = state.options.int("QuotaRemindThreshold")
    running_low = before >= threshold > after
    used_up = before > 0 >= after
    if (running_low or used_up) and user.email:
        in_background(_quota_mail(state, user.email, after, used_up))


async def _quota_mail(state: AppState, email: str, quota: int, used_up: bool) -> None:
    state_text = "您的额度已用尽" if used_up else "您的额度即将用尽"
    link = f"{state.options.server_address}/topup"
    await send_logged(state, email, "额度提醒",
                      f"<p>您好！</p><p>{state_text}，当前剩余额度为 <strong>{format_quota(state.options, quota)}"
                      f"</strong>。</p><p>为了不影响您的使用，请及时充值。</p>"
                      f"<p>充值链接：<a href='{link}'>{link}</a></p>")


# -- channel status ----------------------------------------------------------------------------------
def channel_disabled(state: AppState, channel: Channel, reason: str) -> None:
    subject = f"渠道「{channel.name}」（#{channel.id}）已被禁用"
    in_background(notify_root(state, subject, f"渠道「{channel.name}」（#{channel.id}）已被禁用，原因：{reason}"))


def channel_enabled(state: AppState, channel: Channel) -> None:
    subject = f"渠道「{channel.name}」（#{channel.id}）已被启用"
    in_background(notify_root(state, subject, subject))


async def notify_root(state: AppState, subject: str, content: str) -> None:
    """Tell root through every configured way: Message Pusher, and mail to root's address."""
    if state.options.get("MessagePusherAddress"):
        await push_message(state, subject, content)
    root = next((u for u in state.cache.users.values() if u.role == Role.ROOT), None)
    if root is not None and root.email and state.options.get("SMTPServer"):
        await send_logged(state, root.email, subject, f"<p>{content}</p>")


async def push_message(state: AppState, title: str, content: str) -> bool:
    """POST to Message Pusher (github.com/songquanpeng/message-pusher); logged, never raised."""
    options = state.options
    body = {"title": title, "description": content, "content": content, "token": options.get("MessagePusherToken")}
    try:
        async with state.http.post(options.get("MessagePusherAddress"), json=body, timeout=PUSHER_TIMEOUT) as resp:
            answer = await resp.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        logger.warning("message pusher unreachable: %s", exc or type(exc).__name__)
        return False
    if not isinstance(answer, dict) or answer.get("success") is not True:
        reason = answer.get("message") if isinstance(answer, dict) else answer
        logger.warning("message pusher refused %r: %s", title, reason)
        return False
    return True
