"""``/v1/models``: the models a token may use, described like OpenAI's catalogue (SPEC §2.9)."""

from __future__ import annotations

import functools
from typing import Any

from oneapi.catalogue import owners
from oneapi.relay.auth import Caller
from oneapi.state import AppState

_CREATED = 1626777600
_PERMISSION = {
    "id": "modelperm-LwHkVFn8AcMItP432fKKDIKJ", "object": "model_permission", "created": _CREATED,
    "allow_create_engine": True, "allow_sampling": True, "allow_logprobs": True, "allow_search_indices": False,
    "allow_view": True, "allow_fine_tuning": False, "organization": "*", "group": None, "is_blocking": False,
}


@functools.cache
def _owners() -> dict[str, str]:
    return owners()


def _entry(model: str, owned_by: str | None) -> dict[str, Any]:
    known = owned_by is not None
    return {"id": model, "object": "model", "created": _CREATED, "owned_by": owned_by or "custom",
            "permission": [_PERMISSION] if known else None, "root": model, "parent": None}


def catalogue_entry(model: str) -> dict[str, Any] | None:
    owned_by = _owners().get(model)
    return _entry(model, owned_by) if owned_by is not None else None


def usable_models(state: AppState, caller: Caller) -> list[str]:
    """What the token may call: the models routed for the user's group, narrowed by the token's allow-list."""
    routed = state.cache.router.models(caller.user.group)
    if not caller.token.models:
        return routed
    allowed = {m.strip() for m in caller.token.models.split(",")}
    return [name for name in routed if name in allowed]


def visible_models(state: AppState, caller: Caller) -> list[dict[str, Any]]:
    owner = _owners()
    return [_entry(name, owner.get(name)) for name in usable_models(state, caller)]


def model_entry(state: AppState, caller: Caller, model: str) -> dict[str, Any] | None:
    """The OpenAI model object for a model the caller may use, else None."""
    if model not in usable_models(state, caller):
        return None
    return _entry(model, _owners().get(model))
