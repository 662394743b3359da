"""Plain text from documents, bounded in size, for the prompt."""

from __future__ import annotations

import io
import warnings

DOCUMENT_EXTENSIONS = frozenset(
    {"txt", "markdown", "md", "mdx", "pdf", "html", "htm", "xlsx", "xls", "docx", "csv", "vtt", "properties"}
)
_PLAIN = frozenset({"txt", "markdown", "md", "mdx", "csv", "vtt", "properties"})


class ExtractionError(Exception):
    """The document could not be read."""


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "utf-16") if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ("utf-8-sig",):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _pdf(data: bytes, max_chars: int) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    parts: list[str] = []
    size = 0
    for page in reader.pages:
        text = page.extract_text() or ""
        parts.append(text)
        size += len(text)
        if size >= max_chars:
            break
    return "\n".join(parts)


def _docx(data: bytes) -> str:
    import docx

    document = docx.Document(io.BytesIO(data))
    lines = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            lines.append("\t".join(cell.text for cell in row.cells))
    return "\n".join(lines)


def _html(data: bytes) -> str:
    from bs4 import BeautifulSoup

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        soup = BeautifulSoup(data, "html.parser")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    return "\n".join(line.strip() for line in soup.get_text("\n").splitlines() if line.strip())


def extract_text(data: bytes, extension: str, mime_type: str, *, max_chars: int) -> str | None:
    """The document's text (cut to ``max_chars``), or None for a type without text."""
    ext = extension.lower().lstrip(".")
    try:
        if ext == "pdf" or mime_type == "application/pdf":
            text = _pdf(data, max_chars)
        elif ext == "docx":
            text = _docx(data)
        elif ext in ("html", "htm") or mime_type in ("text/html", "application/xhtml+xml"):
            text = _html(data)
        elif ext in _PLAIN or mime_type.startswith("text/"):
            text = _decode(data)
        else:
            return None
    except Exception as exc:  # third-party parsers raise many kinds of errors on bad input
        raise ExtractionError(f"cannot read the {ext or mime_type} document") from exc
    return text[:max_chars]
