"""Admin texts through markdown-it-py and nh3: GitHub-flavoured Markdown the old renderer missed, no script."""

from __future__ import annotations

from tests.conftest import Gateway

MARKDOWN = """Welcome
=======

Read the [docs][guide], see https://example.com/status ~~or not~~.

| plan | price |
|:-----|------:|
| `x` | 1 |

[guide]: https://example.com/guide
"""


async def home(gateway: Gateway, content: str) -> str:
    assert (await gateway.api("PUT", "/api/option/", {"key": "HomePageContent", "value": content}))["success"]
    async with gateway.http.get(gateway.url + "/") as resp:
        return await resp.text()


async def test_github_flavoured_markdown_renders(gateway: Gateway):
    html = await home(gateway, MARKDOWN)
    assert "<h1>Welcome</h1>" in html  # setext heading
    assert '<a href="https://example.com/guide">docs</a>' in html  # reference link
    assert '<a href="https://example.com/status">https://example.com/status</a>' in html  # linkify
    assert "<s>or not</s>" in html and '<td style="text-align:right">1</td>' in html


async def test_markdown_never_passes_raw_html_and_admin_html_is_sanitised(gateway: Gateway):
    html = await home(gateway, "Hi <script>alert(1)</script> [x](javascript:alert(1))")
    assert "<script>alert" not in html and "&lt;script&gt;" in html and 'href="javascript' not in html
    html = await home(gateway, '<div onclick="steal()"><b>bold</b><script>alert(2)</script>'
                               '<a href="javascript:alert(3)">x</a><img src=x onerror="alert(4)"></div>')
    assert "<b>bold</b>" in html
    assert "onclick" not in html and "alert(2)" not in html and "javascript:" not in html and "onerror" not in html


async def test_a_bare_https_url_is_still_shown_in_an_iframe(gateway: Gateway):
    html = await home(gateway, "https://example.com/welcome")
    assert '<iframe class="content-frame" src="https://example.com/welcome"' in html
