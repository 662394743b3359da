"""Datasets: create, list, read, change, delete; and which datasets a key may reach."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.domain.knowledge import DatasetRecord, DatasetView, SegmentIndexer
from difychat.server.domain.paging import NumberedPage
from difychat.server.domain.values import parse_uuid
from difychat.server.errors import (
    DATASET_API_DISABLED,
    DATASET_NOT_FOUND,
    DatasetNameDuplicate,
    Forbidden,
    InvalidParam,
    NotFound,
)
from difychat.server.files.storage import FileStorage
from difychat.server.services.knowledge import OWNER_ID
from difychat.server.services.knowledge.keys import KnowledgeCaller
from difychat.server.store import datasets as store
from difychat.server.store.common import new_id, utcnow
from difychat.server.store.db import write_transaction
from difychat.server.store.schema import dataset_key_scopes

logger = logging.getLogger("difychat.knowledge")

NAME_MAX = 40
DESCRIPTION_MAX = 400
TECHNIQUES = ("high_quality", "economy")
PERMISSIONS = ("only_me", "all_team_members", "partial_members")
PROVIDERS = ("vendor", "external")
# The fields PATCH may change, as the request names them.
UPDATABLE = (
    "name",
    "description",
    "indexing_technique",
    "permission",
    "embedding_model",
    "embedding_model_provider",
    "retrieval_model",
    "partial_member_list",
    "external_retrieval_model",
    "external_knowledge_id",
    "external_knowledge_api_id",
)


@dataclass(frozen=True, slots=True)
class NewDataset:
    name: str
    description: str = ""
    indexing_technique: str | None = None
    permission: str = "only_me"
    provider: str = "vendor"
    embedding_model: str | None = None
    embedding_model_provider: str | None = None
    retrieval_model: dict[str, Any] | None = None
    summary_index_setting: dict[str, Any] | None = None
    external_knowledge_id: str | None = None
    external_knowledge_api_id: str | None = None


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= NAME_MAX:
        raise InvalidParam(f"Name must be between 1 to {NAME_MAX} characters.")
    return name.strip()


def check_description(description: Any) -> str:
    if description is None:
        return ""
    if not isinstance(description, str):
        raise InvalidParam("Description must be a string.")
    if len(description) > DESCRIPTION_MAX:
        raise InvalidParam(f"Description cannot exceed {DESCRIPTION_MAX} characters.")
    return description


def _choice(field: str, value: Any, allowed: Sequence[str], *, nullable: bool = False) -> Any:
    if value is None and nullable:
        return None
    if value not in allowed:
        raise InvalidParam(f"{field} must be one of: {', '.join(allowed)}")
    return value


class DatasetService:
    def __init__(self, engine: AsyncEngine, indexer: SegmentIndexer, storage: FileStorage) -> None:
        self._engine = engine
        self._indexer = indexer
        self._storage = storage

    async def resolve(self, caller: KnowledgeCaller, dataset_id: str) -> DatasetRecord:
        """The dataset the path names, if the key reaches it and its API is on."""
        if not caller.reaches(dataset_id):
            raise NotFound(DATASET_NOT_FOUND)
        async with self._engine.connect() as conn:
            found = await store.dataset(conn, dataset_id)
        if found is None:
            raise NotFound(DATASET_NOT_FOUND)
        if not found.enable_api:
            raise Forbidden(DATASET_API_DISABLED)
        return found

    async def create(self, new: NewDataset, caller: KnowledgeCaller | None = None) -> DatasetView:
        name = check_name(new.name)
        description = check_description(new.description)
        _choice("indexing_technique", new.indexing_technique, TECHNIQUES, nullable=True)
        _choice("permission", new.permission, PERMISSIONS)
        _choice("provider", new.provider, PROVIDERS)
        now = utcnow()
        dataset_id = new_id()
        # The name's check and its use are one write transaction; on PostgreSQL two at once both
        # pass the check and the unique name refuses the second.
        try:
            async with write_transaction(self._engine) as conn:
                if await store.name_taken(conn, name):
                    raise DatasetNameDuplicate()
                await store.insert_dataset(
                    conn,
                    id=dataset_id,
                    name=name,
                    description=description,
                    provider=new.provider,
                    permission=new.permission,
                    data_source_type=None,
                    indexing_technique=new.indexing_technique,
                    embedding_model=new.embedding_model,
                    embedding_model_provider=new.embedding_model_provider,
                    retrieval_model=new.retrieval_model,
                    summary_index_setting=new.summary_index_setting,
                    doc_form=None,
                    enable_api=True,
                    partial_member_list=[],
                    external_knowledge_id=new.external_knowledge_id,
                    external_knowledge_api_id=new.external_knowledge_api_id,
                    external_retrieval_model=None,
                    process_rule_id=None,
                    built_in_field_enabled=False,
                    created_by=OWNER_ID,
                    updated_by=OWNER_ID,
                    created_at=now,
                    updated_at=now,
                )
                # A key limited to named datasets reaches the datasets it creates.
                if caller is not None and caller.scope is not None:
                    await conn.execute(
                        dataset_key_scopes.insert().values(key_id=caller.key_id, dataset_id=dataset_id)
                    )
                created = await store.dataset(conn, dataset_id)
                assert created is not None
                return (await store.views(conn, [created]))[0]
        except IntegrityError:
            raise DatasetNameDuplicate() from None

    async def ensure(self, new: NewDataset) -> bool:
        """Create the dataset unless one of that name exists (datasets declared in the apps file)."""
        async with self._engine.connect() as conn:
            if await store.dataset_by_name(conn, new.name) is not None:
                return False
        with contextlib.suppress(DatasetNameDuplicate):  # another worker made it first
            await self.create(new)
            return True
        return False

    async def listing(
        self, caller: KnowledgeCaller, *, page: int, limit: int, keyword: str | None, tag_ids: Sequence[str]
    ) -> NumberedPage[DatasetView]:
        wanted: list[str] = []
        if tag_ids:
            # Only well-formed ids can name a tag; when none does, no dataset matches.
            wanted = [t for t in (parse_uuid(each) for each in tag_ids) if t is not None]
            if not wanted:
                return NumberedPage([], 0, page, limit)
        async with self._engine.connect() as conn:
            found, total = await store.list_datasets(
                conn, scope=caller.scope, keyword=keyword, page=page, limit=limit, tag_ids=wanted
            )
            return NumberedPage(await store.views(conn, found), total, page, limit)

    async def by_name(self, name: str) -> DatasetView | None:
        async with self._engine.connect() as conn:
            found = await store.dataset_by_name(conn, name)
            return None if found is None else (await store.views(conn, [found]))[0]

    async def all(self) -> list[DatasetView]:
        async with self._engine.connect() as conn:
            found, _ = await store.list_datasets(conn, scope=None, keyword=None, page=1, limit=1_000_000)
            return await store.views(conn, found)

    async def get(self, caller: KnowledgeCaller, dataset_id: str) -> DatasetView:
        await self.resolve(caller, dataset_id)
        return await self.view(dataset_id)

    async def view(self, dataset_id: str) -> DatasetView:
        async with self._engine.connect() as conn:
            found = await store.dataset(conn, dataset_id)
            if found is None:
                raise NotFound(DATASET_NOT_FOUND)
            return (await store.views(conn, [found]))[0]

    async def update(self, caller: KnowledgeCaller, dataset_id: str, changes: dict[str, Any]) -> DatasetView:
        await self.resolve(caller, dataset_id)
        values: dict[str, Any] = {}
        for field in UPDATABLE:
            if field not in changes:
                continue
            value = changes[field]
            if field == "name":
                value = check_name(value)
            elif field == "description":
                value = check_description(value)
            elif field == "indexing_technique":
                value = _choice(field, value, TECHNIQUES, nullable=True)
            elif field == "permission":
                value = _choice(field, value, PERMISSIONS)
            elif field == "partial_member_list":
                if value is None:
                    value = []
                if not isinstance(value, list):
                    raise InvalidParam("partial_member_list must be a list")
            elif field in ("retrieval_model", "external_retrieval_model"):
                if value is not None and not isinstance(value, dict):
                    raise InvalidParam(f"{field} must be an object")
            elif value is not None and not isinstance(value, str):
                raise InvalidParam(f"{field} must be a string")
            values[field] = value
        try:
            async with write_transaction(self._engine) as conn:
                if "name" in values and await store.name_taken(conn, values["name"], other_than=dataset_id):
                    raise DatasetNameDuplicate()
                if values:
                    await store.update_dataset(
                        conn, dataset_id, **values, updated_by=OWNER_ID, updated_at=utcnow()
                    )
        except IntegrityError:  # the same name taken at the same moment (PostgreSQL)
            raise DatasetNameDuplicate() from None
        return await self.view(dataset_id)

    async def delete(self, caller: KnowledgeCaller, dataset_id: str) -> None:
        await self.resolve(caller, dataset_id)
        await self.remove(dataset_id)

    async def remove(self, dataset_id: str) -> None:
        """Delete the dataset with its documents, segments, files, jobs and index entries."""
        # The dataset is held while its files are listed: a submission adding one waits, then
        # finds the dataset gone, so no file is left with neither row nor owner.
        async with write_transaction(self._engine) as conn:
            await store.dataset_for_update(conn, dataset_id)
            keys = await store.file_keys_of_dataset(conn, dataset_id)
            await store.delete_dataset(conn, dataset_id)
        try:
            await self._indexer.drop_dataset(dataset_id)
        except Exception:
            logger.warning("dropping the index of dataset %s failed", dataset_id, exc_info=True)
        for key in keys:
            with contextlib.suppress(Exception):
                await self._storage.delete(key)
