"""What a route needs from the composition root, and the app behind the request's key."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from difychat.server.domain.apps import App
from difychat.server.generation.limits import Slot
from difychat.server.observability.context import bind_app
from difychat.server.services.agent.service import AgentService
from difychat.server.services.annotations import AnnotationService
from difychat.server.services.app_info import AppInfoService
from difychat.server.services.audio import AudioService
from difychat.server.services.auth import Authenticator, EndUsers
from difychat.server.services.chat import ChatService
from difychat.server.services.completion import CompletionService
from difychat.server.services.conversations import ConversationService
from difychat.server.services.files import FileService
from difychat.server.services.knowledge.bundle import Knowledge
from difychat.server.services.messages import MessageService
from difychat.server.services.retrieval.service import KnowledgeSearch
from difychat.server.services.stops import StopService
from difychat.server.services.suggestions import SuggestionService
from difychat.server.services.variables import ConversationVariableService
from difychat.server.services.web_conversations import WebConversationService
from difychat.server.services.web_sites import WebSites


@dataclass(frozen=True, slots=True)
class Services:
    authenticator: Authenticator
    end_users: EndUsers
    chat: ChatService
    completion: CompletionService
    stops: StopService
    conversations: ConversationService
    messages: MessageService
    files: FileService
    annotations: AnnotationService
    audio: AudioService
    app_info: AppInfoService
    suggestions: SuggestionService
    variables: ConversationVariableService
    ping_interval: float
    stream_send_timeout: float
    max_json_body_bytes: int
    dify_version: str
    agents: AgentService | None = None
    knowledge: Knowledge | None = None
    # The web chat pages' sites and passports, and what their sidebar adds to conversations.
    web_sites: WebSites | None = None
    web_conversations: WebConversationService | None = None
    retrieval: KnowledgeSearch | None = None


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


async def authenticate(request: Request) -> tuple[Services, App]:
    svc = services(request)
    app = await svc.authenticator.authenticate(request.headers.get("authorization"))
    bind_app(app.id)  # the request's log lines name the app from here on
    return svc, app


async def authenticate_turn(request: Request) -> tuple[Services, App, Slot]:
    """``authenticate`` for a chat turn, which also takes its concurrency slots: the caller gives the
    slot back if the turn does not start (once started, its generation does)."""
    svc = services(request)
    app, slot = await svc.authenticator.admit_turn(request.headers.get("authorization"))
    bind_app(app.id)
    return svc, app, slot
