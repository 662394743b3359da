"""App configuration: the one schema of the apps file, whose keys follow Dify's app model config.

Unknown keys are refused when the apps file is loaded (``domain/config_keys.py``
names them and the closest valid key); the models themselves ignore them, so a
stored snapshot from another release still loads. Credentials are ``SecretStr``:
they never show in ``repr``, in logs, on the wire, or in a stored snapshot.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import orjson
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_core import to_jsonable_python

from difychat.server.domain.agent import (
    AgentMode,
    BuiltinToolSettings,
    Capabilities,
    McpServer,
    ModelCapabilities,
    OpenAPIToolProvider,
    capabilities,
)
from difychat.server.domain.app_modes import COMPLETION, settle_completion_app
from difychat.server.domain.config_keys import unknown_keys
from difychat.server.domain.features import (
    AnnotationReply,
    ConversationVariableSpec,
    EmbeddingModel,
    FileUpload,
    MoreLikeThis,
    RetrieverResource,
    Schema,
    SensitiveWordAvoidance,
    SiteSettings,
    SpeechToText,
    SuggestedQuestionsAfterAnswer,
    TextToSpeech,
)
from difychat.server.domain.mcp import McpPublishing
from difychat.server.domain.retrieval import DatasetConfigs

AppMode = Literal["chat", "agent-chat", "completion"]

# difychat has one workspace (Dify's tenant); its id is derived, so every server reports the same one.
WORKSPACE_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "difychat:workspace"))
FORM_TYPES = ("text-input", "paragraph", "select", "number", "checkbox", "external_data_tool")
PROVIDERS = ("openai", "openai-compatible", "anthropic", "echo")


class Pricing(Schema):
    """``model.pricing``: what the usage of each answer costs (its prices and ``total_price``)."""

    # The price of prompt tokens: prompt tokens x input x unit.
    input: Decimal = Decimal("0")
    # The price of completion tokens: completion tokens x output x unit.
    output: Decimal = Decimal("0")
    # What a price is for: 0.000001 prices a million tokens, 0.001 a thousand.
    unit: Decimal = Decimal("0.000001")
    currency: str = "USD"


class ModelSettings(Schema):
    """``model``: the chat model that answers."""

    # openai and openai-compatible: any /chat/completions endpoint; echo: the deterministic demo model.
    provider: Literal["openai", "openai-compatible", "anthropic", "echo"] = "openai"
    # The model's name at the provider.
    name: str = "gpt-4o-mini"
    # The provider's API root; its public API when unset.
    base_url: str | None = None
    # The provider's key (write it as ${VAR}).
    api_key: SecretStr | None = None
    # Sent to the model as they are (temperature, max_tokens, ...).
    completion_params: dict[str, Any] = Field(default_factory=dict)
    pricing: Pricing | None = None
    # Seconds a model call may take.
    timeout: float = Field(default=600.0, gt=0)
    # Function calling or ReAct for agents, and whether images reach the model.
    capabilities: ModelCapabilities | None = None

    def abilities(self) -> Capabilities:
        return capabilities(self.provider, self.capabilities)


class MemorySettings(Schema):
    """How much of the earlier conversation goes to the model on each turn."""

    # Off: each turn sends the query alone.
    enabled: bool = True
    # At most this many tokens of earlier turns (estimated without a tokenizer).
    max_tokens: int = Field(default=2000, ge=0)
    # At most this many earlier turns.
    max_messages: int = Field(default=50, ge=0)


class FormField(Schema):
    """One ``user_input_form`` entry's body (Dify's variable entity); shown as written."""

    # The input's name: a key of a request's inputs, and {{variable}} in pre_prompt.
    variable: str
    label: str = ""
    description: str = ""
    type: str | None = None
    # A request without a value for it is refused.
    required: bool = False
    hide: bool = False
    # Longest text accepted (text-input and paragraph).
    max_length: int | None = None
    # The values a select accepts.
    options: list[str] = Field(default_factory=list)
    default: Any = None
    placeholder: str | None = None
    hint: str | None = None
    allowed_file_types: list[str] = Field(default_factory=list)
    allowed_file_extensions: list[str] = Field(default_factory=list)
    allowed_file_upload_methods: list[str] = Field(default_factory=list)
    # external_data_tool entries
    config: dict[str, Any] | None = Field(default=None, description="An external_data_tool entry's settings.")
    icon: str | None = None
    icon_background: str | None = None


FormEntry = dict[str, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class FormVariable:
    type: str
    field: FormField


class AppConfig(Schema):
    """One entry of the ``apps:`` list."""

    # Unique in the file; the app's identity, kept across restarts.
    name: str = Field(min_length=1, max_length=255)
    # A chat app whose agent_mode runs an agent is an agent-chat app.
    mode: AppMode = "chat"
    # Fixed app- keys, for development and tests (stored hashed; removing one revokes it).
    api_keys: list[SecretStr] = Field(default_factory=list)
    # False: the app's API answers 403.
    enable_api: bool = True
    model: ModelSettings = Field(default_factory=ModelSettings)
    # The system prompt; {{variable}} is a user_input_form value.
    pre_prompt: str = ""
    # The first message shown to a new conversation.
    opening_statement: str | None = None
    # Questions a new conversation may start with.
    suggested_questions: list[str] = Field(default_factory=list)
    # The inputs a request may or must send, each as {type: {variable, label, ...}}.
    user_input_form: list[FormEntry] = Field(default_factory=list)
    memory: MemorySettings = Field(default_factory=MemorySettings)
    # Chat requests of the app at once (0: no limit); beyond it, 429 too_many_requests.
    max_active_requests: int = Field(default=0, ge=0)

    # What /info and /site show.
    description: str = Field(default="", description="The app's description, shown by /info and /site.")
    tags: list[str] = Field(default_factory=list)
    author_name: str | None = None
    site: SiteSettings = Field(default_factory=SiteSettings)

    # Feature blocks, as /parameters shows them.
    suggested_questions_after_answer: SuggestedQuestionsAfterAnswer = Field(
        default_factory=SuggestedQuestionsAfterAnswer,
        description="Questions the user might ask next, suggested after each answer.",
    )
    speech_to_text: SpeechToText = Field(default_factory=SpeechToText)
    text_to_speech: TextToSpeech = Field(default_factory=TextToSpeech)
    retriever_resource: RetrieverResource = Field(default_factory=RetrieverResource)
    annotation_reply: AnnotationReply = Field(default_factory=AnnotationReply)
    more_like_this: MoreLikeThis = Field(default_factory=MoreLikeThis)
    sensitive_word_avoidance: SensitiveWordAvoidance = Field(default_factory=SensitiveWordAvoidance)
    file_upload: FileUpload = Field(default_factory=FileUpload)
    agent_mode: AgentMode = Field(default_factory=AgentMode)

    # difychat's: the embedding model annotation replies match with (lexical matching without it).
    embedding_model: EmbeddingModel | None = None

    # The datasets the app searches before it answers (knowledge contract §12); agents call them
    # as tools instead (§15).
    dataset_configs: DatasetConfigs | None = None

    conversation_variables: list[ConversationVariableSpec] = Field(default_factory=list)

    # difychat's: the app published as an MCP server (contract §13).
    mcp_server: McpPublishing = Field(default_factory=McpPublishing)

    # Tool providers agents of this app may use besides the built-ins (see domain/agent.py):
    # built-in providers' credentials by provider id, OpenAPI documents, MCP servers.
    tools: dict[str, BuiltinToolSettings] = Field(
        default_factory=dict, description="Built-in tool providers' settings, by provider id."
    )
    # Tools made from OpenAPI documents.
    openapi_tools: list[OpenAPIToolProvider] = Field(default_factory=list)
    # MCP servers whose tools agents may call.
    mcp_servers: list[McpServer] = Field(default_factory=list)

    @model_validator(mode="after")
    def _agent_mode_makes_an_agent(self) -> AppConfig:
        # A chat app with agent_mode enabled and an agent strategy is an agent app (contract §1).
        if self.mode == "chat" and self.agent_mode.is_agent:
            self.mode = "agent-chat"
        return self

    @model_validator(mode="after")
    def _completion_app(self) -> AppConfig:
        if self.mode == COMPLETION:
            settle_completion_app(self)
        return self

    @property
    def is_agent(self) -> bool:
        return self.mode == "agent-chat"

    @field_validator("openapi_tools")
    @classmethod
    def _openapi_names_unique(cls, providers: list[OpenAPIToolProvider]) -> list[OpenAPIToolProvider]:
        names = [p.name for p in providers]
        if len(names) != len(set(names)):
            raise ValueError("openapi_tools names must be unique")
        return providers

    @field_validator("mcp_servers")
    @classmethod
    def _mcp_identifiers_unique(cls, servers: list[McpServer]) -> list[McpServer]:
        ids = [s.server_identifier for s in servers]
        if len(ids) != len(set(ids)):
            raise ValueError("mcp_servers server_identifier values must be unique")
        return servers

    @field_validator("api_keys")
    @classmethod
    def _keys_look_like_app_keys(cls, keys: list[SecretStr]) -> list[SecretStr]:
        for key in keys:
            if not key.get_secret_value().startswith("app-") or len(key.get_secret_value()) < 12:
                raise ValueError("api_keys entries must look like 'app-' followed by at least 8 characters")
        return keys

    @field_validator("user_input_form")
    @classmethod
    def _form_entries_are_single_key(
        cls, form: list[dict[str, dict[str, Any]]]
    ) -> list[dict[str, dict[str, Any]]]:
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

    @classmethod
    def nested_unknown_keys(cls, data: Mapping[str, Any], path: str) -> Iterator[str]:
        """Unknown keys in the bodies of ``user_input_form`` entries."""
        form = data.get("user_input_form")
        for index, entry in enumerate(form if isinstance(form, list) else []):
            if isinstance(entry, Mapping):
                for kind, body in entry.items():
                    yield from unknown_keys(FormField, body, f"{path}user_input_form[{index}].{kind}.")

    def form_variables(self) -> list[FormVariable]:
        out = []
        for entry in self.user_input_form:
            ((kind, body),) = entry.items()
            out.append(FormVariable(kind, FormField.model_validate(body)))
        return out

    @classmethod
    def from_snapshot(cls, snapshot: dict[str, Any], name: str) -> AppConfig:
        """A stored snapshot, read leniently: options a newer or older release dropped are ignored."""
        return cls.model_validate({**snapshot, "name": name})

    def snapshot(self) -> dict[str, Any]:
        """What a conversation pins: the whole config, defaults included, without any credential."""
        data = without_secrets(self.model_dump(exclude={"api_keys"}))
        return dict(to_jsonable_python(data))

    def fingerprint(self) -> str:
        return hashlib.sha256(orjson.dumps(self.snapshot(), option=orjson.OPT_SORT_KEYS)).hexdigest()


def without_secrets(value: Any) -> Any:
    """``value`` with every ``SecretStr`` (at any depth) left out."""
    if isinstance(value, dict):
        return {k: without_secrets(v) for k, v in value.items() if not isinstance(v, SecretStr)}
    if isinstance(value, list):
        return [without_secrets(v) for v in value if not isinstance(v, SecretStr)]
    return value


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
