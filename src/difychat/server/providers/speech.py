"""Speech models: audio to text and text to audio, over any OpenAI-compatible endpoint.

``POST {base_url}/audio/transcriptions`` (multipart) answers ``{"text": ...}``;
``POST {base_url}/audio/speech`` (JSON) answers the audio bytes, which are
passed on as they arrive.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

import aiohttp
import orjson

from difychat.server.providers.failures import Failure, failure, status_error, transport_error

# OpenAI's voices, in its order: the fallback when neither the request nor the app names one.
OPENAI_VOICES = ("alloy", "ash", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer")
STREAM_CHUNK = 16 * 1024
LABEL = "openai"


class SpeechModel(Protocol):
    voices: tuple[str, ...]

    async def transcribe(self, audio: bytes, filename: str, content_type: str) -> str:
        """The text spoken in ``audio``."""
        ...

    def synthesize(self, text: str, voice: str) -> AsyncIterator[bytes]:
        """MP3 bytes of ``text`` read aloud, as they arrive; closing it closes the upstream call."""
        ...


class OpenAICompatibleSpeech:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str | None,
        api_key: str | None,
        stt_model: str,
        tts_model: str,
        timeout: float,
    ) -> None:
        if not base_url:
            raise failure(Failure.NOT_CONFIGURED, LABEL, "set model.base_url.")
        self.voices: tuple[str, ...] = OPENAI_VOICES
        self._session = session
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._stt_model = stt_model
        self._tts_model = tts_model
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=min(timeout, 10.0))

    async def transcribe(self, audio: bytes, filename: str, content_type: str) -> str:
        form = aiohttp.FormData()
        form.add_field("model", self._stt_model)
        form.add_field("file", audio, filename=filename or "audio", content_type=content_type)
        try:
            async with self._session.post(
                self._base + "/audio/transcriptions", data=form, headers=self._headers, timeout=self._timeout
            ) as response:
                raw = await response.read()
                if response.status >= 400:
                    raise status_error(LABEL, response.status, raw)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise transport_error(LABEL, exc, self._base) from exc
        try:
            text = orjson.loads(raw)["text"]
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise failure(Failure.MALFORMED, LABEL, "transcription response") from exc
        return str(text)

    async def synthesize(self, text: str, voice: str) -> AsyncIterator[bytes]:
        body = orjson.dumps(
            {"model": self._tts_model, "input": text, "voice": voice, "response_format": "mp3"}
        )
        headers = {**self._headers, "Content-Type": "application/json"}
        try:
            async with self._session.post(
                self._base + "/audio/speech", data=body, headers=headers, timeout=self._timeout
            ) as response:
                if response.status >= 400:
                    raise status_error(LABEL, response.status, await response.read())
                async for chunk in response.content.iter_chunked(STREAM_CHUNK):
                    yield chunk
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise transport_error(LABEL, exc, self._base) from exc
