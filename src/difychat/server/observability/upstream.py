"""Model provider failures: which of the contract's codes are the provider's, and counting the
ones that reach a client as an error response (speech to text, text to speech). A turn that fails
is counted by the turn observer instead: its failure is an event, not an exception."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from difychat.server.errors import ProviderError
from difychat.server.observability.metrics import Metrics

Handler = Callable[[Request, Exception], Coroutine[Any, Any, Response]]


def _codes(kind: type[ProviderError]) -> set[str]:
    found = {kind.code}
    for sub in kind.__subclasses__():
        found |= _codes(sub)
    return found


# completion_request_error, provider_not_initialize, model_currently_not_support, ...
UPSTREAM_CODES = frozenset(_codes(ProviderError))


def counting_upstream_errors(handler: Handler, metrics: Metrics) -> Handler:
    """``handler`` (the AppError handler), counting the provider failures it renders."""

    async def counted(request: Request, exc: Exception) -> Response:
        if isinstance(exc, ProviderError):
            metrics.upstream_errors.labels(exc.code).inc()
        return await handler(request, exc)

    return counted
