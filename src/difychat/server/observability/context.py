"""The request a log line belongs to: its request id, and the app and task once they are known.

Held in a context variable, so every log line emitted while serving a request (and by the tasks
it starts, which copy the context) carries them without passing them around.
"""

from __future__ import annotations

import random
import re
from contextvars import ContextVar, Token
from dataclasses import dataclass


@dataclass(slots=True)
class RequestContext:
    request_id: str | None
    app_id: str | None = None
    task_id: str | None = None


# One variable holding a small mutable record: one set and one reset per request.
current: ContextVar[RequestContext | None] = ContextVar("difychat_request", default=None)


# An incoming id is kept only if it could not smuggle anything into a header or a log line.
_SANE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")


def sane_request_id(raw: bytes) -> str | None:
    """``raw`` as a request id when it is 1-128 characters of ``A-Z a-z 0-9 . _ : -``."""
    if len(raw) > 128:
        return None
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return None
    return text if _SANE.fullmatch(text) else None


def new_request_id() -> str:
    """32 random hex digits (not a secret: ``random`` is enough, and cheaper than ``secrets``)."""
    return f"{random.getrandbits(128):032x}"


def bind_app(app_id: str) -> None:
    """The app behind the request's key, for the rest of the request's log lines."""
    found = current.get()
    if found is None:
        current.set(RequestContext(None, app_id))
    else:
        found.app_id = app_id


def bind_task(app_id: str, task_id: str) -> None:
    """A chat turn's app and task id, for the rest of the request's log lines and the turn's own."""
    found = current.get()
    if found is None:
        current.set(RequestContext(None, app_id, task_id))
    else:
        found.app_id = app_id
        found.task_id = task_id


def enter(request_id: str) -> Token[RequestContext | None]:
    """Start a request's context: its id, no app or task yet."""
    return current.set(RequestContext(request_id))


def leave(token: Token[RequestContext | None]) -> None:
    """Restore what was there before ``enter`` (an in-process client runs requests in one task)."""
    current.reset(token)
