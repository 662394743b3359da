"""Which config and which model a turn uses.

A conversation keeps the config version it was created with; the model's
credentials always come from the app's live config, so rotating a key in the
apps file takes effect for old conversations too.
"""

from __future__ import annotations

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.domain.apps import App, AppConfig
from difychat.server.errors import AppUnavailable
from difychat.server.providers.base import ChatModel
from difychat.server.providers.factory import build_model
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
        cached = self._models.get(config_id)
        if cached is not None:
            return cached
        settings = config.model
        if settings.api_key is None and app.config.model.api_key is not None:
            settings = settings.model_copy(update={"api_key": app.config.model.api_key})
        model = build_model(settings, self._session)
        self._models[config_id] = model
        return model
