"""Kept for one import: the wire serialisers live in ``api/wire/``, one module per resource."""

from __future__ import annotations

from difychat.server.api.wire.common import seconds

__all__ = ["seconds"]
