"""An app as an MCP server (contract §13 and its row of the difference table).

``POST /mcp/server/<code>/mcp`` speaks JSON-RPC 2.0, one JSON reply per request: ``initialize``,
``notifications/initialized`` (202, no body), ``ping``, ``tools/list`` (one tool: the app, its
input form plus ``query``) and ``tools/call`` (one blocking chat turn; the stored answer as one
text part). A completion app's tool takes its input form only (Dify's default form holds
``query``), and each call is one completion. An unknown or unpublished code is HTTP 404; every
other failure is a JSON-RPC error body with HTTP 200 (HTTP 401 for a refused API key).

Who calls: a bearer API key of the app, when one is sent (``require_api_key`` makes it
mandatory), is its own end user; otherwise each client (name and version from ``initialize``,
carried back in the ``Mcp-Session-Id`` it is given) is one. A call may continue a conversation of
its caller with ``conversation_id``; each result names its conversation and message in ``_meta``.

The code is a credential: it is compared by its hash and never logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from difychat.server.domain.app_modes import COMPLETION
from difychat.server.domain.apps import App, AppConfig
from difychat.server.domain.events import GenerationFailed, MessageEnded
from difychat.server.domain.values import parse_uuid
from difychat.server.errors import AppError, Unauthorized
from difychat.server.generation.limits import KeyLimits, Limiter, Slot
from difychat.server.services.auth import Authenticator, EndUsers
from difychat.server.services.chat import ChatService, ChatTurn
from difychat.server.services.completion import CompletionService, CompletionTurn
from difychat.server.services.keys import hash_key
from difychat.server.services.turn_launch import StartedTurn

logger = logging.getLogger("difychat.mcp_server")

PROTOCOL_VERSION = "2024-11-05"
SERVER_NAME = "Dify"
SESSION_HEADER = "Mcp-Session-Id"
# Client notifications MCP defines; accepted without a reply besides ``initialized``.
_NOTIFICATIONS = frozenset(
    {
        "notifications/initialized",
        "notifications/cancelled",
        "notifications/progress",
        "notifications/roots/list_changed",
    }
)
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_NO_KEY = KeyLimits("mcp-server")  # a caller without an API key: only the app's own limit applies
QUERY_DESCRIPTION = "User Input/Question content"
CONVERSATION_DESCRIPTION = (
    "Optional. Continue an earlier conversation: the conversation_id from the _meta of an earlier "
    "result of this tool. Leave it out to start a new conversation."
)

INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603


def server_code(secret_key: str, app_name: str) -> str:
    """The URL code of an app that sets none: 16 letters and digits derived from the server's secret."""
    digest = hmac.new(
        secret_key.encode(), b"difychat mcp server\x00" + app_name.encode(), hashlib.sha256
    ).digest()
    number = int.from_bytes(digest, "big")
    chars = []
    for _ in range(16):
        number, index = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[index])
    return "".join(chars)


def app_code(secret_key: str, config: AppConfig) -> str:
    configured = config.mcp_server.code
    return configured.get_secret_value() if configured is not None else server_code(secret_key, config.name)


def _digest(code: str) -> bytes:
    return hashlib.sha256(code.encode("utf-8", "surrogatepass")).digest()


@dataclass(frozen=True, slots=True)
class McpReply:
    status: int = 200
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


class RpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _error(request_id: Any, code: int, message: str, status: int = 200) -> McpReply:
    return McpReply(status, {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}})


def _result(request_id: Any, result: dict[str, Any], headers: dict[str, str] | None = None) -> McpReply:
    return McpReply(200, {"jsonrpc": "2.0", "id": request_id, "result": result}, headers or {})


@dataclass(frozen=True, slots=True)
class _Caller:
    user: str  # the end user's ``user`` string
    authorization: str | None


