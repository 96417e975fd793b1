"""Per-client counters kept in process memory stay bounded, whatever number of addresses or names arrive."""

from __future__ import annotations

import itertools
from collections.abc import MutableMapping
from typing import Any


def forget_oldest(counters: MutableMapping[Any, Any], limit: int) -> None:
    """When ``counters`` holds ``limit`` keys or more, drop the keys seen first (dicts keep insertion order) down
    to nine tenths of ``limit``, so that the next tenth of new clients costs no further sweep."""
    excess = len(counters) - limit
    if excess >= 0:
        for key in list(itertools.islice(counters, excess + limit // 10)):
            del counters[key]
