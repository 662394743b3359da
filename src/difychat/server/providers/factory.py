"""Build every model client an app uses (chat, speech to text, text to speech, embeddings)
from one resolved credential set, with one fallback rule.

The rule (``resolve``): a model uses its own block's ``provider``, ``base_url`` and
``api_key`` where the block sets them, and the chat model's otherwise. The chat
model's ``base_url`` and ``api_key`` are only borrowed by a provider of the same
kind (``openai`` and ``openai-compatible`` are one kind): an Anthropic key is never
sent to an OpenAI endpoint. A block that names its own ``base_url`` but no
provider, under a chat provider that cannot do the job (``anthropic`` has no speech
or embeddings), speaks the OpenAI-compatible protocol there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

import aiohttp
from pydantic import SecretStr

from difychat.server.errors import AppError, ProviderNotInitialized, ProviderNotSupportSpeechToText
from difychat.server.providers.anthropic import build_anthropic
from difychat.server.providers.base import ChatModel
from difychat.server.providers.echo import EchoModel
from difychat.server.providers.embeddings import EmbeddingModel, OpenAICompatibleEmbeddings
from difychat.server.providers.failures import Failure, failure
from difychat.server.providers.openai_compatible import build_openai_compatible
from difychat.server.providers.speech import OpenAICompatibleSpeech, SpeechModel


class Capability(Enum):
    CHAT = "chat"
    SPEECH_TO_TEXT = "speech to text"
    TEXT_TO_SPEECH = "text to speech"
    EMBEDDINGS = "embeddings"
    # RERANK: when a provider with a rerank endpoint is added.


_OPENAI_KIND = frozenset(Capability)
CAPABILITIES: Mapping[str, frozenset[Capability]] = {
    "openai": _OPENAI_KIND,
    "openai-compatible": _OPENAI_KIND,
    "anthropic": frozenset({Capability.CHAT}),
    "echo": frozenset({Capability.CHAT}),
}
# The endpoint a provider uses when no base_url is given.
DEFAULT_BASE_URLS: Mapping[str, str] = {
    "openai": "https://api.openai.com/v1",
    "openai-compatible": "https://api.openai.com/v1",
}
# Where each model's own settings are written, for the error that says what to set.
_BLOCKS: Mapping[Capability, str] = {
    Capability.CHAT: "model",
    Capability.SPEECH_TO_TEXT: "speech_to_text",
    Capability.TEXT_TO_SPEECH: "text_to_speech",
    Capability.EMBEDDINGS: "embedding_model",
}
# The contract's error when a provider cannot do a job: a missing speech-to-text model has
# its own code; any other missing model means its provider is not set up.
_UNSUPPORTED: Mapping[Capability, type[AppError]] = {
    Capability.SPEECH_TO_TEXT: ProviderNotSupportSpeechToText,
}


def kind(provider: str) -> str:
    return "openai" if provider in ("openai", "openai-compatible") else provider


class EndpointSettings(Protocol):
    """A block's own endpoint settings (``AuxiliaryModel``, or the chat ``ModelSettings``)."""

    @property
    def base_url(self) -> str | None: ...
    @property
    def api_key(self) -> SecretStr | None: ...
    @property
    def timeout(self) -> float: ...


class ChatSettings(EndpointSettings, Protocol):
    @property
    def provider(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Credentials:
    """One resolved endpoint: what a client is built from."""

    provider: str
    base_url: str | None
    api_key: SecretStr | None = field(repr=False)
    timeout: float

    @property
    def key(self) -> str | None:
        return self.api_key.get_secret_value() if self.api_key is not None else None


def resolve(
    own: EndpointSettings,
    chat: ChatSettings,
    capability: Capability,
    *,
    provider: str | None = None,
) -> Credentials:
    """The one fallback rule (see the module docstring). ``provider`` is the block's own."""
    if provider is None:
        can = capability in CAPABILITIES.get(chat.provider, frozenset())
        provider = chat.provider if can or own.base_url is None else "openai-compatible"
    borrow = kind(provider) == kind(chat.provider)
    return Credentials(
        provider=provider,
        base_url=own.base_url or (chat.base_url if borrow else None) or DEFAULT_BASE_URLS.get(provider),
        api_key=own.api_key or (chat.api_key if borrow else None),
        timeout=own.timeout,
    )


def require(credentials: Credentials, capability: Capability) -> None:
    """Refuse, with the contract's error and what to set, a provider that cannot do ``capability``."""
    provider = credentials.provider
    if capability in CAPABILITIES.get(provider, frozenset()):
        return
    able = ", ".join(p for p, caps in CAPABILITIES.items() if capability in caps)
    block = _BLOCKS[capability]
    if provider not in CAPABILITIES:
        message = f"Provider {provider} is not supported for {capability.value}; use one of {able}."
    else:
        message = f"Provider {provider} has no {capability.value}: "
        message += f"give {block} its own provider ({able}) or base_url."
    raise _UNSUPPORTED.get(capability, ProviderNotInitialized)(message)


# --- building ----------------------------------------------------------------------------------


def build_chat(
    session: aiohttp.ClientSession, credentials: Credentials, *, model: str, delay: float = 0.02
) -> ChatModel:
    require(credentials, Capability.CHAT)
    if credentials.provider == "echo":
        return EchoModel(model, delay=delay)
    if credentials.provider == "anthropic":
        return build_anthropic(
            session,
            model=model,
            base_url=credentials.base_url,
            api_key=credentials.key,
            timeout=credentials.timeout,
        )
    return build_openai_compatible(
        session,
        model=model,
        base_url=credentials.base_url,
        api_key=credentials.key,
        timeout=credentials.timeout,
    )


def build_speech(
    session: aiohttp.ClientSession,
    credentials: Credentials,
    capability: Capability,
    *,
    stt_model: str = "whisper-1",
    tts_model: str = "tts-1",
) -> SpeechModel:
    """Speech to text or text to speech (``capability``), at the credentials' endpoint."""
    require(credentials, capability)
    return OpenAICompatibleSpeech(
        session,
        base_url=credentials.base_url,
        api_key=credentials.key,
        stt_model=stt_model,
        tts_model=tts_model,
        timeout=credentials.timeout,
    )


def build_embeddings(
    session: aiohttp.ClientSession, credentials: Credentials, *, model: str
) -> EmbeddingModel:
    require(credentials, Capability.EMBEDDINGS)
    if not credentials.base_url:
        raise failure(Failure.NOT_CONFIGURED, credentials.provider, "set embedding_model.base_url.")
    return OpenAICompatibleEmbeddings(
        session,
        model=model,
        base_url=credentials.base_url,
        api_key=credentials.key,
        timeout=credentials.timeout,
    )
