"""Request payloads and query strings, validated by pydantic (field errors are 400 invalid_param)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, field_validator, model_validator

from difychat.server.api.ids import optional_id
from difychat.server.domain.values import has_visible_text

# Page numbers and sizes fit in 64 bits, as the database's integers and the JSON encoder need: a
# larger one is a bad number (400 ``invalid_param``) whatever else the list does with its range.
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]


class ChatRequestPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    query: StrictStr
    inputs: dict[str, Any]
    response_mode: Literal["blocking", "streaming"] | None = None
    conversation_id: str | None = None
    files: list[dict[str, Any]] | None = None
    auto_generate_name: StrictBool = True

    @field_validator("conversation_id", mode="before")
    @classmethod
    def _conversation_uuid(cls, value: Any) -> str | None:
        return optional_id(value, "conversation_id")


class CompletionRequestPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    inputs: dict[str, Any]
    # Completion apps read their text from ``inputs``; a top-level query is optional.
    query: StrictStr = ""
    response_mode: Literal["blocking", "streaming"] | None = None
    files: list[dict[str, Any]] | None = None


class FeedbackPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    rating: Literal["like", "dislike"] | None = None
    content: StrictStr | None = None


class RenamePayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: StrictStr | None = None
    auto_generate: StrictBool = False

    @model_validator(mode="after")
    def _name_needed(self) -> RenamePayload:
        # Blank includes a name of control characters only: nothing a list could show.
        if not self.auto_generate and (self.name is None or not has_visible_text(self.name)):
            raise ValueError("name is required when auto_generate is false")
        return self


class MessagesQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    conversation_id: str
    first_id: str | None = None
    limit: int = Field(default=20, ge=1, le=100)
    user: str | None = None

    @field_validator("first_id", mode="before")
    @classmethod
    def _first_uuid(cls, value: Any) -> str | None:
        return optional_id(value, "first_id")


class ConversationsQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    last_id: str | None = None
    limit: int = Field(default=20, ge=1, le=100)
    sort_by: Literal["created_at", "-created_at", "updated_at", "-updated_at"] = "-updated_at"
    user: str | None = None

    @field_validator("last_id", mode="before")
    @classmethod
    def _last_uuid(cls, value: Any) -> str | None:
        return optional_id(value, "last_id")


class VariablesQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    user: str | None = None
    last_id: str | None = None
    limit: int = Field(default=20, ge=1, le=100)
    variable_name: str | None = None

    @field_validator("last_id", mode="before")
    @classmethod
    def _last_uuid(cls, value: Any) -> str | None:
        return optional_id(value, "last_id")


class FeedbacksQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    page: int = Field(default=1, ge=1, le=2**63 - 1)
    limit: int = Field(default=20, ge=1, le=101)


class AnnotationPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")  # the Java starter also sends apiKey, userId, annotation_id

    question: StrictStr
    answer: StrictStr


class AnnotationReplyPayload(BaseModel):
    model_config = ConfigDict(extra="ignore", protected_namespaces=())

    score_threshold: float
    embedding_provider_name: StrictStr
    embedding_model_name: StrictStr


class AnnotationsQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    # Out-of-range values within 64 bits are clamped by the service, as the contract says.
    page: Int64 = 1
    limit: Int64 = 20
    keyword: str | None = None


class TextToAudioPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    message_id: StrictStr | None = None
    text: StrictStr | None = None
    voice: StrictStr | None = None
    streaming: bool | None = None
