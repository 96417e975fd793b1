"""Every page in Chromium at desktop and phone width: it renders its data without script errors, nothing
overflows sideways at 375 px, every form control has a label, and a screenshot is saved for review."""

from __future__ import annotations

from playwright.async_api import Page
from yarl import URL

from tests.web_util import DESKTOP, MOBILE, SCREENSHOTS, chromium, http_session, http_sign_in, new_context, screenshot

PUBLIC_PAGES = ["/", "/about", "/login", "/register"]
USER_PAGES = ["/dashboard", "/token", "/token/add", "/log", "/topup", "/setting"]
ADMIN_PAGES = ["/channel", "/channel/add", "/user", "/user/add", "/redemption", "/redemption/add"]

# Controls without a label, found in the rendered page (a hidden control does not count).
UNLABELLED = """() => Array.from(document.querySelectorAll('input, select, textarea'))
  .filter((el) => el.type !== 'hidden' && el.offsetParent !== null)
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                  && !el.getAttribute('aria-labelledby'))
  .map((el) => el.outerHTML.slice(0, 120))"""


async def _seed(gateway, fake_openai) -> dict[str, int]:
    """What an installation in use has: channels, a used token, logs, codes and a second user."""
    channel = await gateway.add_channel(fake_openai.url, key=fake_openai.key, models="gpt-3.5-turbo,gpt-4o-mini",
                                        name="openai-main")
    await gateway.add_channel(fake_openai.url, key="sk-wrong", name="openai-backup", priority=-1)
    key = await gateway.add_token(name="web-app")
    client = gateway.openai(key)
    for model in ("gpt-3.5-turbo", "gpt-4o-mini", "gpt-3.5-turbo"):
        await client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    await gateway.api("GET", f"/api/channel/test/{channel['id']}?model=gpt-3.5-turbo")
    await gateway.api("POST", "/api/redemption/", {"name": "launch", "quota": 500000, "count": 2})
    user = await gateway.add_user("bob")
    token = await gateway.api("GET", "/api/token/?p=0")
    await gateway.api("PUT", "/api/option/", {"key": "Notice", "value": "**Maintenance** on Sunday 02:00 UTC."})
    await gateway.drain()
    return {"channel": channel["id"], "user": user["id"], "token": token["data"][0]["id"]}


async def _check_page(page: Page, path: str, name: str, errors: list[str], mobile: bool) -> None:
    await page.goto(path)
    await screenshot(page, name)
    assert await page.evaluate(UNLABELLED) == [], f"unlabelled controls on {path}"
    if mobile:
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= MOBILE["width"], f"{path} is {width}px wide on a phone"
    assert errors == [], f"script errors on {path}: {errors}"


async def test_every_page_at_desktop_and_phone_width(gateway, fake_openai) -> None:
    ids = await _seed(gateway, fake_openai)
    pages = [*ADMIN_PAGES, f"/channel/edit/{ids['channel']}", f"/user/edit/{ids['user']}",
             f"/token/edit/{ids['token']}", *USER_PAGES]
    async with chromium() as browser:
        for label, viewport in (("desktop", DESKTOP), ("mobile", MOBILE)):
            context = await new_context(browser, gateway.url, viewport=viewport)
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
            for path in PUBLIC_PAGES:
                await _check_page(page, path, f"{label}-{_slug(path)}", errors, label == "mobile")
            async with http_session() as session:
                await http_sign_in(session, gateway.url, "root", "123456")
                cookie = session.cookie_jar.filter_cookies(URL(gateway.url))["session"]
            await context.add_cookies([{"name": "session", "value": cookie.value, "url": gateway.url}])
            for path in pages:
                await _check_page(page, path, f"{label}-{_slug(path)}", errors, label == "mobile")
            for tab in ("operation", "system", "other"):
                await page.goto(f"/setting#{tab}")
                await screenshot(page, f"{label}-setting-{tab}")
            if label == "mobile":
                await page.goto("/dashboard")
                await page.get_by_role("button", name="Menu").click()
                await screenshot(page, "mobile-menu-open")
            await context.close()
    print(f"\nscreenshots: {SCREENSHOTS}")


def _slug(path: str) -> str:
    return path.strip("/").replace("/", "-") or "home"
