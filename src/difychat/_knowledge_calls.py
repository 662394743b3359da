"""One builder per endpoint of the Knowledge API (``dataset-`` keys): method, path, body, reader."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from difychat._calls import Call, FileInput, drop_none, file_part, model, nothing, path, read_json
from difychat._errors import ResponseDecodeError
from difychat.types.knowledge import (
    BuiltInMetadataField,
    Dataset,
    DatasetPage,
    DatasetTags,
    Document,
    DocumentPage,
    IndexingStatus,
    MetadataField,
    MetadataFields,
    Segment,
    SegmentPage,
    SubmittedDocument,
    Tag,
)

AUTOMATIC = {"mode": "automatic"}


def process_rule(
    max_tokens: int | None, chunk_overlap: int | None, separator: str | None, rule: dict[str, Any] | None
) -> dict[str, Any] | None:
    """A ``process_rule``: the one given, a custom one from the segment settings, else None."""
    if rule is not None:
        return rule
    if max_tokens is None and chunk_overlap is None and separator is None:
        return None
    return {
        "mode": "custom",
        "rules": {
            "pre_processing_rules": [{"id": "remove_extra_spaces", "enabled": True}],
            "segmentation": {
                "separator": separator or "\n",
                "max_tokens": max_tokens or 500,
                "chunk_overlap": chunk_overlap or 0,
            },
        },
    }


def create_dataset(body: dict[str, Any]) -> Call[Dataset]:
    return Call("POST", "/datasets", model(Dataset), json=body)


def list_datasets(
    page: int, limit: int, keyword: str | None, tag_ids: Sequence[str] | None = None
) -> Call[DatasetPage]:
    params: dict[str, Any] = drop_none({"page": page, "limit": limit, "keyword": keyword})
    if tag_ids:
        params["tag_ids"] = list(tag_ids)
    return Call("GET", "/datasets", model(DatasetPage), params=params, idempotent=True)


def get_dataset(dataset_id: str) -> Call[Dataset]:
    return Call("GET", path("/datasets/{}", dataset_id), model(Dataset), idempotent=True)


def update_dataset(dataset_id: str, changes: dict[str, Any]) -> Call[Dataset]:
    return Call("PATCH", path("/datasets/{}", dataset_id), model(Dataset), json=changes)


def delete_dataset(dataset_id: str) -> Call[None]:
    return Call("DELETE", path("/datasets/{}", dataset_id), nothing, idempotent=True)


def create_by_text(dataset_id: str, body: dict[str, Any]) -> Call[SubmittedDocument]:
    return Call(
        "POST", path("/datasets/{}/document/create-by-text", dataset_id), model(SubmittedDocument), json=body
    )


def update_by_text(dataset_id: str, document_id: str, body: dict[str, Any]) -> Call[SubmittedDocument]:
    url = path("/datasets/{}/documents/{}/update-by-text", dataset_id, document_id)
    return Call("POST", url, model(SubmittedDocument), json=body)


def _file_call(url: str, file: FileInput | None, filename: str | None, options: dict[str, Any]) -> Call[Any]:
    call: Call[SubmittedDocument] = Call(
        "POST", url, model(SubmittedDocument), data={"data": json.dumps(options)}
    )
    if file is not None:
        call.files = {"file": file_part(call, file, filename=filename, mime_type=None)}
    return call


def create_by_file(
    dataset_id: str, file: FileInput, filename: str | None, options: dict[str, Any]
) -> Call[SubmittedDocument]:
    return _file_call(path("/datasets/{}/document/create-by-file", dataset_id), file, filename, options)


def update_by_file(
    dataset_id: str, document_id: str, file: FileInput | None, filename: str | None, options: dict[str, Any]
) -> Call[SubmittedDocument]:
    url = path("/datasets/{}/documents/{}/update-by-file", dataset_id, document_id)
    return _file_call(url, file, filename, options)


def list_documents(
    dataset_id: str, page: int, limit: int, keyword: str | None, status: str | None
) -> Call[DocumentPage]:
    params = drop_none({"page": page, "limit": limit, "keyword": keyword, "status": status})
    url = path("/datasets/{}/documents", dataset_id)
    return Call("GET", url, model(DocumentPage), params=params, idempotent=True)


def get_document(dataset_id: str, document_id: str) -> Call[Document]:
    url = path("/datasets/{}/documents/{}", dataset_id, document_id)
    return Call("GET", url, model(Document), idempotent=True)


def delete_document(dataset_id: str, document_id: str) -> Call[None]:
    url = path("/datasets/{}/documents/{}", dataset_id, document_id)
    return Call("DELETE", url, nothing, idempotent=True)


def document_status(dataset_id: str, action: str, document_ids: Sequence[str]) -> Call[None]:
    url = path("/datasets/{}/documents/status/{}", dataset_id, action)
    return Call("PATCH", url, nothing, json={"document_ids": list(document_ids)}, idempotent=True)


def indexing_status(dataset_id: str, batch: str) -> Call[IndexingStatus]:
    url = path("/datasets/{}/documents/{}/indexing-status", dataset_id, batch)
    return Call("GET", url, model(IndexingStatus), idempotent=True)


def list_segments(
    dataset_id: str,
    document_id: str,
    page: int,
    limit: int,
    keyword: str | None,
    status: Sequence[str] | None,
) -> Call[SegmentPage]:
    params: dict[str, Any] = drop_none({"page": page, "limit": limit, "keyword": keyword})
    if status:
        params["status"] = list(status)
    url = path("/datasets/{}/documents/{}/segments", dataset_id, document_id)
    return Call("GET", url, model(SegmentPage), params=params, idempotent=True)


def _segments(response: httpx.Response) -> list[Segment]:
    body = read_json(response)
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise ResponseDecodeError(f"Expected {{'data': [...]}}, got {str(body)[:200]}", response=response)
    return [Segment.model_validate(item) for item in body["data"]]


def _segment(response: httpx.Response) -> Segment:
    body = read_json(response)
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        raise ResponseDecodeError(f"Expected {{'data': {{...}}}}, got {str(body)[:200]}", response=response)
    return Segment.model_validate(body["data"])


def add_segments(dataset_id: str, document_id: str, segments: list[dict[str, Any]]) -> Call[list[Segment]]:
    url = path("/datasets/{}/documents/{}/segments", dataset_id, document_id)
    return Call("POST", url, _segments, json={"segments": segments})


def get_segment(dataset_id: str, document_id: str, segment_id: str) -> Call[Segment]:
    url = path("/datasets/{}/documents/{}/segments/{}", dataset_id, document_id, segment_id)
    return Call("GET", url, _segment, idempotent=True)


def update_segment(
    dataset_id: str, document_id: str, segment_id: str, changes: dict[str, Any]
) -> Call[Segment]:
    url = path("/datasets/{}/documents/{}/segments/{}", dataset_id, document_id, segment_id)
    return Call("POST", url, _segment, json={"segment": changes})


def delete_segment(dataset_id: str, document_id: str, segment_id: str) -> Call[None]:
    url = path("/datasets/{}/documents/{}/segments/{}", dataset_id, document_id, segment_id)
    return Call("DELETE", url, nothing, idempotent=True)


# -- tags -----------------------------------------------------------------------------------------


def _tags(response: httpx.Response) -> list[Tag]:
    body = read_json(response)
    if not isinstance(body, list):
        raise ResponseDecodeError(f"Expected a list of tags, got {str(body)[:200]}", response=response)
    return [Tag.model_validate(item) for item in body]


def list_tags() -> Call[list[Tag]]:
    return Call("GET", "/datasets/tags", _tags, idempotent=True)


def create_tag(name: str) -> Call[Tag]:
    return Call("POST", "/datasets/tags", model(Tag), json={"name": name})


def rename_tag(tag_id: str, name: str) -> Call[Tag]:
    return Call("PATCH", "/datasets/tags", model(Tag), json={"name": name, "tag_id": tag_id}, idempotent=True)


def delete_tag(tag_id: str) -> Call[None]:
    return Call("DELETE", "/datasets/tags", nothing, json={"tag_id": tag_id}, idempotent=True)


def bind_tags(dataset_id: str, tag_ids: Sequence[str]) -> Call[None]:
    body = {"tag_ids": list(tag_ids), "target_id": dataset_id}
    return Call("POST", "/datasets/tags/binding", nothing, json=body, idempotent=True)


def unbind_tag(dataset_id: str, tag_id: str) -> Call[None]:
    body = {"tag_id": tag_id, "target_id": dataset_id}
    return Call("POST", "/datasets/tags/unbinding", nothing, json=body, idempotent=True)


def dataset_tags(dataset_id: str) -> Call[DatasetTags]:
    return Call("GET", path("/datasets/{}/tags", dataset_id), model(DatasetTags), idempotent=True)


# -- metadata -------------------------------------------------------------------------------------


def create_metadata_field(dataset_id: str, name: str, type: str) -> Call[MetadataField]:
    url = path("/datasets/{}/metadata", dataset_id)
    return Call("POST", url, model(MetadataField), json={"type": type, "name": name})


def list_metadata_fields(dataset_id: str) -> Call[MetadataFields]:
    return Call("GET", path("/datasets/{}/metadata", dataset_id), model(MetadataFields), idempotent=True)


def rename_metadata_field(dataset_id: str, metadata_id: str, name: str) -> Call[MetadataField]:
    url = path("/datasets/{}/metadata/{}", dataset_id, metadata_id)
    return Call("PATCH", url, model(MetadataField), json={"name": name}, idempotent=True)


def delete_metadata_field(dataset_id: str, metadata_id: str) -> Call[None]:
    url = path("/datasets/{}/metadata/{}", dataset_id, metadata_id)
    return Call("DELETE", url, nothing, idempotent=True)


def _built_in(response: httpx.Response) -> list[BuiltInMetadataField]:
    body = read_json(response)
    if not isinstance(body, dict) or not isinstance(body.get("fields"), list):
        raise ResponseDecodeError(f"Expected {{'fields': [...]}}, got {str(body)[:200]}", response=response)
    return [BuiltInMetadataField.model_validate(item) for item in body["fields"]]


def built_in_metadata_fields(dataset_id: str) -> Call[list[BuiltInMetadataField]]:
    return Call("GET", path("/datasets/{}/metadata/built-in", dataset_id), _built_in, idempotent=True)


def set_built_in_metadata(dataset_id: str, enabled: bool) -> Call[None]:
    url = path("/datasets/{}/metadata/built-in/{}", dataset_id, "enable" if enabled else "disable")
    return Call("POST", url, nothing, idempotent=True)


def metadata_item(item: Any) -> dict[str, Any]:
    """``{"id", "name", "value"}`` from a dict or a model with those attributes."""
    if isinstance(item, Mapping):
        return {"id": item["id"], "name": item["name"], "value": item.get("value")}
    return {"id": item.id, "name": item.name, "value": getattr(item, "value", None)}


def update_documents_metadata(dataset_id: str, operations: Sequence[Mapping[str, Any]]) -> Call[None]:
    url = path("/datasets/{}/documents/metadata", dataset_id)
    return Call(
        "POST", url, nothing, json={"operation_data": [dict(op) for op in operations]}, idempotent=True
    )
