"""Uploads, previews, and files attached to chat messages."""

from __future__ import annotations

import contextlib
import hashlib
import mimetypes
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.documents.extract import DOCUMENT_EXTENSIONS, ExtractionError, extract_text
from difychat.server.domain.apps import App
from difychat.server.domain.records import UploadFile
from difychat.server.domain.values import parse_uuid
from difychat.server.errors import (
    SIGNED_FILE_NOT_FOUND,
    UPLOAD_RECORD_NOT_FOUND,
    FileAccessDenied,
    FilenameNotExists,
    FileNotFound,
    FileTooLarge,
    InvalidParam,
    NotFound,
    UnsupportedFileType,
)
from difychat.server.files.remote import RemoteFetcher, RemoteFetchError
from difychat.server.files.signing import UrlSigner
from difychat.server.files.storage import FileStorage, StorageError, read_all
from difychat.server.net import MalformedURL, parse_url
from difychat.server.providers.prompt import DocumentPart, ImagePart, Part, PromptMessage, TextPart
from difychat.server.services.prompts import PromptDraft
from difychat.server.store import files as file_store
from difychat.server.store.common import Record, new_id, utcnow

IMAGE_EXTENSIONS = frozenset({"jpg", "jpeg", "png", "webp", "gif", "svg"})
VIDEO_EXTENSIONS = frozenset({"mp4", "mov", "mpeg", "webm"})
AUDIO_EXTENSIONS = frozenset({"mp3", "m4a", "wav", "amr", "mpga"})
FILE_TYPES = ("image", "document", "audio", "video", "custom")
TRANSFER_METHODS = ("remote_url", "local_file")
_INVALID_NAME_CHARS = frozenset('/\\:*?"<>|')
_STREAMABLE = frozenset(
    {
        "audio/mpeg",
        "audio/wav",
        "audio/mp4",
        "audio/ogg",
        "audio/flac",
        "audio/aac",
        "audio/x-m4a",
        "video/mp4",
        "video/webm",
        "video/quicktime",
    }
)
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
MB = 1024 * 1024


class ImageUploadConfig(Protocol):
    @property
    def enabled(self) -> bool: ...
    @property
    def number_limits(self) -> int: ...
    @property
    def detail(self) -> str: ...
    @property
    def transfer_methods(self) -> Sequence[str]: ...


class FileUploadConfig(Protocol):
    """The app's ``file_upload`` feature, as far as attachments need it."""

    @property
    def image(self) -> ImageUploadConfig: ...
    @property
    def enabled(self) -> bool: ...
    @property
    def is_enabled(self) -> bool: ...
    @property
    def allowed_file_types(self) -> Sequence[str]: ...
    @property
    def allowed_file_extensions(self) -> Sequence[str]: ...
    @property
    def allowed_file_upload_methods(self) -> Sequence[str]: ...
    @property
    def number_limits(self) -> int: ...


@dataclass(frozen=True, slots=True)
class UploadLimits:
    image: int = 10 * MB
    video: int = 100 * MB
    audio: int = 50 * MB
    other: int = 15 * MB
    blacklist: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class AttachmentLimits:
    # Text taken from one document, and bytes read of a document for it.
    document_chars: int = 100_000
    image_bytes: int = 10 * MB
    document_bytes: int = 15 * MB


def file_type(extension: str, mime_type: str = "") -> str:
    ext = extension.lower()
    if ext in IMAGE_EXTENSIONS:
        return "image"
    if ext in VIDEO_EXTENSIONS:
        return "video"
    if ext in AUDIO_EXTENSIONS:
        return "audio"
    if ext in DOCUMENT_EXTENSIONS:
        return "document"
    major = mime_type.split("/", 1)[0]
    if major in ("image", "video", "audio"):
        return major
    return "custom"


def extension_of(name: str) -> str:
    return name.rsplit(".", 1)[1].lower() if "." in name else ""


@dataclass(frozen=True, slots=True)
class UploadName:
    name: str
    extension: str
    mime_type: str


@dataclass(frozen=True, slots=True)
class FileBody:
    """A file to send: its bytes, headers and name."""

    chunks: AsyncIterator[bytes]
    name: str
    mime_type: str
    size: int


@dataclass(slots=True)
class Attachment:
    type: str
    transfer_method: str
    filename: str
    extension: str
    mime_type: str
    size: int
    url: str | None = None
    upload: Record | None = None


