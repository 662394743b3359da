"""Tags and metadata of the Knowledge API (``DifyKnowledge``, ``AsyncDifyKnowledge``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from difychat import _knowledge_calls as K
from difychat._io import AsyncCore, SyncCore
from difychat.types.knowledge import (
    BuiltInMetadataField,
    DatasetTags,
    DocumentMetadata,
    MetadataField,
    MetadataFields,
    Tag,
)

FieldType = Literal["string", "number", "time"]
# A value to set: ``{"id", "name", "value"}``, or a field (``MetadataField``, ``DocumentMetadata``).
MetadataItem = Mapping[str, Any] | MetadataField | DocumentMetadata


def _operation(document_id: str, values: Sequence[MetadataItem], partial_update: bool) -> dict[str, Any]:
    return {
        "document_id": document_id,
        "metadata_list": [K.metadata_item(item) for item in values],
        "partial_update": partial_update,
    }


class KnowledgeMetaMethods(SyncCore):
    # -- tags -------------------------------------------------------------------------------------

    def list_tags(self, *, api_key: str | None = None) -> list[Tag]:
        """Every tag of the workspace, newest first, with how many datasets carry each.

        Example::

            names = [tag.name for tag in kb.list_tags()]
        """
        return self._request(K.list_tags(), api_key)

    def create_tag(self, name: str, *, api_key: str | None = None) -> Tag:
        """A new tag (1 to 50 characters, unique).

        Example::

            guide = kb.create_tag("guide")
        """
        return self._request(K.create_tag(name), api_key)

    def rename_tag(self, tag_id: str, name: str, *, api_key: str | None = None) -> Tag:
        """Rename a tag.

        Example::

            kb.rename_tag(guide.id, "guides")
        """
        return self._request(K.rename_tag(tag_id, name), api_key)

    def delete_tag(self, tag_id: str, *, api_key: str | None = None) -> None:
        """Delete the tag; every dataset loses it.

        Example::

            kb.delete_tag(guide.id)
        """
        return self._request(K.delete_tag(tag_id), api_key)

    def bind_tags(self, dataset_id: str, tag_ids: Sequence[str], *, api_key: str | None = None) -> None:
        """Tag a dataset (tags it carries already stay as they are).

        Example::

            kb.bind_tags(docs.id, [guide.id])
        """
        return self._request(K.bind_tags(dataset_id, tag_ids), api_key)

    def unbind_tag(self, dataset_id: str, tag_id: str, *, api_key: str | None = None) -> None:
        """Take a tag off a dataset.

        Example::

            kb.unbind_tag(docs.id, guide.id)
        """
        return self._request(K.unbind_tag(dataset_id, tag_id), api_key)

    def get_dataset_tags(self, dataset_id: str, *, api_key: str | None = None) -> DatasetTags:
        """The tags a dataset carries.

        Example::

            print(kb.get_dataset_tags(docs.id).total)
        """
        return self._request(K.dataset_tags(dataset_id), api_key)

    # -- metadata ---------------------------------------------------------------------------------

    def create_metadata_field(
        self, dataset_id: str, name: str, type: FieldType = "string", *, api_key: str | None = None
    ) -> MetadataField:
        """A metadata field documents of the dataset may carry.

        Example::

            author = kb.create_metadata_field(docs.id, "author")
        """
        return self._request(K.create_metadata_field(dataset_id, name, type), api_key)

    def list_metadata_fields(self, dataset_id: str, *, api_key: str | None = None) -> MetadataFields:
        """The dataset's fields with how many documents carry each, and whether the built-in
        fields are on.

        Example::

            for field in kb.list_metadata_fields(docs.id).doc_metadata:
                print(field.name, field.count)
        """
        return self._request(K.list_metadata_fields(dataset_id), api_key)

    def rename_metadata_field(
        self, dataset_id: str, metadata_id: str, name: str, *, api_key: str | None = None
    ) -> MetadataField:
        """Documents keep their values under the new name.

        Example::

            kb.rename_metadata_field(docs.id, author.id, "writer")
        """
        return self._request(K.rename_metadata_field(dataset_id, metadata_id, name), api_key)

    def delete_metadata_field(self, dataset_id: str, metadata_id: str, *, api_key: str | None = None) -> None:
        """Delete the field and its value in every document.

        Example::

            kb.delete_metadata_field(docs.id, author.id)
        """
        return self._request(K.delete_metadata_field(dataset_id, metadata_id), api_key)

    def built_in_metadata_fields(
        self, dataset_id: str, *, api_key: str | None = None
    ) -> list[BuiltInMetadataField]:
        """The built-in fields (document name, uploader, dates, source).

        Example::

            names = [field.name for field in kb.built_in_metadata_fields(docs.id)]
        """
        return self._request(K.built_in_metadata_fields(dataset_id), api_key)

    def set_built_in_metadata(self, dataset_id: str, enabled: bool, *, api_key: str | None = None) -> None:
        """Show the built-in fields among documents' metadata, or stop showing them.

        Example::

            kb.set_built_in_metadata(docs.id, True)
        """
        return self._request(K.set_built_in_metadata(dataset_id, enabled), api_key)

    def update_document_metadata(
        self,
        dataset_id: str,
        document_id: str,
        values: Sequence[MetadataItem],
        *,
        partial_update: bool = False,
        api_key: str | None = None,
    ) -> None:
        """Set a document's values: items ``{"id", "name", "value"}`` (or fields with a ``value``).
        Without ``partial_update`` the fields not given are cleared.

        Example::

            ada = {"id": author.id, "name": "author", "value": "Ada"}
            kb.update_document_metadata(docs.id, doc_id, [ada])
        """
        operation = _operation(document_id, values, partial_update)
        return self._request(K.update_documents_metadata(dataset_id, [operation]), api_key)

    def update_documents_metadata(
        self, dataset_id: str, operation_data: Sequence[Mapping[str, Any]], *, api_key: str | None = None
    ) -> None:
        """Several documents at once, each ``{"document_id", "metadata_list", "partial_update"}``.

        Example::

            kb.update_documents_metadata(docs.id, [{"document_id": doc_id, "metadata_list": []}])
        """
        return self._request(K.update_documents_metadata(dataset_id, operation_data), api_key)


class AsyncKnowledgeMetaMethods(AsyncCore):
    # -- tags -------------------------------------------------------------------------------------

    async def list_tags(self, *, api_key: str | None = None) -> list[Tag]:
        """Every tag of the workspace, newest first, with how many datasets carry each.

        Example::

            names = [tag.name for tag in await kb.list_tags()]
        """
        return await self._request(K.list_tags(), api_key)

    async def create_tag(self, name: str, *, api_key: str | None = None) -> Tag:
        """A new tag (1 to 50 characters, unique).

        Example::

            guide = await kb.create_tag("guide")
        """
        return await self._request(K.create_tag(name), api_key)

    async def rename_tag(self, tag_id: str, name: str, *, api_key: str | None = None) -> Tag:
        """Rename a tag.

        Example::

            await kb.rename_tag(guide.id, "guides")
        """
        return await self._request(K.rename_tag(tag_id, name), api_key)

    async def delete_tag(self, tag_id: str, *, api_key: str | None = None) -> None:
        """Delete the tag; every dataset loses it.

        Example::

            await kb.delete_tag(guide.id)
        """
        return await self._request(K.delete_tag(tag_id), api_key)

    async def bind_tags(self, dataset_id: str, tag_ids: Sequence[str], *, api_key: str | None = None) -> None:
        """Tag a dataset (tags it carries already stay as they are).

        Example::

            await kb.bind_tags(docs.id, [guide.id])
        """
        return await self._request(K.bind_tags(dataset_id, tag_ids), api_key)

    async def unbind_tag(self, dataset_id: str, tag_id: str, *, api_key: str | None = None) -> None:
        """Take a tag off a dataset.

        Example::

            await kb.unbind_tag(docs.id, guide.id)
        """
        return await self._request(K.unbind_tag(dataset_id, tag_id), api_key)

    async def get_dataset_tags(self, dataset_id: str, *, api_key: str | None = None) -> DatasetTags:
        """The tags a dataset carries.

        Example::

            print((await kb.get_dataset_tags(docs.id)).total)
        """
        return await self._request(K.dataset_tags(dataset_id), api_key)

    # -- metadata ---------------------------------------------------------------------------------

    async def create_metadata_field(
        self, dataset_id: str, name: str, type: FieldType = "string", *, api_key: str | None = None
    ) -> MetadataField:
        """A metadata field documents of the dataset may carry.

        Example::

            author = await kb.create_metadata_field(docs.id, "author")
        """
        return await self._request(K.create_metadata_field(dataset_id, name, type), api_key)

    async def list_metadata_fields(self, dataset_id: str, *, api_key: str | None = None) -> MetadataFields:
        """The dataset's fields with how many documents carry each, and whether the built-in
        fields are on.

        Example::

            fields = (await kb.list_metadata_fields(docs.id)).doc_metadata
        """
        return await self._request(K.list_metadata_fields(dataset_id), api_key)

    async def rename_metadata_field(
        self, dataset_id: str, metadata_id: str, name: str, *, api_key: str | None = None
    ) -> MetadataField:
        """Documents keep their values under the new name.

        Example::

            await kb.rename_metadata_field(docs.id, author.id, "writer")
        """
        return await self._request(K.rename_metadata_field(dataset_id, metadata_id, name), api_key)

    async def delete_metadata_field(
        self, dataset_id: str, metadata_id: str, *, api_key: str | None = None
    ) -> None:
        """Delete the field and its value in every document.

        Example::

            await kb.delete_metadata_field(docs.id, author.id)
        """
        return await self._request(K.delete_metadata_field(dataset_id, metadata_id), api_key)

    async def built_in_metadata_fields(
        self, dataset_id: str, *, api_key: str | None = None
    ) -> list[BuiltInMetadataField]:
        """The built-in fields (document name, uploader, dates, source).

        Example::

            fields = await kb.built_in_metadata_fields(docs.id)
        """
        return await self._request(K.built_in_metadata_fields(dataset_id), api_key)

    async def set_built_in_metadata(
        self, dataset_id: str, enabled: bool, *, api_key: str | None = None
    ) -> None:
        """Show the built-in fields among documents' metadata, or stop showing them.

        Example::

            await kb.set_built_in_metadata(docs.id, True)
        """
        return await self._request(K.set_built_in_metadata(dataset_id, enabled), api_key)

    async def update_document_metadata(
        self,
        dataset_id: str,
        document_id: str,
        values: Sequence[MetadataItem],
        *,
        partial_update: bool = False,
        api_key: str | None = None,
    ) -> None:
        """Set a document's values: items ``{"id", "name", "value"}`` (or fields with a ``value``).
        Without ``partial_update`` the fields not given are cleared.

        Example::

            ada = {"id": author.id, "name": "author", "value": "Ada"}
            await kb.update_document_metadata(docs.id, doc_id, [ada])
        """
        operation = _operation(document_id, values, partial_update)
        return await self._request(K.update_documents_metadata(dataset_id, [operation]), api_key)

    async def update_documents_metadata(
        self, dataset_id: str, operation_data: Sequence[Mapping[str, Any]], *, api_key: str | None = None
    ) -> None:
        """Several documents at once, each ``{"document_id", "metadata_list", "partial_update"}``.

        Example::

            await kb.update_documents_metadata(docs.id, [{"document_id": doc_id, "metadata_list": []}])
        """
        return await self._request(K.update_documents_metadata(dataset_id, operation_data), api_key)
