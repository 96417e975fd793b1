"""The /v1 routes (SPEC §2.1): relayed modes, model listing, the billing emulation and the 501s."""

from __future__ import annotations

from functools import partial

from aiohttp import web

from oneapi.constants import RelayMode
from oneapi.errors import RelayError, json_response, model_not_found
from oneapi.relay import generate_content, messages, responses
from oneapi.relay import models as model_list
from oneapi.relay.auth import authenticate_token
from oneapi.relay.pipeline import relay
from oneapi.relay.proxy import proxy
from oneapi.state import STATE

_RELAYED = {
    "/v1/chat/completions": RelayMode.CHAT,
    "/v1/completions": RelayMode.COMPLETIONS,
    "/v1/embeddings": RelayMode.EMBEDDINGS,
    "/v1/engines/{model}/embeddings": RelayMode.EMBEDDINGS,
    "/v1/moderations": RelayMode.MODERATIONS,
    "/v1/edits": RelayMode.EDITS,
    "/v1/images/generations": RelayMode.IMAGES,
    "/v1/audio/speech": RelayMode.AUDIO_SPEECH,
    "/v1/audio/transcriptions": RelayMode.AUDIO_TRANSCRIPTION,
    "/v1/audio/translations": RelayMode.AUDIO_TRANSLATION,
}

_NOT_IMPLEMENTED = [
    ("POST", "/v1/images/edits"), ("POST", "/v1/images/variations"),
    ("GET", "/v1/files"), ("POST", "/v1/files"), ("GET", "/v1/files/{id}"), ("DELETE", "/v1/files/{id}"),
    ("GET", "/v1/files/{id}/content"), ("POST", "/v1/fine_tuning/jobs"), ("GET", "/v1/fine_tuning/jobs"),
    ("GET", "/v1/fine_tuning/jobs/{id}"), ("POST", "/v1/fine_tuning/jobs/{id}/cancel"),
    ("GET", "/v1/fine_tuning/jobs/{id}/events"), ("DELETE", "/v1/models/{model}"),
    ("*", "/v1/assistants{tail:.*}"), ("*", "/v1/threads{tail:.*}"),
]


async def not_implemented(request: web.Request) -> web.Response:
    await authenticate_token(request, request.app[STATE])
    raise RelayError("API not implemented", status=501, code="api_not_implemented")


async def list_models(request: web.Request) -> web.Response:
    state = request.app[STATE]
    caller = await authenticate_token(request, state)
    return json_response({"object": "list", "data": model_list.visible_models(state, caller)})


async def retrieve_model(request: web.Request) -> web.Response:
    state = request.app[STATE]
    caller = await authenticate_token(request, state)
    model_id = request.match_info["model"]
    entry = model_list.model_entry(state, caller, model_id)
    if entry is None:
        raise model_not_found(model_id)
    return json_response(entry)


async def billing_subscription(request: web.Request) -> web.Response:
    state = request.app[STATE]
    caller = await authenticate_token(request, state)
    options = state.options
    if options.bool("DisplayTokenStatEnabled"):
        token = caller.token
        amount = 100000000.0 if token.unlimited_quota else float(token.remain_quota + token.used_quota)
        expires = max(token.expired_time, 0)
    else:
        amount, expires = float(caller.user.quota + caller.user.used_quota), 0
    if options.bool("DisplayInCurrencyEnabled") and not (options.bool("DisplayTokenStatEnabled")
                                                         and caller.token.unlimited_quota):
        amount /= options.quota_per_unit
    return json_response({"object": "billing_subscription", "has_payment_method": True,
                          "soft_limit_usd": amount, "hard_limit_usd": amount, "system_hard_limit_usd": amount,
                          "access_until": expires})


async def billing_usage(request: web.Request) -> web.Response:
    state = request.app[STATE]
    caller = await authenticate_token(request, state)
    options = state.options
    used = float(caller.token.used_quota if options.bool("DisplayTokenStatEnabled") else caller.user.used_quota)
    if options.bool("DisplayInCurrencyEnabled"):
        used /= options.quota_per_unit
    return json_response({"object": "list", "total_usage": used * 100})


def setup_routes(app: web.Application) -> None:
    for path, mode in _RELAYED.items():
        app.router.add_post(path, partial(relay, mode=mode))
    app.router.add_get("/v1/models", list_models)
    app.router.add_get("/v1/models/{model}", retrieve_model)
    for prefix in ("", "/v1"):
        app.router.add_get(f"{prefix}/dashboard/billing/subscription", billing_subscription)
        app.router.add_get(f"{prefix}/dashboard/billing/usage", billing_usage)
    app.router.add_route("*", "/v1/oneapi/proxy/{channel}/{target:.*}", proxy)
    messages.setup_routes(app)
    responses.setup_routes(app)
    generate_content.setup_routes(app)
    for method, path in _NOT_IMPLEMENTED:
        app.router.add_route(method, path, not_implemented)