@dataclass(slots=True)
class PreparedFiles:
    """Validated chat attachments: the rows to write and what the model sees."""

    attachments: list[Attachment] = field(default_factory=list)
    images: list[ImagePart] = field(default_factory=list)
    documents: list[DocumentPart] = field(default_factory=list)

    def user_content(self, query: str) -> tuple[Part, ...]:
        """The documents, then the query, then the images."""
        return (*self.documents, TextPart(query), *self.images)

    def enrich(self, draft: PromptDraft) -> None:
        """Documents go before the query, images after it (see ``user_content``)."""
        draft.before_query.extend(self.documents)
        draft.after_query.extend(self.images)

    def attach_to(self, messages: list[PromptMessage]) -> list[PromptMessage]:
        """The prompt with the files added to its last (user) message."""
        if not (self.documents or self.images) or not messages or messages[-1].role != "user":
            return messages
        last = messages[-1]
        query = last.content if isinstance(last.content, str) else last.text()
        return [*messages[:-1], PromptMessage("user", self.user_content(query))]

    def rows(self, message_id: str, app_id: str) -> list[dict[str, Any]]:
        now = utcnow()
        return [
            {
                "id": new_id(),
                "message_id": message_id,
                "app_id": app_id,
                "type": a.type,
                "transfer_method": a.transfer_method,
                "url": a.url if a.upload is None else None,
                "upload_file_id": str(a.upload.id) if a.upload is not None else None,
                "filename": a.filename,
                "mime_type": a.mime_type,
                "size": a.size,
                "belongs_to": "user",
                "position": i,
                "created_at": now,
            }
            for i, a in enumerate(self.attachments)
        ]


