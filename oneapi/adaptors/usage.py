"""Token usage as the relay records it, and the readers of providers' own usage objects."""

from __future__ import annotations

from dataclasses import dataclass


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
