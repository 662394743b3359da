"""What every Knowledge API handler does first: the key, the dataset in the path, the page."""

from __future__ import annotations

from starlette.requests import Request

from difychat.server.api.context import services
from difychat.server.api.ids import path_id
from difychat.server.domain.knowledge import DatasetRecord
from difychat.server.errors import DATASET_NOT_FOUND, NotFound
from difychat.server.services.knowledge.bundle import Knowledge
from difychat.server.services.knowledge.keys import KnowledgeCaller
from difychat.server.store.paging import MAX_OFFSET

MAX_LIMIT = 100
DEFAULT_LIMIT = 20


def knowledge(request: Request) -> Knowledge:
    found = services(request).knowledge
    if found is None:  # pragma: no cover - the composition root always builds it
        raise NotFound()
    return found


async def authenticate(request: Request) -> tuple[Knowledge, KnowledgeCaller]:
    """The caller's ``dataset-`` key, checked before anything else (the contract's order)."""
    found = knowledge(request)
    return found, await found.keys.authenticate(request.headers.get("authorization"))


async def dataset_in_path(request: Request) -> tuple[Knowledge, KnowledgeCaller, DatasetRecord]:
    found, caller = await authenticate(request)
    dataset_id = path_id(request, "dataset_id", NotFound, DATASET_NOT_FOUND)
    return found, caller, await found.datasets.resolve(caller, dataset_id)


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None and text.strip() else default
    except ValueError:
        return default


def paging(request: Request) -> tuple[int, int]:
    """``page`` (from 1) and ``limit`` (1..100, clamped); unreadable values take the defaults. A
    page past the last one an offset can reach (``MAX_OFFSET``) is that one: empty all the same."""
    limit = min(max(1, _int(request.query_params.get("limit"), DEFAULT_LIMIT)), MAX_LIMIT)
    page = min(max(1, _int(request.query_params.get("page"), 1)), MAX_OFFSET // limit + 1)
    return page, limit


def keyword(request: Request) -> str | None:
    found = request.query_params.get("keyword")
    return found.strip() or None if found else None
