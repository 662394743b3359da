"""Routes that serve one kind of app: the contract's errors for an app of the other kind.

Conversation routes (chat messages, their stop, history, suggestions, conversations and their
variables) refuse completion apps with ``not_chat_app``; the completion routes refuse chat and
agent apps with ``app_unavailable``, as Dify's service API does.
"""

from __future__ import annotations

from difychat.server.domain.app_modes import CHAT_MODES, COMPLETION
from difychat.server.domain.apps import App
from difychat.server.errors import AppUnavailable, NotChatApp


def require_chat_app(app: App) -> None:
    if app.mode not in CHAT_MODES:
        raise NotChatApp()


def require_completion_app(app: App) -> None:
    if app.mode != COMPLETION:
        raise AppUnavailable()
