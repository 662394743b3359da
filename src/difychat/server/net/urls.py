"""Parsing a URL the way the HTTP client will, and refusing the forms the guard does not accept.

The URL is parsed with yarl, the parser aiohttp itself uses, and the same ``URL`` object is
handed to aiohttp, so the host checked here is the host aiohttp connects to (after its IDNA and
NFKC normalisation: ``１２７．０．０．１`` is ``127.0.0.1`` by then). These checks are hygiene;
the decision on the address itself is taken when the socket is opened (see ``guard``).
"""

from __future__ import annotations

import ipaddress
import re

from yarl import URL

from difychat.server.net.errors import MalformedURL

SCHEMES = frozenset({"http", "https"})
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
# WHATWG URL: a host whose last label is a number is an IPv4 address, in any of the legacy
# spellings (decimal, octal, hex, fewer than four parts).
_NUMBER = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)")


def _canonical_ipv4(host: str) -> bool:
    parts = host.split(".")
    return len(parts) == 4 and all(
        p.isascii() and p.isdigit() and len(p) <= 3 and int(p) <= 255 and (p == "0" or p[0] != "0")
        for p in parts
    )


def host_name(text: str) -> str | None:
    """``text`` as a lower-case ASCII host name or dotted-quad IPv4 address, or None if it is neither.

    Legacy numeric IPv4 spellings (``2130706433``, ``0x7f.1``, ``017700000001``, ``127.1``) and
    a trailing dot after a number are refused rather than interpreted.
    """
    host = text.lower()
    if not host.isascii() or len(host) > 254:
        return None
    labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
    if not all(_LABEL.fullmatch(label) for label in labels):
        return None
    if _NUMBER.fullmatch(labels[-1]) and not _canonical_ipv4(host):
        return None
    return host


def _ipv6_literal(host: str) -> bool:
    address, _, zone = host.partition("%")
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        return False
    return not zone or zone.isascii()


def check_url(url: URL) -> None:
    """Refuse ``url`` (already parsed) unless it is an absolute http(s) URL with a plain host."""
    if url.scheme not in SCHEMES:
        raise MalformedURL("only http and https URLs can be fetched")
    if not url.is_absolute() or not url.raw_host:
        raise MalformedURL("the URL has no host")
    if url.raw_user is not None or url.raw_password is not None:
        raise MalformedURL("the URL must not carry a user name or password")
    if url.explicit_port == 0:
        raise MalformedURL("the URL's port is not valid")
    host = url.raw_host
    valid = _ipv6_literal(host) if ":" in host else host_name(host) is not None
    if not valid:
        raise MalformedURL(f"the URL's host {host!r} is not a valid host name or IP address")


def parse_url(text: str | URL) -> URL:
    """Parse and check ``text``; raises MalformedURL (never a bare ValueError)."""
    if isinstance(text, URL):
        url = text
    else:
        try:
            url = URL(text)
        except (ValueError, TypeError) as exc:
            raise MalformedURL(f"the URL is not valid: {exc}") from None
    try:
        check_url(url)
    except ValueError as exc:  # yarl computes some parts lazily
        raise MalformedURL(f"the URL is not valid: {exc}") from None
    return url
