"""App feature blocks, with Dify's keys and defaults, plus difychat's own model settings in them.

Each block is an object on the wire (``{"enabled": false}`` and kin), never a
bare boolean: typed clients bind them to classes. A bare boolean in the apps
file is read as ``{"enabled": <bool>}``.

``wire()`` renders a block the way Dify shows it in ``/parameters``: only
Dify's keys (``_wire``, in Dify's order), the ones Dify always sends, then
those the operator set (unset or null optional keys are omitted). difychat's
own keys (an auxiliary model's ``model``, ``base_url``, ``api_key``,
``timeout``) never reach the wire, and credentials are ``SecretStr``.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StrictBool, model_validator

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


class Schema(BaseModel):
    """A part of the apps file. Unknown keys are refused by the loader (``domain/config_keys.py``)
    and ignored here, so that a stored snapshot of an older or newer release still loads."""

    model_config = ConfigDict(extra="ignore", protected_namespaces=())


class _Block(Schema):
    # Dify's keys, in the order /parameters shows them; and those rendered even when unset.
    _wire: ClassVar[tuple[str, ...]] = ("enabled",)
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
        shown = [
            name
            for name in self._wire
            if name in self._always or (name in self.model_fields_set and getattr(self, name) is not None)
        ]
        dumped = self.model_dump(mode="json", include=set(shown))
        return {name: dumped[name] for name in shown}


class Feature(_Block):
    """A feature switch."""

    enabled: StrictBool = False


class SuggestedQuestionsAfterAnswer(Feature):
    """Questions the user might ask next, suggested after each answer."""


class RetrieverResource(Feature):
    """Citations (``retriever_resources``) of the passages an answer used, in ``message_end`` and the
    blocking answer."""

    enabled: StrictBool = True


class MoreLikeThis(Feature):
    """Dify's "more like this" of completion apps; shown by ``/parameters`` (Dify's web app only)."""


class AuxiliaryModel(Schema):
    """Where an auxiliary model (speech, embeddings) lives: its own endpoint and key when set,
    else the app's chat model's."""

    # The provider's kind (openai, openai-compatible, ...); the chat model's when unset.
    provider: str | None = None
    # Its API root; the chat model's when it is of the same kind.
    base_url: str | None = None
    # Its key; the chat model's when it is of the same kind.
    api_key: SecretStr | None = None
    # Seconds a call may take.
    timeout: float = Field(default=60.0, gt=0)


class SpeechToText(Feature, AuxiliaryModel):
    """``POST /audio-to-text``, through the model endpoint's ``/audio/transcriptions``."""

    _wire: ClassVar[tuple[str, ...]] = ("enabled",)

    # The transcription model.
    model: str = "whisper-1"


class TextToSpeech(Feature, AuxiliaryModel):
    """``POST /text-to-audio`` and spoken answers, through the model endpoint's ``/audio/speech``."""

    _wire: ClassVar[tuple[str, ...]] = ("enabled", "voice", "language", "autoPlay")

    # The voice the speech model speaks with.
    voice: str | None = None
    language: str | None = None
    # enabled: streams carry the answer as tts_message events too.
    autoPlay: Literal["enabled", "disabled"] | None = None  # noqa: N815 (Dify's key)
    # The speech model.
    model: str = "tts-1"

    @property
    def auto_play(self) -> bool:
        return self.enabled and self.autoPlay == "enabled"


class EmbeddingModel(AuxiliaryModel):
    """``embedding_model:`` (difychat's): the model annotation replies match with; a bare name is allowed."""

    # The embedding model.
    name: str

    @model_validator(mode="before")
    @classmethod
    def _bare_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value


class EmbeddingModelRef(Schema):
    """Dify's record of the embedding model of annotation replies, shown as written."""

    embedding_provider_name: str = ""
    embedding_model_name: str = ""


class AnnotationReply(_Block):
    """Saved answers (annotations) given instead of the model's when a query matches one; switched
    on and tuned through the annotation API."""

    # ``id`` comes first on the wire when present, as in Dify.
    _wire: ClassVar[tuple[str, ...]] = ("id", "enabled", "score_threshold", "embedding_model")

    id: str | None = None
    enabled: StrictBool = False
    # How close a query must be to an annotation's question for its answer.
    score_threshold: float | None = None
    embedding_model: EmbeddingModelRef | None = None


class ModerationIO(Schema):
    """``inputs_config`` / ``outputs_config`` of ``sensitive_word_avoidance``."""

    # Check this side of the turn.
    enabled: StrictBool = False
    # The answer given instead when a keyword is found.
    preset_response: str = ""


