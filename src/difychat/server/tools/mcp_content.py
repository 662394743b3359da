"""An MCP ``tools/call`` result as output parts (contract §12 and the difference table).

* text that looks like JSON (``{…}`` or ``[…]``, and parses): an object is a JSON part, a list of
  objects one JSON part per object; anything else, and every other text, is a text part;
* image and audio content: a file (its bytes and mime type);
* an embedded resource: its text, or its bytes as a file (``application/octet-stream`` when the
  server names no type), named after the last segment of its URI;
* a resource link: a link;
* ``structuredContent``: a JSON part for the caller's variables only (never shown to the model),
  and only when the tool declares an ``outputSchema``;
* ``isError: true``: the call failed; its text becomes the observation ``tool invoke error: …``.

What the server sent is bounded by ``max_bytes``: text past it is cut (the model is told), a file
that does not fit is left out (the model is told that too).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any
from urllib.parse import unquote, urlsplit

from mcp import types

from difychat.server.tools.base import BlobOutput, JsonOutput, LinkOutput, TextOutput, ToolError, ToolOutput


class McpToolFailed(ToolError):
    """The tool ran and reported an error (``isError: true``)."""


class _Budget:
    def __init__(self, max_bytes: int) -> None:
        self.left = max_bytes
        self.limit = max_bytes

    def text(self, text: str) -> str:
        size = len(text.encode("utf-8"))
        if size <= self.left:
            self.left -= size
            return text
        kept = text.encode("utf-8")[: max(self.left, 0)].decode("utf-8", errors="ignore")
        self.left = 0
        return f"{kept}\n[output truncated: the tool's result is larger than {self.limit} bytes]"

    def fits(self, size: int) -> bool:
        if size > self.left:
            return False
        self.left -= size
        return True


def result_outputs(result: types.CallToolResult, *, structured: bool, max_bytes: int) -> list[ToolOutput]:
    if result.is_error:
        texts = [block.text for block in result.content if isinstance(block, types.TextContent)]
        raise McpToolFailed("\n".join(texts).strip() or "the tool reported an error without a message")
    budget = _Budget(max_bytes)
    outputs: list[ToolOutput] = []
    for block in result.content:
        outputs.extend(_block_outputs(block, budget))
    if structured and result.structured_content is not None:
        outputs.append(JsonOutput(result.structured_content, for_model=False))
    return outputs


def _block_outputs(block: types.ContentBlock, budget: _Budget) -> list[ToolOutput]:
    if isinstance(block, types.TextContent):
        return text_outputs(block.text, budget)
    if isinstance(block, types.ImageContent | types.AudioContent):
        return _blob(block.data, block.mime_type, None, budget)
    if isinstance(block, types.EmbeddedResource):
        resource = block.resource
        if isinstance(resource, types.TextResourceContents):
            return [TextOutput(budget.text(resource.text))]
        name = _name_of(str(resource.uri))
        return _blob(resource.blob, resource.mime_type or "application/octet-stream", name, budget)
    if isinstance(block, types.ResourceLink):
        return [LinkOutput(str(block.uri), block.mime_type)]
    return []


def text_outputs(text: str, budget: _Budget | None = None) -> list[ToolOutput]:
    """A text part, or the JSON part(s) it holds."""
    parsed = _json_of(text)
    if isinstance(parsed, dict):
        return (
            [JsonOutput(parsed)] if budget is None or budget.fits(len(text.encode())) else _cut(text, budget)
        )
    if isinstance(parsed, list) and parsed and all(isinstance(item, dict) for item in parsed):
        if budget is None or budget.fits(len(text.encode())):
            return [JsonOutput(item) for item in parsed]
        return _cut(text, budget)
    return [TextOutput(budget.text(text) if budget is not None else text)]


def _cut(text: str, budget: _Budget) -> list[ToolOutput]:
    return [TextOutput(budget.text(text))]


def _json_of(text: str) -> Any:
    stripped = text.strip()
    if not (
        (stripped.startswith("{") and stripped.endswith("}"))
        or (stripped.startswith("[") and stripped.endswith("]"))
    ):
        return None
    try:
        return json.loads(stripped)
    except ValueError:
        return None


def _blob(data: str, mime_type: str, name: str | None, budget: _Budget) -> list[ToolOutput]:
    try:
        raw = base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError):
        return [TextOutput(f"[a {mime_type} file could not be read: its data is not base64]")]
    if not budget.fits(len(raw)):
        return [TextOutput(f"[a {mime_type} file of {len(raw)} bytes was left out: larger than the limit]")]
    return [BlobOutput(raw, mime_type or "application/octet-stream", name)]


def _name_of(uri: str) -> str | None:
    path = urlsplit(uri).path
    name = unquote(path.rsplit("/", 1)[-1]) if path else ""
    return name or None
