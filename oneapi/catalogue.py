"""Built-in model lists per channel type: what ``/api/models`` offers to fill a channel, and the catalogue
``/v1/models`` describes (with each model's ``owned_by``)."""

from __future__ import annotations

from oneapi.constants import ChannelType

# channel type -> (owned_by, default models)
MODELS_BY_TYPE: dict[int, tuple[str, list[str]]] = {
    ChannelType.OPENAI: ("openai", [
        "gpt-3.5-turbo", "gpt-3.5-turbo-0125", "gpt-3.5-turbo-16k", "gpt-3.5-turbo-instruct",
        "gpt-4", "gpt-4-32k", "gpt-4-turbo", "gpt-4o", "gpt-4o-mini", "chatgpt-4o-latest",
        "o1", "o1-preview", "o1-mini", "o3-mini",
        "text-embedding-ada-002", "text-embedding-3-small", "text-embedding-3-large",
        "text-moderation-latest", "text-moderation-stable", "davinci-002", "babbage-002",
        "dall-e-2", "dall-e-3", "whisper-1", "tts-1", "tts-1-hd",
    ]),
}


def default_models(channel_type: int) -> list[str]:
    entry = MODELS_BY_TYPE.get(channel_type)
    return list(entry[1]) if entry else []


def owners() -> dict[str, str]:
    """model -> owned_by, first owner wins (catalogue order)."""
    owner: dict[str, str] = {}
    for owned_by, models in MODELS_BY_TYPE.values():
        for model in models:
            owner.setdefault(model, owned_by)
    return owner
