"""User writes shared by registration, the admin API and first start.

Every write goes to the database first and then to the user cache, which the relay and the admin
auth read: a ban, a new access token or a quota edit applies on the next request.
"""

from __future__ import annotations

import asyncio
import secrets
import string
import uuid
from typing import Any

import bcrypt
from peewee import IntegrityError

from oneapi.constants import LogType, Role, UserStatus
from oneapi.db.models import User
from oneapi.errors import ApiError, found
from oneapi.logs import format_quota, record_log
from oneapi.security.sessions import REVOKING_FIELDS, end_sessions
from oneapi.state import AppState
from oneapi.tokens import create_token

_AFF_ALPHABET = string.ascii_letters + string.digits
# Checked when the username is unknown, so that a login takes as long whether or not the user exists.
_DUMMY_HASH = "$2b$10$/KZB79DKwZGmwMC4hkg8VeyA1fOd/sBCpw4fjTbrZ9dOIxKOxqYVy"
USERNAME_MAX, DISPLAY_NAME_MAX, EMAIL_MAX = 12, 20, 50
PASSWORD_MIN, PASSWORD_MAX = 8, 20


def hash_password(password: str) -> str:
    """bcrypt at cost 10, like One API (its ``$2a$`` hashes verify with the same call)."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()


async def check_password(password: str, hashed: str) -> bool:
    """bcrypt takes ~60 ms: never on the event loop."""
    try:
        return await asyncio.to_thread(bcrypt.checkpw, password.encode(), hashed.encode())
    except ValueError:
        return False


def validate_profile(username: str | None = None, password: str | None = None, display_name: str | None = None,
                     email: str | None = None) -> None:
    """One API's struct validation (``输入不合法 …``); None means "not given"."""
    problems = []
    if username is not None and not 0 < len(username) <= USERNAME_MAX:
        problems.append(f"username must be 1-{USERNAME_MAX} characters")
    if password is not None and not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        problems.append(f"password must be {PASSWORD_MIN}-{PASSWORD_MAX} characters")
    if display_name is not None and len(display_name) > DISPLAY_NAME_MAX:
        problems.append(f"display_name must be at most {DISPLAY_NAME_MAX} characters")
    if email is not None and (len(email) > EMAIL_MAX or (email and "@" not in email)):
        problems.append(f"email must be an address of at most {EMAIL_MAX} characters")
    if problems:
        raise ApiError("输入不合法 " + "; ".join(problems))


def _aff_code() -> str:
    return "".join(secrets.choice(_AFF_ALPHABET) for _ in range(4))


async def _unused_aff_code() -> str:
    """A 4-char invite code nobody has yet (collisions are rare but the column is unique)."""
    while True:
        code = _aff_code()
        if await User.aget_or_none(User.aff_code == code) is None:
            return code


async def _username_taken(username: str, except_id: int = 0) -> bool:
    found = await User.aget_or_none(User.username == username)
    return found is not None and found.id != except_id


async def create_user(state: AppState, username: str, password: str, *, display_name: str = "",
                      role: Role = Role.COMMON, quota: int | None = None, group: str = "default",
                      inviter_id: int = 0, email: str = "", default_token: bool = True) -> User:
    """Insert a user like One API's ``User.Insert``: hashed password, access token, invite code,
    QuotaForNewUser (and the invite rewards of both sides) with their system logs, and a "default" token."""
    hashed = await asyncio.to_thread(hash_password, password)
    options = state.options
    granted = options.int("QuotaForNewUser") if quota is None else 0
    invitee_bonus = options.int("QuotaForInvitee") if inviter_id else 0
    inviter_bonus = options.int("QuotaForInviter") if inviter_id else 0
    try:
        async with state.dbs.write_transaction():
            if await _username_taken(username):
                raise ApiError(f"用户名 {username} 已被占用")
            user = await User.acreate(
                username=username, password=hashed, display_name=display_name or username, role=int(role),
                status=int(UserStatus.ENABLED), quota=(granted if quota is None else quota) + max(invitee_bonus, 0),
                group=group, inviter_id=inviter_id, email=email, access_token=uuid.uuid4().hex,
                aff_code=await _unused_aff_code(),
            )
            if inviter_bonus > 0:
                await state.dbs.main.aexecute(User.update(quota=User.quota + inviter_bonus)
                                              .where(User.id == inviter_id))
    except IntegrityError:
        raise ApiError(f"用户名 {username} 已被占用") from None
    state.cache.put_user(user)
    if granted > 0:
        record_log(state, user.id, LogType.SYSTEM, f"新用户注册赠送 {format_quota(options, granted)}")
    if invitee_bonus > 0:
        record_log(state, user.id, LogType.SYSTEM, f"使用邀请码赠送 {format_quota(options, invitee_bonus)}")
    if inviter_bonus > 0:
        credit_cached(state, inviter_id, inviter_bonus)
        record_log(state, inviter_id, LogType.SYSTEM, f"邀请用户赠送 {format_quota(options, inviter_bonus)}")
    if default_token:
        await create_token(state, user.id, "default", unlimited_quota=True, remain_quota=-1)
    return user


