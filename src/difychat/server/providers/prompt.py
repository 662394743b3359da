"""What a prompt is made of, independent of any provider's wire format.

A message has a role and either plain text (the cheap, common case: a system
prompt, a history turn, a query) or a sequence of typed parts. Services build
these; each provider adapter renders them into its own request body.

    PromptMessage("user", "hello")                                  plain text
    PromptMessage("user", (DocumentPart("a.pdf", "..."), TextPart("what is in it?"),
                           ImagePart(data=b"...", mime_type="image/png")))
    PromptMessage("assistant", (ToolCallPart("call_1", "lookup", '{"q": "x"}'),))
    PromptMessage("tool", (ToolResultPart("call_1", "42"),))
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image by URL, or by its bytes and MIME type."""

    url: str | None = None
    data: bytes | None = None
    mime_type: str = "image/png"
    detail: str = "auto"

    def __post_init__(self) -> None:
        if (self.url is None) == (self.data is None):
            raise ValueError("an ImagePart has either a url or data")

    def base64(self) -> str:
        assert self.data is not None
        return base64.b64encode(self.data).decode()

    def data_url(self) -> str:
        """The image as one URL: its own, or a ``data:`` URL of its bytes."""
        if self.url is not None:
            return self.url
        return f"data:{self.mime_type};base64,{self.base64()}"


@dataclass(frozen=True, slots=True)
class DocumentPart:
    """A named document's extracted text."""

    name: str
    text: str

    def as_text(self) -> str:
        return f'<file name="{self.name}">\n{self.text}\n</file>'


@dataclass(frozen=True, slots=True)
class ToolCallPart:
    """The model asking for a tool: ``arguments`` is the JSON text of the call's arguments."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ToolResultPart:
    """What a tool answered to the call ``call_id``."""

    call_id: str
    content: str
    is_error: bool = False


Part = TextPart | ImagePart | DocumentPart | ToolCallPart | ToolResultPart


@dataclass(frozen=True, slots=True)
class PromptMessage:
    role: Role
    content: str | Sequence[Part]

    @property
    def parts(self) -> Sequence[Part]:
        return (TextPart(self.content),) if isinstance(self.content, str) else self.content

    def text(self) -> str:
        """The message's text as a model reads it: text and documents, without images or tool traffic."""
        if isinstance(self.content, str):
            return self.content
        return joined_text(self.content)


# Adjacent text and documents read as one text, blank-line separated.
TEXT_SEPARATOR = "\n\n"


def joined_text(parts: Sequence[Part]) -> str:
    return TEXT_SEPARATOR.join(
        part.text if isinstance(part, TextPart) else part.as_text()
        for part in parts
        if isinstance(part, TextPart | DocumentPart)
    )


def text_runs(parts: Sequence[Part]) -> list[str | Part]:
    """The parts with each run of adjacent text and document parts merged into one string.

    Providers render a merged run as one text block, so a query with its
    documents reaches the model as one text whichever provider answers.
    """
    out: list[str | Part] = []
    run: list[str] = []
    for part in parts:
        if isinstance(part, TextPart):
            run.append(part.text)
        elif isinstance(part, DocumentPart):
            run.append(part.as_text())
        else:
            if run:
                out.append(TEXT_SEPARATOR.join(run))
                run = []
            out.append(part)
    if run:
        out.append(TEXT_SEPARATOR.join(run))
    return out
