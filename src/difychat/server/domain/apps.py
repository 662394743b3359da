"""App configuration: the YAML schema, whose keys follow Dify's app model config.

Unknown keys are kept (``extra="allow"``) so that ``/parameters`` can pass
feature blocks through exactly as the operator wrote them.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from difychat.server.domain.features import (
    AnnotationReply,
    ConversationVariableSpec,
    FileUpload,
    MoreLikeThis,
    RetrieverResource,
    SensitiveWordAvoidance,
    SiteSettings,
    SpeechToText,
    SuggestedQuestionsAfterAnswer,
    TextToSpeech,
)

AppMode = Literal["chat", "agent-chat"]

# difychat has one workspace (Dify's tenant); its id is derived, so every server reports the same one.
WORKSPACE_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "difychat:workspace"))
FORM_TYPES = ("text-input", "paragraph", "select", "number", "checkbox", "external_data_tool")


class Pricing(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: Decimal = Decimal("0")
    output: Decimal = Decimal("0")
    unit: Decimal = Decimal("0.000001")
    currency: str = "USD"


class ModelSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    provider: Literal["openai", "openai-compatible", "echo"] = "openai"
    name: str = "gpt-4o-mini"
    base_url: str | None = None
    api_key: str | None = None
    completion_params: dict[str, Any] = Field(default_factory=dict)
    pricing: Pricing | None = None
    timeout: float = Field(default=600.0, gt=0)


class MemorySettings(BaseModel):
    """How much of the earlier conversation goes to the model on each turn."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    max_tokens: int = Field(default=2000, ge=0)
    max_messages: int = Field(default=50, ge=0)


class FormField(BaseModel):
    model_config = ConfigDict(extra="allow")

    variable: str
    label: str = ""
    required: bool = False
    max_length: int | None = None
    options: list[str] = Field(default_factory=list)
    default: Any = None


@dataclass(frozen=True, slots=True)
class FormVariable:
    type: str
    field: FormField


class AppConfig(BaseModel):
    """One entry of the ``apps:`` list."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1, max_length=255)
    mode: AppMode = "chat"
    api_keys: list[str] = Field(default_factory=list)
    enable_api: bool = True
    model: ModelSettings = Field(default_factory=ModelSettings)
    pre_prompt: str = ""
    opening_statement: str | None = None
    suggested_questions: list[str] = Field(default_factory=list)
    user_input_form: list[dict[str, dict[str, Any]]] = Field(default_factory=list)
    memory: MemorySettings = Field(default_factory=MemorySettings)
    max_active_requests: int = Field(default=0, ge=0)

    # What /info and /site show.
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    author_name: str | None = None
    site: SiteSettings = Field(default_factory=SiteSettings)

    # Feature blocks, as /parameters shows them.
    suggested_questions_after_answer: SuggestedQuestionsAfterAnswer = Field(
        default_factory=SuggestedQuestionsAfterAnswer
    )
    speech_to_text: SpeechToText = Field(default_factory=SpeechToText)
    text_to_speech: TextToSpeech = Field(default_factory=TextToSpeech)
    retriever_resource: RetrieverResource = Field(default_factory=RetrieverResource)
    annotation_reply: AnnotationReply = Field(default_factory=AnnotationReply)
    more_like_this: MoreLikeThis = Field(default_factory=MoreLikeThis)
    sensitive_word_avoidance: SensitiveWordAvoidance = Field(default_factory=SensitiveWordAvoidance)
    file_upload: FileUpload = Field(default_factory=FileUpload)

    conversation_variables: list[ConversationVariableSpec] = Field(default_factory=list)

    @field_validator("api_keys")
    @classmethod
    def _keys_look_like_app_keys(cls, keys: list[str]) -> list[str]:
        for key in keys:
            if not key.startswith("app-") or len(key) < 12:
                raise ValueError("api_keys entries must look like 'app-' followed by at least 8 characters")
        return keys

    @field_validator("user_input_form")
    @classmethod
    def _form_entries_are_single_key(cls, form: list[dict[str, dict[str, Any]]]) -> list[dict[str, dict[str, Any]]]:
        for entry in form:
            if len(entry) != 1:
                raise ValueError("each user_input_form entry must have exactly one key (the field type)")
            ((kind, body),) = entry.items()
            if kind not in FORM_TYPES:
                raise ValueError(f"unknown user_input_form type {kind!r}")
            FormField.model_validate(body)
        return form

    @field_validator("conversation_variables")
    @classmethod
    def _variable_names_unique(cls, specs: list[ConversationVariableSpec]) -> list[ConversationVariableSpec]:
        names = [s.name for s in specs]
        if len(names) != len(set(names)):
            raise ValueError("conversation_variables names must be unique")
        return specs

    def form_variables(self) -> list[FormVariable]:
        out = []
        for entry in self.user_input_form:
            ((kind, body),) = entry.items()
            out.append(FormVariable(kind, FormField.model_validate(body)))
        return out

    @classmethod
    def from_snapshot(cls, snapshot: dict[str, Any], name: str) -> AppConfig:
        """A stored snapshot, read leniently: options a newer or older release dropped are ignored."""
        data = {**snapshot, "name": name}
        model = dict(data.get("model") or {})
        model = {k: v for k, v in model.items() if k in ModelSettings.model_fields}
        if isinstance(model.get("pricing"), dict):
            model["pricing"] = {k: v for k, v in model["pricing"].items() if k in Pricing.model_fields}
        data["model"] = model
        if isinstance(data.get("memory"), dict):
            data["memory"] = {k: v for k, v in data["memory"].items() if k in MemorySettings.model_fields}
        return cls.model_validate(data)

    def snapshot(self) -> dict[str, Any]:
        """What a conversation pins: the config without keys and credentials."""
        data = self.model_dump(mode="json", exclude={"api_keys"})
        data["model"].pop("api_key", None)
        return data

    def fingerprint(self) -> str:
        return hashlib.sha256(orjson.dumps(self.snapshot(), option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(slots=True)
class App:
    """An app as the running server knows it."""

    id: str
    name: str
    mode: str
    config: AppConfig
    config_id: str
    enable_api: bool = True
    status: str = "normal"
