"""Answer sources: what produces a turn's answer (see services/turn_runner.py).

* ``ModelSource``: the app's chat model, streamed.
* ``PresetSource``: an answer given without the model, a character at a time:
  the moderation preset for flagged inputs, or a matching annotation.

An agent loop is the next source: it yields ``ThoughtUpdated`` and
``FileProduced`` besides text, and sums usage over its rounds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

from difychat.server.domain.apps import App, AppConfig
from difychat.server.domain.events import GenerationEvent, TextDelta
from difychat.server.domain.usage import Price, Usage, estimate_tokens
from difychat.server.providers.base import ChatModel, ModelRequest, TokenUsage
from difychat.server.services import moderation
from difychat.server.services.annotations import AnnotationService
from difychat.server.services.turn_runner import Timing

CHARACTER_DELAY = 0.01


class ModelSource:
    annotation_reply: dict[str, Any] | None = None

    def __init__(self, model: ChatModel, request: ModelRequest, config: AppConfig) -> None:
        self._model = model
        self._request = request
        self._config = config
        self._reported: TokenUsage | None = None

    async def events(self) -> AsyncIterator[GenerationEvent]:
        async for chunk in self._model.stream(self._request):
            if chunk.text:
                yield TextDelta(chunk.text)
            if chunk.usage is not None:
                self._reported = chunk.usage

    def usage(self, answer: str, *, stopped: bool, timing: Timing) -> Usage:
        tokens = self._reported
        if tokens is None or stopped:
            prompt_text = "\n".join(message.text() for message in self._request.messages)
            tokens = TokenUsage(estimate_tokens(prompt_text), estimate_tokens(answer))
        pricing = self._config.model.pricing
        prompt_price = completion_price = None
        if pricing is not None:
            prompt_price = Price(pricing.input, pricing.unit, pricing.currency)
            completion_price = Price(pricing.output, pricing.unit, pricing.currency)
        first = timing.first_token
        return Usage(
            prompt_tokens=tokens.prompt_tokens,
            completion_tokens=tokens.completion_tokens,
            prompt_price=prompt_price,
            completion_price=completion_price,
            latency=timing.ended - timing.started,
            time_to_first_token=None if first is None else first - timing.started,
            time_to_generate=None if first is None else timing.ended - first,
        )

    def moderate_output(self, answer: str) -> str | None:
        """The finishing step: the preset response that replaces a flagged answer, else None."""
        return moderation.check_output(self._config.sensitive_word_avoidance, answer)


class PresetSource:
    """A fixed answer, streamed a character at a time; no tokens are used."""

    def __init__(
        self, text: str, *, annotation_reply: dict[str, Any] | None = None, delay: float = CHARACTER_DELAY
    ) -> None:
        self.text = text
        self.annotation_reply = annotation_reply
        self._delay = delay

    async def events(self) -> AsyncIterator[GenerationEvent]:
        for index, character in enumerate(self.text):
            if index and self._delay:
                await asyncio.sleep(self._delay)
            yield TextDelta(character)

    def usage(self, answer: str, *, stopped: bool, timing: Timing) -> Usage:
        return Usage(latency=timing.ended - timing.started)


async def preset_answer(
    annotations: AnnotationService,
    app: App,
    config: AppConfig,
    inputs: Mapping[str, Any],
    query: str,
    *,
    delay: float = CHARACTER_DELAY,
) -> PresetSource | None:
    """Flagged inputs get the moderation preset; else a matching annotation answers; else the model does."""
    preset = moderation.check_inputs(config.sensitive_word_avoidance, inputs, query)
    if preset is not None:
        return PresetSource(preset, delay=delay)
    hit = await annotations.match(app, config, query)
    if hit is not None:
        return PresetSource(hit.answer, annotation_reply=hit.wire(), delay=delay)
    return None
