"""POST /audio-to-text and POST /text-to-audio, and the speech model an app uses.

The speech endpoint is the app's chat model endpoint (base_url, api_key)
unless the ``speech_to_text`` / ``text_to_speech`` block names its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.domain.apps import App, AppConfig
from difychat.server.domain.features import AuxiliaryModel, TextToSpeech
from difychat.server.errors import MESSAGE_NOT_EXISTS, InvalidParam, NotFound, ProviderNotSupportSpeechToText
from difychat.server.providers.speech import OpenAICompatibleSpeech, SpeechModel
from difychat.server.services.speech_stream import SentenceSpeaker
from difychat.server.store import messages as message_store

AUDIO_MAX_BYTES = 30 * 1024 * 1024
AUDIO_TYPES = ("mp3", "m4a", "wav", "amr", "mpga")


class AudioService:
    def __init__(self, engine: AsyncEngine, session: aiohttp.ClientSession) -> None:
        self._engine = engine
        self._session = session

    def speech_model(
        self, app: App, endpoint: AuxiliaryModel, *, stt_model: str, tts_model: str
    ) -> SpeechModel | None:
        live = app.config.model
        base_url = endpoint.base_url or (live.base_url if live.provider != "echo" else None)
        if not base_url:
            return None
        return OpenAICompatibleSpeech(
            self._session,
            base_url=base_url,
            api_key=(secret.get_secret_value() if (secret := endpoint.api_key or live.api_key) else None),
            stt_model=stt_model,
            tts_model=tts_model,
            timeout=endpoint.timeout,
        )

    def speaker_for(self, app: App, config: AppConfig) -> SentenceSpeaker | None:
        """What reads answers aloud, when auto-play is on for ``config``."""
        settings = config.text_to_speech
        if not settings.auto_play:
            return None
        model = self._tts_model(app, settings)
        if model is None:
            return None
        return SentenceSpeaker(model, settings.voice or model.voices[0])

    def _tts_model(self, app: App, settings: TextToSpeech) -> SpeechModel | None:
        return self.speech_model(app, settings, stt_model="whisper-1", tts_model=settings.model)

    # --- audio to text ------------------------------------------------------------------------

    def check_speech_to_text(self, app: App) -> None:
        if not app.config.speech_to_text.enabled:
            raise InvalidParam("Speech to text is not enabled")

    async def transcribe(self, app: App, audio: bytes, filename: str, content_type: str) -> str:
        settings = app.config.speech_to_text
        if not settings.enabled:
            raise InvalidParam("Speech to text is not enabled")
        model = self.speech_model(app, settings, stt_model=settings.model, tts_model="tts-1")
        if model is None:
            raise ProviderNotSupportSpeechToText()
        return await model.transcribe(audio, filename, content_type)

    # --- text to audio ------------------------------------------------------------------------

    async def answer_text(self, end_user_id: str | None, message_id: str) -> str | None:
        """The stored answer of the caller's message; None when it is empty; 404 when not theirs."""
        if end_user_id is None:
            raise NotFound(MESSAGE_NOT_EXISTS)
        async with self._engine.connect() as conn:
            row = await message_store.owned(conn, message_id, end_user_id)
        if row is None:
            raise NotFound(MESSAGE_NOT_EXISTS)
        return row.answer or None

    async def synthesize(self, app: App, text: str, voice: str | None) -> AsyncIterator[bytes]:
        """MP3 bytes; the upstream call is made (and may fail) before the first chunk is returned."""
        settings = app.config.text_to_speech
        if not settings.enabled:
            raise InvalidParam("TTS is not enabled")
        model = self._tts_model(app, settings)
        if model is None:
            raise InvalidParam("Sorry, no voice available.")
        chosen = voice or settings.voice or (model.voices[0] if model.voices else None)
        if not chosen:
            raise InvalidParam("Sorry, no voice available.")
        return model.synthesize(text, chosen)
