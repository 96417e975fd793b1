"""The admin's first hour, end to end in Chromium: root signs in, changes the default password, adds an
OpenAI channel pointing at the fake upstream, tests it, creates a token, copies its key, calls the gateway
with the openai SDK, finds the request in Logs and the quota drop on the Dashboard, generates redemption
codes, a new user signs up and redeems one, and the language switch turns the pages into Chinese."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from tests.web_util import chromium, confirm, flash, new_context, screenshot, sign_in


async def _stat(page: Page, selector: str) -> int:
    return int((await page.locator(selector).inner_text()).replace(",", ""))


async def test_root_journey(gateway, fake_openai) -> None:
    async with chromium() as browser:
        context = await new_context(browser, gateway.url)
        page = await context.new_page()

        # -- first sign-in: the default password is flagged everywhere until it is changed --------------
        await page.goto("/dashboard")
        await expect(page).to_have_url(re.compile(r"/login\?next=(%2F|/)dashboard$"))
        await expect(page.locator("#login-required")).to_be_visible()
        await sign_in(page, "root", "123456")
        await expect(page.locator("#default-password-banner")).to_be_visible()
        await page.locator("#default-password-banner").get_by_role("link").click()
        await expect(page.locator("#panel-personal")).to_be_visible()
        await page.get_by_label("New password").fill("s3cret-root-pw")
        await page.get_by_label("Confirm the password").fill("s3cret-root-pw")
        await page.get_by_role("button", name="Change password").click()
        await flash(page, "success", "Password changed")
        await expect(page.locator("#default-password-banner")).to_have_count(0)

        # -- raw quota units, so that a small charge is visible on the dashboard -------------------------
        await page.get_by_role("tab", name="Operation").click()
        await page.get_by_label("Show quota as US dollars").uncheck()
        await page.locator("#options-general").get_by_role("button", name="Save this section").click()
        await flash(page, "success", "Saved 1 settings")

        # -- an OpenAI channel at the fake upstream, then a test from the list ---------------------------
        await page.goto("/channel/add")
        await page.get_by_role("textbox", name="Name", exact=True).fill("fake-openai")
        await page.get_by_label("Base URL (proxy)").fill(fake_openai.url + "/")
        await page.get_by_role("textbox", name="Key", exact=True).fill(fake_openai.key)
        await expect(page.locator("#model-chips")).to_contain_text("gpt-3.5-turbo")  # the type's models
        await expect(page.get_by_role("checkbox", name="default")).to_be_checked()
        await page.get_by_role("button", name="Save").click()
        await page.wait_for_url(re.compile(r"/channel$"))
        await flash(page, "success", "Channel fake-openai created")
        row = page.locator("#channel-table tbody tr", has_text="fake-openai")
        await expect(row).to_contain_text("Not tested")
        await row.get_by_label("Model to test channel fake-openai with").select_option("gpt-3.5-turbo")
        await row.get_by_role("button", name="Test").click()
        await flash(page, "success", "Channel fake-openai works")
        await expect(row.locator("[data-col=response]")).to_have_text(re.compile(r"^\d+(\.\d+)? m?s$"))
        channel = (await gateway.api("GET", "/api/channel/search?keyword=fake-openai"))["data"][0]
        assert channel["base_url"] == fake_openai.url  # the trailing slash was dropped before saving

        # -- a token, its key from the clipboard, and a real call with the openai SDK -------------------
        await page.goto("/dashboard")
        quota_before = await _stat(page, "#stat-quota")
        requests_before = await _stat(page, "#stat-requests")
        await page.goto("/token/add")
        await page.get_by_label("Name").fill("journey")
        await page.get_by_role("button", name="Save").click()
        await page.wait_for_url(re.compile(r"/token$"))
        token_row = page.locator("#token-table tbody tr", has_text="journey")
        await token_row.get_by_role("button", name="Copy").click()
        await flash(page, "success", "The key of token journey was copied")
        key = await page.evaluate("navigator.clipboard.readText()")
        assert re.fullmatch(r"sk-[0-9A-Za-z]{48}", key), key
        reply = await gateway.openai(key).chat.completions.create(
            model="gpt-3.5-turbo", messages=[{"role": "user", "content": "hello"}])
        assert reply.choices[0].message.content == "Hello from fake"
        await gateway.drain()

        await page.goto("/log")
        log_row = page.locator("#log-table tbody tr", has_text="journey")
        await expect(log_row).to_contain_text("gpt-3.5-turbo")
        await expect(log_row).to_contain_text("Usage")
        await log_row.get_by_role("button", name="Show").click()
        details = page.locator("#log-table tr.details-row")
        await expect(details).to_contain_text("Prompt tokens11")  # as reported by the fake upstream
        await expect(details).to_contain_text("Ratios: model")  # the server's Chinese content, translated
        await screenshot(page, "desktop-log-details")
        await expect(page.locator("#log-stat-value")).not_to_have_text(re.compile(r"^(…|0)$"))
        await page.get_by_label("Model").fill("no-such-model")
        await page.get_by_role("button", name="Search").click()
        await expect(page.locator("#log-table tbody")).to_have_text("Nothing here yet")
        await expect(page.locator("#log-stat-value")).to_have_text("0")

        await page.goto("/dashboard")
        quota_after = await _stat(page, "#stat-quota")
        assert quota_after < quota_before
        assert await _stat(page, "#stat-requests") == requests_before + 1
        assert await _stat(page, "#stat-used") == quota_before - quota_after
        await expect(page.locator("#chart-requests svg rect")).to_have_count(1)
        await expect(page.locator("#model-table")).to_contain_text("gpt-3.5-turbo")

        # -- redemption codes: generate a batch and download it -------------------------------------------
        await page.goto("/redemption/add")
        await page.get_by_label("Name").fill("welcome")
        await page.get_by_label("Quota").fill("250000")
        await page.get_by_label("How many").fill("3")
        await page.get_by_role("button", name="Generate").click()
        await flash(page, "success", "Generated 3 codes")
        codes = (await page.locator("#generated-keys").input_value()).split("\n")
        assert len(codes) == 3 and all(re.fullmatch(r"[0-9a-f]{32}", c) for c in codes), codes
        async with page.expect_download() as download_info:
            await page.get_by_role("button", name="Download as a text file").click()
        download = await download_info.value
        assert download.suggested_filename.startswith("redemption-welcome-")
        assert (await download.path()).read_text().split() == codes
        await screenshot(page, "desktop-redemption-generated")
        await page.goto("/redemption")
        await expect(page.locator("#redemption-table tbody tr", has_text="welcome")).to_have_count(3)
        await page.locator("#redemption-table tbody tr").first.get_by_role("button", name="Disable").click()
        await flash(page, "success", "Redemption code welcome disabled")
        await expect(page.locator("#redemption-table tbody tr").first).to_contain_text("Disabled")

        # -- a new user signs up, redeems a code, and cannot reuse it --------------------------------------
        await page.get_by_role("button", name="Sign out").click()
        await page.wait_for_url(re.compile(r"/login$"))
        await page.goto("/register")
        await page.get_by_label("Username or email").fill("alice")
        await page.get_by_role("textbox", name="Password", exact=True).fill("alice-pass-1")
        await page.get_by_label("Confirm the password").fill("alice-pass-1")
        await page.get_by_role("button", name="Sign up").click()
        await page.wait_for_url(re.compile(r"/login$"))
        await flash(page, "success", "Account created")
        await sign_in(page, "alice", "alice-pass-1")
        await expect(page.get_by_role("link", name="Channels")).to_have_count(0)  # not an admin
        await page.goto("/topup")
        balance_before = int((await page.locator("#topup-balance").inner_text()).replace(",", ""))
        await page.get_by_label("Redemption code").fill(codes[0])
        await page.get_by_role("button", name="Redeem", exact=True).click()
        await flash(page, "success", "Redeemed: 250,000 added")
        await expect(page.locator("#topup-balance")).to_have_text(f"{balance_before + 250000:,}")
        await page.get_by_label("Redemption code").fill(codes[0])
        await page.get_by_role("button", name="Redeem", exact=True).click()
        await flash(page, "error", "Redemption failed: the code was already used")

        # -- the language switch: remembered in a cookie, server messages translated too ------------------
        await page.get_by_role("link", name="中文").click()
        await expect(page.get_by_role("heading", name="充值", exact=True)).to_be_visible()
        await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        await page.goto("/token")
        await expect(page.get_by_role("link", name="令牌", exact=True)).to_have_attribute("aria-current", "page")
        await page.goto("/topup")
        await page.get_by_label("兑换码").fill("not-a-real-code")
        await page.get_by_role("button", name="兑换", exact=True).click()
        await flash(page, "error", "兑换失败，无效的兑换码")
        await page.get_by_role("link", name="English").click()
        await page.get_by_label("Redemption code").fill("not-a-real-code")
        await page.get_by_role("button", name="Redeem", exact=True).click()
        await flash(page, "error", "Redemption failed: invalid code")

        # -- a destructive action asks first ---------------------------------------------------------------
        await page.goto("/token")
        default_row = page.locator("#token-table tbody tr").first
        await default_row.get_by_role("button", name="Delete").click()
        await confirm(page, accept=False)
        await expect(page.locator("#token-table tbody tr")).to_have_count(1)
        await default_row.get_by_role("button", name="Delete").click()
        await confirm(page)
        await flash(page, "success", "deleted")
        await context.close()
