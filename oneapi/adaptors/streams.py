"""Reading a provider's streamed body as it arrives: lines, SSE ``data:`` payloads, newline-delimited JSON."""

from __future__ import annotations

from collections.abc import AsyncIterator

from oneapi.adaptors.transport import Answer


async def iter_line_batches(resp: Answer) -> AsyncIterator[list[bytes]]:
    """The complete lines of each network read, as soon as it arrives (without line endings; any length).

    Handing over a whole read lets a relay forward everything that arrived together in one write.
    """
    rest = b""
    async for data in resp.content.iter_any():
        lines = (rest + data).split(b"\n")
        rest = lines.pop()
        if lines:
            yield [line.rstrip(b"\r") for line in lines]
    if rest:
        yield [rest.rstrip(b"\r")]


async def iter_lines(resp: Answer) -> AsyncIterator[bytes]:
    """The response body line by line as it arrives, without line endings; any line length."""
    async for lines in iter_line_batches(resp):
        for line in lines:
            yield line


def _sse_payloads(lines: list[bytes]) -> tuple[list[bytes], bool]:
    """The payloads of the ``data:`` lines (with or without the space) among ``lines``, and whether [DONE] came
    (what follows it is dropped)."""
    payloads: list[bytes] = []
    for line in lines:
        if not line.startswith(b"data:"):
            continue
        payload = line[5:].lstrip(b" ").rstrip(b"\r")
        if payload == b"[DONE]":
            return payloads, True
        if payload:
            payloads.append(payload)
    return payloads, False


async def iter_sse_batches(resp: Answer) -> AsyncIterator[list[bytes]]:
    """The payloads of the ``data:`` lines of each network read; stops at [DONE]. It splits the reads itself
    rather than through ``iter_line_batches``: one generator less per read, on every chunk of every stream."""
    rest = b""
    async for data in resp.content.iter_any():
        lines = (rest + data if rest else data).split(b"\n")
        rest = lines.pop()
        payloads, done = _sse_payloads(lines)
        if payloads:
            yield payloads
        if done:
            return
    if rest:
        payloads, _ = _sse_payloads([rest])
        if payloads:
            yield payloads


async def iter_sse_data(resp: Answer) -> AsyncIterator[bytes]:
    """The payloads of ``data:`` lines (with or without the space), ``[DONE]`` excluded."""
    async for payloads in iter_sse_batches(resp):
        for payload in payloads:
            yield payload


async def iter_ndjson(resp: Answer) -> AsyncIterator[bytes]:
    """The non-blank lines of a newline-delimited JSON stream, one JSON document each."""
    async for line in iter_lines(resp):
        if line.strip():
            yield line
