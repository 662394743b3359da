"""What each endpoint says about itself, for the OpenAPI document (``api/openapi.py``).

Every handler in the route table carries one ``@describe(...)``, written where the handler is: a
summary, its tag, what it reads (a JSON body, a form, query and path parameters, the end user in
the body) and what it answers (a typed body, an event stream, bytes). The document is built from the
route table and these descriptions; a route whose handler has none fails the tests.

A shape (``body``, ``form``, ``response``, a ``Reply``'s) is a pydantic model, a ``TypedDict``, a
union of them, or a JSON schema written out as a dict. Response bodies are the ``TypedDict``s declared
beside their wire serialisers (``api/wire/``); the tests check real answers against them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import BaseModel

Handler = TypeVar("Handler", bound=Callable[..., Any])

JSON = "application/json"
EVENT_STREAM = "text/event-stream"
HTML = "text/html"
JAVASCRIPT = "text/javascript"
AUDIO = "audio/mpeg"
ANY_BYTES = "*/*"

# Tags, in the order the reference lists them (``openapi.TAGS`` describes each).
SERVER = "Server"
CHAT = "Chat messages"
COMPLETION = "Completion messages"
MESSAGES = "Messages"
CONVERSATIONS = "Conversations"
FILES = "Files"
AUDIO_TAG = "Audio"
ANNOTATIONS = "Annotations"
APP = "App"
DATASETS = "Knowledge: datasets"
DOCUMENTS = "Knowledge: documents"
SEGMENTS = "Knowledge: segments"
RETRIEVAL = "Knowledge: retrieval"
KNOWLEDGE_TAGS = "Knowledge: tags"
KNOWLEDGE_METADATA = "Knowledge: metadata"
WEB_API = "Web API"
WEB_PAGES = "Web pages"
MCP = "MCP"
SIGNED_FILES = "Signed files"

_ATTRIBUTE = "__difychat_operation__"


@dataclass(frozen=True)
class Param:
    """A query or path parameter read by hand (not through a pydantic query model)."""

    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "string"})
    required: bool = False
    description: str = ""


@dataclass(frozen=True)
class Reply:
    """An answer besides the main one: another status, or another media type for the same one."""

    status: int
    media: str = JSON
    shape: object = None
    description: str = ""


@dataclass(frozen=True)
class Operation:
    """One endpoint, as the OpenAPI document shows it; used as a decorator (``describe``)."""

    summary: str
    tag: str
    description: str = ""
    # What it reads.
    body: object = None  # the JSON body
    body_required: bool = True
    form: object = None  # a multipart/form-data body
    query: type[BaseModel] | Mapping[str, Param] | None = None
    path: Mapping[str, Param] = field(default_factory=dict)  # path parameters that are not ids
    # ``user`` read from the JSON body beside the model (``parsing.user_of``).
    user: Literal["required", "optional"] | None = None
    # What it answers.
    response: object = None  # the body: a shape for JSON, else described by ``media``
    status: int = 200
    media: str = JSON
    response_description: str = ""
    streams: bool = False  # an event stream instead when the body asks for ``response_mode: streaming``
    replies: tuple[Reply, ...] = ()
    errors: bool = True  # failures are the contract's ``{"code", "message", "status"}``
    # Who may call it: by default, with the key its path needs (``openapi.SECURITY``).
    public: bool = False  # anyone
    optional_key: bool = False  # anyone, and an app key is accepted

    def __call__(self, handler: Handler) -> Handler:
        # An attribute, not a registry: ``functools.wraps`` (``web_route``) carries it to the wrapper.
        setattr(handler, _ATTRIBUTE, self)
        return handler


describe = Operation


def described(endpoint: Callable[..., Any]) -> Operation | None:
    """The description a route's endpoint carries, if any."""
    found = getattr(endpoint, _ATTRIBUTE, None)
    return found if isinstance(found, Operation) else None
