"""Channel health: switch a channel off when its provider says the key is dead (SPEC §5.2).

Two rules, as in One API: an error that means "this key will not work" (401, bad key, no balance…)
disables the channel when AutomaticDisableChannelEnabled is on; with ENABLE_METRIC, a channel whose
recent success rate drops under METRIC_SUCCESS_RATE_THRESHOLD is disabled as well.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from oneapi.accounts.notify import channel_disabled
from oneapi.constants import ChannelStatus
from oneapi.db.models import Channel
from oneapi.errors import RelayError
from oneapi.state import AppState

logger = logging.getLogger(__name__)

_DISABLING_TYPES = {"insufficient_quota", "authentication_error", "permission_error", "forbidden"}
_DISABLING_CODES = {"invalid_api_key", "account_deactivated"}
_DISABLING_PHRASES = (
    "your access was terminated", "violation of our policies", "your credit balance is too low",
    "organization has been disabled", "credit", "balance", "permission denied",
    "organization has been restricted", "api key not valid", "api key expired", "已欠费",
)
_windows: dict[int, deque[bool]] = {}
_tasks: set[asyncio.Task[None]] = set()


def should_disable(error: RelayError) -> bool:
    if not error.upstream:
        return False
    if error.status == 401 or error.type in _DISABLING_TYPES or str(error.code) in _DISABLING_CODES:
        return True
    message = error.message.lower()
    return any(phrase in message for phrase in _DISABLING_PHRASES)


def _disable(state: AppState, channel: Channel, reason: str) -> None:
    if channel.status != ChannelStatus.ENABLED:
        return
    logger.warning("disabling channel #%s (%s): %s", channel.id, channel.name, reason)
    channel.status = int(ChannelStatus.AUTO_DISABLED)  # stop routing to it before the write lands
    state.cache.put_channel(channel)
    from oneapi.channels import set_channel_status

    task = asyncio.get_running_loop().create_task(
        set_channel_status(state, channel.id, ChannelStatus.AUTO_DISABLED))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    channel_disabled(state, channel, reason)


def record_failure(state: AppState, channel: Channel, error: RelayError) -> None:
    if not error.upstream:
        return
    if state.options.bool("AutomaticDisableChannelEnabled") and should_disable(error):
        _disable(state, channel, error.message)
        return
    if state.settings.enable_metric:
        window = _window(state, channel.id)
        window.append(False)
        size = state.settings.metric_queue_size
        if len(window) >= size and window.count(True) / len(window) < state.settings.metric_success_rate_threshold:
            window.clear()
            _disable(state, channel, "success rate below METRIC_SUCCESS_RATE_THRESHOLD")


def record_success(state: AppState, channel: Channel) -> None:
    if state.settings.enable_metric:
        _window(state, channel.id).append(True)


def _window(state: AppState, channel_id: int) -> deque[bool]:
    window = _windows.get(channel_id)
    if window is None:
        window = _windows[channel_id] = deque(maxlen=state.settings.metric_queue_size)
    return window