class ModerationConfig(Schema):
    """``sensitive_word_avoidance.config``: the keywords, and what each side does on a match."""

    # The words refused: a list, or one text separated by newlines or commas.
    keywords: str | list[str] = ""
    # The query and inputs.
    inputs_config: ModerationIO = Field(default_factory=ModerationIO)
    # The answer.
    outputs_config: ModerationIO = Field(default_factory=ModerationIO)
    api_based_extension_id: str | None = None


class SensitiveWordAvoidance(Feature):
    """Moderation; difychat runs ``type: keywords``."""

    _wire: ClassVar[tuple[str, ...]] = ("enabled", "type", "config", "configs")
    _always: ClassVar[tuple[str, ...]] = ("enabled", "type", "configs")

    # keywords: the one type difychat runs.
    type: str = ""
    config: ModerationConfig | None = None
    configs: list[Any] = Field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.enabled and self.type == "keywords" and bool(self.keywords())

    def keywords(self) -> list[str]:
        raw = self.config.keywords if self.config is not None else ""
        parts = raw if isinstance(raw, list) else re.split(r"[\n,]", raw)
        return [p.strip() for p in (str(x) for x in parts) if p.strip()]

    def wire(self) -> dict[str, Any]:
        out = super().wire()
        if self.config is not None and "config" in out:
            # As the operator wrote it, like Dify's stored block.
            out["config"] = self.config.model_dump(mode="json", exclude_unset=True)
        return out

    def inputs(self) -> ModerationIO:
        return self.config.inputs_config if self.config is not None else ModerationIO()

    def outputs(self) -> ModerationIO:
        return self.config.outputs_config if self.config is not None else ModerationIO()


TransferMethod = Literal["remote_url", "local_file"]


def _both_methods() -> list[TransferMethod]:
    return ["remote_url", "local_file"]


class ImageUpload(Schema):
    """The legacy image-only upload switch, still shown under ``file_upload.image``."""

    enabled: StrictBool = False
    # Images one message may carry.
    number_limits: int = Field(default=3, ge=0)
    # The detail vision models see images at.
    detail: Literal["high", "low"] = "high"
    transfer_methods: list[TransferMethod] = Field(default_factory=_both_methods)


class FileUpload(_Block):
    """Files attached to chat messages.

    Uploads are allowed when ``enabled`` (or, for images only, the legacy
    ``image.enabled``) is true; see ``is_enabled``.
    """

    _wire: ClassVar[tuple[str, ...]] = (
        "image",
        "enabled",
        "allowed_file_types",
        "allowed_file_extensions",
        "allowed_file_upload_methods",
        "number_limits",
    )
    _always: ClassVar[tuple[str, ...]] = ("image",)

    image: ImageUpload = Field(default_factory=ImageUpload)
    enabled: StrictBool = False
    # Images reach vision models; a document's text goes into the prompt; custom: by extension.
    allowed_file_types: list[Literal["image", "document", "audio", "video", "custom"]] = Field(
        default_factory=list
    )
    # The extensions of custom files (.pdf, ...).
    allowed_file_extensions: list[str] = Field(default_factory=list)
    # Uploaded first (local_file), or fetched from a URL (remote_url).
    allowed_file_upload_methods: list[TransferMethod] = Field(default_factory=list)
    # Files one message may carry.
    number_limits: int = Field(default=3, ge=0)

    @property
    def is_enabled(self) -> bool:
        return self.enabled or self.image.enabled


class SiteSettings(Schema):
    """What ``GET /site`` shows (Dify's web-app settings), and the app's web chat page."""

    # difychat's: the page at /chat/<code> and its /api; false: "app unavailable" (Dify's enable_site).
    enabled: StrictBool = True
    # The page's code in its URL; derived from the server's secret and the app's name when unset.
    # Changing it breaks the old links and passports.
    code: str | None = Field(default=None, pattern=r"^[A-Za-z0-9]{8,64}$")
    # Set: a passport's user_id must be signed with it (<id>.<unix time>.<hex HMAC-SHA256>).
    embed_secret: SecretStr | None = None
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


class ConversationVariableSpec(Schema):
    """A variable every conversation of the app carries (``conversation_variables:``)."""

    name: str = Field(min_length=1, max_length=255, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    value_type: VariableType = "string"
    # The value a conversation starts with; the type's empty value when unset.
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
