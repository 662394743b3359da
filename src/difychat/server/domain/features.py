"""App feature blocks, with Dify's keys and defaults.

Each block is an object on the wire (``{"enabled": false}`` and kin), never a
bare boolean: typed clients bind them to classes. A bare boolean in the apps
file is read as ``{"enabled": <bool>}``. Unknown keys are kept and passed
through to ``/parameters`` as written.

``wire()`` renders a block the way Dify shows it: the keys Dify always sends,
then whatever the operator set (optional keys left unset or null are omitted).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from difychat.server.domain import variables

VariableType = Literal[
    "string",
    "number",
    "integer",
    "float",
    "object",
    "secret",
    "boolean",
    "array[string]",
    "array[number]",
    "array[object]",
    "array[boolean]",
    "array[any]",
    "file",
    "array[file]",
]


class _Block(BaseModel):
    model_config = ConfigDict(extra="allow")

    # Keys rendered even when the apps file does not mention them.
    _always: ClassVar[tuple[str, ...]] = ("enabled",)

    @model_validator(mode="before")
    @classmethod
    def _bare_bool(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return {"enabled": value}
        if value is None:
            return {}
        return value

    def wire(self) -> dict[str, Any]:
        dumped = self.model_dump(mode="json")
        extras = set(self.model_extra or {})
        keep = {
            name
            for name in type(self).model_fields
            if name in self._always or (name in self.model_fields_set and dumped.get(name) is not None)
        }
        return {k: v for k, v in dumped.items() if k in keep or k in extras}


class Feature(_Block):
    """A feature switch with optional settings."""

    enabled: StrictBool = False


class SuggestedQuestionsAfterAnswer(Feature):
    pass


class SpeechToText(Feature):
    pass


class TextToSpeech(Feature):
    voice: str | None = None
    language: str | None = None
    autoPlay: Literal["enabled", "disabled"] | None = None  # noqa: N815 (Dify's key)


class RetrieverResource(Feature):
    enabled: StrictBool = True


class MoreLikeThis(Feature):
    pass


class EmbeddingModelRef(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=())

    embedding_provider_name: str = ""
    embedding_model_name: str = ""


class AnnotationReply(_Block):
    # ``id`` comes first on the wire when present, as in Dify.
    id: str | None = None
    enabled: StrictBool = False
    score_threshold: float | None = None
    embedding_model: EmbeddingModelRef | None = None


class SensitiveWordAvoidance(Feature):
    _always: ClassVar[tuple[str, ...]] = ("enabled", "type", "configs")

    type: str = ""
    config: dict[str, Any] | None = None
    configs: list[Any] = Field(default_factory=list)


TransferMethod = Literal["remote_url", "local_file"]


def _both_methods() -> list[TransferMethod]:
    return ["remote_url", "local_file"]


class ImageUpload(BaseModel):
    """The legacy image-only upload switch, still shown under ``file_upload.image``."""

    model_config = ConfigDict(extra="allow")

    enabled: StrictBool = False
    number_limits: int = Field(default=3, ge=0)
    detail: Literal["high", "low"] = "high"
    transfer_methods: list[TransferMethod] = Field(default_factory=_both_methods)


class FileUpload(_Block):
    """Files attached to chat messages.

    Uploads are allowed when ``enabled`` (or, for images only, the legacy
    ``image.enabled``) is true; see ``is_enabled``.
    """

    _always: ClassVar[tuple[str, ...]] = ("image",)

    image: ImageUpload = Field(default_factory=ImageUpload)
    enabled: StrictBool = False
    allowed_file_types: list[Literal["image", "document", "audio", "video", "custom"]] = Field(
        default_factory=list
    )
    allowed_file_extensions: list[str] = Field(default_factory=list)
    allowed_file_upload_methods: list[TransferMethod] = Field(default_factory=list)
    number_limits: int = Field(default=3, ge=0)

    @property
    def is_enabled(self) -> bool:
        return self.enabled or self.image.enabled


class SiteSettings(BaseModel):
    """What ``GET /site`` shows (Dify's web-app settings)."""

    model_config = ConfigDict(extra="allow")

    title: str | None = None  # the app's name when unset
    chat_color_theme: str | None = None
    chat_color_theme_inverted: StrictBool = False
    # Typed clients accept only these two values.
    icon_type: Literal["emoji", "image"] = "emoji"
    icon: str | None = None
    icon_background: str | None = None
    # For ``icon_type: image``: the URL shown as ``icon_url``.
    icon_url: str | None = None
    description: str | None = None
    copyright: str | None = None
    privacy_policy: str | None = None
    custom_disclaimer: str = ""
    default_language: str = "en-US"
    show_workflow_steps: StrictBool = True
    use_icon_as_answer_icon: StrictBool = False


class ConversationVariableSpec(BaseModel):
    """A variable every conversation of the app carries (``conversation_variables:``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    value_type: VariableType = "string"
    value: Any = None
    description: str = ""

    @model_validator(mode="after")
    def _value_fits_type(self) -> ConversationVariableSpec:
        if self.value is None:
            self.value = variables.default_value(self.value_type)
        elif not variables.matches(self.value_type, self.value):
            raise ValueError(variables.mismatch_message(self.name, self.value_type, self.value))
        return self


class SystemParameters(BaseModel):
    """The server's upload limits in MB, reported by ``/parameters`` as ``system_parameters``."""

    model_config = ConfigDict(extra="forbid")

    image_file_size_limit: int = 10
    video_file_size_limit: int = 100
    audio_file_size_limit: int = 50
    file_size_limit: int = 15
    workflow_file_upload_limit: int = 10
