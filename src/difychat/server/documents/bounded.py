"""Text out of a knowledge document, within caps that a hostile file cannot get past.

A small file can expand enormously: a DOCX or XLSX is a zip whose members may inflate a
thousandfold, a PDF may declare thousands of pages or streams that inflate to gigabytes. Every
parser here is bounded before and while it runs: the zip's declared sizes and member count are
checked before anything is inflated (and ``zipfile`` never inflates a member past its declared
size), PDF pages are counted before any is read, and the text gathered is capped. Time and
memory are bounded by running these parsers in a child process (``sandbox.py``), which runs
this file as a script: it imports nothing of difychat, so the child starts in milliseconds.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import sys
import warnings
import zipfile
from dataclasses import asdict, dataclass

PLAIN = frozenset({"txt", "markdown", "md", "mdx", "csv", "vtt", "properties"})
# Parsed in the child process: they run third-party parsers over hostile bytes.
SANDBOXED = frozenset({"pdf", "docx", "xlsx", "xls", "html", "htm"})
KNOWLEDGE_EXTENSIONS = PLAIN | SANDBOXED


@dataclass(frozen=True, slots=True)
class Caps:
    max_chars: int = 2_000_000
    max_pages: int = 2_000
    # Inflated bytes of all the members of a DOCX or XLSX, and how many members it may have.
    max_unzipped_bytes: int = 100 * 1024 * 1024
    max_zip_members: int = 2_000
    # Cells read from a workbook.
    max_cells: int = 1_000_000


class DocumentError(Exception):
    """The document cannot be read, or passes a cap; the message is for the user."""


class TooLong(DocumentError):
    """The document's text passes ``max_chars``."""


class _Text:
    """Collects text and stops at the cap."""

    def __init__(self, max_chars: int) -> None:
        self._parts: list[str] = []
        self._size = 0
        self._max = max_chars

    def add(self, text: str) -> None:
        self._size += len(text) + 1
        if self._size > self._max:
            raise TooLong(f"the document's text is longer than {self._max} characters")
        self._parts.append(text)

    def text(self) -> str:
        return "\n".join(self._parts)


def decode(data: bytes) -> str:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _check_zip(data: bytes, caps: Caps, kind: str) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise DocumentError(f"the file is not a valid {kind} document") from None
    members = archive.infolist()
    if len(members) > caps.max_zip_members:
        raise DocumentError(f"the {kind} document has more than {caps.max_zip_members} parts")
    inflated = sum(m.file_size for m in members)
    if inflated > caps.max_unzipped_bytes:
        raise DocumentError(f"the {kind} document would unpack to more than {_size(caps.max_unzipped_bytes)}")
    return archive


def _size(count: int) -> str:
    mb = 1024 * 1024
    return f"{count // mb} MB" if count >= mb else f"{count} bytes"


def _pdf(data: bytes, caps: Caps) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = len(reader.pages)
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise DocumentError(f"the file is not a readable PDF ({exc})") from None
    if pages > caps.max_pages:
        raise DocumentError(f"the PDF has {pages} pages; at most {caps.max_pages} are read")
    out = _Text(caps.max_chars)
    for page in reader.pages:
        out.add(page.extract_text() or "")
    return out.text()


def _docx(data: bytes, caps: Caps) -> str:
    _check_zip(data, caps, "DOCX")
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises many kinds on a broken package
        raise DocumentError(f"the file is not a readable DOCX document ({type(exc).__name__})") from None
    out = _Text(caps.max_chars)
    for paragraph in document.paragraphs:
        out.add(paragraph.text)
    for table in document.tables:
        for row in table.rows:
            out.add("\t".join(cell.text for cell in row.cells))
    return out.text()


def _xlsx(data: bytes, caps: Caps) -> str:
    archive = _check_zip(data, caps, "XLSX")
    archive.close()
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds on a broken workbook
        raise DocumentError(f"the file is not a readable XLSX workbook ({type(exc).__name__})") from None
    out = _Text(caps.max_chars)
    cells = 0
    try:
        for sheet in workbook.worksheets:
            header: list[str] | None = None
            for row in sheet.iter_rows(values_only=True):
                cells += len(row)
                if cells > caps.max_cells:
                    raise DocumentError(f"the workbook has more than {caps.max_cells} cells")
                values = ["" if v is None else str(v) for v in row]
                if not any(values):
                    continue
                if header is None:
                    header = values
                    continue
                pairs = [
                    f"{h or f'column {i + 1}'}: {v}"
                    for i, (h, v) in enumerate(zip(header, values, strict=False))
                    if v
                ]
                out.add("; ".join(pairs))
    finally:
        workbook.close()
    return out.text()


def _html(data: bytes, caps: Caps) -> str:
    from bs4 import BeautifulSoup

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        soup = BeautifulSoup(data, "html.parser")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    out = _Text(caps.max_chars)
    for line in soup.get_text("\n").splitlines():
        if line.strip():
            out.add(line.strip())
    return out.text()


def _pairs(header: list[str], values: list[str]) -> str:
    """A row as ``header: value`` pairs, empty cells left out."""
    named = zip(header + [""] * (len(values) - len(header)), values, strict=False)
    return "; ".join(f"{h or f'column {i + 1}'}: {v}" for i, (h, v) in enumerate(named) if v)


def _csv(text: str) -> str:
    """Rows as ``header: value`` pairs, so each segment keeps the meaning of its cells."""
    rows = list(csv.reader(io.StringIO(text)))
    if len(rows) < 2:
        return text
    header = rows[0]
    lines = []
    for row in rows[1:]:
        pairs = [
            f"{h or f'column {i + 1}'}: {v}" for i, (h, v) in enumerate(zip(header, row, strict=False)) if v
        ]
        if pairs:
            lines.append("; ".join(pairs))
    return "\n".join(lines)


def extract(data: bytes, extension: str, caps: Caps) -> str:
    """The document's text; ``DocumentError`` (with a message for the user) when it cannot be
    read or passes a cap."""
    ext = extension.lower().lstrip(".")
    if ext in PLAIN:
        text = decode(data)
        if ext == "csv":
            with contextlib.suppress(csv.Error):
                text = _csv(text)
        if len(text) > caps.max_chars:
            raise TooLong(f"the document's text is longer than {caps.max_chars} characters")
        return text
    if ext == "pdf":
        return _pdf(data, caps)
    if ext == "docx":
        return _docx(data, caps)
    if ext == "xlsx":
        return _xlsx(data, caps)
    if ext in ("html", "htm"):
        return _html(data, caps)
    if ext == "xls":
        raise DocumentError("the legacy XLS format is not read; save the workbook as XLSX")
    raise DocumentError(f"files of type .{ext} are not read")


def caps_json(caps: Caps) -> dict[str, int]:
    return asdict(caps)


def _child() -> None:
    """The child's side of ``sandbox.extract_in_child``: a JSON header line, then the bytes."""
    header = json.loads(sys.stdin.buffer.readline())
    memory = int(header["memory"])
    if memory > 0:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    data = sys.stdin.buffer.read()
    try:
        answer = {"text": extract(data, header["extension"], Caps(**header["caps"]))}
    except DocumentError as exc:
        answer = {"error": str(exc)}
    except MemoryError:
        answer = {"error": "reading the document needed more memory than allowed"}
    except RecursionError:
        answer = {"error": "the document is nested too deeply to read"}
    except Exception as exc:  # a parser's own failure on a malformed file
        answer = {"error": f"the document could not be read ({type(exc).__name__})"}
    sys.stdout.write(json.dumps(answer))
    sys.stdout.flush()


if __name__ == "__main__":
    _child()
