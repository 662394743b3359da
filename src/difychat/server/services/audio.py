"""POST /audio-to-text and POST /text-to-audio, and text-to-speech auto-play of answers.

The speech models come from the model catalog: the app's chat model endpoint and
key unless the ``speech_to_text`` / ``text_to_speech`` block names its own.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.domain.apps import App, AppConfig
from difychat.server.errors import AppError, InvalidParam
from difychat.server.services.models import ModelCatalog
from difychat.server.services.ownership import owned_message
from difychat.server.services.speech_stream import SentenceSpeaker

logger = logging.getLogger("difychat.audio")

AUDIO_MAX_BYTES = 30 * 1024 * 1024
AUDIO_TYPES = ("mp3", "m4a", "wav", "amr", "mpga")


class AudioService:
    def __init__(self, engine: AsyncEngine, models: ModelCatalog) -> None:
        self._engine = engine
        self._models = models

    def speaker_for(self, app: App, config: AppConfig) -> SentenceSpeaker | None:
        """What reads answers aloud, when auto-play is on for ``config``.

        A text-to-speech model the app cannot have is logged, and the answer is streamed without it.
        """
        settings = config.text_to_speech
        if not settings.auto_play:
            return None
        try:
            model = self._models.text_to_speech(app, config)
        except AppError as exc:
            logger.warning("app %r: answers are not read aloud: %s", app.name, exc.message)
            return None
        return SentenceSpeaker(model, settings.voice or model.voices[0])

    # --- audio to text ------------------------------------------------------------------------

    def check_speech_to_text(self, app: App) -> None:
        if not app.config.speech_to_text.enabled:
            raise InvalidParam("Speech to text is not enabled")

    async def transcribe(self, app: App, audio: bytes, filename: str, content_type: str) -> str:
        settings = app.config.speech_to_text
        if not settings.enabled:
            raise InvalidParam("Speech to text is not enabled")
        model = self._models.speech_to_text(app)
        return await model.transcribe(audio, filename, content_type)

    # --- text to audio ------------------------------------------------------------------------

    async def answer_text(self, end_user_id: str | None, message_id: str) -> str | None:
        """The stored answer of the caller's message; None when it is empty; 404 when not theirs."""
        async with self._engine.connect() as conn:
            message = await owned_message(conn, end_user_id, message_id)
        return message.answer or None

    async def synthesize(self, app: App, text: str, voice: str | None) -> AsyncIterator[bytes]:
        """MP3 bytes; the upstream call is made (and may fail) before the first chunk is returned."""
        settings = app.config.text_to_speech
        if not settings.enabled:
            raise InvalidParam("TTS is not enabled")
        model = self._models.text_to_speech(app, app.config)
        chosen = voice or settings.voice or (model.voices[0] if model.voices else None)
        if not chosen:
            raise InvalidParam("Sorry, no voice available.")
        return model.synthesize(text, chosen)
