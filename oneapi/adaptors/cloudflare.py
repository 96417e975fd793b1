"""Cloudflare Workers AI (SPEC §4.1, §4.13) through its OpenAI-compatible endpoints.

The body and the answer are OpenAI's, so this is the OpenAI adaptor with another URL: the account id comes
from the channel config's ``user_id`` (``<base>/client/v4/accounts/<id>/ai/v1/...``), while an AI Gateway base
URL (``https://gateway.ai.cloudflare.com/...``) already names the account and is used as the prefix itself.
Usage is read from the answer when Workers AI reports it (One API always estimated it) and estimated
otherwise. Cloudflare reports failures as ``{"success": false, "errors": [{"code", "message"}]}``.
"""

from __future__ import annotations

from oneapi.adaptors.base import RelayRequest
from oneapi.adaptors.openai import CLOUDFLARE_GATEWAY, OpenAIAdaptor
from oneapi.adaptors.upstream_errors import try_json
from oneapi.constants import RelayMode
from oneapi.errors import RelayError, upstream_error


class CloudflareAdaptor(OpenAIAdaptor):
    modes = frozenset({RelayMode.CHAT, RelayMode.EMBEDDINGS})

    def url(self, req: RelayRequest) -> str:
        base = req.upstream.base_url
        if base.startswith(CLOUDFLARE_GATEWAY):
            prefix = base
        else:
            account = req.upstream.config.get("user_id", "").strip()
            if not account:
                raise RelayError("the Cloudflare channel needs its account id as user_id in the channel config",
                                 status=500, code="invalid_channel_config", retryable=True)
            prefix = f"{base}/client/v4/accounts/{account}/ai"
        return prefix + ("/v1/embeddings" if req.mode == RelayMode.EMBEDDINGS else "/v1/chat/completions")

    def parse_error(self, status: int, raw: bytes) -> RelayError:
        data = try_json(raw)
        errors = data.get("errors") if isinstance(data, dict) else None
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            return upstream_error(status, str(first.get("message") or ""), "cloudflare_error", first.get("code"))
        return super().parse_error(status, raw)


ADAPTOR = CloudflareAdaptor()
