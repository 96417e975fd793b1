"""Azure OpenAI (SPEC §4.3): OpenAI's wire format behind a per-deployment URL and an ``api-key`` header.

Everything after the URL is OpenAI's protocol, so this adaptor is the OpenAI adaptor with a different
address and credentials. Two Azure specifics remain: the client's ``?api-version=`` is replaced by the
channel's, and ``stream_options`` is only sent to API versions that know it (older ones answer 400
"Unrecognized request argument"); for those the usage chunk the client asked for is our estimate.
"""

from __future__ import annotations

import orjson

from oneapi.adaptors.base import RelayRequest
from oneapi.adaptors.openai import CLOUDFLARE_GATEWAY, OpenAIAdaptor
from oneapi.constants import RelayMode

DEFAULT_API_VERSION = "2024-10-21"  # the current GA version, used when the channel names none
STREAM_OPTIONS_SINCE = "2024-09-01"  # first API version (2024-09-01-preview) that accepts stream_options


def api_version(req: RelayRequest) -> str:
    return req.upstream.config.get("api_version") or DEFAULT_API_VERSION


def deployment_name(model: str) -> str:
    """Azure deployment names cannot hold dots: gpt-3.5-turbo -> gpt-35-turbo."""
    return model.replace(".", "")


def deployment_url(base_url: str, model: str, client_path: str, version: str) -> str:
    """``<base>/openai/deployments/<deployment>/<task>?api-version=<v>``; the Cloudflare AI Gateway drops
    ``/openai/deployments`` because its base URL already ends with the Azure resource."""
    deployment = deployment_name(model)
    task = client_path.removeprefix("/v1/")
    prefix = "" if base_url.startswith(CLOUDFLARE_GATEWAY) else "/openai/deployments"
    return f"{base_url}{prefix}/{deployment}/{task}?api-version={version}"


def accepts_stream_options(version: str) -> bool:
    return version[:10] >= STREAM_OPTIONS_SINCE


class AzureAdaptor(OpenAIAdaptor):
    modes = frozenset(
        {
            RelayMode.CHAT,
            RelayMode.COMPLETIONS,
            RelayMode.EMBEDDINGS,
            RelayMode.IMAGES,
            RelayMode.AUDIO_SPEECH,
            RelayMode.AUDIO_TRANSCRIPTION,
            RelayMode.AUDIO_TRANSLATION,
            RelayMode.RESPONSES,
        }
    )

    def url(self, req: RelayRequest) -> str:
        if req.mode == RelayMode.RESPONSES:  # the v1 API: the deployment is the body's model, no api-version
            return f"{req.upstream.base_url}/openai/v1/responses"
        path = "/v1/embeddings" if req.mode == RelayMode.EMBEDDINGS else req.path  # also /v1/engines/{m}/embeddings
        return deployment_url(req.upstream.base_url, req.model, path, api_version(req))

    def headers(self, req: RelayRequest) -> dict[str, str]:
        headers = super().headers(req)
        del headers["Authorization"]
        headers["api-key"] = req.upstream.key
        return headers

    def body(self, req: RelayRequest) -> bytes:
        if req.mode == RelayMode.RESPONSES:
            return orjson.dumps({**req.body, "model": deployment_name(req.model)})
        if not req.stream or accepts_stream_options(api_version(req)):
            return super().body(req)
        if "stream_options" in req.body:
            return orjson.dumps({k: v for k, v in req.body.items() if k != "stream_options"})
        return req.body_bytes()


ADAPTOR = AzureAdaptor()
