"""Where the files that travel with the code live: in the checkout, or unpacked from the one-file build."""

from __future__ import annotations

import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def _root() -> Path:
    frozen = getattr(sys, "_MEIPASS", None)
    return Path(frozen) if frozen else PACKAGE_DIR.parent


def templates_dir() -> Path:
    return _root() / "templates"


def static_dir() -> Path:
    return _root() / "static"


def tokenizer_dir() -> Path:
    return PACKAGE_DIR / "data" / "tokenizers"


def locales_dir() -> Path:
    """gettext catalogues: ``<lang>/LC_MESSAGES/messages.po`` (and the compiled ``.mo`` in the build)."""
    return PACKAGE_DIR / "locales"
