"""A small, safe Markdown renderer for the admin-written texts (Notice, HomePageContent, About).

One API renders these with ``marked``: Markdown, or HTML when the admin wrote HTML, or an iframe when the
whole value is an ``https://`` URL. We keep that convention, but Markdown text never lets raw HTML
through: every character that is not Markdown syntax is escaped, and links only take safe schemes.
"""

from __future__ import annotations

import re
from html import escape

from markupsafe import Markup

_SAFE_SCHEMES = ("http:", "https:", "mailto:")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_RULE = re.compile(r"^ {0,3}([-*_])(\s*\1){2,}\s*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)\s*([\w+-]*)\s*$")
_BULLET = re.compile(r"^( *)([-*+]|\d{1,9}[.)])\s+(.*)$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
_INLINE = re.compile(
    r"(?P<code>(`+)(?P<code_text>.+?)\2)"
    r"|(?P<image>!\[(?P<alt>[^\]]*)\]\((?P<src>[^)\s]+)(?:\s+\"(?P<img_title>[^\"]*)\")?\))"
    r"|(?P<link>\[(?P<text>[^\]]+)\]\((?P<href>[^)\s]+)(?:\s+\"(?P<title>[^\"]*)\")?\))"
    r"|(?P<autolink><(?P<auto>https?://[^>\s]+)>)"
    r"|(?P<url>https?://[^\s<>\"]*[^\s<>\".,;:!?)\]'])"
    r"|(?P<strong>\*\*(?P<strong_a>.+?)\*\*|(?<!\w)__(?P<strong_b>.+?)__(?!\w))"
    r"|(?P<em>\*(?P<em_a>[^\s*](?:.*?[^\s*])?)\*|(?<!\w)_(?P<em_b>[^\s_](?:.*?[^\s_])?)_(?!\w))"
    r"|(?P<strike>~~(?P<strike_text>.+?)~~)"
    r"|(?P<escaped>\\(?P<char>[\\`*_{}\[\]()#+\-.!~|>]))"
)


def safe_url(url: str) -> str | None:
    """The URL if it is relative or uses a harmless scheme; ``javascript:`` and friends become None."""
    compact = re.sub(r"[\x00-\x20]", "", url).lower()
    if ":" not in compact.split("/", 1)[0] or compact.startswith(_SAFE_SCHEMES):
        return url
    return None


def _link(href: str, inner: str, title: str | None) -> str:
    url = safe_url(href)
    if url is None:
        return inner
    attrs = f' href="{escape(url)}"'
    if title:
        attrs += f' title="{escape(title)}"'
    if url.startswith(("http://", "https://")):
        attrs += ' target="_blank" rel="noopener noreferrer"'
    return f"<a{attrs}>{inner}</a>"


def render_inline(text: str) -> str:
    """Inline Markdown to HTML; everything that is not syntax is escaped."""
    out: list[str] = []
    pos = 0
    for match in _INLINE.finditer(text):
        out.append(escape(text[pos:match.start()], quote=False))
        pos = match.end()
        kind = _kind(match)
        if kind == "code":
            out.append(f"<code>{escape(match['code_text'].strip(), quote=False)}</code>")
        elif kind == "image":
            src = safe_url(match["src"])
            if src is None:
                out.append(escape(match["alt"], quote=False))
            else:
                title = f' title="{escape(match["img_title"])}"' if match["img_title"] else ""
                out.append(f'<img src="{escape(src)}" alt="{escape(match["alt"])}"{title}>')
        elif kind == "link":
            out.append(_link(match["href"], render_inline(match["text"]), match["title"]))
        elif kind in ("autolink", "url"):
            url = match["auto"] or match["url"]
            out.append(_link(url, escape(url, quote=False), None))
        elif kind == "strong":
            out.append(f"<strong>{render_inline(match['strong_a'] or match['strong_b'])}</strong>")
        elif kind == "em":
            out.append(f"<em>{render_inline(match['em_a'] or match['em_b'])}</em>")
        elif kind == "strike":
            out.append(f"<del>{render_inline(match['strike_text'])}</del>")
        else:
            out.append(escape(match["char"], quote=False))
    out.append(escape(text[pos:], quote=False))
    return "".join(out)


_KINDS = ("code", "image", "link", "autolink", "url", "strong", "em", "strike", "escaped")


def _kind(match: re.Match[str]) -> str:
    return next(kind for kind in _KINDS if match.group(kind) is not None)


def _paragraph(lines: list[str]) -> str:
    parts = []
    for i, line in enumerate(lines):
        hard_break = i < len(lines) - 1 and (line.endswith("  ") or line.endswith("\\"))
        body = render_inline(line.rstrip(" \\") if hard_break else line.strip())
        parts.append(body + ("<br>" if hard_break else ""))
    return "<p>" + "\n".join(parts) + "</p>"


def _cells(row: str) -> list[str]:
    row = row.strip()
    if row.startswith("|"):
        row = row[1:]
    if row.endswith("|") and not row.endswith("\\|"):
        row = row[:-1]
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", row)]


def _table(lines: list[str]) -> str:
    head = "".join(f"<th>{render_inline(c)}</th>" for c in _cells(lines[0]))
    body = "".join(
        "<tr>" + "".join(f"<td>{render_inline(c)}</td>" for c in _cells(row)) + "</tr>" for row in lines[2:]
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _list(lines: list[str], start: int) -> tuple[str, int]:
    """A list starting at ``lines[start]``: its items, with indented lines (sub-lists too) inside them."""
    first = _BULLET.match(lines[start])
    assert first is not None
    indent = len(first.group(1))
    ordered = first.group(2)[0].isdigit()
    items: list[list[str]] = []
    i = start
    while i < len(lines):
        line = lines[i]
        bullet = _BULLET.match(line)
        if bullet and len(bullet.group(1)) == indent and bullet.group(2)[0].isdigit() == ordered:
            items.append([bullet.group(3)])
        elif not line.strip():
            if i + 1 < len(lines) and lines[i + 1].startswith(" " * (indent + 2)):
                items[-1].append("")
            else:
                break
        elif line.startswith(" " * (indent + 1)) or (items and not _BULLET.match(line) and items[-1][-1]):
            items[-1].append(line[indent + 2:] if line.startswith(" " * (indent + 2)) else line.strip())
        else:
            break
        i += 1
    tag = "ol" if ordered else "ul"
    start_attr = ""
    if ordered and (number := int(first.group(2)[:-1])) != 1:
        start_attr = f' start="{number}"'
    rendered = []
    for item in items:
        inner = _blocks(item)
        if inner.startswith("<p>") and inner.count("<p>") == 1:
            inner = inner[3:].replace("</p>", "", 1)
        rendered.append(f"<li>{inner}</li>")
    return f"<{tag}{start_attr}>" + "".join(rendered) + f"</{tag}>", i


def _blocks(lines: list[str]) -> str:
    out: list[str] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            out.append(_paragraph(paragraph))
            paragraph.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        fence = _FENCE.match(line)
        if fence:
            flush()
            end = i + 1
            while end < len(lines) and not lines[end].strip().startswith(fence.group(1)):
                end += 1
            lang = f' class="language-{escape(fence.group(2))}"' if fence.group(2) else ""
            code = escape("\n".join(lines[i + 1:end]), quote=False)
            out.append(f"<pre><code{lang}>{code}</code></pre>")
            i = end + 1
            continue
        if not stripped:
            flush()
        elif heading := _HEADING.match(stripped):
            flush()
            level = len(heading.group(1))
            out.append(f"<h{level}>{render_inline(heading.group(2))}</h{level}>")
        elif _RULE.match(line):
            flush()
            out.append("<hr>")
        elif stripped.startswith(">"):
            flush()
            quoted = []
            while i < len(lines) and lines[i].strip().startswith(">"):
                quoted.append(re.sub(r"^\s*> ?", "", lines[i]))
                i += 1
            out.append(f"<blockquote>{_blocks(quoted)}</blockquote>")
            continue
        elif _BULLET.match(line) and (not paragraph or not line.startswith(" ")):
            flush()
            html, i = _list(lines, i)
            out.append(html)
            continue
        elif "|" in stripped and i + 1 < len(lines) and _TABLE_RULE.match(lines[i + 1]) and "-" in lines[i + 1]:
            flush()
            end = i + 2
            while end < len(lines) and "|" in lines[end] and lines[end].strip():
                end += 1
            out.append(_table(lines[i:end]))
            i = end
            continue
        else:
            paragraph.append(line)
        i += 1
    flush()
    return "\n".join(out)


def render_markdown(text: str) -> Markup:
    """Markdown to HTML, with any HTML in the text shown as text."""
    return Markup(_blocks(text.replace("\r\n", "\n").replace("\r", "\n").expandtabs(4).split("\n")))


def looks_like_html(text: str) -> bool:
    """One API passes HTML through: we treat a value that is one HTML fragment (``<…>``) as HTML by intent."""
    stripped = text.strip()
    return stripped.startswith("<") and stripped.endswith(">")


def is_frame_url(text: str) -> bool:
    """One API shows a Home/About value that is an https:// URL in an iframe."""
    text = text.strip()
    return text.startswith("https://") and not any(c.isspace() for c in text)


def render_rich(text: str | None, allow_iframe: bool = True) -> Markup:
    """An admin-written text as One API shows it: an iframe for an https URL, HTML as is, else Markdown."""
    text = (text or "").strip()
    if not text:
        return Markup("")
    if allow_iframe and is_frame_url(text):
        return Markup(f'<iframe class="content-frame" src="{escape(text)}" title="content" '
                      'referrerpolicy="no-referrer"></iframe>')
    if looks_like_html(text):
        return Markup(text)
    return render_markdown(text)
