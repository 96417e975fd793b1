"""Mail-backed account routes: verification codes, email binding and password reset (SPEC §6)."""

from __future__ import annotations

from email.utils import parseaddr
from urllib.parse import quote

from aiohttp import web

from oneapi.accounts import codes
from oneapi.accounts.mail import MailError, send_mail
from oneapi.accounts.turnstile import check_turnstile
from oneapi.api.common import INVALID_PARAMS, body_str, read_json
from oneapi.auth import current_user, require
from oneapi.constants import Role
from oneapi.db.models import User
from oneapi.errors import ApiError, api_ok
from oneapi.state import STATE, AppState
from oneapi.users import EMAIL_MAX, update_user


def valid_email(email: str) -> bool:
    """What Go's ``validate:"email"`` accepts, near enough: one @, a dotted domain, no spaces."""
    name, address = parseaddr(email)
    local, _, domain = address.rpartition("@")
    return (address == email and not name and 0 < len(email) <= EMAIL_MAX and bool(local) and "." in domain
            and not domain.startswith(".") and not domain.endswith(".") and " " not in email)


def allowed_domain(state: AppState, email: str) -> bool:
    """EmailDomainRestrictionEnabled: the address must end in ``@`` + one of EmailDomainWhitelist."""
    if not state.options.bool("EmailDomainRestrictionEnabled"):
        return True
    domains = [d.strip() for d in state.options.get("EmailDomainWhitelist").split(",") if d.strip()]
    return any(email.endswith("@" + domain) for domain in domains)


async def email_taken(email: str) -> bool:
    return await User.aget_or_none(User.email == email) is not None


async def _mail_code(state: AppState, purpose: str, to: str, subject: str, html: str) -> None:
    """Send the mail carrying a new code; when it fails, the code is withdrawn and the reason shown."""
    try:
        await send_mail(state, to, subject, html)
    except MailError as exc:
        await codes.withdraw(state, purpose, to)
        raise ApiError(str(exc)) from None


def _query_email(request: web.Request) -> str:
    email = request.query.get("email", "").strip()
    if not valid_email(email):
        raise ApiError(INVALID_PARAMS)
    return email


async def send_verification(request: web.Request) -> web.Response:
    """``GET /api/verification?email=``: mail a 6-character code for registration or binding."""
    state = request.app[STATE]
    await check_turnstile(request)
    email = _query_email(request)
    if not allowed_domain(state, email):
        raise ApiError("管理员启用了邮箱域名白名单，您的邮箱地址的域名不在白名单中")
    if await email_taken(email):
        raise ApiError("邮箱地址已被占用")
    code = await codes.issue(state, codes.EMAIL_VERIFICATION, email, 6)
    name = state.options.get("SystemName")
    await _mail_code(state, codes.EMAIL_VERIFICATION, email, f"{name}邮箱验证邮件",
                f"<p>您好，你正在进行{name}邮箱验证。</p><p>您的验证码为: <strong>{code}</strong></p>"
                f"<p>验证码 {codes.VALID_MINUTES} 分钟内有效，如果不是本人操作，请忽略。</p>")
    return api_ok()


async def send_reset_mail(request: web.Request) -> web.Response:
    """``GET /api/reset_password?email=``: mail a link to ``{ServerAddress}/user/reset?email=..&token=..``."""
    state = request.app[STATE]
    await check_turnstile(request)
    email = _query_email(request)
    if not await email_taken(email):
        raise ApiError("该邮箱地址未注册")
    token = await codes.issue(state, codes.PASSWORD_RESET, email)
    name = state.options.get("SystemName")
    link = f"{state.options.server_address}/user/reset?email={quote(email, safe='@')}&token={token}"
    await _mail_code(state, codes.PASSWORD_RESET, email, f"{name}密码重置",
                f"<p>您好，你正在进行{name}密码重置。</p><p>点击 <a href='{link}'>此处</a> 进行密码重置。</p>"
                f"<p>如果链接无法点击，请尝试点击下面的链接或将其复制到浏览器中打开：<br> {link} </p>"
                f"<p>重置链接 {codes.VALID_MINUTES} 分钟内有效，如果不是本人操作，请忽略。</p>")
    return api_ok()


async def reset_password(request: web.Request) -> web.Response:
    """``POST /api/user/reset {email, token}``: a new 12-character password, once per mailed link."""
    state = request.app[STATE]
    body = await read_json(request)
    email, token = body_str(body, "email") or "", body_str(body, "token") or ""
    if not email or not token:
        raise ApiError(INVALID_PARAMS)
    if not await codes.redeem(state, codes.PASSWORD_RESET, email, token):
        raise ApiError("重置链接非法或已过期")
    password = codes.new_code(12)
    users = await state.dbs.main.list(User.select().where(User.email == email))
    for user in users:
        await update_user(state, user.id, {"password": password})
    return api_ok(password)


@require(Role.COMMON)
async def bind_email(request: web.Request) -> web.Response:
    """``GET /api/oauth/email/bind?email=&code=``: the signed-in user's address, proven by a mailed code."""
    state = request.app[STATE]
    email, code = request.query.get("email", "").strip(), request.query.get("code", "")
    if not valid_email(email) or not await codes.redeem(state, codes.EMAIL_VERIFICATION, email, code):
        raise ApiError("验证码错误或已过期")
    await update_user(state, current_user(request).id, {"email": email})
    return api_ok()
