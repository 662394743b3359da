"""Text-to-speech auto-play: the answer read aloud while it streams.

The speaker subscribes to a generation like the HTTP stream does. Text deltas
are buffered into sentences; each finished sentence is synthesized in order by
one worker, whose audio goes out as ``tts_message`` events interleaved with the
text. After ``message_end`` the rest is read for at most ``tail_seconds`` more,
then one ``tts_message_end`` goes out and the speaker releases the stream.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
from collections.abc import Callable

from difychat.server.domain.events import (
    GenerationEvent,
    GenerationFailed,
    MessageEnded,
    SpeechChunk,
    SpeechEnded,
    TextDelta,
)
from difychat.server.errors import AppError
from difychat.server.generation.registry import Generation
from difychat.server.providers.speech import SpeechModel

logger = logging.getLogger("difychat.speech")

# A sentence ends at CJK end punctuation, or at . ! ? ; followed by whitespace, or at a newline.
_SENTENCE_END = re.compile(r"[。！？；\n]|[.!?;](?=\s)")
TAIL_SECONDS = 5.0


def split_sentences(buffer: str) -> tuple[list[str], str]:
    """Complete sentences in ``buffer`` and the unfinished rest."""
    sentences = []
    start = 0
    for found in _SENTENCE_END.finditer(buffer):
        sentence = buffer[start : found.end()].strip()
        if sentence:
            sentences.append(sentence)
        start = found.end()
    return sentences, buffer[start:]


class SentenceSpeaker:
    def __init__(
        self,
        speech: SpeechModel,
        voice: str,
        *,
        tail_seconds: float = TAIL_SECONDS,
    ) -> None:
        self._speech = speech
        self._voice = voice
        self._emit: Callable[[GenerationEvent], None] = lambda event: None
        self._tail = tail_seconds
        self._buffer = ""
        self._sentences: asyncio.Queue[str | None] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._finishing: asyncio.Task[None] | None = None

    def attach(self, generation: Generation) -> None:
        """Read ``generation``'s answer aloud; its stream stays open until the audio has ended."""
        self._emit = generation.emit

        def on_event(event: GenerationEvent) -> None:
            if isinstance(event, TextDelta):
                self.feed(event.text)
            elif isinstance(event, MessageEnded):
                self._finishing = asyncio.get_running_loop().create_task(
                    self._finish_then(generation.release)
                )
            elif isinstance(event, GenerationFailed):
                self.cancel()
                generation.release()

        generation.subscribe(on_event, holds=True)

    async def _finish_then(self, release: Callable[[], None]) -> None:
        try:
            await self.finish()
        finally:
            release()

    def feed(self, text: str) -> None:
        sentences, self._buffer = split_sentences(self._buffer + text)
        for sentence in sentences:
            self._queue(sentence)

    def _queue(self, sentence: str) -> None:
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._read_aloud(), name="tts")
        self._sentences.put_nowait(sentence)

    async def _read_aloud(self) -> None:
        while (sentence := await self._sentences.get()) is not None:
            try:
                async for audio in self._speech.synthesize(sentence, self._voice):
                    if audio:
                        self._emit(SpeechChunk(base64.b64encode(audio).decode("ascii")))
            except AppError as exc:
                logger.warning("text to speech failed: %s", exc.message)

    async def finish(self) -> None:
        """Read what is left (within the tail time), then end the audio."""
        rest = self._buffer.strip()
        self._buffer = ""
        if rest:
            self._queue(rest)
        if self._worker is not None:
            self._sentences.put_nowait(None)
            try:
                async with asyncio.timeout(self._tail):
                    await asyncio.shield(self._worker)
            except TimeoutError:
                self.cancel()
        self._emit(SpeechEnded())

    def cancel(self) -> None:
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()
