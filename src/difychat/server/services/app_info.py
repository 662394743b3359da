"""What an app says about itself beyond its config: the limits it runs under, and its end users."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.domain.apps import App
from difychat.server.domain.features import SystemParameters
from difychat.server.domain.records import EndUser
from difychat.server.errors import EndUserNotFound
from difychat.server.store import apps as app_store


class AppInfoService:
    def __init__(self, engine: AsyncEngine, limits: SystemParameters) -> None:
        self._engine = engine
        # The upload limits ``/parameters`` shows as ``system_parameters``.
        self.limits = limits

    async def end_user(self, app: App, end_user_id: str) -> EndUser:
        """An end user of this app; any other id (another app's included) is not found."""
        async with self._engine.connect() as conn:
            found = await app_store.end_user_in_app(conn, app.id, end_user_id)
        if found is None:
            raise EndUserNotFound()
        return found
