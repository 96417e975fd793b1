"""Revocable sessions: a per-user generation in our ``session_generations`` table.

A cookie is valid only while the generation it names is the user's current one. The generation is read
from the database on each cookie-authenticated request (admin pages and /api only, never the relay), so a
bump on one node ends the user's sessions on every node at once.
"""

from __future__ import annotations

from peewee import IntegrityError

from oneapi.db.connect import Databases
from oneapi.db.models import SessionGeneration

REVOKING_FIELDS = frozenset({"password", "role", "status"})  # a change to any of these ends the sessions


async def current_generation(user_id: int) -> int:
    row = await SessionGeneration.aget_or_none(SessionGeneration.user_id == user_id)
    return row.generation if row is not None else 0


async def end_sessions(dbs: Databases, user_id: int) -> None:
    """Invalidate every cookie issued to ``user_id`` so far (call inside a write transaction)."""
    bump = SessionGeneration.update(generation=SessionGeneration.generation + 1)
    if await dbs.main.aexecute(bump.where(SessionGeneration.user_id == user_id)):
        return
    try:
        await dbs.main.aexecute(SessionGeneration.insert(user_id=user_id, generation=1))
    except IntegrityError:  # another request created the row meanwhile
        await dbs.main.aexecute(bump.where(SessionGeneration.user_id == user_id))
