from __future__ import annotations

import asyncio
import json
from datetime import datetime

from difychat.server.api import sse
from difychat.server.api.sse import EventEncoder
from difychat.server.domain.events import (
    AnswerReplaced,
    FileProduced,
    GenerationEvent,
    GenerationFailed,
    MessageEnded,
    TextDelta,
    ThoughtUpdated,
)
from difychat.server.domain.usage import Usage
from difychat.server.generation.event_queue import EventQueue
from difychat.server.generation.registry import Generation


def generation() -> Generation:
    return Generation(
        task_id="t-1",
        message_id="m-1",
        conversation_id="c-1",
        app_id="a",
        end_user_id="u",
        created_at=datetime(2025, 1, 1),
        queue=None,
    )


def payload(frame: bytes) -> dict[str, object]:
    assert frame.startswith(b"data: ") and frame.endswith(b"\n\n") and frame.count(b"\n") == 2
    return dict(json.loads(frame[6:]))


def test_delta_frames_carry_the_wrapper_keys_first_and_escape_nothing_needlessly() -> None:
    frame = EventEncoder(generation(), 1735689600, "chat").encode(TextDelta('say "hi" / 你好\n'))
    body = payload(frame)
    assert list(body) == [
        "event",
        "conversation_id",
        "message_id",
        "created_at",
        "task_id",
        "id",
        "answer",
        "from_variable_selector",
    ]
    assert body["answer"] == 'say "hi" / 你好\n' and body["created_at"] == 1735689600
    assert "你好".encode() in frame


def test_agent_apps_emit_agent_message_without_the_selector() -> None:
    body = payload(EventEncoder(generation(), 0, "agent-chat").encode(TextDelta("x")))
    assert body["event"] == "agent_message" and "from_variable_selector" not in body


def test_end_replace_and_error_frames_follow_the_contract_order() -> None:
    encoder = EventEncoder(generation(), 0, "chat")
    end = payload(encoder.encode(MessageEnded("answer", Usage())))
    assert list(end)[4:] == ["task_id", "id", "metadata", "files"]
    replaced = payload(encoder.encode(AnswerReplaced("safe", "")))
    assert list(replaced)[4:] == ["task_id", "answer", "reason"]
    error = payload(encoder.encode(GenerationFailed("completion_request_error", 400, "boom")))
    assert list(error) == [
        "event",
        "conversation_id",
        "message_id",
        "created_at",
        "code",
        "status",
        "message",
    ]


def test_agent_thought_and_message_file_frames_follow_the_agent_contract() -> None:
    encoder = EventEncoder(generation(), 1735689600, "agent-chat")
    thought = payload(
        encoder.encode(
            ThoughtUpdated(
                id="th-1",
                position=1,
                tool="current_time",
                tool_labels={"current_time": {"en_US": "Current Time"}},
                tool_input='{"current_time": {}}',
                files=("f-1",),
            )
        )
    )
    assert list(thought) == [
        "event",
        "conversation_id",
        "message_id",
        "created_at",
        "task_id",
        "id",
        "position",
        "thought",
        "observation",
        "tool",
        "tool_labels",
        "tool_input",
        "message_files",
    ]
    assert thought["event"] == "agent_thought" and thought["message_files"] == ["f-1"]
    file = payload(encoder.encode(FileProduced(id="f-1", type="image", url="/files/tools/f-1.png?sign=x")))
    assert list(file) == [
        "event",
        "conversation_id",
        "message_id",
        "created_at",
        "task_id",
        "id",
        "type",
        "belongs_to",
        "url",
    ]
    assert (file["event"], file["belongs_to"]) == ("message_file", "assistant")


def test_message_end_carries_the_citations_it_was_given() -> None:
    citation = {"position": 1, "dataset_id": "d", "content": "c", "score": 0.9}
    ended = MessageEnded("a", Usage(), retriever_resources=(citation,))
    body = payload(EventEncoder(generation(), 1, "chat").encode(ended))
    metadata = body["metadata"]
    assert isinstance(metadata, dict) and metadata["retriever_resources"] == [citation]


def test_events_waiting_together_go_out_in_one_write_with_the_same_bytes() -> None:
    async def scenario() -> tuple[list[bytes], list[bytes]]:
        live = generation()
        live.queue = EventQueue()
        encoder = EventEncoder(live, 1735689600, "chat")
        events = [TextDelta(f"part {i} ") for i in range(5)]
        for event in events:  # queued while the response head was being written
            live.emit(event)
        writes: list[bytes] = []
        stream = sse.event_stream(live, encoder, 10)
        writes.append(await anext(stream))
        end = MessageEnded("".join(e.text for e in events), Usage())
        live.emit(end)
        writes.extend([chunk async for chunk in stream])
        ordered: list[GenerationEvent] = [*events, end]
        return writes, [encoder.encode(e) for e in ordered]

    writes, separate = asyncio.run(scenario())
    assert len(writes) == 2  # the five deltas at once, then the end
    assert b"".join(writes) == b"".join(separate)
    assert [payload(f)["event"] for f in separate] == ["message"] * 5 + ["message_end"]
