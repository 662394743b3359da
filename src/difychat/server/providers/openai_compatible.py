"""Any OpenAI-compatible ``/chat/completions`` endpoint, over aiohttp.

aiohttp rather than httpx (and so rather than the openai SDK): under many
concurrent streams httpcore's pool scan dominates (encode/httpx#3215), while
aiohttp's connector stays flat; see benchmarks/.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from difychat.server.errors import ModelNotSupported, ProviderError, ProviderNotInitialized
from difychat.server.providers.base import ModelChunk, ModelRequest, ModelResult, PromptMessage, TokenUsage

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
                    raise self._status_error(response.status, await response.read())
                finished = False
                async for raw_line in response.content:
                    line = raw_line.strip()
                    if not line.startswith(b"data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == _DONE:
                        finished = True
                        break
                    chunk, done = self._parse_chunk(payload)
                    finished = finished or done
                    if chunk is not None:
                        yield chunk
                if not finished:
                    raise ProviderError(f"[{self._label}] Error: the model's stream ended before the answer was complete.")
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise self._transport_error(exc) from exc

    async def complete(self, request: ModelRequest) -> ModelResult:
        body = self._body(request, stream=False)
        try:
            async with self._session.post(
                self._url, data=body, headers=self._headers, timeout=self._timeout
            ) as response:
                raw = await response.read()
                if response.status >= 400:
                    raise self._status_error(response.status, raw)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise self._transport_error(exc) from exc
        try:
            data = orjson.loads(raw)
            message = data["choices"][0]["message"]
            text = message.get("content") or ""
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise ProviderError(f"[{self._label}] Error: malformed response from the model.") from exc
        return ModelResult(str(text), _usage(data.get("usage")))

    def _parse_chunk(self, payload: bytes) -> tuple[ModelChunk | None, bool]:
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise ProviderError(f"[{self._label}] Error: malformed chunk in the model's stream.") from exc
        if not isinstance(data, dict):
            raise ProviderError(f"[{self._label}] Error: malformed chunk in the model's stream.")
        if "error" in data:
            raise ProviderError(f"[{self._label}] Error: {_error_text(data['error'])}")
        text = ""
        done = False
        choices = data.get("choices") or []
        if choices and isinstance(choices[0], dict):
            choice = choices[0]
            delta = choice.get("delta") or {}
            content = delta.get("content") if isinstance(delta, dict) else None
            if isinstance(content, str):
                text = content
            done = choice.get("finish_reason") is not None
        usage = _usage(data.get("usage"))
        if not text and usage is None:
            return None, done
        return ModelChunk(text=text, usage=usage), done

    def _status_error(self, status: int, raw: bytes) -> ProviderError:
        detail = _error_detail(raw)
        if status == 401:
            return ProviderError("Incorrect API key provided")
        if status == 404 and "model" in detail.lower():
            return ModelNotSupported(f"[{self._label}] Error code: 404 - {detail}")
        if status == 429:
            return ProviderError(f"[{self._label}] Rate limit exceeded: {detail}")
        return ProviderError(f"[{self._label}] Error code: {status} - {detail}")

    def _transport_error(self, exc: BaseException) -> ProviderError:
        if isinstance(exc, asyncio.TimeoutError):
            return ProviderError(f"[{self._label}] Error: Request timed out.")
        if isinstance(exc, aiohttp.ClientConnectorError):
            return ProviderError(f"[{self._label}] Error: Connection error: cannot connect to {self._url}")
        if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError):
            return ProviderError(f"[{self._label}] Error: the model's stream was cut off.")
        return ProviderError(f"[{self._label}] Error: {type(exc).__name__}: {exc}")


def build_openai_compatible(
    session: aiohttp.ClientSession, *, model: str, base_url: str | None, api_key: str | None, timeout: float
) -> OpenAICompatibleModel:
    if not base_url:
        raise ProviderNotInitialized("Provider openai is not initialized: set model.base_url.")
    return OpenAICompatibleModel(session, model=model, base_url=base_url, api_key=api_key, timeout=timeout)


def _messages(messages: list[PromptMessage]) -> list[dict[str, Any]]:
    return [{"role": m.role, "content": m.content} for m in messages]


def _usage(raw: Any) -> TokenUsage | None:
    if not isinstance(raw, dict):
        return None
    try:
        return TokenUsage(int(raw.get("prompt_tokens") or 0), int(raw.get("completion_tokens") or 0))
    except (TypeError, ValueError):
        return None


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return str(error)


def _error_detail(raw: bytes) -> str:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", "replace")[:500]
    if isinstance(data, dict) and "error" in data:
        return _error_text(data["error"])
    return raw.decode("utf-8", "replace")[:500]
