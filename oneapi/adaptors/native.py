"""A front door's request sent to a channel that speaks its format: the answer goes back byte for byte.

The adaptor only watches what passes (usage, streamed text) so billing is the provider's own count.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import orjson


async def forward_sse(resp: aiohttp.ClientResponse, watch: Callable[[dict[str, Any]], None]) -> AsyncIterator[bytes]:
    """The upstream's stream as it arrives, each network read in one piece; every JSON ``data:`` payload is
    shown to ``watch`` first."""
    rest = b""
    async for data in resp.content.iter_any():
        lines = (rest + data).split(b"\n")
        rest = lines.pop()
        for line in lines:
            if line.startswith(b"data:"):
                try:
                    payload = orjson.loads(line[5:].strip())
                except orjson.JSONDecodeError:
                    continue
                if isinstance(payload, dict):
                    watch(payload)
        yield data
