"""Price lookups and the quota formula, with One API's key order and fallbacks (SPEC §3.2, §3.5)."""

from __future__ import annotations

import logging
import math
from typing import Any

from oneapi.billing.defaults import DEFAULT_COMPLETION_RATIO, DEFAULT_MODEL_RATIO
from oneapi.options import Options

logger = logging.getLogger(__name__)

UNKNOWN_MODEL_RATIO = 30.0


def _strip_internet(name: str) -> str:
    if name.endswith("-internet") and name.startswith(("qwen-", "command-")):
        return name[: -len("-internet")]
    return name


def _table_ratio(table: dict[str, Any], defaults: dict[str, float], name: str, channel_type: int) -> float | None:
    """``name(channel_type)`` before ``name``, each looked up in the option's table before the defaults."""
    for key in (f"{name}({channel_type})", name):
        if key in table:
            return float(table[key])
        if key in defaults:
            return float(defaults[key])
    return None


def model_ratio(options: Options, name: str, channel_type: int) -> float:
    name = _strip_internet(name)
    ratio = _table_ratio(options.json("ModelRatio"), DEFAULT_MODEL_RATIO, name, channel_type)
    if ratio is None:
        logger.warning("model ratio not found: %s; using %s", name, UNKNOWN_MODEL_RATIO)
        return UNKNOWN_MODEL_RATIO
    return ratio


def completion_ratio(options: Options, name: str, channel_type: int) -> float:
    if name.startswith("qwen-") and name.endswith("-internet"):  # unlike model_ratio, command-* keeps its suffix
        name = name[: -len("-internet")]
    ratio = _table_ratio(options.json("CompletionRatio"), DEFAULT_COMPLETION_RATIO, name, channel_type)
    return _completion_ratio_by_name(name) if ratio is None else ratio


_EXACT_COMPLETION = {
    "llama2-70b-4096": 80 / 64,  # Go evaluates 0.8 / 0.64 exactly
    "llama3-8b-8192": 2.0,
    "llama3-70b-8192": 79 / 59,  # 0.79 / 0.59
    "command": 2.0,
    "command-light": 2.0,
    "command-nightly": 2.0,
    "command-light-nightly": 2.0,
    "command-r": 3.0,
    "command-r-plus": 5.0,
    "grok-beta": 3.0,
    "chatgpt-4o-latest": 3.0,
    # Replicate models
    "ibm-granite/granite-20b-code-instruct-8k": 5.0,
    "ibm-granite/granite-3.0-2b-instruct": 8.333333333333334,
    "ibm-granite/granite-3.0-8b-instruct": 5.0,
    "ibm-granite/granite-8b-code-instruct-128k": 5.0,
    "meta/llama-2-13b": 5.0,
    "meta/llama-2-13b-chat": 5.0,
    "meta/llama-2-7b": 5.0,
    "meta/llama-2-7b-chat": 5.0,
    "meta/meta-llama-3-8b": 5.0,
    "meta/meta-llama-3-8b-instruct": 5.0,
    "meta/llama-2-70b": 2750 / 650,
    "meta/llama-2-70b-chat": 2750 / 650,
    "meta/meta-llama-3-70b": 2750 / 650,
    "meta/meta-llama-3-70b-instruct": 2750 / 650,
    "meta/meta-llama-3.1-405b-instruct": 1.0,
    "mistralai/mistral-7b-instruct-v0.2": 5.0,
    "mistralai/mistral-7b-v0.1": 5.0,
    "mistralai/mixtral-8x7b-instruct-v0.1": 1000 / 300,
}


def _completion_ratio_by_name(name: str) -> float:
    if name.startswith("gpt-3.5"):
        if name == "gpt-3.5-turbo" or name.endswith("0125"):
            return 3.0
        if name.endswith("1106"):
            return 2.0
        return 4.0 / 3.0
    if name.startswith("gpt-4o"):
        return 3.0 if name == "gpt-4o-2024-05-13" else 4.0
    if name.startswith("gpt-4"):
        return 3.0 if name.startswith("gpt-4-turbo") or name.endswith("preview") else 2.0
    if name.startswith("o1"):
        return 4.0
    if name in _EXACT_COMPLETION:
        return _EXACT_COMPLETION[name]
    if name.startswith("claude-3"):
        return 5.0
    if name.startswith("claude-"):
        return 3.0
    if name.startswith(("mistral-", "gemini-")):
        return 3.0
    if name.startswith("deepseek-"):
        return 2.0
    return 1.0


def group_ratio(options: Options, group: str) -> float:
    table = options.json("GroupRatio")
    if group in table:
        return float(table[group])
    logger.warning("group ratio not found: %s; using 1", group)
    return 1.0


# The prompt cache's prices relative to an uncached prompt token (Anthropic's: reads 0.1x, writes 1.25x).
CACHE_READ_RATIO = 0.1
CACHE_WRITE_RATIO = 1.25


def cached_prompt(prompt_tokens: int, cache_read: int, cache_write: int) -> float:
    """The prompt in uncached-token units, when ``cache_read`` and ``cache_write`` of its tokens met the cache."""
    return prompt_tokens + cache_read * (CACHE_READ_RATIO - 1) + cache_write * (CACHE_WRITE_RATIO - 1)


def text_quota(prompt_tokens: float, completion_tokens: int, ratio: float, completion_ratio_: float) -> int:
    """``ceil((prompt + completion × completionRatio) × ratio)``, at least 1 when anything was used and priced."""
    if prompt_tokens + completion_tokens == 0:
        return 0
    quota = math.ceil((prompt_tokens + completion_tokens * completion_ratio_) * ratio)
    if ratio != 0 and quota <= 0:
        quota = 1
    return quota


def pre_consume_quota(prompt_tokens: int, max_tokens: int, ratio: float, pre_consumed_quota: int) -> int:
    """The reservation made before calling upstream: ``int((PreConsumedQuota + prompt + max_tokens) × ratio)``."""
    return int((pre_consumed_quota + prompt_tokens + max(max_tokens, 0)) * ratio)