class McpServerService:
    def __init__(
        self,
        catalog: Mapping[str, App],
        codes: Mapping[str, str],
        chat: ChatService,
        end_users: EndUsers,
        authenticator: Authenticator,
        limiter: Limiter,
        *,
        version: str,
        completion: CompletionService,
    ) -> None:
        """``codes``: each published app's URL code, by app id (only apps of the apps file)."""
        self._catalog = catalog
        self._apps = {_digest(code): app_id for app_id, code in codes.items()}
        self._chat = chat
        self._completion = completion
        self._end_users = end_users
        self._authenticator = authenticator
        self._limiter = limiter
        self._version = version

    async def handle(
        self, code: str, message: Any, *, authorization: str | None, session: str | None
    ) -> McpReply:
        """One POSTed message (parsed JSON, or None when the body was not JSON)."""
        request_id = message.get("id") if isinstance(message, dict) else None
        app = self._catalog.get(self._apps.get(_digest(code), ""))
        if app is None or app.status == "removed":
            return _error(request_id, INVALID_REQUEST, "Server Not Found", 404)
        if not app.config.mcp_server.enabled or app.status != "normal":
            return _error(request_id, INVALID_REQUEST, "Server is not active", 404)
        try:
            caller = await self._caller(app, authorization, session)
        except AppError as exc:
            return _error(request_id, INVALID_REQUEST, exc.message, exc.status)
        if (
            not isinstance(message, dict)
            or message.get("jsonrpc") != "2.0"
            or not isinstance(message.get("method"), str)
        ):
            return _error(request_id, INVALID_REQUEST, "Invalid Request: not a JSON-RPC 2.0 message")
        method: str = message["method"]
        if "id" not in message:
            if method in _NOTIFICATIONS:
                return McpReply(202)
            return _error(None, INVALID_REQUEST, "Request ID is required")
        if not isinstance(request_id, str | int) or isinstance(request_id, bool):
            return _error(None, INVALID_REQUEST, "Invalid Request: the id must be a string or a number")
        params = message.get("params")
        if params is not None and not isinstance(params, dict):
            return _error(request_id, INVALID_PARAMS, "Invalid params: params must be an object")
        try:
            if method == "initialize":
                return await self._initialize(app, request_id, params or {}, caller)
            if method == "ping":
                return _result(request_id, {})
            if method == "tools/list":
                return _result(request_id, {"tools": [tool_of(app.config)]})
            if method == "tools/call":
                return _result(request_id, await self._call(app, params or {}, caller))
        except RpcError as exc:
            return _error(request_id, exc.code, exc.message)
        except Exception as exc:
            # Handled here, not by the server's last-resort handler, which would log the URL (the code).
            logger.exception("the MCP server of app %r failed on %s", app.name, method)
            return _error(request_id, INTERNAL_ERROR, f"Internal server error: {type(exc).__name__}")
        return _error(request_id, METHOD_NOT_FOUND, f"Method not found: {method}")

    # --- callers ---------------------------------------------------------------------------------

    async def _caller(self, app: App, authorization: str | None, session: str | None) -> _Caller:
        if authorization:
            key_app = await self._authenticator.authenticate(authorization)
            if key_app.id != app.id:
                raise Unauthorized("Access token is invalid")
            token = authorization.strip().partition(" ")[2].strip()
            return _Caller(f"mcp-key:{hash_key(token)[:16]}", authorization)
        if app.config.mcp_server.require_api_key:
            raise Unauthorized("Authorization header must be provided and start with 'Bearer'")
        client = _client_of(session)
        return _Caller(f"mcp:{client[0]}@{client[1]}"[:255] if client else "mcp:anonymous", None)

    async def _initialize(
        self, app: App, request_id: Any, params: dict[str, Any], caller: _Caller
    ) -> McpReply:
        info = params.get("clientInfo")
        name = info.get("name") if isinstance(info, dict) else None
        version = info.get("version") if isinstance(info, dict) else None
        headers: dict[str, str] = {}
        user = caller.user
        if isinstance(name, str) and isinstance(version, str) and name and len(name) + len(version) < 200:
            headers[SESSION_HEADER] = _session_of(name, version)
            if caller.authorization is None:
                user = f"mcp:{name}@{version}"
        await self._end_users.resolve(app, user.replace("\x00", ""), required=True)
        result: dict[str, Any] = {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": {"name": SERVER_NAME, "version": self._version},
            "instructions": _description(app.config),
        }
        return _result(request_id, result, headers)

    # --- the tool --------------------------------------------------------------------------------

    async def _call(self, app: App, params: dict[str, Any], caller: _Caller) -> dict[str, Any]:
        arguments = params.get("arguments")
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, dict):
            raise RpcError(INVALID_PARAMS, "Invalid params: arguments must be an object")
        turn = None if app.mode == COMPLETION else _chat_turn(app.config, arguments)
        try:
            end_user_id = await self._end_users.resolve(app, caller.user, required=True)
            slot = await self._slot(app, caller)
            try:
                started: StartedTurn
                if turn is not None:
                    started = await self._chat.start(app, end_user_id, turn, slot)
                else:  # a completion: every argument is an input
                    one = CompletionTurn(inputs=dict(arguments), response_mode="blocking")
                    started = await self._completion.start(app, end_user_id, one, slot)
            except BaseException:
                slot.release()
                raise
        except AppError as exc:
            code = INVALID_PARAMS if exc.status in (400, 404) else INTERNAL_ERROR
            raise RpcError(
                code, exc.message if code == INVALID_PARAMS else f"Internal server error: {exc.message}"
            ) from None
        generation = started.generation
        event = await generation.ended()
        generation.detach()
        if isinstance(event, GenerationFailed):
            raise RpcError(INTERNAL_ERROR, f"Internal server error: {event.message}")
        assert isinstance(event, MessageEnded)
        # A completion has no conversation to continue.
        meta = {"message_id": generation.message_id}
        if turn is not None:
            meta = {"conversation_id": generation.conversation_id, **meta}
        return {"content": [{"type": "text", "text": event.answer}], "isError": False, "_meta": meta}

    async def _slot(self, app: App, caller: _Caller) -> Slot:
        if caller.authorization is not None:
            key_app, slot = await self._authenticator.admit_turn(caller.authorization)
            if key_app.id != app.id:  # the key changed hands since the request was checked
                slot.release()
                raise Unauthorized("Access token is invalid")
            return slot
        return await self._limiter.acquire(_NO_KEY, app.id, app.config.max_active_requests)


