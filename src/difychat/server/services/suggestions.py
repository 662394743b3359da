"""Suggested next questions after an answer (``GET /messages/{id}/suggested``).

The prompt is the conversation's latest turns as ``Human:``/``Assistant:`` lines
followed by an instruction; the reply's first JSON array of strings is the answer.
A failing model call yields no suggestions rather than an error.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.domain.apps import App
from difychat.server.errors import SUGGESTIONS_DISABLED, BadRequest
from difychat.server.providers.base import ModelRequest, PromptMessage
from difychat.server.services.models import ModelCatalog
from difychat.server.services.ownership import owned_message
from difychat.server.store import messages as message_store

logger = logging.getLogger("difychat")

HISTORY_TURNS = 3
# About 3000 tokens of history; the oldest text is cut first.
HISTORY_MAX_CHARS = 12000
PARAMS = {"temperature": 0, "max_tokens": 256}

INSTRUCTION = (
    "Based on the conversation above, guess the three questions the human is most likely to ask next. "
    "Keep each question shorter than 20 characters and write them in the language of the assistant's "
    "latest reply. Answer with a JSON array of three strings and nothing else, for example "
    '["First question?", "Second question?", "Third question?"].'
)


def history_text(turns: Sequence[tuple[str, str]], max_chars: int = HISTORY_MAX_CHARS) -> str:
    """Turns (query, answer), oldest first, as ``Human:``/``Assistant:`` lines within ``max_chars``."""
    lines: list[str] = []
    for query, answer in turns:
        lines.append(f"Human: {query}")
        lines.append(f"Assistant: {answer}")
    text = "\n".join(lines)
    return text[-max_chars:] if len(text) > max_chars else text


def build_prompt(turns: Sequence[tuple[str, str]]) -> list[PromptMessage]:
    return [PromptMessage("user", f"{history_text(turns)}\n\n{INSTRUCTION}\nquestions:\n")]


def parse_questions(reply: str) -> list[str]:
    """The string items of the first JSON array in ``reply``; ``[]`` when there is none."""
    decoder = json.JSONDecoder()
    start = reply.find("[")
    while start != -1:
        try:
            value, _ = decoder.raw_decode(reply, start)
        except json.JSONDecodeError:
            start = reply.find("[", start + 1)
            continue
        if isinstance(value, list):
            return [item.strip() for item in value if isinstance(item, str) and item.strip()]
        start = reply.find("[", start + 1)
    return []


class SuggestionService:
    def __init__(self, engine: AsyncEngine, models: ModelCatalog) -> None:
        self._engine = engine
        self._models = models

    async def suggest(self, app: App, end_user_id: str | None, message_id: str) -> list[str]:
        async with self._engine.connect() as conn:
            message = await owned_message(conn, end_user_id, message_id)
            if not app.config.suggested_questions_after_answer.enabled:
                raise BadRequest(SUGGESTIONS_DISABLED)
            rows = await message_store.turns_up_to(conn, message, limit=HISTORY_TURNS)
        turns = [(str(r.query), str(r.answer)) for r in reversed(rows)]
        model = self._models.model(app, app.config, app.config_id)
        try:
            result = await model.complete(ModelRequest(messages=build_prompt(turns), params=dict(PARAMS)))
        except Exception:
            logger.warning("suggested questions: the model call failed", exc_info=True)
            return []
        return parse_questions(result.text)
