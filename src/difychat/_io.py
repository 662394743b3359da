"""The request loops: the only code that differs between the sync and async clients."""

from __future__ import annotations

from typing import Any, TypeVar

import httpx

from difychat._base import BaseClient
from difychat._calls import Call, is_json, json_instead_of_audio

T = TypeVar("T")


class SyncCore(BaseClient):
    """Sends calls over an ``httpx.Client`` with retries; the sync client's method mixins use it."""

    _http: httpx.Client

    def _request(self, call: Call[T], api_key: str | None = None) -> T:
        """Send ``call`` (retrying where allowed) and return its parsed answer."""
        call.api_key = api_key
        response = self._send(call, stream=False)
        return call.parse(response)

    def _open(self, call: Call[Any], api_key: str | None = None) -> httpx.Response:
        """Send ``call`` and return the open streaming response (the caller closes it)."""
        call.api_key = api_key
        response = self._send(call, stream=True)
        if call.accept.startswith("audio") and is_json(response):
            try:
                response.read()
            finally:
                response.close()
            raise json_instead_of_audio(response)
        return response

    def _send(self, call: Call[Any], *, stream: bool) -> httpx.Response:
        attempt = 0
        try:
            while True:
                request = self._build_request(self._http, call)
                try:
                    response = self._http.send(request, stream=stream)
                except httpx.RequestError as exc:
                    delay = (
                        self._retry_delay(call, attempt, None)
                        if isinstance(exc, httpx.TransportError)
                        else None
                    )
                    if delay is None:
                        raise self._connection_error(exc, request) from exc
                else:
                    if response.is_success:
                        return response
                    if stream:
                        try:
                            response.read()
                        except httpx.HTTPError:
                            pass
                        finally:
                            response.close()
                    delay = self._retry_delay(call, attempt, response)
                    if delay is None:
                        raise self._status_error(response)
                self.retry_policy.sleep(delay)
                attempt += 1
        finally:
            call.close()


class AsyncCore(BaseClient):
    """Sends calls over an ``httpx.AsyncClient`` with retries; the async twin of :class:`SyncCore`."""

    _http: httpx.AsyncClient

    async def _request(self, call: Call[T], api_key: str | None = None) -> T:
        """Send ``call`` (retrying where allowed) and return its parsed answer."""
        call.api_key = api_key
        response = await self._send(call, stream=False)
        return call.parse(response)

    async def _open(self, call: Call[Any], api_key: str | None = None) -> httpx.Response:
        """Send ``call`` and return the open streaming response (the caller closes it)."""
        call.api_key = api_key
        response = await self._send(call, stream=True)
        if call.accept.startswith("audio") and is_json(response):
            try:
                await response.aread()
            finally:
                await response.aclose()
            raise json_instead_of_audio(response)
        return response

    async def _send(self, call: Call[Any], *, stream: bool) -> httpx.Response:
        attempt = 0
        try:
            while True:
                request = self._build_request(self._http, call)
                try:
                    response = await self._http.send(request, stream=stream)
                except httpx.RequestError as exc:
                    delay = (
                        self._retry_delay(call, attempt, None)
                        if isinstance(exc, httpx.TransportError)
                        else None
                    )
                    if delay is None:
                        raise self._connection_error(exc, request) from exc
                else:
                    if response.is_success:
                        return response
                    if stream:
                        try:
                            await response.aread()
                        except httpx.HTTPError:
                            pass
                        finally:
                            await response.aclose()
                    delay = self._retry_delay(call, attempt, response)
                    if delay is None:
                        raise self._status_error(response)
                await self.retry_policy.async_sleep(delay)
                attempt += 1
        finally:
            call.close()
