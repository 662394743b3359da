"""Conversation names: the immediate truncation and the model-written title."""

from __future__ import annotations

import json
import re

from difychat.server.providers.base import ChatModel, ModelRequest, PromptMessage

NEW_CONVERSATION = "New conversation"

_TITLE_INSTRUCTIONS = (
    "You write short titles for chat conversations. Detect the language of the user's message "
    "and write the title in that language: a few words naming the intention and the subject. "
    "If the message is a direct question you may start the title with one fitting emoji. "
    'Reply with JSON only, with exactly these keys: {"Language Type": "...", '
    '"Your Reasoning": "...", "Your Output": "<the title>"}.'
)
_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


def initial_name(query: str) -> str:
    """The name a conversation gets at once: the query, cut to 20 characters plus an ellipsis."""
    if not query:
        return NEW_CONVERSATION
    return query if len(query) <= 20 else query[:20] + "\u2026"


def prepare_query(query: str) -> str:
    text = query.replace("\n", " ")
    if len(text) > 2000:
        text = text[:300] + "...[TRUNCATED]..." + text[-300:]
    return text


def parse_title(answer: str, prepared_query: str) -> str:
    """The title from the model's answer; the query itself when the answer has none."""
    if not answer.strip():
        return ""
    title = ""
    match = _JSON_OBJECT.search(answer)
    if match:
        try:
            data = json.loads(match.group(0))
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("Your Output"), str):
            title = data["Your Output"]
    title = (title or prepared_query).strip()
    return title if len(title) <= 75 else title[:75] + "..."


def fallback_title(query: str) -> str:
    return query if len(query) <= 50 else query[:47] + "..."


async def generate_title(model: ChatModel, query: str, *, fallback: bool = True) -> str:
    """Ask the model for a title; on failure, a shortened query (or the error, without ``fallback``)."""
    prepared = prepare_query(query)
    request = ModelRequest(
        messages=[PromptMessage("system", _TITLE_INSTRUCTIONS), PromptMessage("user", prepared)],
        params={"max_tokens": 500, "temperature": 1},
    )
    try:
        result = await model.complete(request)
    except Exception:
        if not fallback:
            raise
        return fallback_title(query)
    return parse_title(result.text, prepared)
