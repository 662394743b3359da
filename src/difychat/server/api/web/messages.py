"""The page's messages: history, feedback and suggested questions after an answer."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from typing_extensions import TypedDict

from difychat.server.api.context import Services
from difychat.server.api.described import WEB_API, describe
from difychat.server.api.ids import path_id, query_id
from difychat.server.api.modes import require_chat_app
from difychat.server.api.parsing import json_body, query, validate
from difychat.server.api.responses import JSON, SUCCESS, Success
from difychat.server.api.schemas import FeedbackPayload, MessagesQuery
from difychat.server.api.web.context import web_route
from difychat.server.api.wire import messages as wire
from difychat.server.domain.paging import Page
from difychat.server.domain.records import HistoryMessage
from difychat.server.errors import MESSAGE_NOT_EXISTS, SUGGESTIONS_DISABLED, Forbidden, NotFound
from difychat.server.services.web_sites import Passport

SUGGESTIONS_OFF = "app_suggested_questions_after_answer_disabled"


class WebMessageMetadata(TypedDict):
    annotation_reply: None
    retriever_resources: list[wire.Citation]
    usage: dict[str, Any] | None


class WebMessage(wire.Message):
    """A history item of the service API, with the message's stored ``metadata`` last."""

    metadata: WebMessageMetadata


class WebMessagePage(TypedDict):
    limit: int
    has_more: bool
    data: list[WebMessage]


class WebSuggestedQuestions(TypedDict):
    data: list[str]


def history(svc: Services, page: Page[HistoryMessage]) -> dict[str, Any]:
    """The service API's history, each item with a last key ``metadata`` as the message stored it."""
    tool_url = svc.agents.files.url if svc.agents is not None else None
    body = wire.history(page, svc.files.signer.preview_url, tool_url)
    for shown, item in zip(body["data"], page.data, strict=True):
        row = item.message
        shown["metadata"] = {
            "annotation_reply": None,
            "retriever_resources": shown["retriever_resources"],
            "usage": row.usage,
        }
    return body


@describe("List a conversation's messages", WEB_API, query=MessagesQuery, response=WebMessagePage)
@web_route
async def list_messages(request: Request, svc: Services, passport: Passport) -> Response:
    require_chat_app(passport.app)
    params = query(request, MessagesQuery)
    conversation_id = query_id(params.conversation_id, "conversation_id")
    if conversation_id is None:
        return JSON(history(svc, Page.empty(params.limit)))
    page = await svc.messages.history(
        passport.end_user_id, conversation_id, first_id=params.first_id, limit=params.limit
    )
    return JSON(history(svc, page))


@describe("Rate a message", WEB_API, body=FeedbackPayload, response=Success)
@web_route
async def create_feedback(request: Request, svc: Services, passport: Passport) -> Response:
    message_id = path_id(request, "message_id", NotFound, MESSAGE_NOT_EXISTS)
    payload = validate(FeedbackPayload, await json_body(request, svc.max_json_body_bytes))
    await svc.messages.feedback(
        passport.app, passport.end_user_id, message_id, rating=payload.rating, content=payload.content
    )
    return JSON(SUCCESS)


@describe("Suggested questions after an answer", WEB_API, response=WebSuggestedQuestions)
@web_route
async def suggested_questions(request: Request, svc: Services, passport: Passport) -> Response:
    require_chat_app(passport.app)
    if not passport.app.config.suggested_questions_after_answer.enabled:
        raise Forbidden(SUGGESTIONS_DISABLED, code=SUGGESTIONS_OFF)
    message_id = path_id(request, "message_id", NotFound, MESSAGE_NOT_EXISTS)
    questions = await svc.suggestions.suggest(passport.app, passport.end_user_id, message_id)
    return JSON({"data": questions})
