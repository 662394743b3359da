"""OpenAPI tools (Dify's ``api`` provider type): each operation of a document is a tool.

The document comes from the apps file (``openapi_tools[]``: inline text, a path relative to the
apps file, or a URL fetched through the outbound guard when first listed). Every request goes
through the tool context's guarded client, so a private or loopback API is reached only when
the operator allow-lists its host (``DIFYCHAT_REMOTE_FETCH_ALLOW``). The model fills the
parameters; the server URL, the credentials and the extra headers are the app's. A path value
is one encoded segment (``../admin`` cannot climb). Answers are bounded in time (the provider's
``timeout``) and size; error statuses and HTML pages become observations, JSON a JSON part,
text a text part, anything else a file.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
from yarl import URL

from difychat.server.domain.agent import OpenAPIToolProvider
from difychat.server.domain.apps import AppConfig
from difychat.server.net import GuardedClient
from difychat.server.tools import http
from difychat.server.tools.base import (
    BlobOutput,
    JsonOutput,
    TextOutput,
    ToolConfigError,
    ToolContext,
    ToolError,
    ToolOutput,
    ToolParameterError,
    ToolSpec,
    plain_labels,
)
from difychat.server.tools.openapi_document import Document, Operation, parse_text, read
from difychat.server.tools.parameters import as_text

_TEXT_TYPES = ("application/xml", "application/yaml", "application/x-yaml", "application/javascript")


class OpenAPITool:
    """One operation, invoked through the context's guarded client."""

    def __init__(self, provider: OpenAPIProvider, operation: Operation) -> None:
        self.provider = provider
        self.operation = operation
        self.spec = ToolSpec(
            provider_type="api",
            provider_id=provider.provider_id,
            name=operation.name,
            description=operation.description or f"{operation.method} {operation.path}",
            parameters=operation.parameters,
            labels=plain_labels(operation.name),
        )

    async def invoke(self, arguments: Mapping[str, Any], context: ToolContext) -> Sequence[ToolOutput]:
        server = self.provider.server_url
        if server is None:
            raise ToolError("the OpenAPI document gives no server URL")
        url, options = self._request(server, arguments)
        timed = dataclasses.replace(context, timeout=self.provider.timeout)
        response = await http.request(
            timed, self.operation.method, url, max_bytes=context.max_fetch_bytes, **options
        )
        return _outputs(response, context.max_output_bytes)

    def _request(self, server: URL, arguments: Mapping[str, Any]) -> tuple[URL, dict[str, Any]]:
        """The URL and the request's options (headers, body) for these arguments."""
        path = self.operation.path
        query: list[tuple[str, str]] = []
        headers: dict[str, str] = {}
        cookies: dict[str, str] = {}
        body: dict[str, Any] = {}
        for argument in self.operation.arguments:
            value = arguments.get(argument.name)
            if value is None or (isinstance(value, str) and value == "" and argument.location == "path"):
                if argument.required:
                    raise ToolParameterError(f"Missing required parameter {argument.name}")
                continue
            if argument.location == "path":
                path = path.replace("{" + argument.wire_name + "}", _segment(argument.name, value))
            elif argument.location == "query":
                query.extend((argument.wire_name, item) for item in _texts(value))
            elif argument.location == "header":
                headers[argument.wire_name] = _header(argument.name, value)
            elif argument.location == "cookie":
                cookies[argument.wire_name] = as_text(value)
            else:
                body[argument.wire_name] = value
        headers.update(self.provider.headers)
        if cookies:
            headers["Cookie"] = "; ".join(f"{k}={quote(v, safe='')}" for k, v in cookies.items())
        url = server.with_path(server.path.rstrip("/") + path, encoded=True)
        query.extend(self.provider.query)
        options: dict[str, Any] = {"headers": headers}
        if self.operation.body_type is not None and body:
            payload = body["body"] if self.operation.body_is_value else body
            if self.operation.body_type == "application/x-www-form-urlencoded":
                options["data"] = {k: as_text(v) for k, v in payload.items()}
            else:
                options["data"] = orjson.dumps(payload)
                headers["Content-Type"] = self.operation.body_type
        return (url.with_query(query) if query else url), options


def _texts(value: Any) -> list[str]:
    return [as_text(v) for v in value] if isinstance(value, list) else [as_text(value)]


def _header(name: str, value: Any) -> str:
    text = as_text(value)
    if any(c in text for c in "\r\n\x00"):
        raise ToolParameterError(f"{name} cannot hold line breaks")
    return text


def _segment(name: str, value: Any) -> str:
    text = as_text(value)
    if text in (".", ".."):
        raise ToolParameterError(f"{name} cannot be {text!r}")
    return quote(text, safe="")


