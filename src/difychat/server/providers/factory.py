"""Build the chat model an app's ``model:`` block describes."""

from __future__ import annotations

import aiohttp

from difychat.server.domain.apps import ModelSettings
from difychat.server.errors import ProviderNotInitialized
from difychat.server.providers.base import ChatModel
from difychat.server.providers.echo import EchoModel
from difychat.server.providers.openai_compatible import build_openai_compatible

PROVIDERS = ("openai", "openai-compatible", "echo")


def build_model(settings: ModelSettings, session: aiohttp.ClientSession) -> ChatModel:
    if settings.provider == "echo":
        delay = settings.completion_params.get("delay", 0.02)
        return EchoModel(settings.name, delay=float(delay))
    if settings.provider in ("openai", "openai-compatible"):
        return build_openai_compatible(
            session,
            model=settings.name,
            base_url=settings.base_url or "https://api.openai.com/v1",
            api_key=settings.api_key.get_secret_value() if settings.api_key else None,
            timeout=settings.timeout,
        )
    raise ProviderNotInitialized(f"Provider {settings.provider} is not supported; use one of {', '.join(PROVIDERS)}.")