class FileService:
    def __init__(
        self,
        engine: AsyncEngine,
        storage: FileStorage,
        signer: UrlSigner,
        fetcher: RemoteFetcher,
        *,
        limits: UploadLimits | None = None,
        attachment_limits: AttachmentLimits | None = None,
    ) -> None:
        self._engine = engine
        self._storage = storage
        self.signer = signer
        self._fetcher = fetcher
        self.limits = limits or UploadLimits()
        self._attach = attachment_limits or AttachmentLimits()

    # -- uploads ---------------------------------------------------------------------------------

    def check_name(self, filename: str | None, mime_type: str | None) -> UploadName:
        """The contract's checks on an upload's part headers, in order."""
        if not mime_type:
            raise UnsupportedFileType()
        if not filename:
            raise FilenameNotExists()
        if any(c in _INVALID_NAME_CHARS for c in filename):
            raise InvalidParam("Filename contains invalid characters")
        extension = extension_of(filename)
        if len(filename) > 200:
            base = filename.rsplit(".", 1)[0] if "." in filename else filename
            filename = base[:200] + ("." + extension if extension else "")
        if extension in self.limits.blacklist:
            raise InvalidParam(f"File extension '.{extension}' is not allowed for security reasons")
        return UploadName(filename, extension, mime_type)

    def size_limit(self, extension: str) -> tuple[int, str]:
        kind = file_type(extension)
        if kind == "image":
            return self.limits.image, "image"
        if kind == "video":
            return self.limits.video, "video"
        if kind == "audio":
            return self.limits.audio, "audio"
        return self.limits.other, "this"

    async def store(self, name: UploadName, chunks: AsyncIterable[bytes]) -> tuple[str, str, int, str]:
        """Stream the content into storage; refused with 413 as soon as it passes the limit.
        Returns (file id, storage key, size, sha256)."""
        limit, kind = self.size_limit(name.extension)
        digest = hashlib.sha256()
        file_id = new_id()
        key = f"uploads/{file_id[:2]}/{file_id}"

        async def checked() -> AsyncIterator[bytes]:
            size = 0
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise FileTooLarge(
                        f"File size exceeded. {kind.capitalize() if kind != 'this' else 'This'} files "
                        f"must be at most {_megabytes(limit)} MB."
                    )
                digest.update(chunk)
                yield chunk

        size = await self._storage.put(key, checked())
        return file_id, key, size, digest.hexdigest()

    async def discard(self, key: str) -> None:
        with contextlib.suppress(StorageError, OSError):
            await self._storage.delete(key)

    async def record(
        self, app: App, end_user_id: str, file_id: str, key: str, size: int, sha256: str, name: UploadName
    ) -> UploadFile:
        async with self._engine.begin() as conn:
            await file_store.insert_upload(
                conn,
                id=file_id,
                app_id=app.id,
                end_user_id=end_user_id,
                name=name.name,
                size=size,
                extension=name.extension,
                mime_type=name.mime_type,
                storage_key=key,
                hash=sha256,
                created_at=utcnow(),
            )
            row = await file_store.upload(conn, file_id)
        assert row is not None
        return file_store.upload_of(row)

    # -- previews --------------------------------------------------------------------------------

    async def preview(self, app: App, file_id: str) -> FileBody:
        """A file referenced by one of this app's messages."""
        async with self._engine.connect() as conn:
            apps = await file_store.referencing_apps(conn, file_id)
            if not apps:
                raise FileNotFound("File not found in message context")
            if app.id not in apps:
                raise FileAccessDenied("File access denied: not owned by requesting app")
            row = await file_store.upload(conn, file_id)
        if row is None:
            raise FileNotFound(UPLOAD_RECORD_NOT_FOUND)
        return await self._body(row)

    async def signed(self, file_id: str, timestamp: str, nonce: str, sign: str) -> FileBody:
        if not self.signer.verify(file_id, timestamp, nonce, sign):
            raise NotFound(SIGNED_FILE_NOT_FOUND)
        async with self._engine.connect() as conn:
            row = await file_store.upload(conn, file_id)
        if row is None:
            raise NotFound(SIGNED_FILE_NOT_FOUND)
        return await self._body(row)

    async def _body(self, row: Record) -> FileBody:
        chunks = self._storage.open(row.storage_key)
        try:
            first = await anext(chunks, b"")
        except (StorageError, OSError) as exc:
            await chunks.aclose()
            raise FileNotFound(f"Failed to load file content: {exc}") from None

        async def body() -> AsyncIterator[bytes]:
            async with contextlib.aclosing(chunks):
                if first:
                    yield first
                async for chunk in chunks:
                    yield chunk

        return FileBody(body(), row.name, row.mime_type, int(row.size))

    # -- chat attachments ------------------------------------------------------------------------

    async def prepare(
        self, config: FileUploadConfig, items: Sequence[Any] | None, *, app_id: str, end_user_id: str
    ) -> PreparedFiles:
        """Validate a chat request's ``files`` against the app's ``file_upload`` feature.

        An upload can be attached only by the end user of the app that uploaded it; any other
        id (another app's, another user's) is as unknown as an id that never existed."""
        prepared = PreparedFiles()
        if not items or not config.is_enabled:
            return prepared
        if config.enabled:
            allowed_types = set(config.allowed_file_types)
            methods = set(config.allowed_file_upload_methods)
            limit = config.number_limits
        else:  # only the legacy image switch
            allowed_types, methods = {"image"}, set(config.image.transfer_methods)
            limit = config.image.number_limits

        wanted: list[tuple[dict[str, Any], str | None]] = []
        upload_ids: list[str] = []
        for item in items:
            if not isinstance(item, dict):
                raise InvalidParam("Invalid file: each file must be an object")
            method = item.get("transfer_method")
            if not method:
                continue
            if method not in TRANSFER_METHODS:
                raise InvalidParam(f"{method!r} is not a valid FileTransferMethod")
            declared = item.get("type")
            if declared is not None and declared not in FILE_TYPES:
                raise InvalidParam(f"{declared!r} is not a valid FileType")
            url = item.get("url") or item.get("remote_url")
            upload_id = item.get("upload_file_id")
            if method == "remote_url" and not url:
                continue
            if method == "local_file" or upload_id:
                if not upload_id:
                    raise InvalidParam("Invalid upload file id")
                upload_id = parse_uuid(upload_id)
                if upload_id is None:
                    raise InvalidParam("Invalid upload file id format")
                upload_ids.append(upload_id)
            elif not isinstance(url, str) or not url.startswith("http"):
                raise InvalidParam("Invalid file url")
            else:
                try:
                    parse_url(url)
                except MalformedURL as exc:
                    raise InvalidParam(f"Invalid file url: {exc}") from None
            wanted.append((item, upload_id))

        async with self._engine.connect() as conn:
            uploads = await file_store.uploads(conn, upload_ids, app_id=app_id, end_user_id=end_user_id)

        attachments: list[tuple[Attachment, str]] = []
        for item, upload_id in wanted:
            declared = item.get("type")
            if upload_id is not None:
                row = uploads.get(upload_id)
                if row is None:
                    raise InvalidParam("Invalid upload file")
                if declared and declared != "custom":
                    kind = declared
                else:
                    kind = file_type(row.extension, row.mime_type)
                attachment = Attachment(
                    kind,
                    item["transfer_method"],
                    row.name,
                    row.extension,
                    row.mime_type,
                    int(row.size),
                    upload=row,
                )
            else:
                url = str(item.get("url") or item.get("remote_url"))
                name = extension_url_name(url)
                ext = extension_of(name)
                mime = mimetypes.guess_type(name)[0] or ""
                kind = declared if declared and declared != "custom" else file_type(ext, mime)
                attachment = Attachment(kind, "remote_url", name, ext, mime, 0, url=url)
            attachments.append((attachment, declared or "custom"))

        images = sum(1 for a, _ in attachments if a.type == "image")
        if images > limit:
            raise InvalidParam(f"Number of image files exceeds the maximum limit {limit}")
        if len(attachments) > limit:
            raise InvalidParam(f"Number of files exceeds the maximum limit {limit}")

        for attachment, checked_type in attachments:
            if checked_type == "custom":
                extension = attachment.extension
                ok = bool(extension) and f".{extension}" in config.allowed_file_extensions
            else:
                ok = checked_type in allowed_types
            if not ok or attachment.transfer_method not in methods:
                raise InvalidParam(f"File validation failed for file: {attachment.filename}")
        for attachment, _ in attachments:
            content: bytes | None = None
            if attachment.upload is None and attachment.url is not None:
                content = await self._fetch_remote(attachment)
            await self._for_model(prepared, attachment, content, config.image.detail)
            prepared.attachments.append(attachment)
        return prepared

    async def _fetch_remote(self, attachment: Attachment) -> bytes | None:
        assert attachment.url is not None
        want_content = attachment.type == "document"
        cap = self._attach.document_bytes if want_content else self._attach.image_bytes
        limit = min(self._fetcher.max_bytes, cap)
        try:
            remote = await self._fetcher.fetch(attachment.url, content=want_content, max_bytes=limit)
        except RemoteFetchError as exc:
            raise InvalidParam(f"Failed to fetch remote file {attachment.filename}: {exc}") from None
        if remote.filename:
            attachment.filename = remote.filename
            attachment.extension = extension_of(remote.filename) or attachment.extension
        attachment.mime_type = remote.mime_type or attachment.mime_type
        attachment.size = remote.size
        return remote.content

    async def _for_model(
        self, prepared: PreparedFiles, attachment: Attachment, content: bytes | None, detail: str
    ) -> None:
        if attachment.type == "image":
            if attachment.upload is not None:
                data = await self._read(attachment.upload, self._attach.image_bytes)
                image = ImagePart(data=data, mime_type=attachment.mime_type or "image/png", detail=detail)
            else:
                image = ImagePart(url=str(attachment.url), detail=detail)
            prepared.images.append(image)
        elif attachment.type == "document":
            if attachment.upload is not None:
                content = await self._read(attachment.upload, self._attach.document_bytes)
            if content is None:
                return
            try:
                text = extract_text(
                    content, attachment.extension, attachment.mime_type, max_chars=self._attach.document_chars
                )
            except ExtractionError as exc:
                raise InvalidParam(f"Failed to read file {attachment.filename}: {exc}") from None
            if text is not None:
                prepared.documents.append(DocumentPart(attachment.filename, text))

    async def _read(self, row: Record, limit: int) -> bytes:
        try:
            return await read_all(self._storage, row.storage_key, limit)
        except (StorageError, OSError):
            raise InvalidParam("Invalid upload file") from None


def extension_url_name(url: str) -> str:
    """The last path segment of a URL that ``parse_url`` accepted (read by the same parser)."""
    return parse_url(url).name


def _megabytes(limit: int) -> str:
    value = limit / MB
    return str(int(value)) if value == int(value) else f"{value:.2f}"


def is_streamable(mime_type: str) -> bool:
    return mime_type in _STREAMABLE


def is_html(name: str, mime_type: str) -> bool:
    return mime_type in _HTML_TYPES or extension_of(name) in ("html", "htm")
