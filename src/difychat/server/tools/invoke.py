"""One tool call, start to end: the model's arguments in, the observation text and files out.

Nothing a tool does fails the run (contract §8): a call the model got wrong, a tool that
raises, hangs past the context's time limit or answers more than its size limit, all end
as observation text the model reads, with the error kept for the tool meta. Only
cancellation (a stop) goes through.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from difychat.server.tools import http, parameters
from difychat.server.tools.base import (
    BlobOutput,
    JsonOutput,
    LinkOutput,
    TextOutput,
    ToolContext,
    ToolError,
    ToolOutput,
    ToolParameterError,
)
from difychat.server.tools.registry import BoundTool

IMAGE_SENT = (
    "image has been created and sent to user already, you do not need to create it, "
    "just tell the user to check it now."
)
FILE_SENT = (
    "file has been created and sent to user already, you do not need to create it, "
    "just tell the user to check it now."
)


@dataclass(frozen=True, slots=True)
class ProducedFile:
    data: bytes
    mime_type: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ToolRun:
    observation: str
    files: tuple[ProducedFile, ...] = ()
    error: str | None = None
    time_cost: float = 0.0
    # The arguments as the model gave them: the parsed object, or the raw text it wrote.
    arguments: Any = field(default_factory=dict)


def parse_arguments(raw: str) -> dict[str, Any]:
    """The model's JSON arguments; anything but a JSON object is a parameter error."""
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ToolParameterError(str(exc)) from None
    if not isinstance(value, dict):
        raise ToolParameterError("the arguments must be a JSON object")
    return value


def no_such_tool(name: str, raw_arguments: str) -> ToolRun:
    text = f"there is not a tool named {name}"
    return ToolRun(text, error=text, arguments=_shown(raw_arguments))


async def run_tool(bound: BoundTool, raw_arguments: str, context: ToolContext) -> ToolRun:
    started = time.perf_counter()
    shown = _shown(raw_arguments)
    try:
        model_args = parse_arguments(raw_arguments)
        arguments = parameters.arguments(bound.spec, bound.form, model_args)
        async with asyncio.timeout(context.timeout):
            outputs = await bound.tool.invoke(arguments, context)
        observation, files = await _render(outputs, context)
    except ToolError as exc:
        text = exc.observation()
        return ToolRun(text, error=text, time_cost=time.perf_counter() - started, arguments=shown)
    except TimeoutError:
        text = f"tool invoke error: the tool did not answer within {context.timeout:g} seconds"
        return ToolRun(text, error=text, time_cost=time.perf_counter() - started, arguments=shown)
    except Exception as exc:  # the tool raised: the model reads what went wrong
        text = f"tool invoke error: {exc or type(exc).__name__}"
        return ToolRun(text, error=text, time_cost=time.perf_counter() - started, arguments=shown)
    return ToolRun(observation, tuple(files), None, time.perf_counter() - started, shown)


def _shown(raw: str) -> Any:
    """The arguments for ``tool_input``: the object when they parse, else the text as written."""
    try:
        return parse_arguments(raw)
    except ToolParameterError:
        return raw


async def _render(outputs: Sequence[ToolOutput], context: ToolContext) -> tuple[str, list[ProducedFile]]:
    """The observation text (contract §7) and the files, within the context's size limit."""
    parts: list[str] = []
    json_parts: list[str] = []
    files: list[ProducedFile] = []
    budget = context.max_output_bytes
    for output in outputs:
        if isinstance(output, TextOutput):
            parts.append(output.text)
        elif isinstance(output, JsonOutput):
            if output.for_model:
                json_parts.append(json.dumps(output.value, ensure_ascii=False, default=str))
        elif isinstance(output, BlobOutput):
            image = output.mime_type.startswith("image/")
            if len(output.data) > budget:
                parts.append(f"[a file of {len(output.data)} bytes was left out: over the output limit]")
                continue
            budget -= len(output.data)
            files.append(ProducedFile(output.data, output.mime_type, output.name))
            parts.append(IMAGE_SENT if image else FILE_SENT)
        elif isinstance(output, LinkOutput):
            image = bool(output.mime_type and output.mime_type.startswith("image/"))
            parts.append(IMAGE_SENT if image else f"result link: {output.url}. please tell user to check it.")
            if output.mime_type:
                fetched = await _fetch(output, context, budget)
                if isinstance(fetched, str):
                    parts.append(fetched)
                else:
                    budget -= len(fetched.data)
                    files.append(fetched)
        else:
            parts.append(str(output))
    seen = set(parts)
    parts.extend(p for p in json_parts if p not in seen)
    return http.clip("".join(parts), context.max_output_bytes), files


async def _fetch(link: LinkOutput, context: ToolContext, budget: int) -> ProducedFile | str:
    """The linked file, or the text saying why it could not be fetched."""
    kind = "image" if link.mime_type and link.mime_type.startswith("image/") else "file"
    try:
        response = await http.request(context, "GET", link.url, max_bytes=max(budget, 0))
    except ToolError as exc:
        return f"Failed to download {kind}: {link.url}: {exc}"
    if response.status >= 400:
        return f"Failed to download {kind}: {link.url}: status {response.status}"
    name = link.url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] or None
    return ProducedFile(
        response.body, response.mime_type or link.mime_type or "application/octet-stream", name
    )
