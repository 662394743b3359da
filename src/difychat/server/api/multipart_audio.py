"""A streaming reader of the ``/audio-to-text`` multipart body.

Only the first ``file`` part (kept up to the size limit) and the ``user``
field are held in memory; everything else is dropped as it arrives, so an
oversized upload costs bandwidth but never memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from difychat.server.errors import BadRequest

USER_MAX_BYTES = 1024
# Past this the upload is cut off instead of drained (the answer is the same 413).
DRAIN_MAX_BYTES = 256 * 1024 * 1024


@dataclass
class UploadedAudio:
    filename: str
    content_type: str
    data: bytearray = field(default_factory=bytearray)
    size: int = 0


@dataclass
class AudioForm:
    file: UploadedAudio | None = None
    user: str | None = None
    file_too_large: bool = False


@dataclass
class _Part:
    headers: dict[str, str] = field(default_factory=dict)
    header_name: str = ""
    header_value: str = ""
    target: str = ""  # "file", "user" or "" (dropped)
    user_bytes: bytearray = field(default_factory=bytearray)


async def read_audio_form(request: Request, file_limit: int) -> AudioForm:
    form = AudioForm()
    media, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if media != b"multipart/form-data" or not boundary:
        # Nothing to read: it has no ``file`` part.
        return form
    part = _Part()

    def on_part_begin() -> None:
        nonlocal part
        part = _Part()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        part.header_name += data[start:end].decode("latin-1")

    def on_header_value(data: bytes, start: int, end: int) -> None:
        part.header_value += data[start:end].decode("latin-1")

    def on_header_end() -> None:
        # No NULs in field names, file names or content types, as in every text a request carries.
        name, value = part.header_name.replace("\x00", ""), part.header_value.replace("\x00", "")
        part.headers[name.strip().lower()] = value.strip()
        part.header_name = part.header_value = ""

    def on_headers_finished() -> None:
        _, disposition = parse_options_header(part.headers.get("content-disposition", ""))
        name = disposition.get(b"name", b"").decode("utf-8", "replace")
        filename = disposition.get(b"filename")
        if name == "file" and filename is not None and form.file is None:
            media_type, _ = parse_options_header(part.headers.get("content-type", ""))
            form.file = UploadedAudio(
                filename.decode("utf-8", "replace"), media_type.decode("latin-1").lower()
            )
            part.target = "file"
        elif name == "user" and filename is None:
            part.target = "user"

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if part.target == "file" and form.file is not None:
            form.file.size += end - start
            if form.file.size > file_limit:
                form.file_too_large = True
                form.file.data = bytearray()
                part.target = ""
            else:
                form.file.data += data[start:end]
        elif part.target == "user" and len(part.user_bytes) <= USER_MAX_BYTES:
            part.user_bytes += data[start:end]

    def on_part_end() -> None:
        if part.target == "user":
            form.user = part.user_bytes[:USER_MAX_BYTES].decode("utf-8", "replace").replace("\x00", "")

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > DRAIN_MAX_BYTES and form.file_too_large:
                break
            parser.write(chunk)
        else:
            parser.finalize()
    except ValueError:  # python-multipart's parse errors
        raise BadRequest() from None
    return form
