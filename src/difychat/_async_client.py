"""The asynchronous client, :class:`AsyncDifyChat`."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType

import httpx

from difychat._base import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, NOT_GIVEN, NotGiven, TimeoutTypes
from difychat._methods.app import AsyncAppMethods
from difychat._methods.chat import AsyncChatMethods
from difychat._methods.conversations import AsyncConversationMethods
from difychat._methods.files import AsyncFileMethods
from difychat._retry import RetryPolicy

__all__ = ["AsyncDifyChat"]


class AsyncDifyChat(AsyncChatMethods, AsyncConversationMethods, AsyncFileMethods, AsyncAppMethods):
    """The async client for a Dify Chat App API; every method of :class:`DifyChat`, awaited.

    Args:
        api_key: the app's API key (``app-...``); defaults to ``$DIFY_API_KEY``. It may be left
            out when every call passes its own ``api_key=`` (one client, many apps).
        base_url: the API root including ``/v1``; defaults to ``$DIFY_BASE_URL``, then
            ``https://api.dify.ai/v1``.
        user: the default end-user id for calls that take ``user``.
        timeout: seconds, or an ``httpx.Timeout`` (default 300 s, connect 10 s); ``None``
            waits forever.
        max_retries: retries of idempotent calls after connection errors, 429 and 5xx.
        retry_policy: backoff settings (see :class:`~difychat.RetryPolicy`).
        default_headers: extra headers sent with every request.
        http_client: an ``httpx.AsyncClient`` to use; it is not closed by :meth:`aclose`.

    Example::

        from difychat import AsyncDifyChat

        async with AsyncDifyChat(base_url="http://localhost:5001/v1", user="alice") as client:
            reply = await client.send_message("Hello!")
            print(reply.answer)
    """

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
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            api_key,
            base_url=base_url,
            user=user,
            timeout=timeout,
            max_retries=max_retries,
            retry_policy=retry_policy,
            default_headers=default_headers,
        )
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.AsyncClient(timeout=self.timeout)

    def with_options(
        self,
        *,
        api_key: str | None | NotGiven = NOT_GIVEN,
        base_url: str | NotGiven = NOT_GIVEN,
        user: str | None | NotGiven = NOT_GIVEN,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        retry_policy: RetryPolicy | NotGiven = NOT_GIVEN,
        default_headers: Mapping[str, str] | NotGiven = NOT_GIVEN,
    ) -> AsyncDifyChat:
        """A copy of this client with some settings changed; it shares the connection pool.

        Closing the copy does not close the pool; closing the original does.

        Example::

            patient = client.with_options(timeout=900, max_retries=5)
            await patient.info()
            other_app = client.with_options(api_key="app-other")
        """
        options = self._options(
            api_key=api_key,
            base_url=base_url,
            user=user,
            timeout=timeout,
            max_retries=max_retries,
            retry_policy=retry_policy,
            default_headers=default_headers,
        )
        return type(self)(**options, http_client=self._http)

    async def aclose(self) -> None:
        """Close the connection pool (unless it was passed in as ``http_client``).

        Example::

            client = AsyncDifyChat()
            try:
                await client.info()
            finally:
                await client.aclose()
        """
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncDifyChat:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
