"""Which config a turn uses, and every model client an app's services call.

A conversation keeps the config version it was created with; the model's
credentials always come from the app's live config, so rotating a key in the
apps file takes effect for old conversations too. Services get their clients
here (chat, speech to text, text to speech, embeddings); the clients are built by
``providers/factory.py`` from credentials resolved by its one fallback rule.
"""

from __future__ import annotations

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.domain.apps import App, AppConfig
from difychat.server.errors import AppUnavailable
from difychat.server.providers.base import ChatModel
from difychat.server.providers.embeddings import EmbeddingModel
from difychat.server.providers.factory import (
    Capability,
    build_chat,
    build_embeddings,
    build_speech,
    resolve,
)
from difychat.server.providers.speech import SpeechModel
from difychat.server.store import apps as app_store


class ModelCatalog:
    def __init__(self, engine: AsyncEngine, session: aiohttp.ClientSession) -> None:
        self._engine = engine
        self._session = session
        self._configs: dict[str, AppConfig] = {}
        self._models: dict[str, ChatModel] = {}

    async def config(self, app: App, config_id: str) -> AppConfig:
        if config_id == app.config_id:
            return app.config
        cached = self._configs.get(config_id)
        if cached is not None:
            return cached
        async with self._engine.connect() as conn:
            snapshot = await app_store.config_by_id(conn, config_id)
        if snapshot is None:
            raise AppUnavailable()
        config = AppConfig.from_snapshot(snapshot, app.name)
        self._configs[config_id] = config
        return config

    def model(self, app: App, config: AppConfig, config_id: str) -> ChatModel:
        """The chat model of ``config`` (the version ``config_id``), with the live config's key."""
        cached = self._models.get(config_id)
        if cached is not None:
            return cached
        settings = config.model
        credentials = resolve(settings, app.config.model, Capability.CHAT, provider=settings.provider)
        delay = float(settings.completion_params.get("delay", 0.02))
        model = build_chat(self._session, credentials, model=settings.name, delay=delay)
        self._models[config_id] = model
        return model

    def speech_to_text(self, app: App) -> SpeechModel:
        """The app's transcriber; refused with the contract's error when its provider has none."""
        block = app.config.speech_to_text
        credentials = resolve(block, app.config.model, Capability.SPEECH_TO_TEXT, provider=block.provider)
        return build_speech(self._session, credentials, Capability.SPEECH_TO_TEXT, stt_model=block.model)

    def text_to_speech(self, app: App, config: AppConfig) -> SpeechModel:
        """The TTS model ``config`` names, at the endpoint the live config gives it."""
        live = app.config.text_to_speech
        credentials = resolve(live, app.config.model, Capability.TEXT_TO_SPEECH, provider=live.provider)
        model = config.text_to_speech.model
        return build_speech(self._session, credentials, Capability.TEXT_TO_SPEECH, tts_model=model)

    def embeddings(self, app: App, config: AppConfig) -> EmbeddingModel | None:
        """The embedding model ``config`` (else the live config) names; None when neither names one.
        Its endpoint is the live config's."""
        block = config.embedding_model or app.config.embedding_model
        if block is None:
            return None
        endpoint = app.config.embedding_model or block
        credentials = resolve(endpoint, app.config.model, Capability.EMBEDDINGS, provider=endpoint.provider)
        return build_embeddings(self._session, credentials, model=block.name)
