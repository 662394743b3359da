"""One factory, one fallback rule: which endpoint and key each model of an app uses."""

from __future__ import annotations

from typing import Any, cast

import aiohttp
import pytest

from difychat.server.domain.apps import PROVIDERS, ModelSettings
from difychat.server.domain.features import EmbeddingModel, SpeechToText, TextToSpeech
from difychat.server.errors import ProviderNotInitialized, ProviderNotSupportSpeechToText
from difychat.server.providers.anthropic import AnthropicModel
from difychat.server.providers.echo import EchoModel
from difychat.server.providers.factory import (
    CAPABILITIES,
    Capability,
    build_chat,
    build_embeddings,
    build_speech,
    resolve,
)
from difychat.server.providers.openai_compatible import OpenAICompatibleModel

NO_SESSION = cast(aiohttp.ClientSession, None)


def chat(**fields: Any) -> ModelSettings:
    return ModelSettings.model_validate(fields)


def key(value: Any) -> str | None:
    return None if value is None else str(value.get_secret_value())


def test_every_provider_the_apps_file_accepts_can_chat() -> None:
    assert set(CAPABILITIES) == set(PROVIDERS)
    assert all(Capability.CHAT in caps for caps in CAPABILITIES.values())


def test_a_block_without_settings_uses_the_chat_models_endpoint_and_key() -> None:
    model = chat(provider="openai-compatible", base_url="http://llm/v1", api_key="sk-chat")
    found = resolve(SpeechToText(), model, Capability.SPEECH_TO_TEXT)
    assert (found.provider, found.base_url, key(found.api_key)) == (
        "openai-compatible",
        "http://llm/v1",
        "sk-chat",
    )
    assert found.timeout == 60.0  # the block's own timeout
    assert "sk-chat" not in repr(found)


def test_a_blocks_own_settings_win_one_by_one() -> None:
    model = chat(provider="openai", base_url="http://llm/v1", api_key="sk-chat")
    own_url = resolve(TextToSpeech(base_url="http://tts/v1"), model, Capability.TEXT_TO_SPEECH)
    assert (own_url.base_url, key(own_url.api_key)) == ("http://tts/v1", "sk-chat")
    own_key = resolve(TextToSpeech(api_key="sk-tts"), model, Capability.TEXT_TO_SPEECH)
    assert (own_key.base_url, key(own_key.api_key)) == ("http://llm/v1", "sk-tts")


def test_openai_without_a_base_url_is_openais_endpoint() -> None:
    found = resolve(SpeechToText(), chat(provider="openai", api_key="sk"), Capability.SPEECH_TO_TEXT)
    assert found.base_url == "https://api.openai.com/v1"


def test_another_providers_key_and_endpoint_are_never_borrowed() -> None:
    claude = chat(provider="anthropic", name="claude", api_key="sk-ant", base_url="https://gw.example")
    named = resolve(SpeechToText(provider="openai"), claude, Capability.SPEECH_TO_TEXT, provider="openai")
    assert (named.provider, named.base_url, named.api_key) == ("openai", "https://api.openai.com/v1", None)
    # Only a base_url: under a chat provider without speech, the OpenAI-compatible protocol there.
    located = resolve(SpeechToText(base_url="http://stt/v1"), claude, Capability.SPEECH_TO_TEXT)
    assert (located.provider, located.base_url, located.api_key) == (
        "openai-compatible",
        "http://stt/v1",
        None,
    )


def test_anthropic_apps_get_a_clear_error_for_speech_and_embeddings_without_their_own_endpoint() -> None:
    claude = chat(provider="anthropic", name="claude", api_key="sk-ant")
    stt = resolve(SpeechToText(), claude, Capability.SPEECH_TO_TEXT)
    with pytest.raises(ProviderNotSupportSpeechToText) as caught:
        build_speech(NO_SESSION, stt, Capability.SPEECH_TO_TEXT)
    assert caught.value.message == (
        "Provider anthropic has no speech to text: give speech_to_text its own provider "
        "(openai, openai-compatible) or base_url."
    )
    tts = resolve(TextToSpeech(), claude, Capability.TEXT_TO_SPEECH)
    with pytest.raises(ProviderNotInitialized, match="give text_to_speech its own provider"):
        build_speech(NO_SESSION, tts, Capability.TEXT_TO_SPEECH)
    embeddings = resolve(EmbeddingModel(name="e"), claude, Capability.EMBEDDINGS)
    with pytest.raises(ProviderNotInitialized, match="give embedding_model its own provider"):
        build_embeddings(NO_SESSION, embeddings, model="e")


def test_an_unknown_auxiliary_provider_is_named_in_the_error() -> None:
    found = resolve(SpeechToText(provider="azure"), chat(), Capability.SPEECH_TO_TEXT, provider="azure")
    with pytest.raises(
        ProviderNotSupportSpeechToText, match="Provider azure is not supported for speech to text"
    ):
        build_speech(NO_SESSION, found, Capability.SPEECH_TO_TEXT)


def test_chat_models_by_provider() -> None:
    def built(settings: ModelSettings) -> object:
        credentials = resolve(settings, settings, Capability.CHAT, provider=settings.provider)
        return build_chat(NO_SESSION, credentials, model=settings.name)

    assert isinstance(built(chat(provider="echo")), EchoModel)
    assert isinstance(built(chat(provider="openai", api_key="sk")), OpenAICompatibleModel)
    claude = built(chat(provider="anthropic", name="claude", api_key="sk-ant"))
    assert isinstance(claude, AnthropicModel) and claude._url == "https://api.anthropic.com/v1/messages"
    with pytest.raises(
        ProviderNotInitialized, match="Provider anthropic is not initialized: set model.api_key"
    ):
        built(chat(provider="anthropic", name="claude"))


def test_a_pinned_chat_config_takes_the_live_key_of_the_same_provider_only() -> None:
    live = chat(provider="openai", base_url="http://llm/v1", api_key="sk-live")
    pinned = chat(provider="openai", base_url="http://llm/v1")  # snapshots keep no secrets
    assert key(resolve(pinned, live, Capability.CHAT, provider="openai").api_key) == "sk-live"
    older = chat(provider="anthropic", name="claude")
    assert resolve(older, live, Capability.CHAT, provider="anthropic").api_key is None
