"""Why an outbound request was refused before it reached anyone."""

from __future__ import annotations


class OutboundRefused(Exception):
    """The request was refused by the outbound guard; the message says why and is safe to show."""


class MalformedURL(OutboundRefused):
    """The URL cannot be parsed, or uses a form the guard does not accept (userinfo, odd hosts)."""


class AddressRefused(OSError, OutboundRefused):
    """The address a connection would go to is not permitted.

    An OSError, so that it travels through aiohttp's resolver and socket code like any
    connection failure.
    """
