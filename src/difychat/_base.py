"""Configuration and the I/O-free half of every request, shared by the sync and async clients.

Settings resolve as: the constructor argument, then the environment (``DIFY_API_KEY``,
``DIFY_BASE_URL``), then the default. A call's own ``api_key=`` beats all of them.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from typing import Any

import httpx

from difychat._calls import NO_BODY, Call
from difychat._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    DifyConfigError,
    make_status_error,
)
from difychat._retry import RetryPolicy, is_retryable_status
from difychat._urls import DEFAULT_BASE_URL
from difychat._version import __version__

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "BaseClient",
    "NotGiven",
    "NOT_GIVEN",
]

log = logging.getLogger("difychat")

DEFAULT_MAX_RETRIES = 2
# Blocking answers can take minutes; streams send a ping every 10 s, so the read timeout only
# has to outlast the slowest silence, and connecting should fail fast.
DEFAULT_TIMEOUT = httpx.Timeout(300.0, connect=10.0)

TimeoutTypes = float | httpx.Timeout | None


class NotGiven:
    """Marks an argument that was not passed (``None`` can be a meaningful value)."""

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN = NotGiven()


class BaseClient:
    """Settings plus request building, retry decisions and error mapping."""

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        user: str | None = None,
        timeout: TimeoutTypes = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_policy: RetryPolicy | None = None,
        default_headers: Mapping[str, str] | None = None,
    ) -> None:
        if api_key is None:
            api_key = os.environ.get("DIFY_API_KEY") or None
        if base_url is None:
            base_url = os.environ.get("DIFY_BASE_URL") or DEFAULT_BASE_URL
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.user = user
        self.timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self.max_retries = max_retries
        self.retry_policy = retry_policy or RetryPolicy()
        self.default_headers: dict[str, str] = dict(default_headers or {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, user={self.user!r})"

    def _options(self, **overrides: Any) -> dict[str, Any]:
        """Constructor arguments reproducing this client, with ``overrides`` applied."""
        options: dict[str, Any] = {
            "api_key": self.api_key,
            "base_url": self.base_url,
            "user": self.user,
            "timeout": self.timeout,
            "max_retries": self.max_retries,
            "retry_policy": self.retry_policy,
            "default_headers": self.default_headers,
        }
        for key, value in overrides.items():
            if not isinstance(value, NotGiven):
                options[key] = value
        return options

    # --- resolving per-call values -----------------------------------------------------------

    def _resolve_user(self, user: str | None, *, required: bool) -> str | None:
        resolved = user if user is not None else self.user
        if required and not resolved:
            raise DifyConfigError(
                "This call needs an end-user id: pass user=... to the call, "
                "or set a default with DifyChat(user=...)."
            )
        return resolved

    def _require_user(self, user: str | None) -> str:
        resolved = self._resolve_user(user, required=True)
        assert resolved is not None
        return resolved

    def _resolve_api_key(self, api_key: str | None) -> str:
        key = api_key or self.api_key
        if not key:
            raise DifyConfigError(
                "No API key: pass api_key=... to DifyChat(...) or to this call, or set DIFY_API_KEY."
            )
        return key

    # --- building the request ------------------------------------------------------------------

    def _headers(self, call: Call[Any]) -> dict[str, str]:
        headers = {
            "Accept": call.accept,
            "User-Agent": f"difychat-python/{__version__}",
            **self.default_headers,
        }
        headers["Authorization"] = f"Bearer {self._resolve_api_key(call.api_key)}"
        return headers

    def _build_request(self, http: httpx.Client | httpx.AsyncClient, call: Call[Any]) -> httpx.Request:
        kwargs: dict[str, Any] = {}
        if call.json is not NO_BODY:
            kwargs["content"] = json.dumps(call.json, ensure_ascii=False, separators=(",", ":")).encode()
        headers = self._headers(call)
        if "content" in kwargs:
            headers["Content-Type"] = "application/json"
        if call.files is not None:
            kwargs["files"] = call.files
            kwargs["data"] = call.data or {}
        return http.build_request(
            call.method,
            self.base_url + call.path,
            params=call.params or None,
            headers=headers,
            timeout=self.timeout,
            **kwargs,
        )

    # --- deciding what a failure means ---------------------------------------------------------

    def _retry_delay(self, call: Call[Any], attempt: int, response: httpx.Response | None) -> float | None:
        """Seconds to wait before trying ``call`` again, or ``None`` to give up now.

        ``response`` is the error response, or ``None`` when no response arrived at all.
        """
        if not call.idempotent or attempt >= self.max_retries:
            return None
        if response is not None and not is_retryable_status(response.status_code):
            return None
        delay = self.retry_policy.delay_for(attempt, response)
        reason = f"HTTP {response.status_code}" if response is not None else "a connection error"
        log.debug("retrying %s %s after %s in %.2fs", call.method, call.path, reason, delay)
        return delay

    def _status_error(self, response: httpx.Response) -> APIStatusError:
        """The exception for an error response whose body has been read."""
        body: Any
        try:
            body = json.loads(response.content) if response.content else None
        except ValueError:
            body = response.text
        return make_status_error(
            response.status_code, body, response=response, default_message=response.reason_phrase
        )

    @staticmethod
    def _connection_error(exc: Exception, request: httpx.Request | None) -> APIConnectionError:
        if isinstance(exc, httpx.TimeoutException):
            return APITimeoutError(f"Request timed out: {exc}", request=request)
        return APIConnectionError(
            f"Connection error: {exc}" if str(exc) else "Connection error.", request=request
        )
