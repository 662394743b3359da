"""Value conventions shared by every resource: timestamps, and the keyset page envelope."""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from difychat.server.domain.paging import Page

Item = TypeVar("Item")

# How an upload id becomes a URL the client can fetch (a fresh signed preview URL).
FileUrl = Callable[[str], str]
# How a tool file (its id and mime type) becomes a URL: a fresh signed /files/tools/<id><.ext> URL.
ToolUrl = Callable[[str, str], str]


def seconds(value: datetime) -> int:
    """Naive UTC to integer Unix seconds, the contract's timestamp."""
    return calendar.timegm(value.utctimetuple())


def iso(value: datetime) -> str:
    """``datetime.isoformat()`` of naive UTC: microseconds only when non-zero, no zone."""
    return value.isoformat()


def iso_z(value: datetime) -> str:
    """Whole seconds with a ``Z``: ``2025-01-01T00:00:00Z``."""
    return value.replace(microsecond=0).isoformat() + "Z"


def keyset_page(page: Page[Item], item: Callable[[Item], dict[str, Any]]) -> dict[str, Any]:
    """``{"limit", "has_more", "data"}``, the envelope of every keyset-paginated list."""
    return {"limit": page.limit, "has_more": page.has_more, "data": [item(each) for each in page.data]}
