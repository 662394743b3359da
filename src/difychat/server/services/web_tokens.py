"""Compact HS256 JSON Web Tokens (RFC 7519), as the web app's passports are: sign and read.

Only what a passport needs: one algorithm, fixed by the server, never taken from the token's
header (so ``alg: none`` and key confusion cannot happen), and an ``exp`` claim checked on read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any

import orjson

from difychat.server.errors import Unauthorized

INVALID_TOKEN = "Invalid token."
INVALID_SIGNATURE = "Invalid token signature."
EXPIRED = "Token has expired."
MAX_TOKEN_CHARS = 4096

_HEADER = {"alg": "HS256", "typ": "JWT"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, signing_input: str) -> bytes:
    return hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest()


def sign(claims: dict[str, Any], key: bytes) -> str:
    """The token of ``claims`` (in their order), signed with ``key``."""
    signing_input = f"{_b64(orjson.dumps(_HEADER))}.{_b64(orjson.dumps(claims))}"
    return f"{signing_input}.{_b64(_mac(key, signing_input))}"


def read(token: str, key: bytes, *, now: float) -> dict[str, Any]:
    """The claims of a token signed with ``key`` whose ``exp`` (if any) is after ``now``; else 401
    ``unauthorized`` with Dify's message for the case."""
    parts = token.split(".")
    if len(token) > MAX_TOKEN_CHARS or len(parts) != 3 or not token.isascii():
        raise Unauthorized(INVALID_TOKEN)
    header_part, claims_part, signature_part = parts
    try:
        header = orjson.loads(_unb64(header_part))
        signature = _unb64(signature_part)
    except (ValueError, binascii.Error):
        raise Unauthorized(INVALID_TOKEN) from None
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise Unauthorized(INVALID_TOKEN)
    if not hmac.compare_digest(signature, _mac(key, f"{header_part}.{claims_part}")):
        raise Unauthorized(INVALID_SIGNATURE)
    try:
        claims = orjson.loads(_unb64(claims_part))
    except (ValueError, binascii.Error):
        raise Unauthorized(INVALID_TOKEN) from None
    if not isinstance(claims, dict):
        raise Unauthorized(INVALID_TOKEN)
    expires = claims.get("exp")
    if expires is not None:
        if not isinstance(expires, int | float) or isinstance(expires, bool):
            raise Unauthorized(INVALID_TOKEN)
        if now >= expires:
            raise Unauthorized(EXPIRED)
    return claims
