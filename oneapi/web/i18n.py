"""The pages' languages: gettext catalogues under ``oneapi/locales/<lang>/LC_MESSAGES/messages.po``.

Adding a language is adding one ``.po`` file: its folder name is the language (``zh_CN`` -> ``zh-CN``) and
its ``language.name`` entry is what the switcher shows. Three kinds of entry live in each catalogue:

- page texts, keyed by a symbolic msgid (``nav.home``) and filled with ``{name}`` slots by ``translate``;
- server messages (msgctxt ``server``): the API answers in One API's Chinese (clients match on those texts)
  or in this server's English, and the pages show the reader's language; ``{0}`` slots match any text;
- channel type names (msgctxt ``channel_type``), keyed by One API's Chinese names.

The one-file build ships ``.mo`` files compiled by Babel (oneapi.spec); a checkout compiles the ``.po``
sources in memory at start, so editing a ``.po`` file needs no build step.
"""

from __future__ import annotations

import gettext
import io
from functools import cache
from pathlib import Path

from oneapi.constants import CHANNEL_TYPE_INFO, ChannelType
from oneapi.resources import locales_dir

COOKIE = "lang"
DEFAULT_LANGUAGE = "en"
DOMAIN = "messages"
_CONTEXT = "\x04"  # how gettext joins msgctxt and msgid in a compiled catalogue


def _load(folder: Path) -> gettext.GNUTranslations:
    compiled = folder / "LC_MESSAGES" / f"{DOMAIN}.mo"
    if compiled.exists():
        data = compiled.read_bytes()
    else:  # a checkout compiles its .po sources; the build ships .mo files and no Babel
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        with open(folder / "LC_MESSAGES" / f"{DOMAIN}.po", "rb") as source:
            catalogue = read_po(source)
        buffer = io.BytesIO()
        write_mo(buffer, catalogue)
        data = buffer.getvalue()
    return gettext.GNUTranslations(io.BytesIO(data))


def _discover() -> dict[str, gettext.GNUTranslations]:
    found = {}
    for folder in sorted(p for p in locales_dir().iterdir() if (p / "LC_MESSAGES").is_dir()):
        found[folder.name.replace("_", "-")] = _load(folder)
    return found


TRANSLATIONS: dict[str, gettext.GNUTranslations] = _discover()
LANGUAGES: tuple[str, ...] = tuple(TRANSLATIONS)


def _entries(lang: str) -> dict[str, str]:
    # GNUTranslations keeps every entry in _catalog; there is no public way to list them.
    return {k: v for k, v in TRANSLATIONS[lang]._catalog.items() if isinstance(k, str) and k}  # type: ignore[attr-defined]


def _with_context(lang: str, context: str) -> dict[str, str]:
    prefix = context + _CONTEXT
    return {k[len(prefix):]: v for k, v in _entries(lang).items() if k.startswith(prefix)}


CATALOGUE: dict[str, dict[str, str]] = {
    lang: {k: v for k, v in _entries(lang).items() if _CONTEXT not in k} for lang in LANGUAGES
}
LANGUAGE_NAMES: dict[str, str] = {lang: CATALOGUE[lang]["language.name"] for lang in LANGUAGES}
SERVER_MESSAGES: dict[str, dict[str, str]] = {lang: _with_context(lang, "server") for lang in LANGUAGES}
_CHANNEL_TYPE_NAMES: dict[str, dict[str, str]] = {lang: _with_context(lang, "channel_type") for lang in LANGUAGES}


def catalogue(lang: str) -> dict[str, str]:
    return CATALOGUE[lang]


def has(key: str) -> bool:
    return key in CATALOGUE[DEFAULT_LANGUAGE]


def translate(lang: str, key: str, **params: object) -> str:
    """The text of ``key`` in ``lang`` with ``{name}`` slots filled; an unknown key shows as itself."""
    text = CATALOGUE[lang].get(key, key)
    return text.format(**params) if params else text


def gettext_for(lang: str) -> gettext.GNUTranslations:
    """The catalogue behind Jinja2's i18n extension (``_()``, ``{% trans %}``) for one language."""
    return TRANSLATIONS[lang]


@cache
def server_messages(lang: str) -> list[tuple[str, str]]:
    """(message as the server may send it, text to show) pairs for the pages' scripts.

    The server sends One API's Chinese or its own English; either is shown in ``lang``. Longer patterns come
    first so that a message is not matched by a pattern that is only its prefix.
    """
    shown = SERVER_MESSAGES[lang]
    english = SERVER_MESSAGES.get(DEFAULT_LANGUAGE, {})
    pairs: dict[str, str] = {}
    for chinese, text in shown.items():
        for sent in (chinese, english.get(chinese, chinese)):
            if sent != text:
                pairs.setdefault(sent, text)
    return sorted(pairs.items(), key=lambda pair: -len(pair[0]))


def channel_type_name(lang: str, channel_type: ChannelType) -> str:
    name = CHANNEL_TYPE_INFO[channel_type][0]
    return _CHANNEL_TYPE_NAMES[lang].get(name) or name


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The cookie's choice, else the best of Accept-Language by q-value (``zh-TW`` picks ``zh-CN``: the
    primary subtag decides)."""
    if cookie in LANGUAGES:
        return cookie
    by_primary = {lang.split("-")[0].lower(): lang for lang in LANGUAGES}
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        lang = by_primary.get(tag.strip().lower().split("-")[0])
        if lang is not None and quality > 0:
            ranked.append((-quality, position, lang))
    return min(ranked)[2] if ranked else DEFAULT_LANGUAGE
