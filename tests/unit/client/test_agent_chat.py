"""Agent answers: thoughts published several times, tool files, collected results, history, and
Dify's refusal of blocking mode for agent apps."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from difychat import (
    AsyncDifyChat,
    BlockingModeNotSupportedError,
    DifyChat,
    InvalidParamError,
)
from difychat.types import (
    AgentMessageEvent,
    AgentThought,
    AgentThoughtEvent,
    MessageEndEvent,
    MessageFileEvent,
    MessagePage,
    parse_event,
)
from tests.unit.client.client_fakes import FakeServer, error_body, event, sse_response

IDS = {"conversation_id": "c0ffee00-3333", "message_id": "7a3e9c10-2222", "created_at": 1735689600}
TASK = "b1f0c0de-1111"
LABELS = {"current_time": {"zh_Hans": "获取当前时间", "en_US": "Current Time", "pt_BR": "Current Time"}}
FILE_URL = "/files/tools/5f0e.png?timestamp=1735689601&nonce=4fd3&sign=Qm9="


def thought(
    thought_id: str,
    position: int,
    *,
    thought: str = "",
    tool: str = "",
    tool_input: str = "",
    observation: str = "",
    files: list[Any] | None = None,
) -> dict[str, Any]:
    return {
        "event": "agent_thought",
        **IDS,
        "task_id": TASK,
        "id": thought_id,
        "position": position,
        "thought": thought,
        "observation": observation,
        "tool": tool,
        "tool_labels": LABELS if tool else {},
        "tool_input": tool_input,
        "message_files": files or [],
    }


def text(answer: str) -> dict[str, Any]:
    return {"event": "agent_message", **IDS, "task_id": TASK, "id": IDS["message_id"], "answer": answer}


def tool_file() -> dict[str, Any]:
    return {
        "event": "message_file",
        **IDS,
        "task_id": TASK,
        "id": "9c2a",
        "type": "image",
        "belongs_to": "assistant",
        "url": FILE_URL,
    }


def end() -> dict[str, Any]:
    usage = {"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42, "total_price": "0E-7"}
    metadata: dict[str, Any] = {"annotation_reply": None, "retriever_resources": [], "usage": usage}
    return {"event": "message_end", **IDS, "task_id": TASK, "id": IDS["message_id"], "metadata": metadata}


CALL = '{"current_time": {"timezone": "UTC"}}'
RESULT = '{"current_time": "2025-01-01 12:00:00"}'


def agent_run() -> list[dict[str, Any]]:
    """One tool round that also draws a picture, then the answer round (contract §6)."""
    return [
        thought("a1", 1),
        text("Let me check. "),
        thought("a1", 1, thought="Let me check. ", tool="current_time", tool_input=CALL),
        tool_file(),
        thought(
            "a1",
            1,
            thought="Let me check. ",
            tool="current_time",
            tool_input=CALL,
            observation=RESULT,
            files=["9c2a"],
        ),
        thought("b2", 2),
        text("It is "),
        text("12:00 UTC."),
        thought("b2", 2, thought="It is 12:00 UTC."),
        end(),
    ]


def body_of(frames: list[dict[str, Any]], piece: int = 0) -> list[bytes]:
    raw = b"".join(event(frame) for frame in frames)
    if not piece:
        return [event(frame) for frame in frames]
    # Pieces that cut frames, JSON strings and multi-byte characters anywhere.
    return [raw[i : i + piece] for i in range(0, len(raw), piece)]


@pytest.mark.parametrize("piece", [0, 1, 7, 64])
def test_agent_events_are_typed_whatever_the_chunking(
    client: DifyChat, server: FakeServer, piece: int
) -> None:
    server.add(sse_response(*body_of(agent_run(), piece))[0])
    with client.stream_message("What time is it? And draw it.") as stream:
        events = list(stream)
    kinds = [type(e).__name__ for e in events]
    assert kinds == [
        "AgentThoughtEvent",
        "AgentMessageEvent",
        "AgentThoughtEvent",
        "MessageFileEvent",
        "AgentThoughtEvent",
        "AgentThoughtEvent",
        "AgentMessageEvent",
        "AgentMessageEvent",
        "AgentThoughtEvent",
        "MessageEndEvent",
    ]
    called = events[2]
    assert isinstance(called, AgentThoughtEvent)
    assert (called.id, called.position, called.tool, called.observation) == ("a1", 1, "current_time", "")
    assert called.tool_labels == LABELS
    assert called.tool_inputs == {"current_time": {"timezone": "UTC"}}
    assert (called.task_id, called.conversation_id, called.message_id) == (
        TASK,
        IDS["conversation_id"],
        IDS["message_id"],
    )
    assert called.created_at is not None and called.created_at.timestamp() == IDS["created_at"]
    produced = events[3]
    assert isinstance(produced, MessageFileEvent)
    assert (produced.id, produced.type, produced.belongs_to, produced.url) == (
        "9c2a",
        "image",
        "assistant",
        FILE_URL,
    )
    observed = events[4]
    assert isinstance(observed, AgentThoughtEvent)
    assert observed.observations == {"current_time": "2025-01-01 12:00:00"}
    assert observed.message_files == ["9c2a"]
    assert isinstance(events[-1], MessageEndEvent)


def test_agent_message_text_is_the_answer_like_message_text(client: DifyChat, server: FakeServer) -> None:
    server.add(sse_response(*body_of(agent_run()))[0])
    with client.stream_message("What time is it?") as stream:
        texts = list(stream.iter_text())
    assert texts == ["Let me check. ", "It is ", "12:00 UTC."]
    assert stream.answer == "Let me check. It is 12:00 UTC."


def test_collect_keeps_the_last_publication_of_each_round_in_position_order(
    client: DifyChat, server: FakeServer
) -> None:
    server.add(sse_response(*body_of(agent_run(), 5))[0])
    message = client.stream_message("What time is it?").collect()
    assert message.answer == "Let me check. It is 12:00 UTC."
    assert message.usage is not None and message.usage.total_tokens == 42
    first, second = message.agent_thoughts
    assert isinstance(first, AgentThought)
    assert (first.id, first.position, first.message_id) == ("a1", 1, IDS["message_id"])
    assert first.tool_names == ["current_time"]
    assert first.tool_input == CALL and first.observation == RESULT
    assert first.files == ["9c2a"] and first.file_ids == ["9c2a"]
    assert (second.id, second.position, second.thought, second.tool) == ("b2", 2, "It is 12:00 UTC.", "")
    [produced] = message.message_files
    assert (produced.id, produced.type, produced.belongs_to, produced.url) == (
        "9c2a",
        "image",
        "assistant",
        FILE_URL,
    )
    assert message.files_of(first) == [produced]
    assert message.files_of(second) == []
    assert message.assistant_files == [produced]


def test_stream_views_follow_the_rounds_while_reading(client: DifyChat, server: FakeServer) -> None:
    server.add(sse_response(*body_of(agent_run()))[0])
    seen: list[list[tuple[str | None, str | None]]] = []
    with client.stream_message("What time is it?") as stream:
        for item in stream:
            if isinstance(item, AgentThoughtEvent):
                seen.append([(t.id, t.observation) for t in stream.agent_thoughts])
        assert [f.id for f in stream.message_files] == ["9c2a"]
    assert seen == [
        [("a1", "")],
        [("a1", "")],
        [("a1", RESULT)],
        [("a1", RESULT), ("b2", "")],
        [("a1", RESULT), ("b2", "")],
    ]


def test_rounds_are_ordered_by_position_not_by_arrival(client: DifyChat, server: FakeServer) -> None:
    frames = [thought("b2", 2, thought="late"), thought("a1", 1, thought="early"), text("x"), end()]
    server.add(sse_response(*body_of(frames))[0])
    message = client.stream_message("hi").collect()
    assert [t.thought for t in message.agent_thoughts] == ["early", "late"]


def test_a_plain_chat_answer_has_no_thoughts_or_files(client: DifyChat, server: FakeServer) -> None:
    plain = {"event": "message", **IDS, "task_id": TASK, "id": IDS["message_id"], "answer": "hi"}
    server.add(sse_response(event(plain), event(end()))[0])
    message = client.stream_message("hi").collect()
    assert message.agent_thoughts == [] and message.message_files == []


def test_several_tools_in_one_round() -> None:
    parsed = parse_event(
        thought(
            "t",
            1,
            tool="current_time;weather",
            tool_input='{"current_time": {}, "weather": {"city": "Paris"}}',
            observation='{"current_time": "12:00", "weather": {"sky": "clear"}}',
        )
    )
    assert isinstance(parsed, AgentThoughtEvent)
    assert parsed.tool_names == ["current_time", "weather"]
    assert parsed.tool_inputs == {"current_time": {}, "weather": {"city": "Paris"}}
    assert parsed.observations == {"current_time": "12:00", "weather": {"sky": "clear"}}


def test_tool_fields_that_are_not_json_objects_belong_to_the_only_tool() -> None:
    react = AgentThought(tool="search", tool_input="cats", observation="tool invoke error: timeout")
    assert react.tool_inputs == {"search": "cats"}
    assert react.observations == {"search": "tool invoke error: timeout"}
    several = AgentThought(tool="a;b", observation="not json")
    assert several.observations == {}
    empty = AgentThought(tool="", tool_input="", observation="")
    assert (empty.tool_names, empty.tool_inputs, empty.observations) == ([], {}, {})


def test_unknown_fields_of_agent_events_are_kept() -> None:
    parsed = parse_event({**thought("t", 1, files=[{"id": "f1", "url": "u"}]), "tool_meta": {"x": 1}})
    assert isinstance(parsed, AgentThoughtEvent)
    assert parsed.message_files == ["f1"]  # file objects are reduced to their ids
    assert parsed.model_extra == {"tool_meta": {"x": 1}}
    assert parsed.as_thought().model_extra == {"tool_meta": {"x": 1}}
    produced = parse_event({**tool_file(), "mime_type": "image/png"})
    assert isinstance(produced, MessageFileEvent)
    assert produced.as_file().mime_type == "image/png"
    text_delta = parse_event({**text("x"), "extra": True})
    assert isinstance(text_delta, AgentMessageEvent) and text_delta.model_extra == {"extra": True}


@pytest.mark.anyio
async def test_async_collect_of_an_agent_stream(async_client: AsyncDifyChat, server: FakeServer) -> None:
    server.add(sse_response(*body_of(agent_run(), 11))[0])
    stream = await async_client.stream_message("What time is it?")
    texts = [piece async for piece in stream.iter_text()]
    assert "".join(texts) == "Let me check. It is 12:00 UTC."
    assert [t.id for t in stream.agent_thoughts] == ["a1", "b2"]
    server.add(sse_response(*body_of(agent_run()))[0])
    message = await (await async_client.stream_message("again")).collect()
    assert [t.observation for t in message.agent_thoughts] == [RESULT, ""]
    assert [f.url for f in message.message_files] == [FILE_URL]


# --- history ------------------------------------------------------------------------------------

AGENT_MESSAGE: dict[str, Any] = {
    "id": "7a3e9c10-2222",
    "conversation_id": "c0ffee00-3333",
    "parent_message_id": None,
    "inputs": {},
    "query": "What time is it? And draw it.",
    "answer": "Let me check.\nIt is 12:00 UTC.",
    "feedback": None,
    "retriever_resources": [],
    "created_at": 1735689600,
    "agent_thoughts": [
        {
            "id": "a1",
            "chain_id": None,
            "message_id": "7a3e9c10-2222",
            "position": 1,
            "thought": "Let me check.",
            "tool": "current_time",
            "tool_labels": LABELS,
            "tool_input": CALL,
            "created_at": 1735689600,
            "observation": RESULT,
            "files": ["9c2a"],
        },
        {
            "id": "b2",
            "chain_id": None,
            "message_id": "7a3e9c10-2222",
            "position": 2,
            "thought": "It is 12:00 UTC.",
            "tool": "",
            "tool_labels": {},
            "tool_input": "",
            "created_at": 1735689601,
            "observation": "",
            "files": [],
        },
    ],
    "message_files": [
        {
            "id": "3f9d",
            "filename": "cat.png",
            "type": "image",
            "url": "https://files.example/cat.png",
            "mime_type": "image/png",
            "size": 48213,
            "transfer_method": "local_file",
            "belongs_to": "user",
            "upload_file_id": "0b6f",
        },
        {
            "id": "9c2a",
            "filename": "5f0e.png",
            "type": "image",
            "url": FILE_URL,
            "mime_type": "image/png",
            "size": 1024,
            "transfer_method": "tool_file",
            "belongs_to": "assistant",
            "upload_file_id": "5f0e",
        },
    ],
    "status": "normal",
    "error": None,
}


def test_history_parses_agent_thoughts_and_tool_files(client: DifyChat, server: FakeServer) -> None:
    server.add(httpx.Response(200, json={"limit": 20, "has_more": False, "data": [AGENT_MESSAGE]}))
    [message] = client.messages("c0ffee00-3333").data
    first, second = message.agent_thoughts
    assert (first.id, first.chain_id, first.message_id, first.position) == ("a1", None, "7a3e9c10-2222", 1)
    assert first.thought == "Let me check." and first.tool == "current_time"
    assert first.tool_labels == LABELS
    assert first.tool_inputs == {"current_time": {"timezone": "UTC"}}
    assert first.observations == {"current_time": "2025-01-01 12:00:00"}
    assert first.created_at is not None and first.created_at.timestamp() == 1735689600
    assert first.files == ["9c2a"]
    assert second.tool_names == [] and second.file_ids == []
    upload, produced = message.message_files
    assert (upload.belongs_to, upload.transfer_method) == ("user", "local_file")
    assert (produced.belongs_to, produced.transfer_method, produced.upload_file_id) == (
        "assistant",
        "tool_file",
        "5f0e",
    )
    assert message.assistant_files == [produced]
    assert message.files_of(first) == [produced]


def test_history_of_dify_0x_lists_thought_files_under_message_files() -> None:
    old = {**AGENT_MESSAGE["agent_thoughts"][0]}
    old["message_files"] = old.pop("files")
    page = MessagePage.model_validate({"data": [{**AGENT_MESSAGE, "agent_thoughts": [old]}]})
    [thought_row] = page.data[0].agent_thoughts
    assert thought_row.files is None and thought_row.file_ids == ["9c2a"]
    assert page.data[0].files_of(thought_row)[0].id == "9c2a"


# --- blocking answers -----------------------------------------------------------------------------


def test_difychat_blocking_agent_answer_is_a_chat_message(client: DifyChat, server: FakeServer) -> None:
    body = {
        "event": "message",
        "task_id": TASK,
        "id": IDS["message_id"],
        "message_id": IDS["message_id"],
        "conversation_id": IDS["conversation_id"],
        "mode": "agent-chat",
        "answer": "Let me check.\nIt is 12:00 UTC.",
        "metadata": {"annotation_reply": None, "retriever_resources": [], "usage": None},
        "created_at": 1735689600,
    }
    server.add(httpx.Response(200, json=body))
    message = client.send_message("What time is it?")
    assert message.mode == "agent-chat"
    assert message.answer == "Let me check.\nIt is 12:00 UTC."
    assert message.agent_thoughts == [] and message.message_files == []


DIFY_REFUSAL = "Agent Chat App does not support blocking mode"


def test_dify_refusing_blocking_mode_says_to_stream(client: DifyChat, server: FakeServer) -> None:
    server.add(error_body(400, "invalid_param", DIFY_REFUSAL))
    with pytest.raises(BlockingModeNotSupportedError) as caught:
        client.send_message("What time is it?")
    error = caught.value
    assert isinstance(error, InvalidParamError)
    assert (error.status_code, error.code) == (400, "invalid_param")
    assert error.message.startswith(DIFY_REFUSAL)
    assert "stream_message" in error.message and "collect()" in error.message
    assert error.body == {"code": "invalid_param", "message": DIFY_REFUSAL, "status": 400}
    assert json.loads(server.last.content)["response_mode"] == "blocking"


@pytest.mark.anyio
async def test_async_blocking_refusal_is_the_same_error(
    async_client: AsyncDifyChat, server: FakeServer
) -> None:
    server.add(error_body(400, "invalid_param", DIFY_REFUSAL))
    with pytest.raises(BlockingModeNotSupportedError, match="stream_message"):
        await async_client.send_message("What time is it?")


def test_other_invalid_params_stay_plain(client: DifyChat, server: FakeServer) -> None:
    server.add(error_body(400, "invalid_param", "query is required"))
    with pytest.raises(InvalidParamError) as caught:
        client.send_message("")
    assert type(caught.value) is InvalidParamError
    assert caught.value.message == "query is required"


def test_unknown_fields_that_do_not_fit_the_history_shape_are_dropped() -> None:
    parsed = parse_event({**tool_file(), "size": "huge", "note": "kept on the event"})
    assert isinstance(parsed, MessageFileEvent)
    assert parsed.as_file().id == "9c2a" and parsed.as_file().size is None
