"""/api/user/*: login, registration, the caller's own account, and the admin's user management.

Messages, roles and shapes are One API's, with three deliberate fixes (SPEC §10.2): no listing ever
shows an access token, ``PUT /api/user/`` can set quota to 0, and ``DELETE /api/user/:id`` answers
``{success: true}`` when it worked.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from peewee import CharField, TextField

from oneapi import auth
from oneapi.accounts import codes
from oneapi.accounts.turnstile import check_turnstile
from oneapi.api.common import (
    INVALID_PARAMS,
    body_id,
    body_int,
    body_str,
    check_columns,
    page_of,
    path_id,
    read_json,
    row_dict,
    search_rows,
)
from oneapi.auth import current_user, require
from oneapi.constants import LogType, Role, UserStatus
from oneapi.db.models import User
from oneapi.errors import ApiError, api_ok
from oneapi.log_rollup import daily_usage
from oneapi.logs import format_quota, record_log
from oneapi.redemptions import redeem
from oneapi.security.login_limits import LOGIN_LIMITS, TOO_MANY
from oneapi.state import STATE
from oneapi.users import (
    add_quota,
    authenticate_password,
    create_user,
    ensure_aff_code,
    get_user,
    inviter_id_for,
    new_access_token,
    soft_delete_user,
    update_user,
    validate_profile,
)

HIDDEN = ("password", "access_token")  # never sent by any user endpoint (the access token only by /token)
_ORDERS = {"quota": User.quota.desc(), "used_quota": User.used_quota.desc(),
           "request_count": User.request_count.desc()}
_IDENTITY_FIELDS = ("email", "github_id", "wechat_id", "lark_id", "oidc_id")


def user_dict(user: User) -> dict[str, Any]:
    return row_dict(user, HIDDEN)


def login_summary(user: User) -> dict[str, Any]:
    """One API's login data: the session fields, every other user field at its Go zero value."""
    data: dict[str, Any] = {f.name: "" if isinstance(f, CharField | TextField) else 0
                            for f in User._meta.sorted_fields}
    data.update(id=user.id, username=user.username, display_name=user.display_name or "", role=user.role,
                status=user.status)
    return data


def _outranks(caller: User, target_role: int) -> bool:
    """Admins act only on lower roles; root acts on everyone."""
    return caller.role == Role.ROOT or caller.role > target_role


