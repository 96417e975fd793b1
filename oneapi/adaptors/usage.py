"""Token usage as the relay records it, and the readers of providers' own usage objects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from oneapi.adaptors.base import RelayRequest


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reported: bool = False  # True when the provider said so, False for our tiktoken estimate
    cache_read_tokens: int = 0  # of prompt_tokens, read from the provider's prompt cache (cheaper)
    cache_write_tokens: int = 0  # of prompt_tokens, written to it (dearer)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def as_openai(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


def report_total_usage(req: RelayRequest, usage: Any, prompt: str, completion: str, total: str) -> None:
    """Counts given as prompt / completion / total under the provider's key names; a missing completion count
    is the total minus the prompt (embeddings report no completion)."""
    if isinstance(usage, dict) and usage.get(total):
        prompt_tokens = int(usage.get(prompt) or 0)
        completion_tokens = usage.get(completion)
        req.report_usage(prompt_tokens,
                         completion_tokens if completion_tokens is not None else usage[total] - prompt_tokens)
