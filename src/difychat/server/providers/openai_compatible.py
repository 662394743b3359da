"""Any OpenAI-compatible ``/chat/completions`` endpoint, over aiohttp.

aiohttp rather than httpx (and so rather than the openai SDK): under many
concurrent streams httpcore's pool scan dominates (encode/httpx#3215), while
aiohttp's connector stays flat; see benchmarks/.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from difychat.server.providers.base import (
    ModelChunk,
    ModelRequest,
    ModelResult,
    TokenUsage,
    ToolCall,
    ToolDefinition,
)
from difychat.server.providers.failures import (
    Failure,
    failure,
    in_stream_error,
    status_error,
    transport_error,
)
from difychat.server.providers.lines import StreamLines
from difychat.server.providers.prompt import (
    ImagePart,
    PromptMessage,
    ToolCallPart,
    ToolResultPart,
    text_runs,
)
from difychat.server.providers.tool_calls import ToolCallAssembler

_DONE = b"[DONE]"


class OpenAICompatibleModel:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        model: str,
        base_url: str,
        api_key: str | None,
        timeout: float,
        label: str = "openai",
    ) -> None:
        self.name = model
        self._session = session
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=min(timeout, 10.0))
        self._label = label

    def _body(self, request: ModelRequest, stream: bool) -> bytes:
        body: dict[str, Any] = {**request.params, "model": self.name, "messages": _messages(request.messages)}
        if request.tools:
            body["tools"] = [_tool(tool) for tool in request.tools]
        body["stream"] = stream
        if stream:
            body["stream_options"] = {"include_usage": True}
        # orjson hands back its whole 4 KiB working buffer; the request body lives as long as the
        # stream does, so keep an exact-size copy (4 KiB less per open stream).
        return bytes(memoryview(orjson.dumps(body)))

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelChunk]:
        body = self._body(request, stream=True)
        try:
            async with self._session.post(
                self._url, data=body, headers=self._headers, timeout=self._timeout
            ) as response:
                if response.status >= 400:
                    raise status_error(self._label, response.status, await response.read())
                finished = False
                calls = ToolCallAssembler()
                async for raw_line in StreamLines(response.content, self._label):
                    line = raw_line.strip()
                    if not line.startswith(b"data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == _DONE:
                        finished = True
                        break
                    chunk, done = self._parse_chunk(payload, calls)
                    finished = finished or done
                    if chunk is not None:
                        yield chunk
                if not finished:
                    raise failure(Failure.INCOMPLETE, self._label)
                if calls:
                    yield ModelChunk(tool_calls=calls.calls())
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise transport_error(self._label, exc, self._url) from exc

    async def complete(self, request: ModelRequest) -> ModelResult:
        body = self._body(request, stream=False)
        try:
            async with self._session.post(
                self._url, data=body, headers=self._headers, timeout=self._timeout
            ) as response:
                raw = await response.read()
                if response.status >= 400:
                    raise status_error(self._label, response.status, raw)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise transport_error(self._label, exc, self._url) from exc
        try:
            data = orjson.loads(raw)
            message = data["choices"][0]["message"]
            text = message.get("content") or ""
            calls = _complete_calls(message.get("tool_calls"))
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise failure(Failure.MALFORMED, self._label, "response from the model") from exc
        return ModelResult(str(text), _usage(data.get("usage")), calls)

    def _parse_chunk(self, payload: bytes, calls: ToolCallAssembler) -> tuple[ModelChunk | None, bool]:
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise failure(Failure.MALFORMED, self._label, "chunk in the model's stream") from exc
        if not isinstance(data, dict):
            raise failure(Failure.MALFORMED, self._label, "chunk in the model's stream")
        if "error" in data:
            raise in_stream_error(self._label, data["error"])
        text = ""
        done = False
        choices = data.get("choices") or []
        if choices and isinstance(choices[0], dict):
            choice = choices[0]
            delta = choice.get("delta") or {}
            content = delta.get("content") if isinstance(delta, dict) else None
            if isinstance(content, str):
                text = content
            pieces = delta.get("tool_calls") if isinstance(delta, dict) else None
            if pieces:
                _add_pieces(calls, pieces)
            done = choice.get("finish_reason") is not None
        usage = _usage(data.get("usage"))
        if not text and usage is None:
            return None, done
        return ModelChunk(text=text, usage=usage), done


def build_openai_compatible(
    session: aiohttp.ClientSession, *, model: str, base_url: str | None, api_key: str | None, timeout: float
) -> OpenAICompatibleModel:
    if not base_url:
        raise failure(Failure.NOT_CONFIGURED, "openai", "set model.base_url.")
    return OpenAICompatibleModel(session, model=model, base_url=base_url, api_key=api_key, timeout=timeout)


def _messages(messages: list[PromptMessage]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in messages:
        if isinstance(m.content, str):
            out.append({"role": m.role, "content": m.content})
        else:
            out.extend(render_parts(m))
    return out


def render_parts(message: PromptMessage) -> list[dict[str, Any]]:
    """One message with parts, as OpenAI's chat messages.

    Text and documents read as one text; with images, the content is
    ``[{"type": "text"}, {"type": "image_url"}, ...]``; an assistant's tool calls
    go in ``tool_calls``; each tool result is a message of its own with role ``tool``.
    Plain-text messages never come here (see ``_messages``).
    """
    content: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for run in text_runs(message.parts):
        if isinstance(run, str):
            content.append({"type": "text", "text": run})
        elif isinstance(run, ImagePart):
            content.append({"type": "image_url", "image_url": {"url": run.data_url(), "detail": run.detail}})
        elif isinstance(run, ToolCallPart):
            calls.append(
                {"id": run.id, "type": "function", "function": {"name": run.name, "arguments": run.arguments}}
            )
        elif isinstance(run, ToolResultPart):
            results.append({"role": "tool", "tool_call_id": run.call_id, "content": run.content})
    # Tool results answer the previous assistant message, so they come first.
    out = results
    if content or calls or not results:
        only_text = len(content) == 1 and content[0]["type"] == "text"
        rendered: dict[str, Any] = {
            "role": message.role,
            "content": content[0]["text"] if only_text else (content or None),
        }
        if calls:
            rendered["tool_calls"] = calls
        out.append(rendered)
    return out


def _tool(tool: ToolDefinition) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": tool.name, "description": tool.description, "parameters": tool.parameters},
    }


def _add_pieces(calls: ToolCallAssembler, pieces: Any) -> None:
    """One chunk's ``delta.tool_calls``: pieces of calls numbered by ``index`` (parallel calls
    interleave); a server that sends no index sends each call whole, in list order."""
    if not isinstance(pieces, list):
        return
    for position, piece in enumerate(pieces):
        if not isinstance(piece, dict):
            continue
        index = piece.get("index")
        function = piece.get("function")
        function = function if isinstance(function, dict) else {}
        arguments = function.get("arguments")
        calls.add(
            index if isinstance(index, int) else position,
            id=piece.get("id") if isinstance(piece.get("id"), str) else None,
            name=function.get("name") if isinstance(function.get("name"), str) else None,
            arguments=arguments if isinstance(arguments, str) else "",
        )


def _complete_calls(raw: Any) -> tuple[ToolCall, ...]:
    """A blocking answer's ``message.tool_calls``; arguments given as an object are re-encoded."""
    if not raw:
        return ()
    calls = ToolCallAssembler()
    for position, call in enumerate(raw):
        function = call.get("function") or {}
        arguments = function.get("arguments")
        if not isinstance(arguments, str):
            arguments = orjson.dumps(arguments).decode() if arguments is not None else ""
        calls.add(position, id=call.get("id"), name=function.get("name"), arguments=arguments)
    return calls.calls()


def _usage(raw: Any) -> TokenUsage | None:
    if not isinstance(raw, dict):
        return None
    try:
        return TokenUsage(int(raw.get("prompt_tokens") or 0), int(raw.get("completion_tokens") or 0))
    except (TypeError, ValueError):
        return None
