"""The sign-in and reset pages in Chromium: the GitHub button goes to the provider and back and signs the
user in; the link from a reset mail shows a new password that then signs in."""

from __future__ import annotations

import re

from playwright.async_api import expect

from tests.accounts_util import set_options
from tests.fakes.oauth_providers import CLIENT_ID, CLIENT_SECRET, FakeGitHub
from tests.fakes.smtp import FakeSMTP
from tests.web_util import chromium, new_context, sign_in


async def test_github_button_signs_in_and_reset_link_gives_a_password(make_gateway, serve_fake, tmp_path):
    github = await serve_fake(FakeGitHub())
    smtp = await FakeSMTP().start(tmp_path)
    try:
        gateway = await make_gateway(GITHUB_BASE_URL=github.url, GITHUB_API_BASE_URL=github.url,
                                     SMTP_CA_FILE=smtp.ca_file)
        await set_options(gateway, GitHubClientId=CLIENT_ID, GitHubClientSecret=CLIENT_SECRET,
                          GitHubOAuthEnabled=True, ServerAddress=gateway.url, **smtp.options())
        github.callback = f"{gateway.url}/oauth/github"
        github.consenting = {"login": "browser-cat", "name": "Browser Cat", "email": "cat@example.com"}
        async with chromium() as browser:
            context = await new_context(browser, gateway.url)
            page = await context.new_page()
            await page.goto("/login")
            await page.get_by_role("button", name="GitHub").click()
            await page.wait_for_url(re.compile(r"/dashboard$"))
            me = await page.evaluate("fetch('/api/user/self').then(r => r.json())")
            assert me["data"]["github_id"] == "browser-cat" and me["data"]["display_name"] == "Browser Cat"

            reset = await new_context(browser, gateway.url)
            page = await reset.new_page()
            await page.goto("/reset")
            await page.get_by_label("Email").fill("cat@example.com")
            await page.get_by_label("Email").press("Enter")
            await expect(page.locator("#flash")).to_contain_text(re.compile("sent|mail", re.I))
            link = re.search(r"href='([^']+)'", smtp.last_html()).group(1)
            await page.goto(link)
            await page.get_by_role("button", name="Generate a new password").click()
            await expect(page.locator("#new-password-box")).to_be_visible()
            password = await page.locator("#new-password").input_value()
            assert len(password) == 12
            username = me["data"]["username"]
            fresh = await (await new_context(browser, gateway.url)).new_page()
            await sign_in(fresh, username, password)
    finally:
        await smtp.close()
