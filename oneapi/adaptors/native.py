"""A front door's request sent to a channel that speaks its format: the answer goes back byte for byte.

The adaptor only watches what passes (usage, streamed text) so billing is the provider's own count.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable
from typing import Any

import orjson

from oneapi.adaptors.base import Completion, HttpAdaptor, RelayRequest
from oneapi.adaptors.transport import Answer
from oneapi.constants import RelayMode


def json_payloads(lines: Iterable[bytes]) -> list[dict[str, Any]]:
    """The JSON objects of the SSE ``data:`` lines among ``lines``; others (comments, event names) are skipped."""
    payloads = []
    for line in lines:
        if line.startswith(b"data:"):
            try:
                payload = orjson.loads(line[5:].strip())
            except orjson.JSONDecodeError:
                continue
            if isinstance(payload, dict):
                payloads.append(payload)
    return payloads


async def forward_sse(resp: Answer, watch: Callable[[dict[str, Any]], None]) -> AsyncIterator[bytes]:
    """The upstream's stream as it arrives, each network read in one piece; every JSON ``data:`` payload is
    shown to ``watch`` first."""
    rest = b""
    async for data in resp.content.iter_any():
        lines = (rest + data).split(b"\n")
        rest = lines.pop()
        for payload in json_payloads(lines):
            watch(payload)
        yield data


class PassThroughAdaptor(HttpAdaptor):
    """A provider that also has a front door: requests in its own format (``native_mode``) go as they are and
    come back as they are, the others are converted by the subclass's hooks."""

    native_mode: RelayMode

    def record_answer(self, req: RelayRequest, data: dict[str, Any]) -> None:
        """Record the usage of a whole native answer."""
        raise NotImplementedError

    def watcher(self, req: RelayRequest) -> Callable[[dict[str, Any]], None]:
        """What records usage and text from each event of a native stream."""
        raise NotImplementedError

    async def complete(self, req: RelayRequest) -> Completion:
        if req.mode != self.native_mode:
            return await super().complete(req)
        data = await self.fetch_json(req)
        self.record_answer(req, data)
        return Completion(orjson.dumps(data))

    async def stream(self, req: RelayRequest) -> AsyncGenerator[bytes, None]:
        if req.mode != self.native_mode:
            async for event in super().stream(req):
                yield event
            return
        resp = await self.send(req, await self.prepare(req))
        async with resp:
            async for data in forward_sse(resp, self.watcher(req)):
                yield data
