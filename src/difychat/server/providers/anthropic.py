"""Anthropic's Messages API (``POST {base_url}/v1/messages``), over aiohttp.

The wire format, in short: the system prompt is a top-level ``system`` string;
``messages`` alternate ``user`` and ``assistant`` with content blocks (``text``,
``image`` with a base64 or URL source, ``tool_use``, ``tool_result``);
``max_tokens`` is required. A stream is server-sent events: ``message_start``
(input tokens), ``content_block_start``/``_delta``/``_stop``, ``message_delta``
(output tokens, stop reason), ``message_stop``, with ``ping`` and ``error`` at
any point. Anthropic has no speech or embedding endpoints.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp
import orjson

from difychat.server.providers.base import ModelChunk, ModelRequest, ModelResult, TokenUsage, ToolCall
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
    Part,
    PromptMessage,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    text_runs,
)
from difychat.server.providers.tool_calls import ToolCallAssembler

LABEL = "anthropic"
DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
# completion_params Anthropic reads as they are; any other (OpenAI's presence_penalty, seed,
# ...) would be refused by the API, so it is left out.
PASSED_PARAMS = ("temperature", "top_p", "top_k", "metadata", "service_tier")


class AnthropicModel:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        model: str,
        base_url: str,
        api_key: str | None,
        timeout: float,
    ) -> None:
        self.name = model
        self._session = session
        base = base_url.rstrip("/")
        # The documented base URL has no /v1; one written with it (as for OpenAI) works too.
        self._url = base + ("/messages" if base.endswith("/v1") else "/v1/messages")
        self._headers = {
            "content-type": "application/json",
            "accept": "application/json",
            "anthropic-version": API_VERSION,
        }
        if api_key:
            self._headers["x-api-key"] = api_key
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=min(timeout, 10.0))

    def body(self, request: ModelRequest, stream: bool) -> dict[str, Any]:
        """The request body: exposed for tests of the rendering."""
        system, messages = render_messages(request.messages, tools=bool(request.tools))
        params = request.params
        body: dict[str, Any] = {
            "model": self.name,
            "max_tokens": int(params.get("max_tokens") or DEFAULT_MAX_TOKENS),
            "messages": messages,
        }
        if system:
            body["system"] = system
        if request.tools:
            body["tools"] = [
                {"name": tool.name, "description": tool.description, "input_schema": tool.parameters}
                for tool in request.tools
            ]
        for key in PASSED_PARAMS:
            if params.get(key) is not None:
                body[key] = params[key]
        stop = params.get("stop_sequences", params.get("stop"))
        if stop:
            body["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
        if stream:
            body["stream"] = True
        return body

    def _encoded(self, request: ModelRequest, stream: bool) -> bytes:
        # An exact-size copy of orjson's buffer: the body lives as long as the stream.
        return bytes(memoryview(orjson.dumps(self.body(request, stream))))

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelChunk]:
        data = self._encoded(request, stream=True)
        prompt_tokens = completion_tokens = 0
        calls = ToolCallAssembler()
        try:
            async with self._session.post(
                self._url, data=data, headers=self._headers, timeout=self._timeout
            ) as response:
                if response.status >= 400:
                    raise status_error(LABEL, response.status, await response.read())
                async for raw_line in StreamLines(response.content, LABEL):
                    # "event:" lines repeat the data's own "type"; blank lines end events.
                    if not raw_line.startswith(b"data:"):
                        continue
                    event = _event(raw_line[5:])
                    kind = event.get("type")
                    if kind == "content_block_delta":
                        delta = event.get("delta")
                        if isinstance(delta, dict) and delta.get("type") == "text_delta":
                            text = delta.get("text")
                            if text and isinstance(text, str):
                                yield ModelChunk(text=text)
                        elif isinstance(delta, dict) and delta.get("type") == "input_json_delta":
                            partial = delta.get("partial_json")
                            if isinstance(partial, str):
                                calls.add(_index(event), arguments=partial)
                    elif kind == "message_start":
                        message = event.get("message")
                        usage = message.get("usage") if isinstance(message, dict) else None
                        prompt_tokens = _input_tokens(usage, prompt_tokens)
                        completion_tokens = _tokens(usage, "output_tokens", completion_tokens)
                    elif kind == "content_block_start":
                        block = event.get("content_block")
                        if isinstance(block, dict) and block.get("type") == "text":
                            text = block.get("text")
                            if text and isinstance(text, str):
                                yield ModelChunk(text=text)
                        elif isinstance(block, dict) and block.get("type") == "tool_use":
                            _start_call(calls, _index(event), block)
                    elif kind == "message_delta":
                        usage = event.get("usage")
                        prompt_tokens = _input_tokens(usage, prompt_tokens)
                        completion_tokens = _tokens(usage, "output_tokens", completion_tokens)
                    elif kind == "message_stop":
                        if calls:
                            yield ModelChunk(tool_calls=_with_arguments(calls.calls()))
                        yield ModelChunk(usage=TokenUsage(prompt_tokens, completion_tokens))
                        return
                    elif kind == "error":
                        raise in_stream_error(LABEL, event.get("error"))
                    # ping, content_block_stop, and event types added later: nothing to do.
                raise failure(Failure.INCOMPLETE, LABEL)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise transport_error(LABEL, exc, self._url) from exc

    async def complete(self, request: ModelRequest) -> ModelResult:
        data = self._encoded(request, stream=False)
        try:
            async with self._session.post(
                self._url, data=data, headers=self._headers, timeout=self._timeout
            ) as response:
                raw = await response.read()
                if response.status >= 400:
                    raise status_error(LABEL, response.status, raw)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise transport_error(LABEL, exc, self._url) from exc
        try:
            answer = orjson.loads(raw)
            if answer.get("type") == "error":
                raise in_stream_error(LABEL, answer.get("error"))
            blocks = answer["content"]
            text = "".join(b["text"] for b in blocks if isinstance(b, dict) and b.get("type") == "text")
            calls = ToolCallAssembler()
            for index, block in enumerate(blocks):
                if isinstance(block, dict) and block.get("type") == "tool_use":
                    _start_call(calls, index, block)
            usage = answer.get("usage")
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise failure(Failure.MALFORMED, LABEL, "response from the model") from exc
        tokens = TokenUsage(_input_tokens(usage, 0), _tokens(usage, "output_tokens", 0))
        return ModelResult(text, tokens, _with_arguments(calls.calls()))


def build_anthropic(
    session: aiohttp.ClientSession, *, model: str, base_url: str | None, api_key: str | None, timeout: float
) -> AnthropicModel:
    # Anthropic's own endpoint needs a key; a gateway in front of it may add the key itself.
    if not api_key and not base_url:
        raise failure(Failure.NOT_CONFIGURED, LABEL, "set model.api_key.")
    return AnthropicModel(
        session, model=model, base_url=base_url or DEFAULT_BASE_URL, api_key=api_key, timeout=timeout
    )


# --- rendering ---------------------------------------------------------------------------------


def render_messages(
    messages: Sequence[PromptMessage], *, tools: bool = True
) -> tuple[str | None, list[dict[str, Any]]]:
    """The top-level ``system`` text and the ``messages`` list.

    System messages join into ``system``; tool results travel in a ``user``
    message, as Anthropic wants them. Consecutive messages of one role are left
    as they are: the API reads them as one turn. The API refuses ``tool_use`` and
    ``tool_result`` blocks in a request that defines no tools (an agent's last
    round offers none): without ``tools`` they are written as text.
    """
    system: list[str] = []
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            text = message.text()
            if text:
                system.append(text)
            continue
        role = "assistant" if message.role == "assistant" else "user"
        if isinstance(message.content, str):
            out.append({"role": role, "content": message.content})
        else:
            out.append({"role": role, "content": render_blocks(message.content, tools=tools)})
    return ("\n\n".join(system) or None), out


def render_blocks(parts: Sequence[Part], *, tools: bool = True) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    blocks: list[dict[str, Any]] = []
    if not tools:
        parts = [_as_text(part) for part in parts]
    for run in text_runs(parts):
        if isinstance(run, str):
            if run:  # the API refuses empty text blocks
                blocks.append({"type": "text", "text": run})
        elif isinstance(run, ImagePart):
            blocks.append({"type": "image", "source": _image_source(run)})
        elif isinstance(run, ToolCallPart):
            blocks.append(
                {"type": "tool_use", "id": run.id, "name": run.name, "input": _arguments(run.arguments)}
            )
        elif isinstance(run, ToolResultPart):
            result: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": run.call_id,
                "content": run.content,
            }
            if run.is_error:
                result["is_error"] = True
            results.append(result)
    # A user turn that answers tool calls starts with the results.
    return results + blocks


def _as_text(part: Part) -> Part:
    if isinstance(part, ToolCallPart):
        return TextPart(f"[called the tool {part.name} with {part.arguments or '{}'}]")
    if isinstance(part, ToolResultPart):
        return TextPart(f"[the tool answered: {part.content}]")
    return part


def _image_source(image: ImagePart) -> dict[str, Any]:
    if image.data is not None:
        return {"type": "base64", "media_type": image.mime_type, "data": image.base64()}
    url = str(image.url)
    if url.startswith("data:") and ";base64," in url:
        head, _, encoded = url.partition(";base64,")
        return {"type": "base64", "media_type": head[5:] or image.mime_type, "data": encoded}
    return {"type": "url", "url": url}


def _arguments(arguments: str) -> Any:
    try:
        value = orjson.loads(arguments) if arguments else {}
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


# --- reading -----------------------------------------------------------------------------------


def _index(event: dict[str, Any]) -> int:
    index = event.get("index")
    return index if isinstance(index, int) else 0


def _start_call(calls: ToolCallAssembler, index: int, block: dict[str, Any]) -> None:
    """A ``tool_use`` block: its id and name; its input streams as ``input_json_delta`` pieces,
    or comes whole in the block (a blocking answer)."""
    given = block.get("input")
    arguments = orjson.dumps(given).decode() if isinstance(given, dict) and given else ""
    block_id, name = block.get("id"), block.get("name")
    calls.add(
        index,
        id=block_id if isinstance(block_id, str) else None,
        name=name if isinstance(name, str) else None,
        arguments=arguments,
    )


def _with_arguments(calls: tuple[ToolCall, ...]) -> tuple[ToolCall, ...]:
    # A call without input streams no pieces at all: its arguments are the empty object.
    return tuple(call if call.arguments else ToolCall(call.id, call.name, "{}") for call in calls)


def _event(payload: bytes) -> dict[str, Any]:
    try:
        event = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise failure(Failure.MALFORMED, LABEL, "event in the model's stream") from exc
    if not isinstance(event, dict):
        raise failure(Failure.MALFORMED, LABEL, "event in the model's stream")
    return event


def _tokens(usage: Any, key: str, default: int) -> int:
    if not isinstance(usage, dict):
        return default
    value = usage.get(key)
    try:
        return int(value) if value is not None else default
    except (TypeError, ValueError):
        return default


def _input_tokens(usage: Any, default: int) -> int:
    """All prompt tokens: the uncached input plus what was written to and read from the cache."""
    if not isinstance(usage, dict) or usage.get("input_tokens") is None:
        return default
    return sum(
        _tokens(usage, key, 0)
        for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    )
