"""The admin pages in Chromium: the channel editor's type-specific fields and checks, the channel list's
inline edits and bulk actions, user management, the settings tabs, tokens and the top-up link."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, unquote, urlsplit

from playwright.async_api import Page, expect

from tests.web_util import chromium, confirm, flash, new_context, sign_in


async def _channels(gateway, keyword: str) -> list[dict]:
    return (await gateway.api("GET", f"/api/channel/search?keyword={keyword}"))["data"]


async def _open_as_root(browser, gateway) -> tuple[Page, list[str]]:
    """A signed-in root page, and the list its script errors are collected in."""
    context = await new_context(browser, gateway.url)
    await context.route("https://pay.example.com/**", lambda route: route.fulfill(body="paid"))
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await sign_in(page, "root", "123456")
    return page, errors


async def test_channel_editor_and_list(gateway, fake_openai) -> None:
    async with chromium() as browser:
        page, errors = await _open_as_root(browser, gateway)
        await page.goto("/channel/add")
        form = page.locator("#channel-form")
        # type-specific fields follow the type
        await page.get_by_label("Type").select_option(label="Azure")
        await expect(page.get_by_label("Default API version")).to_be_visible()
        await expect(page.get_by_role("textbox", name="AZURE_OPENAI_ENDPOINT")).to_be_visible()
        await expect(form.get_by_text("the deployment name must equal the model name")).to_be_visible()
        await page.get_by_label("Type").select_option(label="AWS")
        await expect(page.get_by_role("textbox", name="Key", exact=True)).to_be_hidden()
        for name in ("Region", "AK (Access Key)", "SK (Secret Key)"):
            await expect(page.get_by_label(name)).to_be_visible()
        await page.get_by_label("Type").select_option(label="Cloudflare")
        await expect(page.get_by_label("Account ID")).to_be_visible()
        await page.get_by_label("Type").select_option(label="iFlytek Spark")
        await expect(page.get_by_label("Spark version (as in the API URL)")).to_be_visible()
        await page.get_by_label("Type").select_option(label="OpenAI")
        await expect(page.get_by_label("Default API version")).to_be_hidden()

        # models: clear, custom entry (comma-separated, Enter), remove a chip, fill all
        await page.get_by_role("button", name="Clear all models").click()
        await expect(page.locator("#model-chips li")).to_have_count(0)
        await page.get_by_label("Model name (comma-separate several)").fill("my-model, other-model")
        await page.get_by_label("Model name (comma-separate several)").press("Enter")
        await expect(page.locator("#model-chips li")).to_have_count(2)
        await page.get_by_role("button", name="Remove model other-model").click()
        await expect(page.locator("#model-chips")).to_have_text(re.compile(r"^my-model\s*×$"))

        # a mapping that is not a JSON object of strings is refused before anything is sent
        await page.get_by_role("textbox", name="Name", exact=True).fill("batch-ch")
        await page.get_by_label("Base URL (proxy)").fill(fake_openai.url)
        await page.get_by_label("Batch mode (one key per line)").check()
        await page.get_by_label("Keys (one per line)").fill(f"{fake_openai.key}\nsk-second-key")
        await page.get_by_label("Model mapping").fill('{"my-model": 42}')
        await page.get_by_role("button", name="Save").click()
        await expect(page.locator("#mapping-error")).to_contain_text("must be a JSON object of strings")
        assert await _channels(gateway, "batch-ch") == []
        await page.get_by_label("Model mapping").fill('{"my-model": "gpt-3.5-turbo"}')
        await page.get_by_label("System prompt").fill("Be brief.")
        await page.get_by_role("button", name="Save").click()
        await page.wait_for_url(re.compile(r"/channel$"))
        created = await _channels(gateway, "batch-ch")
        assert len(created) == 2  # one channel per key line
        assert {c["models"] for c in created} == {"my-model"}
        assert json.loads(created[0]["model_mapping"]) == {"my-model": "gpt-3.5-turbo"}
        assert created[0]["system_prompt"] == "Be brief." and created[0]["group"] == "default"

        # the editor loads a channel back; saving without a key keeps the key
        first, second = sorted(created, key=lambda c: c["id"])
        await page.goto(f"/channel/edit/{first['id']}")
        await expect(page.get_by_label("Model mapping")).to_have_value('{\n  "my-model": "gpt-3.5-turbo"\n}')
        await page.get_by_role("textbox", name="Name", exact=True).fill("batch-main")
        await page.get_by_role("button", name="Save").click()
        await page.wait_for_url(re.compile(r"/channel$"))
        await flash(page, "success", "Channel batch-main updated")
        pinned = f"{await gateway.add_token()}-{first['id']}"  # sk-KEY-<channel id>: this channel only
        reply = await gateway.openai(pinned).chat.completions.create(
            model="my-model", messages=[{"role": "user", "content": "hi"}])
        assert reply.choices[0].message.content == "Hello from fake"  # key kept
        assert fake_openai.requests[-1]["model"] == "gpt-3.5-turbo"  # mapping applied

        # inline priority, disable, filter, bulk delete of disabled channels, single delete
        row = page.locator(f"#channel-table tbody tr[data-id='{second['id']}']")
        priority = row.get_by_label("Priority of channel batch-ch")
        await priority.fill("7")
        await priority.press("Tab")
        await flash(page, "success", "Channel batch-ch updated")
        assert (await gateway.api("GET", f"/api/channel/{second['id']}"))["data"]["priority"] == 7
        await row.get_by_role("button", name="Disable").click()
        await flash(page, "success", "Channel batch-ch disabled")
        await page.get_by_label("Status").select_option(label="Disabled manually")
        await page.get_by_role("button", name="Search").click()
        await expect(page.locator("#channel-table tbody tr")).to_have_count(1)
        await expect(page.locator("#channel-table tbody tr")).to_contain_text("batch-ch")
        await page.get_by_role("button", name="Reset").click()
        await expect(page.locator("#channel-table tbody tr")).to_have_count(2)
        await page.get_by_role("button", name="Test all channels").click()
        await flash(page, "success", "Testing started")
        await page.get_by_role("button", name="Update all balances").click()
        await flash(page, "success", "Updating the balances")
        await page.get_by_role("button", name="Delete disabled channels").click()
        await page.keyboard.press("Escape")  # the dialog closes without deleting
        await expect(page.locator("#oa-confirm")).to_be_hidden()
        assert len(await _channels(gateway, "batch")) == 2
        await page.get_by_role("button", name="Delete disabled channels").click()
        await confirm(page)
        await flash(page, "success", "Deleted 1 disabled channels")
        await expect(page.locator("#channel-table tbody tr")).to_have_count(1)
        await page.locator("#channel-table tbody tr").get_by_role("button", name="Delete").click()
        await confirm(page)
        await flash(page, "success", "Channel batch-main deleted")
        assert await _channels(gateway, "batch") == []
        assert errors == []


async def test_users_settings_tokens_and_topup_link(gateway) -> None:
    await gateway.api("PUT", "/api/option/", {"key": "ChatLink", "value": "https://chat.example.com"})
    await gateway.api("PUT", "/api/option/", {"key": "TopUpLink", "value": "https://pay.example.com/buy"})
    async with chromium() as browser:
        page, errors = await _open_as_root(browser, gateway)

        # -- users: create, edit, promote/demote, disable/enable, delete; root is protected --------------
        await page.goto("/user/add")
        await page.get_by_label("Username").fill("gina")
        await page.get_by_label("Password").fill("gina-pass-12")
        await page.get_by_role("button", name="Save").click()
        await page.wait_for_url(re.compile(r"/user$"))
        await flash(page, "success", "User gina created")
        root_row = page.locator("#user-table tbody tr[data-username='root']")
        await expect(root_row).to_contain_text("Protected")
        await expect(root_row.get_by_role("button")).to_have_count(0)
        row = page.locator("#user-table tbody tr[data-username='gina']")
        await row.get_by_role("link", name="Edit").click()
        await expect(page.get_by_label("Username")).to_have_value("gina")
        await page.get_by_label("Quota").fill("1000000")
        await expect(page.locator("#quota-hint")).to_have_text("≈ $2.00")
        await page.get_by_label("Group").fill("vip")
        await page.get_by_role("button", name="Save").click()
        await flash(page, "success", "User gina updated")
        gina = (await gateway.api("GET", "/api/user/search?keyword=gina"))["data"][0]
        assert (gina["quota"], gina["group"]) == (1000000, "vip")
        for action, badge in (("Make admin", "Admin"), ("Remove admin", "User")):
            await row.get_by_role("button", name=action).click()
            await confirm(page)
            await expect(row).to_contain_text(badge)
        await row.get_by_role("button", name="Disable").click()
        await confirm(page)
        await expect(row).to_contain_text("Banned")
        await row.get_by_role("button", name="Enable").click()
        await expect(row).to_contain_text("Enabled")
        await page.get_by_label("Sort").select_option(label="Remaining quota")
        await expect(page.locator("#user-table tbody tr").first).to_contain_text("root")
        await row.get_by_role("button", name="Delete").click()
        await confirm(page)
        await expect(row).to_have_count(0)

        # -- settings: JSON editors are checked before saving; content options brand every page ----------
        await page.goto("/setting#operation")
        ratio = page.get_by_label("Group ratio")
        await ratio.fill('{"default": 1, "vip": "cheap"}')
        await page.locator("#options-ratio").get_by_role("button", name="Save this section").click()
        await flash(page, "error", "GroupRatio is not a valid JSON object of numbers")
        groups = (await gateway.api("GET", "/api/group/"))["data"]
        assert "cheap" not in json.dumps(groups)
        await ratio.fill('{"default": 1, "vip": 1, "svip": 1, "team": 0.5}')
        await page.locator("#options-ratio").get_by_role("button", name="Save this section").click()
        await flash(page, "success", "Saved 1 settings")
        assert "team" in (await gateway.api("GET", "/api/group/"))["data"]
        await page.get_by_role("tab", name="Other").click()
        await page.get_by_label("System name").fill("Acme AI")
        await page.get_by_label("Notice").fill("Hello *team*")
        await page.locator("#options-content").get_by_role("button", name="Save this section").click()
        await flash(page, "success", "Saved 2 settings")
        await page.goto("/")
        await expect(page.locator(".brand")).to_have_text("Acme AI")
        await expect(page.locator(".notice em")).to_have_text("team")
        await page.goto("/setting#operation")
        await page.get_by_label("Delete logs older than").fill("2099-01-01T00:00:00")
        await page.get_by_role("button", name="Delete logs").click()
        await confirm(page)
        await flash(page, "success", re.compile(r"Deleted \d+ logs"))

        # -- tokens: limits and expiry, the chat deep link ---------------------------------------------------
        await page.goto("/token/add")
        await page.get_by_label("Name").fill("limited")
        await page.get_by_role("button", name="In 1 day").click()
        await page.get_by_label("Unlimited quota").uncheck()
        await page.get_by_label("Remaining quota").fill("5000")
        await page.get_by_label("IP restriction").fill("10.0.0.0/8")
        await page.get_by_role("button", name="Save").click()
        await page.wait_for_url(re.compile(r"/token$"))
        token = (await gateway.api("GET", "/api/token/search?keyword=limited"))["data"][0]
        assert token["unlimited_quota"] is False and token["remain_quota"] == 5000
        assert token["subnet"] == "10.0.0.0/8" and token["expired_time"] > 0
        chat = page.locator("#token-table tbody tr", has_text="limited").get_by_role("link", name="Chat")
        href = await chat.get_attribute("href")
        assert href.startswith("https://chat.example.com/#/?settings=")
        settings = json.loads(unquote(href.split("settings=", 1)[1]))
        assert settings == {"key": "sk-" + token["key"], "url": gateway.url}
        await page.locator("#token-table tbody tr", has_text="limited").get_by_role("button", name="Disable").click()
        await flash(page, "success", "Token limited disabled")
        assert (await gateway.api("GET", f"/api/token/{token['id']}"))["data"]["status"] == 2

        # -- the top-up link carries who is paying ---------------------------------------------------------
        await page.goto("/topup")
        async with page.context.expect_page() as popup_info:
            await page.get_by_role("link", name="Buy quota").click()
        popup = await popup_info.value
        query = parse_qs(urlsplit(popup.url).query)
        assert urlsplit(popup.url).netloc == "pay.example.com"
        assert query["username"] == ["root"] and query["user_id"] == ["1"]
        assert re.fullmatch(r"[0-9a-f-]{36}", query["transaction_id"][0])
        await popup.close()

        # -- personal: a new access token (root's old one stops working) and the invite link ---------------
        await page.goto("/setting")
        await page.get_by_role("button", name="Generate access token").click()
        await flash(page, "success", "Access token generated and copied")
        token_value = await page.get_by_label("System access token").input_value()
        assert re.fullmatch(r"[0-9a-f]{32}", token_value)
        assert await page.evaluate("navigator.clipboard.readText()") == token_value
        assert (await gateway.api("GET", "/api/user/self", token=token_value))["data"]["username"] == "root"
        await page.get_by_role("button", name="Copy invite link").click()
        await expect(page.get_by_label("Invite link")).to_have_value(re.compile(r"/register\?aff=\w{4}$"))
        assert errors == []
