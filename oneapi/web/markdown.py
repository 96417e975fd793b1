"""Admin-written texts (Notice, HomePageContent, About) rendered as One API shows them.

One API's rule is kept: a value that is a bare ``https://`` URL becomes an iframe, a value written as HTML
is HTML, anything else is Markdown. Markdown goes through markdown-it-py (CommonMark plus GitHub's tables,
strikethrough and bare-URL links) with raw HTML off, so a Markdown text can never inject markup; the
admin's HTML goes through nh3, which keeps formatting and drops scripts, event handlers and unsafe URLs.
"""

from __future__ import annotations

from functools import lru_cache
from html import escape
from typing import TYPE_CHECKING

from markupsafe import Markup

if TYPE_CHECKING:
    from markdown_it import MarkdownIt


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    from markdown_it import MarkdownIt  # imported at the first page that shows a text, not at start-up

    return MarkdownIt("commonmark", {"html": False, "linkify": True}).enable(["table", "strikethrough", "linkify"])


def render_markdown(text: str) -> Markup:
    """Markdown to HTML, with any HTML in the text shown as text."""
    return Markup(_markdown().render(text))


def sanitize_html(html: str) -> Markup:
    """The admin's HTML without anything that runs: no script, no on* handlers, no javascript: URLs."""
    import nh3

    return Markup(nh3.clean(html, url_schemes={"http", "https", "mailto"}, link_rel=None))


def looks_like_html(text: str) -> bool:
    """One API passes HTML through: we treat a value that is one HTML fragment (``<…>``) as HTML by intent."""
    stripped = text.strip()
    return stripped.startswith("<") and stripped.endswith(">")


def is_frame_url(text: str) -> bool:
    """One API shows a Home/About value that is an https:// URL in an iframe."""
    text = text.strip()
    return text.startswith("https://") and not any(c.isspace() for c in text)


def render_rich(text: str | None, allow_iframe: bool = True) -> Markup:
    """An admin-written text as One API shows it: an iframe for an https URL, HTML (sanitised), else Markdown."""
    text = (text or "").strip()
    if not text:
        return Markup("")
    if allow_iframe and is_frame_url(text):
        return Markup(f'<iframe class="content-frame" src="{escape(text)}" title="content" '
                      'referrerpolicy="no-referrer"></iframe>')
    if looks_like_html(text):
        return sanitize_html(text)
    return render_markdown(text)
