"""/api route table: One API's paths and verbs (SPEC §6). Roles are checked by each handler's ``@require``."""

from __future__ import annotations

import functools

from aiohttp import web

from oneapi.accounts import notify
from oneapi.accounts.visitor import set_visitor_cookie
from oneapi.api import channel, log, misc, oauth, option, redemption, token, user, verification
from oneapi.api.ratelimit import Handler, critical, install
from oneapi.relay.channel_test import ChannelTester
from oneapi.state import STATE


def _add(app: web.Application, method: str, path: str, handler: Handler) -> None:
    """Register ``path`` with and without a trailing slash: gin redirects between the two forms, so One API's
    frontend and scripts use both (``DELETE /api/token/2/``, ``GET /api/log/self/?p=0``)."""
    bare = path.rstrip("/")
    app.router.add_route(method, bare, handler)
    app.router.add_route(method, bare + "/", handler)


def _install_channel_tester(app: web.Application) -> None:
    """One bulk channel test per process: started by the API or every CHANNEL_TEST_FREQUENCY minutes."""
    tester = app[channel.CHANNEL_TESTER] = ChannelTester()
    app.on_startup.append(tester.start_periodic)
    app.on_shutdown.append(tester.stop)


async def _install_notifications(app: web.Application) -> None:
    """Low-quota reminders follow every settled charge (after the app state exists)."""
    state = app[STATE]
    state.ledger.on_charged = functools.partial(notify.quota_charged, state)


def setup_routes(app: web.Application) -> None:
    install(app)
    _install_channel_tester(app)
    app.on_response_prepare.append(set_visitor_cookie)
    app.on_startup.append(_install_notifications)
    app.on_shutdown.append(notify.drain)
    table = [
        ("GET", "/api/status", misc.status),
        ("GET", "/api/notice", misc.notice),
        ("GET", "/api/about", misc.about),
        ("GET", "/api/home_page_content", misc.home_page_content),
        ("GET", "/api/models", misc.models_by_type),
        ("GET", "/api/group/", misc.groups),
        # mail: verification codes and password reset
        ("GET", "/api/verification", critical(verification.send_verification)),
        ("GET", "/api/reset_password", critical(verification.send_reset_mail)),
        ("POST", "/api/user/reset", critical(verification.reset_password)),
        ("GET", "/api/oauth/email/bind", critical(verification.bind_email)),
        # third-party sign-in
        ("GET", "/api/oauth/state", critical(oauth.oauth_state)),
        ("GET", "/api/oauth/github", critical(oauth.github)),
        ("GET", "/api/oauth/lark", critical(oauth.lark)),
        ("GET", "/api/oauth/oidc", critical(oauth.oidc)),
        ("GET", "/api/oauth/wechat", critical(oauth.wechat)),
        ("GET", "/api/oauth/wechat/bind", critical(oauth.wechat_bind)),
        ("POST", "/api/user/unbind", oauth.unbind),  # ours
        # users: static paths before /api/user/{id}
        ("POST", "/api/user/register", critical(user.register)),
        ("POST", "/api/user/login", critical(user.login)),
        ("GET", "/api/user/logout", user.logout),
        ("GET", "/api/user/dashboard", user.dashboard),
        ("GET", "/api/user/self", user.get_self),
        ("PUT", "/api/user/self", user.update_self),
        ("DELETE", "/api/user/self", user.delete_self),
        ("GET", "/api/user/token", user.generate_access_token),
        ("GET", "/api/user/aff", user.get_aff_code),
        ("POST", "/api/user/topup", user.redeem_code),
        ("GET", "/api/user/available_models", user.available_models),
        ("GET", "/api/user/search", user.search_users),
        ("POST", "/api/user/manage", user.manage_user),
        ("GET", "/api/user/", user.list_users),
        ("POST", "/api/user/", user.create_user_by_admin),
        ("PUT", "/api/user/", user.update_user_by_admin),
        ("GET", "/api/user/{id}", user.get_user_by_id),
        ("DELETE", "/api/user/{id}", user.delete_user),
        ("POST", "/api/topup", user.admin_top_up),
        # tokens
        ("GET", "/api/token/search", token.search_tokens),
        ("GET", "/api/token/", token.list_tokens),
        ("POST", "/api/token/", token.add_token),
        ("PUT", "/api/token/", token.edit_token),
        ("GET", "/api/token/{id}", token.get_token),
        ("DELETE", "/api/token/{id}", token.remove_token),
        # channels
        ("GET", "/api/channel/search", channel.search_channels),
        ("GET", "/api/channel/models", channel.channel_models),
        ("GET", "/api/channel/test", channel.test_all_channels),
        ("GET", "/api/channel/test/{id}", channel.test_channel),
        ("POST", "/api/channel/test/{id}", channel.test_channel),
        ("GET", "/api/channel/update_balance", channel.all_channel_balances),
        ("GET", "/api/channel/update_balance/{id}", channel.channel_balance),
        ("DELETE", "/api/channel/disabled", channel.remove_disabled_channels),
        ("GET", "/api/channel/", channel.list_channels),
        ("POST", "/api/channel/", channel.add_channel),
        ("PUT", "/api/channel/", channel.edit_channel),
        ("GET", "/api/channel/{id}", channel.get_channel_by_id),
        ("DELETE", "/api/channel/{id}", channel.remove_channel),
        # options (root)
        ("GET", "/api/option/", option.get_options),
        ("PUT", "/api/option/", option.update_option),
        # redemptions
        ("GET", "/api/redemption/search", redemption.search_redemptions),
        ("GET", "/api/redemption/", redemption.list_redemptions),
        ("POST", "/api/redemption/", redemption.add_redemptions),
        ("PUT", "/api/redemption/", redemption.edit_redemption),
        ("GET", "/api/redemption/{id}", redemption.get_redemption_by_id),
        ("DELETE", "/api/redemption/{id}", redemption.remove_redemption),
        # logs
        ("GET", "/api/log/", log.all_logs),
        ("DELETE", "/api/log/", log.delete_history),
        ("GET", "/api/log/stat", log.all_logs_stat),
        ("GET", "/api/log/self/stat", log.own_logs_stat),
        ("GET", "/api/log/search", log.search_all_logs),
        ("GET", "/api/log/self", log.own_logs),
        ("GET", "/api/log/self/search", log.search_own_logs),
    ]
    for method, path, handler in table:
        _add(app, method, path, handler)
