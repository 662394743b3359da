"""``GET /metrics``: the Prometheus exposition, optionally behind a bearer token."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from difychat.server.errors import Unauthorized
from difychat.server.observability.metrics import Metrics

PATH = "/metrics"


def metrics_route(metrics: Metrics, token: str | None) -> Route:
    """The route; with ``token``, a scrape must send ``Authorization: Bearer <token>``."""
    expected = token.encode() if token else None

    async def scrape(request: Request) -> Response:
        if expected is not None:
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
                raise Unauthorized("A valid metrics token is required: Authorization: Bearer <token>.")
        body, content_type = metrics.exposition(request.headers.get("accept"))
        return Response(body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})

    return Route(PATH, scrape, methods=["GET"], include_in_schema=False)
