"""Signed, expiring file URLs: HMAC-SHA256 over ``file-preview|<id>|<timestamp>|<nonce>``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from urllib.parse import urlencode


class UrlSigner:
    def __init__(self, secret_key: str, base_url: str, lifetime: int = 300) -> None:
        self._key = secret_key.encode()
        self._base = base_url.rstrip("/")
        self.lifetime = lifetime

    def _sign(self, file_id: str, timestamp: str, nonce: str) -> str:
        message = f"file-preview|{file_id}|{timestamp}|{nonce}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode()

    def preview_url(self, file_id: str, now: float | None = None) -> str:
        timestamp = str(int(time.time() if now is None else now))
        nonce = secrets.token_hex(16)
        sign = self._sign(file_id, timestamp, nonce)
        query = urlencode({"timestamp": timestamp, "nonce": nonce, "sign": sign})
        return f"{self._base}/files/{file_id}/file-preview?{query}"

    def tool_url(self, file_id: str, extension: str, now: float | None = None) -> str:
        """A tool file's URL: ``/files/tools/<id><.ext>``, signed like a preview (contract §11)."""
        timestamp = str(int(time.time() if now is None else now))
        nonce = secrets.token_hex(16)
        sign = self._sign(file_id, timestamp, nonce)
        query = urlencode({"timestamp": timestamp, "nonce": nonce, "sign": sign})
        return f"{self._base}/files/tools/{file_id}{extension}?{query}"

    def verify(self, file_id: str, timestamp: str, nonce: str, sign: str, now: float | None = None) -> bool:
        if not timestamp.isdigit() or not nonce or not sign:
            return False
        expected = self._sign(file_id, timestamp, nonce)
        if not hmac.compare_digest(expected.encode(), sign.encode()):
            return False
        current = time.time() if now is None else now
        return current - int(timestamp) <= self.lifetime
