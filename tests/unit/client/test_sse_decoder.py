"""The SSE decoder against fragmented and hostile byte streams."""

from __future__ import annotations

import json
import random

import pytest

from difychat._sse import ServerSentEvent, SSEDecoder, iter_sse

# A realistic Dify transcript: data frames with non-ASCII text, a ping keep-alive in between.
PAYLOADS = [
    {"event": "message", "task_id": "t1", "message_id": "m1", "conversation_id": "c1", "answer": "Grüß "},
    {"event": "message", "task_id": "t1", "message_id": "m1", "conversation_id": "c1", "answer": "你好 🌍"},
    {"event": "message_end", "task_id": "t1", "message_id": "m1", "conversation_id": "c1", "metadata": {}},
]
TRANSCRIPT = (
    b"data: " + json.dumps(PAYLOADS[0], ensure_ascii=False).encode() + b"\n\n"
    b"event: ping\n\n"
    b"data: " + json.dumps(PAYLOADS[1], ensure_ascii=False).encode() + b"\n\n"
    b"data: " + json.dumps(PAYLOADS[2], ensure_ascii=False).encode() + b"\n\n"
)


def decode(*chunks: bytes) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    events: list[ServerSentEvent] = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    events.extend(decoder.flush())
    return events


def summary(events: list[ServerSentEvent]) -> list[tuple[str | None, object]]:
    return [(e.event, json.loads(e.data) if e.data else None) for e in events]


EXPECTED = [(None, PAYLOADS[0]), ("ping", None), (None, PAYLOADS[1]), (None, PAYLOADS[2])]


def test_several_events_in_one_chunk_are_all_returned() -> None:
    assert summary(decode(TRANSCRIPT)) == EXPECTED


@pytest.mark.parametrize("split", range(1, len(TRANSCRIPT)))
def test_an_event_split_at_any_byte_decodes_the_same(split: int) -> None:
    # Every split point, including inside "\n\n" and inside multi-byte UTF-8 sequences.
    assert summary(decode(TRANSCRIPT[:split], TRANSCRIPT[split:])) == EXPECTED


# With a multi-line event at the end, where a "\r" | "\n" split would dispatch half of it.
CRLF_TRANSCRIPT = TRANSCRIPT.replace(b"\n", b"\r\n") + b'data: {"a":\r\ndata: 1}\r\n\r\n'


@pytest.mark.parametrize("split", range(1, len(CRLF_TRANSCRIPT)))
def test_a_crlf_stream_split_at_any_byte_decodes_the_same(split: int) -> None:
    # Splitting between "\r" and "\n" must not produce an extra empty line (a premature dispatch).
    assert summary(decode(CRLF_TRANSCRIPT[:split], CRLF_TRANSCRIPT[split:])) == [*EXPECTED, (None, {"a": 1})]


@pytest.mark.parametrize("seed", range(20))
def test_random_fragmentation_decodes_the_same(seed: int) -> None:
    rng = random.Random(seed)
    chunks: list[bytes] = []
    position = 0
    while position < len(TRANSCRIPT):
        size = rng.randint(0, 7)  # empty chunks are legal too
        chunks.append(TRANSCRIPT[position : position + size])
        position += size
    assert summary(decode(*chunks)) == EXPECTED


def test_one_byte_at_a_time_keeps_non_ascii_whole() -> None:
    text = "Ünïcødé ✓ 日本語 🎉"
    raw = f"data: {text}\n\n".encode()
    events = decode(*(raw[i : i + 1] for i in range(len(raw))))
    assert [e.data for e in events] == [text]


def test_ping_without_data_is_dispatched_with_empty_data() -> None:
    events = decode(b"event: ping\n\n")
    assert events == [ServerSentEvent(event="ping", data="")]


def test_crlf_line_endings() -> None:
    events = decode(b'event: ping\r\n\r\ndata: {"a": 1}\r\n\r\n')
    assert [(e.event, e.data) for e in events] == [("ping", ""), (None, '{"a": 1}')]


def test_lone_cr_line_endings() -> None:
    events = decode(b"data: one\r\rdata: two\r\r")
    assert [e.data for e in events] == ["one", "two"]


def test_crlf_split_between_chunks_is_one_line_end_not_two() -> None:
    # If "\r" and "\n" were taken as two line ends, "a" would be dispatched alone.
    events = decode(b"data: a\r", b"\ndata: b\r\n\r\n")
    assert [e.data for e in events] == ["a\nb"]


def test_comments_are_ignored() -> None:
    events = decode(b": keep-alive\n\n:another\ndata: x\n: inside\n\n")
    assert [e.data for e in events] == ["x"]


def test_multi_line_data_is_joined_with_newlines() -> None:
    events = decode(b'data: {"answer":\ndata: "hi"}\n\n')
    assert len(events) == 1
    assert events[0].data == '{"answer":\n"hi"}'
    assert events[0].json() == {"answer": "hi"}


def test_only_one_space_after_the_colon_is_removed() -> None:
    events = decode(b"data:tight\n\ndata:  two spaces\n\n")
    assert [e.data for e in events] == ["tight", " two spaces"]


def test_event_id_and_retry_fields_are_read() -> None:
    events = decode(b"id: 7\nretry: 1500\nevent: custom\ndata: x\n\ndata: y\n\n")
    assert events[0] == ServerSentEvent(event="custom", data="x", id="7", retry=1500)
    # The last event id carries over to later events; retry does not.
    assert events[1] == ServerSentEvent(event=None, data="y", id="7", retry=None)


def test_unknown_fields_and_bad_retry_are_ignored() -> None:
    events = decode(b"foo: bar\nretry: soon\ndata: x\n\n")
    assert events == [ServerSentEvent(data="x")]


def test_blank_lines_alone_dispatch_nothing() -> None:
    assert decode(b"\n\n\r\n\r\n") == []


def test_last_event_without_blank_line_is_flushed_at_the_end() -> None:
    events = decode(b"data: first\n\ndata: last")
    assert [e.data for e in events] == ["first", "last"]


def test_trailing_cr_at_end_of_body_is_a_line_end() -> None:
    events = decode(b"data: last\r")
    assert [e.data for e in events] == ["last"]


def test_byte_order_mark_is_stripped_only_at_the_start() -> None:
    events = decode(b"\xef\xbb\xbfdata: x\n\n", "data: \ufeffy\n\n".encode())
    assert [e.data for e in events] == ["x", "\ufeffy"]


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    events = decode(b"data: ok\xff\xfe\n\ndata: next\n\n")
    assert [e.data for e in events] == ["ok\ufffd\ufffd", "next"]


def test_line_without_colon_is_a_field_name_with_empty_value() -> None:
    events = decode(b"data\ndata\n\n")
    assert [e.data for e in events] == ["\n"]


def test_iter_sse_matches_manual_feeding() -> None:
    pieces = [TRANSCRIPT[i : i + 5] for i in range(0, len(TRANSCRIPT), 5)]
    assert summary(list(iter_sse(pieces))) == EXPECTED
