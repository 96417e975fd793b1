"""Token counting with tiktoken from the BPE files shipped inside the package: never a download (SPEC §3.3)."""

from __future__ import annotations

import base64
import functools
import struct
from typing import TYPE_CHECKING, Any

from oneapi.resources import tokenizer_dir

if TYPE_CHECKING:
    import tiktoken

_ENCODINGS: dict[str, tuple[str, str, dict[str, int]]] = {
    "cl100k_base": (
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
        r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
        {
            "<|endoftext|>": 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            "<|endofprompt|>": 100276,
        },
    ),
    "o200k_base": (
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        "|".join(
            [
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""\p{N}{1,3}""",
                r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
                r"""\s*[\r\n]+""",
                r"""\s+(?!\S)""",
                r"""\s+""",
            ]
        ),
        {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
    ),
}


@functools.cache
def get_encoding(name: str) -> tiktoken.Encoding:
    """Load a BPE table on first use (0.1-0.2 s and 40-70 MB each): most requests never need one."""
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe

    sha256, pat_str, special = _ENCODINGS[name]
    ranks = load_tiktoken_bpe(str(tokenizer_dir() / f"{name}.tiktoken"), expected_hash=sha256)
    return tiktoken.Encoding(name=name, pat_str=pat_str, mergeable_ranks=ranks, special_tokens=special)


def encoding_name_for_model(model: str) -> str:
    """o200k for the gpt-4o / o-series family, cl100k for everything else (as One API does)."""
    if model.startswith(("gpt-4o", "o1", "o3", "o4", "chatgpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5")):
        return "o200k_base"
    return "cl100k_base"


class TokenCounter:
    """Counts tokens like One API: tiktoken, or ``bytes × 0.38`` when ApproximateTokenEnabled."""

    def __init__(self, approximate: bool = False) -> None:
        self.approximate = approximate

    def text(self, text: str, model: str) -> int:
        if not text:
            return 0
        if self.approximate:
            return int(len(text.encode()) * 0.38)
        return len(get_encoding(encoding_name_for_model(model)).encode(text, disallowed_special=()))

    def messages(self, messages: list[dict[str, Any]], model: str) -> int:
        per_message, per_name = (4, -1) if model == "gpt-3.5-turbo-0301" else (3, 1)
        total = 0
        for message in messages:
            if not isinstance(message, dict):
                continue
            total += per_message
            content = message.get("content")
            if isinstance(content, str):
                total += self.text(content, model)
            elif isinstance(content, list):
                for part in content:
                    if not isinstance(part, dict):
                        continue
                    if part.get("type") == "text":
                        total += self.text(str(part.get("text") or ""), model)
                    elif part.get("type") == "image_url":
                        total += image_tokens(part.get("image_url"), model)
            total += self.text(str(message.get("role") or ""), model)
            name = message.get("name")
            if isinstance(name, str) and name:
                total += per_name + self.text(name, model)
        return total + 3

    def prompt(self, body: dict[str, Any], model: str) -> int:
        """The prompt estimate used for the reservation, by request kind."""
        if isinstance(body.get("messages"), list):
            return self.messages(body["messages"], model)
        for key in ("prompt", "input"):
            value = body.get(key)
            if isinstance(value, str):
                return self.text(value, model)
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                # One API counts 0 for arrays; we count them (SPEC §10.2 billing inaccuracy).
                return sum(self.text(v, model) for v in value)
        return 0


# A remote image is not fetched on the hot path; it is estimated as a 1024x1024 picture at high detail.
REMOTE_IMAGE_SIZE = (1024, 1024)


def image_tokens(image_url: Any, model: str) -> int:
    if isinstance(image_url, str):
        url, detail = image_url, "auto"
    elif isinstance(image_url, dict):
        url, detail = str(image_url.get("url") or ""), str(image_url.get("detail") or "auto")
    else:
        return 0
    mini = model.startswith("gpt-4o-mini")
    base, per_tile = (2833, 5667) if mini else (85, 170)
    if detail == "low":
        return base
    width, height = _data_url_size(url) or REMOTE_IMAGE_SIZE
    if max(width, height) > 2048:
        scale = 2048 / max(width, height)
        width, height = int(width * scale), int(height * scale)
    if width > 768 and height > 768:
        scale = 768 / min(width, height)
        width, height = int(width * scale), int(height * scale)
    tiles = -(-width // 512) * -(-height // 512)
    return tiles * per_tile + base


def _data_url_size(url: str) -> tuple[int, int] | None:
    if not url.startswith("data:") or "," not in url:
        return None
    try:
        head = base64.b64decode(url.split(",", 1)[1][:4096] + "===")[:4096]
    except ValueError:
        return None
    return image_size(head)


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from the first bytes of a PNG, GIF, JPEG or WebP file."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP" and len(data) >= 30:
        if data[12:16] == b"VP8X":
            w = int.from_bytes(data[24:27], "little") + 1
            h = int.from_bytes(data[27:30], "little") + 1
            return w, h
        if data[12:16] == b"VP8 ":
            w, h = struct.unpack("<HH", data[26:30])
            return w & 0x3FFF, h & 0x3FFF
    if data.startswith(b"\xff\xd8"):
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            length = struct.unpack(">H", data[i + 2 : i + 4])[0]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                h, w = struct.unpack(">HH", data[i + 5 : i + 9])
                return w, h
            i += 2 + length
    return None
