"""User writes shared by registration, the admin API and first start."""

from __future__ import annotations

import asyncio
import secrets
import uuid

import bcrypt

from oneapi.constants import Role, UserStatus
from oneapi.db.models import User
from oneapi.state import AppState


def hash_password(password: str) -> str:
    """bcrypt at cost 10, like One API (its ``$2a$`` hashes verify with the same call)."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()


async def check_password(password: str, hashed: str) -> bool:
    """bcrypt takes ~60 ms: never on the event loop."""
    try:
        return await asyncio.to_thread(bcrypt.checkpw, password.encode(), hashed.encode())
    except ValueError:
        return False


async def create_user(state: AppState, username: str, password: str, *, display_name: str = "",
                      role: Role = Role.COMMON, quota: int | None = None, group: str = "default",
                      inviter_id: int = 0, email: str = "") -> User:
    """Insert a user with a hashed password, an access token and an invite code; cache it at once."""
    hashed = await asyncio.to_thread(hash_password, password)
    if quota is None:
        quota = state.options.int("QuotaForNewUser")
    async with state.dbs.write_transaction():
        user = await User.acreate(
            username=username, password=hashed, display_name=display_name or username, role=int(role),
            status=int(UserStatus.ENABLED), quota=quota, group=group, inviter_id=inviter_id, email=email,
            access_token=uuid.uuid4().hex, aff_code=secrets.token_hex(2),
        )
    state.cache.put_user(user)
    return user
