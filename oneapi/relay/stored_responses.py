"""Stored /v1/responses answers: what ``previous_response_id`` continues and GET/DELETE /v1/responses/{id} see.

Rows belong to the token that created them; rows older than RESPONSE_STORE_DAYS are deleted as new ones come.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from oneapi.db.models import StoredResponse
from oneapi.state import AppState


async def save(state: AppState, token_id: int, response: dict[str, Any], items: list[dict[str, Any]]) -> None:
    now = int(time.time())
    cutoff = now - state.settings.response_store_days * 86400
    async with state.dbs.write_transaction():
        await state.dbs.main.aexecute(StoredResponse.delete().where(StoredResponse.created_at < cutoff))
        await state.dbs.main.aexecute(StoredResponse.insert(
            id=response["id"], token_id=token_id, created_at=now, response=orjson.dumps(response).decode(),
            items=orjson.dumps(items).decode()))


async def load(state: AppState, token_id: int, response_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """(the Response, the conversation's items) of this token's stored response, None when there is none."""
    cutoff = int(time.time()) - state.settings.response_store_days * 86400
    row = await StoredResponse.aget_or_none((StoredResponse.id == response_id) & (StoredResponse.token_id == token_id)
                                            & (StoredResponse.created_at >= cutoff))
    await state.dbs.release()
    if row is None:
        return None
    return orjson.loads(row.response), orjson.loads(row.items)


async def delete(state: AppState, token_id: int, response_id: str) -> bool:
    async with state.dbs.write_transaction():
        deleted = await state.dbs.main.aexecute(StoredResponse.delete().where(
            (StoredResponse.id == response_id) & (StoredResponse.token_id == token_id)))
    return bool(deleted)