async def inviter_id_for(aff_code: str) -> int:
    """The id of the user whose invite code this is; 0 for an unknown or empty code."""
    if not aff_code:
        return 0
    inviter = await User.aget_or_none(User.aff_code == aff_code)
    return inviter.id if inviter is not None else 0


async def authenticate_password(state: AppState, username: str, password: str) -> User | None:
    """The enabled user with this username (or email) and password; None otherwise, in constant-ish time."""
    user = await User.aget_or_none(User.username == username)
    if user is None and "@" in username:
        user = await User.aget_or_none(User.email == username)
    await state.dbs.release()
    ok = await check_password(password, user.password if user is not None else _DUMMY_HASH)
    if not ok or user is None or user.status != UserStatus.ENABLED:
        return None
    return user


async def get_user(user_id: int) -> User:
    return found(await User.aget_or_none(User.id == user_id), "用户不存在")


async def update_user(state: AppState, user_id: int, fields: dict[str, Any]) -> User:
    """Write the given columns (a ``password`` is hashed here), then refresh the cached user. A new
    password, role or status ends the user's sessions in the same transaction.

    Queued settlements are written first: the row read back replaces the cached user, so it must
    already hold every charge the cache has seen.
    """
    fields = dict(fields)
    if fields.get("password"):
        fields["password"] = await asyncio.to_thread(hash_password, fields["password"])
    if "username" in fields and await _username_taken(fields["username"], except_id=user_id):
        raise ApiError(f"用户名 {fields['username']} 已被占用")
    await state.ledger.drain()
    try:
        async with state.dbs.write_transaction():
            if fields:
                await state.dbs.main.aexecute(User.update(**fields).where(User.id == user_id))
            if REVOKING_FIELDS & fields.keys():
                await end_sessions(state.dbs, user_id)
            user = await get_user(user_id)
    except IntegrityError:
        raise ApiError("用户名已被占用") from None
    state.cache.put_user(user)
    return user


async def add_quota(state: AppState, user_id: int, amount: int) -> None:
    """Credit a user (``quota = quota + amount``: concurrent debits are never lost)."""
    async with state.dbs.write_transaction():
        updated = await state.dbs.main.aexecute(User.update(quota=User.quota + amount).where(User.id == user_id))
    if not updated:
        raise ApiError("用户不存在")
    credit_cached(state, user_id, amount)


def credit_cached(state: AppState, user_id: int, amount: int) -> None:
    """Add a credit the database already holds to the cached user (not a re-read: charges the cache has
    seen but the ledger has not yet written stay counted)."""
    cached = state.cache.user(user_id)
    if cached is not None:
        cached.quota += amount
        state.cache.put_user(cached)


async def soft_delete_user(state: AppState, user_id: int) -> None:
    """One API's delete: status 3 and the username freed as ``deleted_<uuid>``; the row stays."""
    await update_user(state, user_id, {"status": int(UserStatus.DELETED), "username": f"deleted_{uuid.uuid4().hex}"})


async def new_access_token(state: AppState, user_id: int) -> str:
    token = uuid.uuid4().hex
    await update_user(state, user_id, {"access_token": token})
    return token


async def ensure_aff_code(state: AppState, user: User) -> str:
    if user.aff_code:
        return user.aff_code
    async with state.dbs.write_transaction():
        code = await _unused_aff_code()
        await state.dbs.main.aexecute(User.update(aff_code=code).where(User.id == user.id))
    user.aff_code = code
    state.cache.put_user(user)
    return code
