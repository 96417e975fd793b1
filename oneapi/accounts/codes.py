"""Email verification codes and password reset tokens (One API's ``common/verification.go``), kept as
one-time secrets so that the node which mailed a code need not be the one that checks it."""

from __future__ import annotations

import uuid

from oneapi.accounts import onetime
from oneapi.errors import ApiError
from oneapi.state import AppState

VALID_MINUTES = 10
EMAIL_VERIFICATION = "email_verification"
PASSWORD_RESET = "password_reset"
RESEND_SECONDS = 60  # one mail per address and purpose per minute; per IP the Critical rate limit applies


def new_code(length: int = 0) -> str:
    """One API's GenerateVerificationCode: hex of a UUID, cut to ``length`` (0 keeps all 32)."""
    code = uuid.uuid4().hex
    return code[:length] if length else code


async def issue(state: AppState, purpose: str, email: str, length: int = 0) -> str:
    """A fresh code for ``email``, valid VALID_MINUTES, replacing the previous one; refused when the last
    one went out less than RESEND_SECONDS ago."""
    if not await onetime.claim(state, f"{purpose}_sent", email, RESEND_SECONDS):
        raise ApiError(f"发送过于频繁，请 {RESEND_SECONDS} 秒后再试")
    code = new_code(length)
    await onetime.put(state, purpose, email, code, VALID_MINUTES * 60)
    return code


async def withdraw(state: AppState, purpose: str, email: str) -> None:
    """Forget a code whose mail could not be sent, and let the user ask again at once."""
    await onetime.drop(state, purpose, email)
    await onetime.drop(state, f"{purpose}_sent", email)


async def redeem(state: AppState, purpose: str, email: str, code: str) -> bool:
    """True once for the right, unexpired code; the code is used up."""
    return await onetime.take(state, purpose, email, code.strip())


async def give_back(state: AppState, purpose: str, email: str, code: str) -> None:
    """Restore a code whose use failed afterwards (e.g. the username was taken), so it can be retried."""
    await onetime.put(state, purpose, email, code.strip(), VALID_MINUTES * 60)
