"""What each API call sends and how its answer is read (no I/O here).

Every public method of ``DifyChat`` and ``AsyncDifyChat`` is one builder below plus one line
of I/O, so the wire details of an endpoint live in exactly one place.
"""

from __future__ import annotations

import json
import mimetypes
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Generic, Literal, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from difychat._errors import NotFoundError, ResponseDecodeError
from difychat.types.chat import ChatFile
from difychat.types.files import UploadedFile

__all__ = ["Call", "FileInput", "NO_BODY"]

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

FileInput = str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes]
"""A file to send: a filesystem path, the bytes themselves, or a binary file object."""

# Speech-to-text accepts exactly ``audio/<ext>`` for these extensions (Dify rejects the
# "audio/mpeg" that mimetypes would guess for .mp3).
AUDIO_EXTENSIONS = frozenset({"mp3", "m4a", "wav", "amr", "mpga"})


class _NoBody:
    def __repr__(self) -> str:
        return "NO_BODY"


NO_BODY: Any = _NoBody()


@dataclass(slots=True)
class Call(Generic[T]):
    """One request to make and the function that reads its response."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: dict[str, Any] | None = None
    json: Any = NO_BODY
    data: dict[str, str] | None = None
    files: dict[str, tuple[str, Any, str]] | None = None
    # Safe to send again after a connection error, a 429 or a 5xx.
    idempotent: bool = False
    stream: bool = False
    accept: str = "application/json"
    api_key: str | None = None
    # Files opened on the caller's behalf, closed once the request is done.
    cleanup: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        while self.cleanup:
            self.cleanup.pop()()


def path(template: str, *parts: str) -> str:
    """Fill ``{}`` slots of a path with URL-quoted ids."""
    return template.format(*(quote(str(part), safe="") for part in parts))


def drop_none(mapping: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in mapping.items() if value is not None}


# --- response readers -------------------------------------------------------------------------


def read_json(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except ValueError as exc:
        snippet = response.text[:200]
        raise ResponseDecodeError(
            f"Expected JSON from {response.request.method} {response.request.url.path}, got {snippet!r}",
            response=response,
        ) from exc


def model(cls: type[M]) -> Callable[[httpx.Response], M]:
    def parse(response: httpx.Response) -> M:
        body = read_json(response)
        try:
            return cls.model_validate(body)
        except ValidationError as exc:
            raise ResponseDecodeError(f"Unexpected {cls.__name__} body: {exc}", response=response) from exc

    return parse


def nothing(response: httpx.Response) -> None:
    """For calls whose success body carries no information (``{"result": "success"}``, 204)."""
    return None


def string_list(response: httpx.Response) -> list[str]:
    body = read_json(response)
    data = body.get("data") if isinstance(body, dict) else body
    if not isinstance(data, list):
        raise ResponseDecodeError(f"Expected a list of strings, got {body!r}", response=response)
    return [item for item in data if isinstance(item, str)]


def text_field(response: httpx.Response) -> str:
    body = read_json(response)
    if not isinstance(body, dict) or not isinstance(body.get("text"), str):
        raise ResponseDecodeError(f"Expected {{'text': ...}}, got {body!r}", response=response)
    text: str = body["text"]
    return text


def is_json(response: httpx.Response) -> bool:
    content_type: str = response.headers.get("content-type", "")
    return content_type.split(";")[0].strip().lower() == "application/json"


def json_instead_of_audio(response: httpx.Response) -> Exception:
    """Dify answers 200 ``null`` for an unknown ``message_id``; report it as the 404 it means."""
    try:
        body = json.loads(response.content) if response.content else None
    except ValueError:
        body = response.text
    return NotFoundError(
        "Message Not Exists." if body is None else f"Expected audio, got JSON: {str(body)[:200]}",
        status_code=response.status_code,
        code="not_found" if body is None else None,
        body=body,
        response=response,
    )


def audio_bytes(response: httpx.Response) -> bytes:
    if is_json(response):
        raise json_instead_of_audio(response)
    return response.content


# --- request pieces ---------------------------------------------------------------------------


def chat_files(files: Sequence[Any] | None) -> list[dict[str, Any]] | None:
    """Normalise the ``files`` argument of a chat message into wire objects."""
    if not files:
        return None
    result: list[dict[str, Any]] = []
    for item in files:
        if isinstance(item, ChatFile):
            result.append(item.to_wire())
        elif isinstance(item, UploadedFile):
            # Attach an upload as a local file of the type its extension suggests.
            result.append(ChatFile.local(item.id, type=file_type_for(item.extension or "")).to_wire())
        elif isinstance(item, Mapping):
            result.append(dict(item))
        else:
            raise TypeError(f"files items must be ChatFile, UploadedFile or dict, not {type(item).__name__}")
    return result


_TYPE_BY_EXTENSION = {
    **dict.fromkeys(("jpg", "jpeg", "png", "webp", "gif", "svg"), "image"),
    **dict.fromkeys(("mp4", "mov", "mpeg", "webm"), "video"),
    **dict.fromkeys(("mp3", "m4a", "wav", "amr", "mpga"), "audio"),
    **dict.fromkeys(
        (
            "txt",
            "markdown",
            "md",
            "mdx",
            "pdf",
            "html",
            "htm",
            "xlsx",
            "xls",
            "docx",
            "csv",
            "vtt",
            "properties",
        ),
        "document",
    ),
}


def file_type_for(extension: str) -> Literal["image", "document", "audio", "video", "custom"]:
    kind = _TYPE_BY_EXTENSION.get(extension.lower().lstrip("."), "custom")
    return kind  # type: ignore[return-value]


def file_part(
    call: Call[Any],
    file: FileInput,
    *,
    filename: str | None,
    mime_type: str | None,
    audio: bool = False,
) -> tuple[str, Any, str]:
    """The ``(filename, content, mime type)`` triple for a multipart ``file`` field.

    A path is opened here and registered for closing on ``call``; bytes and file objects are
    sent as they are.
    """
    content: Any
    if isinstance(file, str | os.PathLike):
        file_path = Path(os.fspath(file))
        handle = file_path.open("rb")
        call.cleanup.append(handle.close)
        content = handle
        name = filename or file_path.name
    elif isinstance(file, bytes | bytearray | memoryview):
        content = bytes(file)
        name = filename or ("audio.mp3" if audio else "file")
    elif hasattr(file, "read"):
        content = file
        raw_name = getattr(file, "name", None)
        name = filename or (os.path.basename(raw_name) if isinstance(raw_name, str) and raw_name else "file")
    else:
        raise TypeError(f"file must be a path, bytes or a binary file object, not {type(file).__name__}")
    return name, content, mime_type or guess_mime_type(name, audio=audio)


def guess_mime_type(filename: str, *, audio: bool = False) -> str:
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if audio and extension in AUDIO_EXTENSIONS:
        return f"audio/{extension}"
    guessed, _ = mimetypes.guess_type(filename)
    return guessed or "application/octet-stream"
