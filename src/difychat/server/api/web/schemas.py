"""Query strings of the web API that differ from the service API's."""

from __future__ import annotations

from typing import Literal

from difychat.server.api.schemas import ConversationsQuery


class WebConversationsQuery(ConversationsQuery):
    # The page lists pinned and other conversations separately; absent: all of them.
    pinned: Literal["true", "false"] | None = None

    @property
    def pinned_filter(self) -> bool | None:
        return None if self.pinned is None else self.pinned == "true"
