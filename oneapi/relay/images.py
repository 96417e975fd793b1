"""Image generation requests: One API's per-model limits and per-picture price (SPEC §2.7, §3.6)."""

from __future__ import annotations

from typing import Any

from oneapi.errors import RelayError

_SIZE_RATIOS: dict[str, dict[str, float]] = {
    "dall-e-2": {"256x256": 1, "512x512": 1.125, "1024x1024": 1.25},
    "dall-e-3": {"1024x1024": 1, "1024x1792": 2, "1792x1024": 2},
    "ali-stable-diffusion-xl": {"512x1024": 1, "1024x768": 1, "1024x1024": 1, "576x1024": 1, "1024x576": 1},
    "ali-stable-diffusion-v1.5": {"512x1024": 1, "1024x768": 1, "1024x1024": 1, "576x1024": 1, "1024x576": 1},
    "wanx-v1": {"1024x1024": 1, "720x1280": 1, "1280x720": 1},
    "step-1x-medium": {"256x256": 1, "512x512": 1, "768x768": 1, "1024x1024": 1, "1280x800": 1, "800x1280": 1},
}
_PROMPT_LIMITS = {"dall-e-2": 1000, "dall-e-3": 4000, "ali-stable-diffusion-xl": 4000,
                  "ali-stable-diffusion-v1.5": 4000, "wanx-v1": 4000, "step-1x-medium": 4000, "cogview-3": 833}
_N_RANGES = {"dall-e-2": (1, 10), "dall-e-3": (1, 1), "ali-stable-diffusion-xl": (1, 4),
             "ali-stable-diffusion-v1.5": (1, 4), "wanx-v1": (1, 4), "cogview-3": (1, 1), "step-1x-medium": (1, 1)}


def _error(message: str, code: str) -> RelayError:
    return RelayError(message, status=400, type="one_api_error", code=code)


def validate_image_request(body: dict[str, Any], model: str) -> None:
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise _error("prompt is required", "prompt_missing")
    size = body.get("size") or "1024x1024"
    if model in _SIZE_RATIOS and size not in _SIZE_RATIOS[model]:
        raise _error("size not supported for this image model", "size_not_supported")
    if len(prompt.encode()) > _PROMPT_LIMITS.get(model, 4000):
        raise _error("prompt is too long", "prompt_too_long")
    n = body.get("n") or 1
    low, high = _N_RANGES.get(model, (1, 10))
    if not isinstance(n, int) or not low <= n <= high:
        raise _error("invalid value of n", "n_not_within_range")


def image_quota(body: dict[str, Any], model: str, ratio: float) -> int:
    """``int(ratio × sizeRatio × 1000) × n``; dall-e-3 HD doubles (1024²) or adds half (other sizes)."""
    size = body.get("size") or "1024x1024"
    size_ratio = _SIZE_RATIOS.get(model, {}).get(size, 1)
    if model == "dall-e-3" and body.get("quality") == "hd":
        size_ratio *= 2 if size == "1024x1024" else 1.5
    return int(ratio * size_ratio * 1000) * int(body.get("n") or 1)
