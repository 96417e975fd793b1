"""One API's built-in price tables (SPEC §3.2): model ratio 1 = $0.002 per 1K prompt tokens."""

from __future__ import annotations

USD = 500.0
MILLI_USD = 0.5
RMB = 71.0  # One API computes USD / 7 in Go integer arithmetic

DEFAULT_MODEL_RATIO: dict[str, float] = {
    "gpt-3.5-turbo": 0.25,
    "gpt-4": 15,
    "gpt-4-32k": 30,
    "gpt-4-turbo": 5,
    "gpt-4o": 2.5,
    "gpt-4o-mini": 0.075,
    "o1": 7.5,
    "o1-preview": 7.5,
    "o1-mini": 1.5,
    "o3-mini": 1.5,
    "text-embedding-3-small": 0.01,
    "text-embedding-ada-002": 0.05,
    "text-embedding-3-large": 0.065,
    "whisper-1": 15,
    "tts-1": 7.5,
    "tts-1-hd": 15,
    "dall-e-2": 10,
    "dall-e-3": 20,
    "claude-3-5-sonnet-20241022": 1.5,
    "claude-3-opus-20240229": 7.5,
    "claude-3-haiku-20240307": 0.125,
    "gemini-1.5-pro": 0.625,
    "gemini-1.5-flash": 0.0375,
    "gemini-2.0-flash": 0.075,
    "ERNIE-4.0-8K": 8.52,
    "ERNIE-3.5-8K": 0.852,
    "glm-4-plus": 3.55,
    "glm-4-flash": 0,
    "qwen-turbo": 0.0213,
    "qwen-max": 0.1704,
    "SparkDesk-v3.5": 1.2858,
    "hunyuan-turbo": 1.065,
    "deepseek-chat": 0.07,
    "deepseek-reasoner": 0.275,
    "moonshot-v1-8k": 0.852,
}

DEFAULT_COMPLETION_RATIO: dict[str, float] = {
    "llama3-8b-8192(33)": 2,
    "llama3-70b-8192(33)": 0.0035 / 0.00265,
    "whisper-1": 0,
    "deepseek-chat": 2,
    "deepseek-reasoner": 2.19 / 0.55,
}

DEFAULT_GROUP_RATIO: dict[str, float] = {"default": 1, "vip": 1, "svip": 1}
