"""The readable part of a web page: its title, its author and its main text, without the chrome.

A small readability heuristic over BeautifulSoup's tree: drop what is never content (scripts,
navigation, headers and footers, asides, forms, hidden elements, blocks whose class or id says
comment, share, cookie, ...), then take the ``<article>`` or ``<main>`` element if the page has
one, else the block that holds the most paragraph text, and render it as plain text with
paragraphs, headings (``#``) and list items (``-``) kept apart.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

from bs4 import BeautifulSoup, Tag
from bs4.element import NavigableString

_NEVER_CONTENT = (
    "script",
    "style",
    "noscript",
    "template",
    "svg",
    "canvas",
    "iframe",
    "object",
    "embed",
    "form",
    "button",
    "input",
    "select",
    "textarea",
    "nav",
    "header",
    "footer",
    "aside",
    "dialog",
    "menu",
)
_CHROME_ROLES = frozenset({"navigation", "banner", "contentinfo", "complementary", "dialog", "search"})
_CHROME_NAMES = re.compile(
    r"(^|[\s_-])(comments?|sidebar|footer|masthead|navbar|nav|menu|breadcrumbs?|share|sharing|social|"
    r"advert|ads?|promo|sponsor|cookie|consent|popup|modal|newsletter|subscribe|related|recommended)"
    r"($|[\s_-])",
    re.IGNORECASE,
)
_KEEP = frozenset({"html", "body", "main", "article"})
_BLOCKS = frozenset(
    {
        "p",
        "div",
        "section",
        "article",
        "main",
        "blockquote",
        "pre",
        "ul",
        "ol",
        "dl",
        "dt",
        "dd",
        "table",
        "tr",
        "figure",
        "figcaption",
        "address",
        "hr",
    }
)
_HEADINGS = {f"h{level}": level for level in range(1, 7)}
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_TITLE_META = ("og:title", "twitter:title")
_AUTHOR_META = ("author", "article:author", "byl", "sailthru.author", "parsely-author", "twitter:creator")
_BYLINE = re.compile(r"\b(byline|author)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Article:
    title: str
    author: str
    text: str


def readable(html: bytes | str, charset: str | None = None) -> Article:
    """The page's title, author and main text (each may be empty)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # bs4 warns about markup that looks like a URL or a file name
        if isinstance(html, bytes):
            soup = BeautifulSoup(html, "html.parser", from_encoding=charset)
        else:
            soup = BeautifulSoup(html, "html.parser")
    # Each walk of the tree costs as much as the page is big: walk it as few times as possible.
    meta = _metas(soup)
    tags = [t for t in soup.find_all(True) if isinstance(t, Tag)]
    title = _title(soup, meta)
    author = _first(meta, _AUTHOR_META) or _byline(tags)
    for tag in [t for t in tags if _is_chrome(t)]:
        if not tag.decomposed:
            tag.decompose()
    root = _main_block(soup, [t for t in tags if not t.decomposed])
    return Article(title, author, _text(root))


def _clean(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def _metas(soup: BeautifulSoup) -> dict[str, str]:
    """``<meta>`` contents by ``name`` or ``property`` (lower case), the first of each."""
    found: dict[str, str] = {}
    for tag in (soup.head or soup).find_all("meta"):
        if not isinstance(tag, Tag):
            continue
        key = tag.get("property") or tag.get("name")
        content = tag.get("content")
        if isinstance(key, str) and isinstance(content, str) and _clean(content):
            found.setdefault(key.lower(), _clean(content))
    return found


def _first(meta: dict[str, str], keys: tuple[str, ...]) -> str:
    return next((meta[k] for k in keys if k in meta), "")


def _title(soup: BeautifulSoup, meta: dict[str, str]) -> str:
    found = _first(meta, _TITLE_META)
    if found:
        return found
    if soup.title is not None and soup.title.string:
        return _clean(soup.title.string)
    heading = soup.find("h1")
    return _clean(heading.get_text(" ")) if isinstance(heading, Tag) else ""


def _byline(tags: list[Tag]) -> str:
    for tag in tags[:5000]:
        marked = tag.get("rel") == ["author"] or tag.get("itemprop") == "author"
        classes = " ".join(tag.get("class") or [])
        if marked or _BYLINE.search(classes):
            text = re.sub(r"^by\s+", "", _clean(tag.get_text(" ")), flags=re.IGNORECASE)
            if 0 < len(text) <= 100:
                return text
    return ""


def _is_chrome(tag: Tag) -> bool:
    if tag.name in _KEEP:
        return False
    if tag.name in _NEVER_CONTENT or tag.has_attr("hidden") or tag.get("aria-hidden") == "true":
        return True
    role = tag.get("role")
    if isinstance(role, str) and role.lower() in _CHROME_ROLES:
        return True
    style = tag.get("style")
    if isinstance(style, str) and re.search(r"display\s*:\s*none", style, re.IGNORECASE):
        return True
    names = " ".join([*(tag.get("class") or []), str(tag.get("id") or "")])
    return bool(names.strip()) and _CHROME_NAMES.search(names) is not None


def _text_length(tag: Tag) -> int:
    return len(_clean(tag.get_text(" ")))


def _main_block(soup: BeautifulSoup, tags: list[Tag]) -> Tag:
    candidates: dict[str, list[Tag]] = {"article": [], "main": [], "role": [], "paragraph": []}
    for tag in tags:
        if tag.name in ("article", "main"):
            candidates[tag.name].append(tag)
        elif tag.name in ("p", "pre", "blockquote"):
            candidates["paragraph"].append(tag)
        if tag.get("role") == "main":
            candidates["role"].append(tag)
    for kind in ("article", "main", "role"):
        if candidates[kind]:
            best = max(candidates[kind], key=_text_length)
            if _text_length(best) >= 200:
                return best
    scores: dict[int, tuple[Tag, float]] = {}
    for paragraph in candidates["paragraph"]:
        length = _text_length(paragraph)
        if length < 25:
            continue
        weight = 1.0
        for ancestor in (paragraph.parent, paragraph.parent.parent if paragraph.parent else None):
            if isinstance(ancestor, Tag):
                _, score = scores.get(id(ancestor), (ancestor, 0.0))
                scores[id(ancestor)] = (ancestor, score + length * weight)
            weight /= 2
    if scores:
        best, score = max(scores.values(), key=lambda pair: pair[1])
        if score >= 200:
            return best
    return soup.body if soup.body is not None else soup


def _text(root: Tag) -> str:
    for br in root.find_all("br"):
        br.replace_with(NavigableString("\n"))
    for tag in root.find_all(True):
        if not isinstance(tag, Tag):
            continue
        if tag.name in _HEADINGS:
            tag.insert(0, NavigableString("\n\n" + "#" * _HEADINGS[tag.name] + " "))
            tag.append(NavigableString("\n\n"))
        elif tag.name == "li":
            tag.insert(0, NavigableString("\n- "))
        elif tag.name in ("td", "th"):
            tag.append(NavigableString("\t"))
        elif tag.name in _BLOCKS:
            tag.insert(0, NavigableString("\n\n"))
            tag.append(NavigableString("\n\n"))
    lines = (_clean(line) for line in root.get_text().split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
