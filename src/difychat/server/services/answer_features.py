"""The features that change how a chat answer is produced, behind a few hooks in ``services/chat.py``.

* before the model: keyword moderation of the inputs, then annotation reply;
  either one answers directly (streamed a character at a time, no model call);
* after the model: keyword moderation of the finished answer (``message_replace``);
* alongside: text-to-speech auto-play of a streaming answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from difychat.server.domain.apps import App, AppConfig
from difychat.server.domain.events import GenerationFailed, MessageEnded, TextDelta
from difychat.server.domain.usage import Usage
from difychat.server.generation.registry import Generation
from difychat.server.services import moderation
from difychat.server.services.annotations import AnnotationService
from difychat.server.services.audio import AudioService
from difychat.server.services.speech_stream import SentenceSpeaker
from difychat.server.store import writer
from difychat.server.store.common import utcnow
from difychat.server.store.writer import GroupWriter

logger = logging.getLogger("difychat.chat")

CHARACTER_DELAY = 0.01
SAVE_FAILED = GenerationFailed("internal_server_error", 500, "Internal Server Error, please contact support.")


@dataclass(frozen=True, slots=True)
class DirectAnswer:
    """An answer given without the model: a preset moderation response or an annotation."""

    text: str
    annotation_reply: dict[str, Any] | None = None


class AnswerFeatures:
    def __init__(
        self,
        writes: GroupWriter,
        annotations: AnnotationService,
        audio: AudioService,
        *,
        character_delay: float = CHARACTER_DELAY,
    ) -> None:
        self._writer = writes
        self._annotations = annotations
        self._audio = audio
        self._delay = character_delay

    async def direct_answer(
        self, app: App, config: AppConfig, inputs: Mapping[str, Any], query: str
    ) -> DirectAnswer | None:
        preset = moderation.check_inputs(config.sensitive_word_avoidance, inputs, query)
        if preset is not None:
            return DirectAnswer(preset)
        hit = await self._annotations.match(app, config, query)
        if hit is not None:
            return DirectAnswer(hit.answer, hit.wire())
        return None

    def replace_output(self, config: AppConfig, answer: str) -> str | None:
        return moderation.check_output(config.sensitive_word_avoidance, answer)

    def speaker(self, app: App, config: AppConfig, generation: Generation) -> SentenceSpeaker | None:
        found = self._audio.speaker_for(app, config)
        if found is None:
            return None
        model, voice = found
        return SentenceSpeaker(model, voice, generation.emit)

    async def run_direct(
        self, generation: Generation, answer: DirectAnswer, speaker: SentenceSpeaker | None
    ) -> None:
        """Stream ``answer`` a character at a time, save it, end the message (and the audio)."""
        started = time.perf_counter()
        sent: list[str] = []
        stopped = False
        try:
            for index, character in enumerate(answer.text):
                if index and self._delay:
                    await asyncio.sleep(self._delay)
                sent.append(character)
                generation.emit(TextDelta(character))
                if speaker is not None:
                    speaker.feed(character)
        except asyncio.CancelledError:
            if not generation.stop_requested:
                if speaker is not None:
                    speaker.cancel()
                raise
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            stopped = True
        generation.stoppable = False
        text = "".join(sent)
        usage = Usage(latency=time.perf_counter() - started)
        try:
            await self._writer.write(
                writer.finish_message(
                    generation.message_id,
                    answer=text,
                    status="stopped" if stopped else "normal",
                    error=None,
                    prompt_tokens=0,
                    completion_tokens=0,
                    usage=usage.to_wire(),
                    updated_at=utcnow(),
                )
            )
        except Exception:
            logger.exception("saving the answer of %s failed", generation.message_id)
            if speaker is not None:
                speaker.cancel()
            generation.emit(SAVE_FAILED)
            return
        generation.emit(MessageEnded(text, usage, stopped=stopped, annotation_reply=answer.annotation_reply))
        if speaker is not None:
            await speaker.finish()
