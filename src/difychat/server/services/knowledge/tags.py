"""Tags of datasets (type ``knowledge``): list, create, rename, delete, bind and unbind.

Tags are shared by the whole workspace, so a key limited to named datasets sees every tag, but
counts, binds and unbinds only within its datasets, and may not rename or delete a tag that a
dataset outside them carries (that would change those datasets).

That check and the change it allows are one transaction that holds the tag (a lock on its row,
``write_transaction`` on SQLite); a binding holds the tags it binds the same way. So a binding
made while a limited key renames or deletes a tag either comes first, and the key is refused, or
comes after, and finds the tag renamed or gone.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from difychat.server.domain.knowledge import TagRecord
from difychat.server.domain.values import parse_uuid
from difychat.server.errors import DATASET_NOT_FOUND, Forbidden, InvalidParam, NotFound
from difychat.server.services.knowledge import OWNER_ID
from difychat.server.services.knowledge.datasets import DatasetService
from difychat.server.services.knowledge.keys import KnowledgeCaller
from difychat.server.store import tags as store
from difychat.server.store.common import new_id, utcnow
from difychat.server.store.db import write_transaction

NAME_MAX = 50
TAG_NOT_FOUND = "Tag not found"
NAME_TAKEN = "Tag name already exists"
BOUND_ELSEWHERE = "The tag is bound to datasets this key cannot reach."


def check_name(name: object) -> str:
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= NAME_MAX:
        raise InvalidParam(f"Name must be between 1 to {NAME_MAX} characters.")
    return name.strip()


def _tag_id(value: object) -> str:
    found = parse_uuid(value)
    if found is None:
        raise NotFound(TAG_NOT_FOUND)
    return found


class TagService:
    def __init__(self, engine: AsyncEngine, datasets: DatasetService) -> None:
        self._engine = engine
        self._datasets = datasets

    async def listing(self, caller: KnowledgeCaller) -> list[TagRecord]:
        async with self._engine.connect() as conn:
            return await store.list_tags(conn, caller.scope)

    async def create(self, name: object) -> TagRecord:
        name = check_name(name)
        tag_id = new_id()
        try:
            async with self._engine.begin() as conn:
                if await store.name_taken(conn, name):
                    raise InvalidParam(NAME_TAKEN)
                await store.insert_tag(conn, id=tag_id, name=name, created_by=OWNER_ID, created_at=utcnow())
        except IntegrityError:  # created at the same moment by another request
            raise InvalidParam(NAME_TAKEN) from None
        return TagRecord(tag_id, name, 0)

    async def rename(self, caller: KnowledgeCaller, tag_id: object, name: object) -> TagRecord:
        found_id = _tag_id(tag_id)
        name = check_name(name)
        try:
            async with write_transaction(self._engine) as conn:
                await self._writable(conn, caller, found_id)
                if await store.name_taken(conn, name, other_than=found_id):
                    raise InvalidParam(NAME_TAKEN)
                await store.rename(conn, found_id, name)
                count = await store.binding_count(conn, found_id, caller.scope)
        except IntegrityError:
            raise InvalidParam(NAME_TAKEN) from None
        return TagRecord(found_id, name, count)

    async def delete(self, caller: KnowledgeCaller, tag_id: object) -> None:
        found_id = _tag_id(tag_id)
        async with write_transaction(self._engine) as conn:
            await self._writable(conn, caller, found_id)
            await store.delete_tag(conn, found_id)

    async def bind(self, caller: KnowledgeCaller, tag_ids: Sequence[object], target_id: object) -> None:
        dataset_id = await self._target(caller, target_id)
        wanted = list(dict.fromkeys(_tag_id(t) for t in tag_ids))
        try:
            async with write_transaction(self._engine) as conn:
                if await store.existing(conn, wanted, share=True) != set(wanted):
                    raise NotFound(TAG_NOT_FOUND)
                await store.bind(conn, wanted, dataset_id, created_by=OWNER_ID, created_at=utcnow())
        except IntegrityError:  # the dataset was deleted meanwhile
            raise NotFound(DATASET_NOT_FOUND) from None

    async def unbind(self, caller: KnowledgeCaller, tag_ids: Sequence[object], target_id: object) -> None:
        dataset_id = await self._target(caller, target_id)
        wanted = list(dict.fromkeys(_tag_id(t) for t in tag_ids))
        async with self._engine.begin() as conn:
            if await store.existing(conn, wanted) != set(wanted):
                raise NotFound(TAG_NOT_FOUND)
            await store.unbind(conn, wanted, dataset_id)

    async def of_dataset(self, dataset_id: str) -> list[TagRecord]:
        async with self._engine.connect() as conn:
            return (await store.tags_of(conn, [dataset_id])).get(dataset_id, [])

    async def _target(self, caller: KnowledgeCaller, target_id: object) -> str:
        """The dataset a binding names: one the key reaches, with its API on."""
        dataset_id = parse_uuid(target_id)
        if dataset_id is None:
            raise NotFound(DATASET_NOT_FOUND)
        return (await self._datasets.resolve(caller, dataset_id)).id

    @staticmethod
    async def _writable(conn: AsyncConnection, caller: KnowledgeCaller, tag_id: str) -> None:
        if await store.tag(conn, tag_id, lock=True) is None:
            raise NotFound(TAG_NOT_FOUND)
        if caller.scope is not None and await store.bound_outside(conn, tag_id, caller.scope):
            raise Forbidden(BOUND_ELSEWHERE)
