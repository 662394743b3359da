"""A started answer on the wire, blocking or streamed: what chat and completion routes send back."""

from __future__ import annotations

from typing import Literal

from starlette.responses import Response

from difychat.server.api import sse
from difychat.server.api.context import Services
from difychat.server.api.responses import JSON, error_response
from difychat.server.api.wire.chat import blocking_answer
from difychat.server.api.wire.common import seconds
from difychat.server.domain.events import GenerationFailed, MessageEnded
from difychat.server.errors import AppError
from difychat.server.services.turn_launch import StartedTurn


async def respond(
    svc: Services, started: StartedTurn, response_mode: Literal["blocking", "streaming"]
) -> Response:
    """The SSE stream, or the blocking body once the answer ends.

    A started stream answers 200 at once, as Dify's does: what fails while the answer is made (the
    model unreachable, say) is its ``error`` event; a blocking answer's failure is a JSON error.
    The response head is then on the wire while the model is asked, not on the first token's path.
    """
    generation = started.generation
    if response_mode == "streaming":
        encoder = sse.EventEncoder(generation, seconds(generation.created_at), started.mode)
        return sse.EventStreamResponse(
            sse.event_stream(generation, encoder, svc.ping_interval),
            send_timeout=svc.stream_send_timeout,
        )

    event = await generation.ended()
    generation.detach()
    if isinstance(event, GenerationFailed):
        return _failure(event)
    assert isinstance(event, MessageEnded)
    return JSON(blocking_answer(generation, started.mode, event))


def _failure(event: GenerationFailed) -> Response:
    return error_response(AppError(event.message, code=event.code, status=event.status))
