"""Where ``?next=`` may send the browser: a path on this site, nothing else (no open redirect).

Browsers forgive a lot (``/\\evil``, ``/%2F/evil``, a tab inside ``//``), so the rule is strict and
checked on the raw value and on its percent-decoded forms alike.
"""

from __future__ import annotations

from urllib.parse import unquote


def _is_local(path: str) -> bool:
    return (path.startswith("/") and not path.startswith("//") and "\\" not in path
            and not any(ord(c) < 0x20 or ord(c) == 0x7F for c in path))


def safe_redirect(value: str | None, default: str = "/") -> str:
    """``value`` when it is a same-site relative path (exactly one leading ``/``), else ``default``."""
    if not value:
        return default
    seen = value
    for _ in range(3):  # double- and triple-encoded tricks included
        if not _is_local(seen):
            return default
        decoded = unquote(seen)
        if decoded == seen:
            return value
        seen = decoded
    return default
