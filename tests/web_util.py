"""Helpers for the page tests: a real Chromium (Debian's) through Playwright, and a cookie-keeping HTTP client."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 860}
MOBILE = {"width": 375, "height": 812}


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


async def new_context(browser: Browser, base_url: str, viewport: dict[str, int] = DESKTOP,
                      locale: str = "en-US", **extra: Any) -> BrowserContext:
    context = await browser.new_context(base_url=base_url, viewport=viewport, locale=locale,
                                        permissions=["clipboard-read", "clipboard-write"], **extra)
    context.set_default_timeout(10_000)
    return context


async def sign_in(page: Page, username: str, password: str) -> None:
    """Sign in through the login form, by keyboard, and wait for the dashboard."""
    await page.goto("/login")
    await page.get_by_label("Username or email").fill(username)
    await page.get_by_label("Password").fill(password)
    await page.get_by_label("Password").press("Enter")
    await page.wait_for_url(re.compile(r"/dashboard$"))


async def flash(page: Page, kind: str, text: str | re.Pattern[str]) -> None:
    """Wait for a flash message of ``kind`` (success, error, info) containing ``text``."""
    await expect(page.locator(f"#flash .toast-{kind}").filter(has_text=text).first).to_be_visible()


async def confirm(page: Page, accept: bool = True) -> None:
    """Answer the confirmation dialog that a destructive action opens."""
    dialog = page.locator("#oa-confirm")
    await expect(dialog).to_be_visible()
    await dialog.locator("#oa-confirm-ok" if accept else "button[value=cancel]").click()
    await expect(dialog).to_be_hidden()


async def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as artifacts/screenshots/<name>.png once the page's data has loaded."""
    await expect(page.locator("tr.placeholder", has_text=re.compile("Loading|加载中"))).to_have_count(0)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


def http_session() -> aiohttp.ClientSession:
    """A client that keeps the session cookie of 127.0.0.1 (aiohttp drops cookies of IP hosts by default)."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def http_sign_in(session: aiohttp.ClientSession, url: str, username: str, password: str) -> None:
    async with session.post(url + "/api/user/login", json={"username": username, "password": password}) as resp:
        body = await resp.json()
        assert body["success"], body
