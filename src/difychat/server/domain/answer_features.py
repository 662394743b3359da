"""Typed readings of the app feature blocks that change how an answer is produced.

The apps file keeps Dify's keys (``speech_to_text``, ``text_to_speech``,
``sensitive_word_avoidance``) plus difychat's own model settings inside them
(``model``, ``base_url``, ``api_key``), and a top-level ``embedding_model``
for annotation matching. A block may arrive as a dict, a bare boolean or an
already-parsed model, so each reader accepts any of those.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from difychat.server.domain.apps import AppConfig


class _Block(BaseModel):
    model_config = ConfigDict(extra="ignore", protected_namespaces=())

    @model_validator(mode="before")
    @classmethod
    def _loose(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return {"enabled": value}
        if value is None:
            return {}
        if isinstance(value, BaseModel):
            return value.model_dump()
        return value


class Endpoint(_Block):
    """Where an auxiliary model lives; the app's chat model endpoint and key when unset."""

    base_url: str | None = None
    api_key: str | None = None
    timeout: float = Field(default=60.0, gt=0)


class SpeechToTextSettings(Endpoint):
    enabled: bool = False
    model: str = "whisper-1"


class TextToSpeechSettings(Endpoint):
    enabled: bool = False
    model: str = "tts-1"
    voice: str | None = None
    language: str | None = None
    autoPlay: str | None = None  # noqa: N815 (Dify's key)

    @property
    def auto_play(self) -> bool:
        return self.enabled and self.autoPlay == "enabled"


class EmbeddingSettings(Endpoint):
    name: str

    @model_validator(mode="before")
    @classmethod
    def _bare_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value


class IOConfig(_Block):
    enabled: bool = False
    preset_response: str = ""


class KeywordModeration(_Block):
    """``sensitive_word_avoidance`` of ``type: keywords``."""

    enabled: bool = False
    type: str = ""
    config: dict[str, Any] = Field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.enabled and self.type == "keywords" and bool(self.keywords())

    def keywords(self) -> list[str]:
        raw = self.config.get("keywords") or ""
        parts = raw if isinstance(raw, list) else re.split(r"[\n,]", str(raw))
        return [p.strip() for p in (str(x) for x in parts) if p.strip()]

    def inputs(self) -> IOConfig:
        return _read(IOConfig, self.config.get("inputs_config")) or IOConfig()

    def outputs(self) -> IOConfig:
        return _read(IOConfig, self.config.get("outputs_config")) or IOConfig()


def _extra(config: AppConfig, key: str) -> Any:
    value = getattr(config, key, None)
    if value is None and config.model_extra:
        value = config.model_extra.get(key)
    return value


Block = TypeVar("Block", bound=BaseModel)


def _read(kind: type[Block], value: Any) -> Block | None:
    try:
        return kind.model_validate(value)
    except ValidationError:
        return None


# Configs live as long as their app's version does and are read on every chat turn: each
# block is parsed once per config. The entry holds its config, so the id cannot be reused.
_parsed: dict[tuple[str, int], tuple[AppConfig, Any]] = {}
_MAX_PARSED = 4096


def _block(kind: type[Block], config: AppConfig, key: str) -> Block | None:
    hit = _parsed.get((key, id(config)))
    if hit is not None and hit[0] is config:
        return cast(Block | None, hit[1])
    value = _extra(config, key)
    block = _read(kind, value) if value else None
    if len(_parsed) >= _MAX_PARSED:
        _parsed.clear()
    _parsed[(key, id(config))] = (config, block)
    return block


def speech_to_text(config: AppConfig) -> SpeechToTextSettings:
    return _block(SpeechToTextSettings, config, "speech_to_text") or SpeechToTextSettings()


def text_to_speech(config: AppConfig) -> TextToSpeechSettings:
    return _block(TextToSpeechSettings, config, "text_to_speech") or TextToSpeechSettings()


def moderation(config: AppConfig) -> KeywordModeration:
    return _block(KeywordModeration, config, "sensitive_word_avoidance") or KeywordModeration()


def embedding_model(config: AppConfig) -> EmbeddingSettings | None:
    return _block(EmbeddingSettings, config, "embedding_model")
