"""Request bodies of the Knowledge API; unknown keys are ignored, as Dify does."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

from difychat.server.api.described import Param
from difychat.server.api.parsing import validate
from difychat.server.services.knowledge.documents import DocumentOptions
from difychat.server.services.knowledge.rules import parse_process_rule

# Query parameters read by hand (``context.paging``, ``context.keyword``): unreadable numbers take
# the defaults and out-of-range ones are clamped, so none of them is ever a 400.
PAGE = Param({"type": "integer", "minimum": 1, "default": 1}, description="From 1.")
LIMIT = Param({"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, description="At most 100.")
KEYWORD = Param(description="Only those whose name (or content) contains it.")
PAGING = {"page": PAGE, "limit": LIMIT, "keyword": KEYWORD}
# The ``data`` part of a create- or update-by-file form: the options of create-by-text, as JSON text.
DOCUMENT_FORM = {
    "type": "object",
    "properties": {
        "file": {"type": "string", "format": "binary", "description": "The document's file."},
        "data": {"type": "string", "description": "The options as a JSON object (see create by text)."},
    },
    "required": ["file"],
}


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class DatasetCreate(_Body):
    name: str
    description: str | None = ""
    indexing_technique: str | None = None
    permission: str | None = "only_me"
    provider: str | None = "vendor"
    embedding_model: str | None = None
    embedding_model_provider: str | None = None
    retrieval_model: dict[str, Any] | None = None
    summary_index_setting: dict[str, Any] | None = None
    external_knowledge_api_id: str | None = None
    external_knowledge_id: str | None = None


class Options(_Body):
    indexing_technique: str | None = None
    doc_form: str | None = None
    doc_language: str | None = None
    process_rule: dict[str, Any] | None = None
    retrieval_model: dict[str, Any] | None = None
    embedding_model: str | None = None
    embedding_model_provider: str | None = None
    original_document_id: str | None = None
    duplicate: bool = True

    def options(self) -> DocumentOptions:
        return DocumentOptions(
            indexing_technique=self.indexing_technique,
            doc_form=self.doc_form,
            doc_language=self.doc_language,
            process_rule=None if self.process_rule is None else parse_process_rule(self.process_rule),
            retrieval_model=self.retrieval_model,
            embedding_model=self.embedding_model,
            embedding_model_provider=self.embedding_model_provider,
            original_document_id=self.original_document_id,
            duplicate=self.duplicate,
        )


class CreateByText(Options):
    name: str
    text: str


class UpdateByText(Options):
    name: str | None = None
    text: str | None = None


class SegmentItem(_Body):
    content: str
    answer: str | None = None
    keywords: list[str] | None = None


class SegmentsCreate(_Body):
    segments: list[SegmentItem]


class StatusBody(_Body):
    document_ids: list[str]


class TagCreate(_Body):
    name: str


class TagUpdate(_Body):
    name: str
    tag_id: str


class TagDelete(_Body):
    tag_id: str


# The most ids one request may list (each becomes a bound parameter of one statement), and the
# most documents (and values per document) one metadata request may set.
MAX_IDS = 1000
MAX_OPERATIONS = 100


class TagBinding(_Body):
    tag_ids: list[str] = Field(max_length=MAX_IDS)
    target_id: str

    @field_validator("tag_ids")
    @classmethod
    def _some(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("Tag IDs is required.")
        return value


class TagUnbinding(_Body):
    """Dify's ``tag_id``; a list in ``tag_ids`` is taken as well."""

    tag_id: str | None = None
    tag_ids: list[str] | None = Field(default=None, max_length=MAX_IDS)
    target_id: str

    @model_validator(mode="after")
    def _some(self) -> TagUnbinding:
        if not self.tag_id and not self.tag_ids:
            raise ValueError("Tag IDs is required.")
        return self

    def ids(self) -> list[str]:
        return list(self.tag_ids or []) + ([self.tag_id] if self.tag_id else [])


class MetadataCreate(_Body):
    type: Literal["string", "number", "time"]
    name: str


class MetadataUpdate(_Body):
    name: str


class MetadataItem(_Body):
    id: str
    name: str
    value: StrictStr | StrictInt | StrictFloat | None = None


class DocumentMetadataOperation(_Body):
    document_id: str
    metadata_list: list[MetadataItem] = Field(max_length=MAX_OPERATIONS)
    partial_update: bool = False


class DocumentsMetadata(_Body):
    operation_data: list[DocumentMetadataOperation] = Field(max_length=MAX_OPERATIONS)


def options_of(data: dict[str, Any]) -> DocumentOptions:
    return validate(Options, data).options()