# -- public ----------------------------------------------------------------------------------------
async def login(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if not state.options.bool("PasswordLoginEnabled"):
        raise ApiError("管理员关闭了密码登录")
    body = await read_json(request)
    username, password = body_str(body, "username"), body_str(body, "password")
    if not username or not password:
        raise ApiError(INVALID_PARAMS)
    limits = request.app[LOGIN_LIMITS]
    if await limits.blocked(request, username):
        raise ApiError(TOO_MANY, status=429)
    user = await authenticate_password(state, username, password)
    if user is None:
        await limits.failed(request, username)
        raise ApiError("用户名或密码错误，或用户已被封禁")
    if state.cache.user(user.id) is None:  # created by another node since the last sync
        state.cache.put_user(user)
    response = api_ok(login_summary(user))
    await auth.login(response, request, user)
    return response


async def logout(request: web.Request) -> web.Response:
    response = api_ok()
    await auth.logout(request, response)
    return response


async def register(request: web.Request) -> web.Response:
    state = request.app[STATE]
    options = state.options
    if not options.bool("RegisterEnabled"):
        raise ApiError("管理员关闭了新用户注册")
    if not options.bool("PasswordRegisterEnabled"):
        raise ApiError("管理员关闭了通过密码进行注册，请使用第三方账户验证的形式进行注册")
    await check_turnstile(request)
    body = await read_json(request)
    username, password = body_str(body, "username") or "", body_str(body, "password") or ""
    email = body_str(body, "email") or ""
    validate_profile(username=username, password=password, display_name=body_str(body, "display_name"),
                     email=email)
    code = ""
    if options.bool("EmailVerificationEnabled"):
        code = body_str(body, "verification_code") or ""
        if not email or not code:
            raise ApiError("管理员开启了邮箱验证，请输入邮箱地址和验证码")
        if not await codes.redeem(state, codes.EMAIL_VERIFICATION, email, code):
            raise ApiError("验证码错误或已过期")
    inviter_id = await inviter_id_for(body_str(body, "aff_code") or "")
    try:
        await create_user(state, username, password, display_name=username, inviter_id=inviter_id,
                          email=email if code else "")
    except ApiError:
        if code:  # the code was good: let the user retry with another username
            await codes.give_back(state, codes.EMAIL_VERIFICATION, email, code)
        raise
    return api_ok()


# -- the caller's own account ----------------------------------------------------------------------
@require(Role.COMMON)
async def generate_access_token(request: web.Request) -> web.Response:
    return api_ok(await new_access_token(request.app[STATE], current_user(request).id))


@require(Role.COMMON)
async def get_self(request: web.Request) -> web.Response:
    return api_ok(user_dict(current_user(request)))


@require(Role.COMMON)
async def update_self(request: web.Request) -> web.Response:
    state = request.app[STATE]
    caller = current_user(request)
    body = await read_json(request)
    username, password = body_str(body, "username"), body_str(body, "password")
    display_name = body_str(body, "display_name")
    validate_profile(username=username or None, password=password or None, display_name=display_name)
    fields = {name: value for name, value in
              (("username", username), ("password", password), ("display_name", display_name)) if value}
    via_cookie = await auth.session_user(request) is not None
    user = await update_user(state, caller.id, fields)
    response = api_ok()
    if via_cookie and (user.username != caller.username or "password" in fields):
        await auth.login(response, request, user)  # the old cookie names the old username or session: renew it
    return response


@require(Role.COMMON)
async def delete_self(request: web.Request) -> web.Response:
    caller = current_user(request)
    if caller.role == Role.ROOT:
        raise ApiError("不能删除超级管理员账户")
    await soft_delete_user(request.app[STATE], caller.id)
    response = api_ok()
    response.del_cookie(auth.COOKIE_NAME, path="/")
    return response


@require(Role.COMMON)
async def get_aff_code(request: web.Request) -> web.Response:
    return api_ok(await ensure_aff_code(request.app[STATE], current_user(request)))


@require(Role.COMMON)
async def redeem_code(request: web.Request) -> web.Response:
    body = await read_json(request)
    key = body_str(body, "key") or ""
    return api_ok(await redeem(request.app[STATE], current_user(request).id, key.strip()))


@require(Role.COMMON)
async def available_models(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return api_ok(sorted(state.cache.router.models(current_user(request).group)))


@require(Role.COMMON)
async def dashboard(request: web.Request) -> web.Response:
    state = request.app[STATE]
    await state.ledger.drain()
    return api_ok(await daily_usage(state, current_user(request).id))


# -- admin -----------------------------------------------------------------------------------------
@require(Role.ADMIN)
async def list_users(request: web.Request) -> web.Response:
    order = _ORDERS.get(request.query.get("order", ""), User.id.desc())
    users = await page_of(request, User.select().where(User.status != int(UserStatus.DELETED)).order_by(order))
    return api_ok([user_dict(u) for u in users])


@require(Role.ADMIN)
async def search_users(request: web.Request) -> web.Response:
    users = await search_rows(request, User, User.username, User.email, User.display_name)
    return api_ok([user_dict(u) for u in users])


@require(Role.ADMIN)
async def get_user_by_id(request: web.Request) -> web.Response:
    user = await get_user(path_id(request))
    if not _outranks(current_user(request), user.role):
        raise ApiError("无权获取同级或更高等级用户的信息")
    return api_ok(user_dict(user))


@require(Role.ADMIN)
async def create_user_by_admin(request: web.Request) -> web.Response:
    caller = current_user(request)
    body = await read_json(request)
    username, password = body_str(body, "username"), body_str(body, "password")
    if not username or not password:
        raise ApiError(INVALID_PARAMS)
    display_name = body_str(body, "display_name") or username
    validate_profile(username=username, password=password, display_name=display_name)
    if (body_int(body, "role") or 0) >= caller.role:
        raise ApiError("无法创建权限大于等于自己的用户")
    await create_user(request.app[STATE], username, password, display_name=display_name)
    return api_ok()


def _admin_edit_fields(body: dict[str, Any], caller: User, target: User) -> dict[str, Any]:
    """What ``PUT /api/user/`` may change. Unlike One API, a quota of 0 is written (it is an int, not "unset")."""
    fields: dict[str, Any] = {}
    for name in ("username", "password", "group"):
        value = body_str(body, name)
        if value:
            fields[name] = value
    for name in ("display_name", *_IDENTITY_FIELDS):
        value = body_str(body, name)
        if value is not None:
            fields[name] = value
    validate_profile(username=fields.get("username"), password=fields.get("password"),
                     display_name=fields.get("display_name"), email=fields.get("email"))
    quota = body_int(body, "quota")
    if quota is not None:
        fields["quota"] = quota
    role = body_int(body, "role")
    if role is not None and role != target.role:
        if role not in (Role.COMMON, Role.ADMIN) or not _outranks(caller, role):
            raise ApiError("无权将其他用户权限等级提升到大于等于自己的权限等级")
        fields["role"] = role
    status = body_int(body, "status")
    if status is not None and status != target.status:
        if status not in (UserStatus.ENABLED, UserStatus.DISABLED):
            raise ApiError(f"{INVALID_PARAMS}：status 只能是 1 或 2")
        if target.role == Role.ROOT:
            raise ApiError("无法禁用超级管理员用户")
        fields["status"] = status
    return fields


@require(Role.ADMIN)
async def update_user_by_admin(request: web.Request) -> web.Response:
    state = request.app[STATE]
    caller = current_user(request)
    body = await read_json(request)
    user_id = body_id(body)
    target = state.cache.user(user_id) or await get_user(user_id)
    if not _outranks(caller, target.role):
        raise ApiError("无权更新同权限等级或更高权限等级的用户信息")
    old_quota = target.quota
    fields = _admin_edit_fields(body, caller, target)
    check_columns(User, fields)
    user = await update_user(state, user_id, fields)
    if "quota" in fields and fields["quota"] != old_quota:
        options = state.options
        record_log(state, user_id, LogType.MANAGE,
                   f"管理员将用户额度从 {format_quota(options, old_quota)}修改为 {format_quota(options, user.quota)}")
    return api_ok(user_dict(user))


@require(Role.ADMIN)
async def manage_user(request: web.Request) -> web.Response:
    state = request.app[STATE]
    caller = current_user(request)
    body = await read_json(request)
    username, action = body_str(body, "username") or "", body_str(body, "action") or ""
    user = await User.aget_or_none(User.username == username) if username else None
    if user is None:
        raise ApiError("用户不存在")
    if not _outranks(caller, user.role):
        raise ApiError("无权更新同权限等级或更高权限等级的用户信息")
    is_root = user.role == Role.ROOT
    if action == "disable":
        if is_root:
            raise ApiError("无法禁用超级管理员用户")
        user = await update_user(state, user.id, {"status": int(UserStatus.DISABLED)})
    elif action == "enable":
        user = await update_user(state, user.id, {"status": int(UserStatus.ENABLED)})
    elif action == "delete":
        if is_root:
            raise ApiError("无法删除超级管理员用户")
        await soft_delete_user(state, user.id)
        user = await get_user(user.id)
    elif action == "promote":
        if caller.role != Role.ROOT:
            raise ApiError("普通管理员用户无法提升其他用户为管理员")
        if user.role >= Role.ADMIN:
            raise ApiError("该用户已经是管理员")
        user = await update_user(state, user.id, {"role": int(Role.ADMIN)})
    elif action == "demote":
        if is_root:
            raise ApiError("无法降级超级管理员用户")
        if user.role == Role.COMMON:
            raise ApiError("该用户已经是普通用户")
        user = await update_user(state, user.id, {"role": int(Role.COMMON)})
    else:
        raise ApiError(f"{INVALID_PARAMS}：action 只能是 disable、enable、delete、promote 或 demote")
    return api_ok({"role": user.role, "status": user.status})


@require(Role.ADMIN)
async def delete_user(request: web.Request) -> web.Response:
    user = await get_user(path_id(request))
    if current_user(request).role <= user.role:
        raise ApiError("无权删除同权限等级或更高权限等级的用户")
    await soft_delete_user(request.app[STATE], user.id)
    return api_ok()


@require(Role.ADMIN)
async def admin_top_up(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await read_json(request)
    user_id, quota = body_id(body, "user_id"), body_int(body, "quota", 0)
    if quota <= 0:
        raise ApiError("充值额度必须大于 0")
    await add_quota(state, user_id, quota)
    remark = body_str(body, "remark") or f"通过 API 充值 {format_quota(state.options, quota)}"
    record_log(state, user_id, LogType.TOPUP, remark, quota=quota)
    return api_ok()