def _description(config: AppConfig) -> str:
    return config.mcp_server.description or config.description


def _chat_turn(config: AppConfig, arguments: dict[str, Any]) -> ChatTurn:
    """A chat app's call: ``query``, the form's inputs, and maybe a conversation to continue."""
    query = arguments.get("query")
    if not isinstance(query, str) or not query.replace("\x00", "").strip():
        raise RpcError(INVALID_PARAMS, "query is required")
    inputs = {k: v for k, v in arguments.items() if k != "query"}
    conversation_id = None
    if _continues(config):
        given = inputs.pop("conversation_id", None)
        if given is not None and given != "":
            conversation_id = parse_uuid(given)
            if conversation_id is None:
                raise RpcError(INVALID_PARAMS, "conversation_id must be a valid UUID")
    return ChatTurn(
        query=query.replace("\x00", ""),
        inputs=inputs,
        response_mode="blocking",
        conversation_id=conversation_id,
        auto_generate_name=True,
    )


def _continues(config: AppConfig) -> bool:
    """Whether the tool takes ``conversation_id`` (a chat app's, unless the form has a variable of
    that name)."""
    return config.mode != COMPLETION and all(
        v.field.variable != "conversation_id" for v in config.form_variables()
    )


def tool_of(config: AppConfig) -> dict[str, Any]:
    """The app's one tool: ``query`` first (not for a completion app, whose form holds its text),
    then the input form (files and external data left out)."""
    described = config.mcp_server.parameters
    properties: dict[str, Any] = {}
    required: list[str] = []
    if config.mode != COMPLETION:
        properties["query"] = {"type": "string", "description": QUERY_DESCRIPTION}
        required.append("query")
    for variable in config.form_variables():
        name = variable.field.variable
        prop: dict[str, Any] = {"description": described.get(name, "")}
        if variable.type in ("text-input", "paragraph"):
            prop["type"] = "string"
        elif variable.type == "select":
            prop["type"] = "string"
            prop["enum"] = list(variable.field.options)
        elif variable.type == "number":
            prop["type"] = "number"
        elif variable.type == "checkbox":
            prop["type"] = "boolean"
        else:  # file, file-list, external data: not something a caller sends
            continue
        properties[name] = prop
        if variable.field.required:
            required.append(name)
    if _continues(config):
        properties["conversation_id"] = {"type": "string", "description": CONVERSATION_DESCRIPTION}
    return {
        "name": config.name,
        "description": _description(config),
        "inputSchema": {"type": "object", "properties": properties, "required": required},
    }


def _session_of(name: str, version: str) -> str:
    """A session id naming the client (the server keeps no session state: any worker reads it)."""
    packed = base64.urlsafe_b64encode(orjson.dumps([name, version])).decode().rstrip("=")
    return f"{secrets.token_hex(8)}.{packed}"


def _client_of(session: str | None) -> tuple[str, str] | None:
    if not session or "." not in session:
        return None
    packed = session.partition(".")[2]
    try:
        value = orjson.loads(base64.urlsafe_b64decode(packed + "=" * (-len(packed) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        return None
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, str) and v and "\x00" not in v for v in value)
        and len(value[0]) + len(value[1]) < 200
    ):
        return value[0], value[1]
    return None