def _outputs(response: http.Response, max_output_bytes: int) -> list[ToolOutput]:
    text_like = response.mime_type.startswith("text/") or response.mime_type in _TEXT_TYPES
    if response.status >= 400:
        detail = http.clip(response.text().strip(), 2000, "...") if text_like or _is_json(response) else ""
        raise ToolError(f"the API answered HTTP {response.status}" + (f": {detail}" if detail else ""))
    if response.mime_type in ("text/html", "application/xhtml+xml"):
        raise ToolError(f"the API answered with an HTML page (HTTP {response.status}), not data")
    if not response.body:
        return [TextOutput(f"the API answered HTTP {response.status} with no content")]
    if _is_json(response):
        if len(response.body) <= max_output_bytes:
            try:
                value = orjson.loads(response.body)
            except orjson.JSONDecodeError:
                return [TextOutput(http.clip(response.text(), max_output_bytes))]
            return [JsonOutput(value)] if isinstance(value, dict | list) else [TextOutput(as_text(value))]
        return [TextOutput(http.clip(response.text(), max_output_bytes))]
    if text_like or not response.mime_type:
        return [TextOutput(http.clip(response.text(), max_output_bytes))]
    return [BlobOutput(response.body, response.mime_type, URL(response.url).name or None)]


def _is_json(response: http.Response) -> bool:
    return response.mime_type == "application/json" or response.mime_type.endswith("+json")


class OpenAPIProvider:
    """The tools of one ``openapi_tools`` entry (a ``ToolProvider``)."""

    provider_type = "api"

    def __init__(
        self,
        config: OpenAPIToolProvider,
        document: Document | None,
        *,
        fetch: Callable[[], Any] | None = None,
    ) -> None:
        self.provider_id = config.name
        self.timeout = config.timeout
        self.headers, self.query = _credentials(config)
        self._document = document
        self._fetch = fetch
        self._lock = asyncio.Lock()

    @property
    def server_url(self) -> URL | None:
        return self._document.server_url if self._document is not None else None

    async def tools(self) -> Sequence[OpenAPITool]:
        if self._document is None:
            async with self._lock:
                if self._document is None and self._fetch is not None:
                    self._document = await self._fetch()
        if self._document is None:
            return []
        return [OpenAPITool(self, op) for op in self._document.operations]

    async def close(self) -> None:
        pass


def _credentials(config: OpenAPIToolProvider) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """The headers and query parameters every request of the provider carries."""
    headers = {name: value.get_secret_value() for name, value in config.headers.items()}
    auth = config.credentials
    if auth.auth_type == "none":
        return headers, []
    key = auth.api_key_value.get_secret_value() if auth.api_key_value is not None else ""
    if not key:
        raise ToolConfigError(
            f"openapi_tools {config.name}: credentials.api_key_value is required for {auth.auth_type}"
        )
    if auth.auth_type == "api_key_query":
        return headers, [(auth.api_key_query_param, key)]
    if auth.api_key_header_prefix == "bearer":
        key = f"Bearer {key}"
    elif auth.api_key_header_prefix == "basic":
        key = f"Basic {key if ':' not in key else base64.b64encode(key.encode()).decode()}"
    headers[auth.api_key_header] = key
    return headers, []


def _served(document: Document) -> Document:
    if document.server_url is None:
        raise ToolConfigError("the OpenAPI document gives no absolute server URL (servers[0].url)")
    return document


def load_provider(
    config: OpenAPIToolProvider, *, base_dir: Path | None = None, http_client: GuardedClient | None = None
) -> OpenAPIProvider:
    """The provider of one ``openapi_tools`` entry; a document that cannot be used is a ToolConfigError.

    Inline documents and files are read and checked here (``openapi_path`` relative to
    ``base_dir``, the apps file's folder); a document at ``openapi_url`` is fetched through
    ``http_client`` when the tools are first listed.
    """
    given = [k for k in ("openapi", "openapi_path", "openapi_url") if getattr(config, k)]
    if len(given) != 1:
        raise ToolConfigError(
            "give the OpenAPI document as exactly one of openapi, openapi_path or openapi_url"
        )
    if config.openapi is not None:
        return OpenAPIProvider(config, _served(read(parse_text(config.openapi))))
    if config.openapi_path is not None:
        path = Path(config.openapi_path).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        try:
            text = path.read_bytes()
        except OSError as exc:
            raise ToolConfigError(f"cannot read the OpenAPI document {path}: {exc.strerror}") from None
        return OpenAPIProvider(config, _served(read(parse_text(text))))
    if http_client is None:
        raise ToolConfigError("an OpenAPI document at a URL needs an HTTP client")
    url = config.openapi_url or ""

    async def fetch() -> Document:
        context = ToolContext(http=http_client, timeout=config.timeout)
        response = await http.request(context, "GET", url, max_bytes=4 * 1024 * 1024)
        if response.status != 200:
            raise ToolConfigError(f"fetching the OpenAPI document answered HTTP {response.status}")
        return _served(read(parse_text(response.body), base=URL(response.url)))

    return OpenAPIProvider(config, None, fetch=fetch)


def openapi_providers(
    config: AppConfig, *, base_dir: Path | None = None, http_client: GuardedClient | None = None
) -> list[OpenAPIProvider]:
    """The app's OpenAPI providers; a problem names the entry (``openapi_tools[0] (petstore): ...``)."""
    providers = []
    for index, entry in enumerate(config.openapi_tools):
        try:
            providers.append(load_provider(entry, base_dir=base_dir, http_client=http_client))
        except ToolConfigError as exc:
            raise ToolConfigError(f"openapi_tools[{index}] ({entry.name}): {exc}") from None
    return providers
