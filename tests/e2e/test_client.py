"""Every public method of ``DifyChat`` and ``AsyncDifyChat`` against a real ``difychat serve``.

Each test body runs twice, once with the sync client and once with the async one. The async
client lives in an event loop of its own (an anyio blocking portal) and :class:`Blocking` turns
its coroutines, async iterators and async context managers into plain calls, so the same
assertions hold the two clients to the same behaviour, over real HTTP.
"""

from __future__ import annotations

import inspect
import io
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio.from_thread
import pytest

from difychat import (
    AsyncByteStream,
    AsyncChatStream,
    AsyncDifyChat,
    AuthenticationError,
    CompletionRequestError,
    DifyChat,
    NotFoundError,
    PermissionDeniedError,
)
from difychat.types.events import MessageEndEvent, TextDeltaEvent
from tests.e2e.conftest import SERVERS, Launcher, ServerProcess, make_database, write_apps
from tests.e2e.helpers import FAKE_ANSWER, wait_for
from tests.fakes.upstream import FakeUpstream, fake_speech
from tests.integration.conftest import FILES_KEY, OTHER_APP_KEY, PLAIN_KEY, VOICE_KEY

FULL_KEY = "app-fullfullfullfullfullfu01"
NOTES_KEY = "app-notesnotesnotesnotes0001"
FAKE_TITLE = "A fake title"
FAKE_TRANSCRIPT = "Hello from the fake transcriber."

VARIABLES: list[dict[str, Any]] = [
    {"name": "customer_name", "value_type": "string", "value": "John", "description": "Who is asking"},
    {"name": "order_count", "value_type": "number", "value": 2},
]


def _add_apps(document: dict[str, Any]) -> None:
    model = document["apps"][1]["model"]  # the plain app's model: the fake upstream
    document["apps"] += [
        {
            "name": "Full",
            "api_keys": [FULL_KEY],
            "model": model,
            "description": "Answers questions about orders.",
            "tags": ["support", "orders"],
            "opening_statement": "Welcome to the order desk.",
            "suggested_questions": ["Where is my parcel?"],
            "suggested_questions_after_answer": True,
            "speech_to_text": {"enabled": True},
            "text_to_speech": {
                "enabled": True,
                "voice": "alloy",
                "language": "en-US",
                "autoPlay": "disabled",
            },
            "site": {"title": "Order Desk", "chat_color_theme": "#4A90D9", "copyright": "2026 Acme"},
            "agent_mode": {
                "tools": [{"tool_name": "calculator", "icon": {"background": "#252525", "content": "🧮"}}]
            },
            "conversation_variables": VARIABLES,
        },
        {
            "name": "Notes",
            "api_keys": [NOTES_KEY],
            "model": model,
            "embedding_model": {"name": "fake-embedding"},
        },
    ]


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, upstream_server: FakeUpstream
) -> Iterator[ServerProcess]:
    """One ``difychat serve`` on SQLite for the whole module, with the standard apps and two more."""
    root = tmp_path_factory.mktemp("client-e2e")
    launcher = Launcher(root, upstream_server, [])
    config = write_apps(root / "apps.yaml", upstream_server, _add_apps)
    try:
        yield launcher.new(make_database("sqlite", None), config=config)
    finally:
        launcher.stop_all()


@pytest.fixture(autouse=True)
def _show_server_output(
    request: pytest.FixtureRequest, server: ServerProcess, upstream: FakeUpstream
) -> None:
    """A failing test shows the server's log; every test starts with the default upstream."""
    request.node.stash.setdefault(SERVERS, []).append(server)


@pytest.fixture(scope="module")
def portal() -> Iterator[anyio.from_thread.BlockingPortal]:
    with anyio.from_thread.start_blocking_portal("asyncio") as running:
        yield running


class Blocking:
    """An async client (or stream) driven from synchronous code through a blocking portal."""

    def __init__(self, target: Any, portal: anyio.from_thread.BlockingPortal) -> None:
        self._target = target
        self._portal = portal

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if inspect.iscoroutinefunction(value):

            def call(*args: Any, **kwargs: Any) -> Any:
                async def run() -> Any:
                    return await value(*args, **kwargs)

                return self._wrap(self._portal.call(run))

            return call
        if inspect.isasyncgenfunction(value):
            return lambda *args, **kwargs: self._iterate(value(*args, **kwargs))
        return value

    def _wrap(self, result: Any) -> Any:
        if isinstance(result, (AsyncChatStream, AsyncByteStream)):
            return Blocking(result, self._portal)
        return result

    def _iterate(self, iterator: Any) -> Iterator[Any]:
        async def step() -> tuple[bool, Any]:
            try:
                return True, await iterator.__anext__()
            except StopAsyncIteration:
                return False, None

        while True:
            more, item = self._portal.call(step)
            if not more:
                return
            yield item

    def __iter__(self) -> Iterator[Any]:
        return self._iterate(self._target.__aiter__())

    def __enter__(self) -> Blocking:
        self._portal.call(self._target.__aenter__)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._portal.call(self._target.__aexit__, *exc_info)

    def close(self) -> None:
        self._portal.call(self._target.aclose)


MakeClient = Callable[..., Any]


@pytest.fixture(params=["sync", "async"])
def make_client(
    request: pytest.FixtureRequest, server: ServerProcess, portal: anyio.from_thread.BlockingPortal
) -> Iterator[MakeClient]:
    """Builds ``DifyChat`` or (behind :class:`Blocking`) ``AsyncDifyChat`` clients of the server."""
    made: list[Any] = []

    def make(api_key: str = PLAIN_KEY, **kwargs: Any) -> Any:
        kwargs.setdefault("base_url", server.v1)
        kwargs.setdefault("user", f"user-{uuid.uuid4().hex[:12]}")
        kwargs.setdefault("timeout", 30)
        client: Any
        if request.param == "sync":
            client = DifyChat(api_key, **kwargs)
        else:
            client = Blocking(portal.call(lambda: AsyncDifyChat(api_key, **kwargs)), portal)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client: MakeClient) -> Any:
    return make_client()


def skip_if_unserved(exc: NotFoundError, route: str) -> None:
    """Skip when the server has no such route at all (as opposed to a missing resource)."""
    if exc.code == "not_found" and "url was not found" in exc.message.lower():
        pytest.skip(f"the server does not serve {route} yet ({exc})")


# --- chat ----------------------------------------------------------------------------------------


def test_send_message_is_stored_and_listed(client: Any) -> None:
    reply = client.send_message("What is difychat?", inputs={}, auto_generate_name=False)
    assert reply.answer == FAKE_ANSWER
    assert reply.id and reply.id == reply.message_id and reply.conversation_id
    assert reply.metadata.usage is not None and reply.metadata.usage.total_tokens == 16
    follow = client.send_message("And then?", conversation_id=reply.conversation_id)
    assert follow.conversation_id == reply.conversation_id

    page = client.messages(reply.conversation_id)
    assert [(m.id, m.query, m.answer) for m in page.data] == [
        (reply.id, "What is difychat?", FAKE_ANSWER),
        (follow.id, "And then?", FAKE_ANSWER),
    ]
    assert page.has_more is False
    older = client.messages(reply.conversation_id, first_id=follow.id, limit=1)
    assert [m.id for m in older.data] == [reply.id]


def test_stream_message_text_equals_the_stored_answer(client: Any, upstream: FakeUpstream) -> None:
    upstream.behaviour.chunks = ["Streams ", "arrive ", "in ", "pieces."]
    with client.stream_message("Stream it") as stream:
        first = stream.peek()
        assert first is not None
        assert stream.task_id and stream.message_id and stream.conversation_id, "ids known after peek()"
        text = "".join(stream.iter_text())
    assert text == "Streams arrive in pieces." == stream.answer
    assert stream.message_end is not None and stream.usage is not None and stream.usage.total_tokens == 16
    assert stream.closed
    stored = client.messages(stream.conversation_id).data
    assert [(m.id, m.answer) for m in stored] == [(stream.message_id, text)]


def test_stream_collect_matches_a_blocking_reply(client: Any) -> None:
    with client.stream_message("Collect it") as stream:
        message = stream.collect()
    assert message.answer == FAKE_ANSWER
    assert message.id == stream.message_id and message.conversation_id == stream.conversation_id
    assert message.metadata.usage is not None and message.metadata.usage.completion_tokens == 5


def test_stop_stream_mid_answer_ends_with_message_end_and_keeps_the_partial_answer(
    client: Any, upstream: FakeUpstream
) -> None:
    upstream.behaviour.chunks = [f"part{i} " for i in range(40)]
    upstream.behaviour.gap = 0.1
    with client.stream_message("Tell me a long story") as stream:
        events = iter(stream)
        first = next(e for e in events if isinstance(e, TextDeltaEvent))
        assert first.answer == "part0 "
        client.stop_stream(stream.task_id)
        rest = list(events)
    assert isinstance(rest[-1], MessageEndEvent), rest[-1]
    assert stream.answer.startswith("part0 ") and len(stream.answer) < len("".join(upstream.behaviour.chunks))
    stored = wait_for(lambda: client.messages(stream.conversation_id).data)
    assert stored[0].answer == stream.answer


def test_chat_stream_stop_keeps_the_partial_answer(client: Any, upstream: FakeUpstream) -> None:
    upstream.behaviour.chunks = [f"bit{i} " for i in range(40)]
    upstream.behaviour.gap = 0.1
    with client.stream_message("Another long story") as stream:
        for text in stream.iter_text():
            assert text == "bit0 "
            stream.stop()
    assert stream.closed
    received = stream.answer
    assert received.startswith("bit0 ")
    full = "".join(upstream.behaviour.chunks)

    def saved() -> str | None:
        data = client.messages(stream.conversation_id).data
        return data[0].answer if data and data[0].answer.startswith("bit0 ") else None

    answer = wait_for(saved)
    assert answer is not None and answer.startswith(received) and len(answer) < len(full)
    assert list(stream) == [], "a stopped stream yields nothing more"


def test_feedback_appears_on_the_message_and_in_app_feedbacks(client: Any) -> None:
    reply = client.send_message("Rate me")
    client.message_feedback(reply.id, "like", content="Spot on")
    message = client.messages(reply.conversation_id).data[0]
    assert message.feedback is not None and message.feedback.rating == "like"
    rows = [f for f in client.app_feedbacks(page=1, limit=100).data if f.message_id == reply.id]
    assert [(f.rating, f.content, f.conversation_id) for f in rows] == [
        ("like", "Spot on", reply.conversation_id)
    ]

    client.message_feedback(reply.id, "dislike")
    assert client.messages(reply.conversation_id).data[0].feedback.rating == "dislike"
    client.message_feedback(reply.id, None)
    assert client.messages(reply.conversation_id).data[0].feedback is None
    assert not [f for f in client.app_feedbacks(limit=100).data if f.message_id == reply.id]


def test_suggested_questions(make_client: MakeClient, upstream: FakeUpstream) -> None:
    client = make_client(FULL_KEY)
    reply = client.send_message("Where is my order?", auto_generate_name=False)
    upstream.behaviour.completion = '["Can I track it?", "Can I cancel?", "Ship faster?"]'
    try:
        questions = client.suggested_questions(reply.id)
    except NotFoundError as exc:
        skip_if_unserved(exc, "/messages/{id}/suggested")
        raise
    assert questions == ["Can I track it?", "Can I cancel?", "Ship faster?"]


# --- conversations -------------------------------------------------------------------------------


def test_conversations_page_newest_first(client: Any) -> None:
    created = [client.send_message(f"topic {i}", auto_generate_name=False).conversation_id for i in range(3)]
    first = client.conversations(limit=2)
    assert [c.id for c in first.data] == created[:0:-1] and first.has_more is True and first.limit == 2
    second = client.conversations(limit=2, last_id=first.data[-1].id)
    assert [c.id for c in second.data] == created[:1] and second.has_more is False
    oldest_first = client.conversations(sort_by="created_at", limit=10)
    assert [c.id for c in oldest_first.data] == created


def test_rename_and_auto_generate(client: Any) -> None:
    reply = client.send_message("Plan a trip", auto_generate_name=False)
    renamed = client.rename_conversation(reply.conversation_id, "Trip to Lisbon")
    assert (renamed.id, renamed.name) == (reply.conversation_id, "Trip to Lisbon")
    assert client.conversations().data[0].name == "Trip to Lisbon"
    titled = client.rename_conversation(reply.conversation_id, auto_generate=True)
    assert titled.name == FAKE_TITLE
    assert client.conversations().data[0].name == FAKE_TITLE
    with pytest.raises(ValueError):
        client.rename_conversation(reply.conversation_id)


def test_delete_conversation_then_not_found(client: Any) -> None:
    reply = client.send_message("Forget me")
    client.delete_conversation(reply.conversation_id)
    assert reply.conversation_id not in [c.id for c in client.conversations().data]
    with pytest.raises(NotFoundError) as caught:
        client.messages(reply.conversation_id)
    assert caught.value.status_code == 404 and caught.value.code == "not_found"
    with pytest.raises(NotFoundError):
        client.delete_conversation(reply.conversation_id)


def test_conversation_variables_list_and_update(make_client: MakeClient) -> None:
    client = make_client(FULL_KEY)
    reply = client.send_message("hi", auto_generate_name=False)
    try:
        page = client.conversation_variables(reply.conversation_id)
    except NotFoundError as exc:
        skip_if_unserved(exc, "/conversations/{id}/variables")
        raise
    assert [(v.name, v.value_type, v.value) for v in page.data] == [
        ("customer_name", "string", "John"),
        ("order_count", "number", "2"),
    ]
    name = page.data[0]
    updated = client.update_conversation_variable(reply.conversation_id, name.id, "Maria")
    assert (updated.id, updated.name, updated.value) == (name.id, "customer_name", "Maria")
    only = client.conversation_variables(reply.conversation_id, variable_name="customer_name")
    assert [(v.id, v.value) for v in only.data] == [(name.id, "Maria")]
    paged = client.conversation_variables(reply.conversation_id, limit=1)
    assert len(paged.data) == 1 and paged.has_more is True


# --- files and audio -----------------------------------------------------------------------------


def test_upload_file_from_path_bytes_and_file_object(make_client: MakeClient, tmp_path: Path) -> None:
    client = make_client(FILES_KEY)
    path = tmp_path / "notes.txt"
    path.write_text("from a path")
    from_path = client.upload_file(path)
    assert (from_path.name, from_path.size, from_path.extension) == ("notes.txt", 11, "txt")
    assert from_path.mime_type == "text/plain" and from_path.id

    from_bytes = client.upload_file(b"raw bytes", filename="raw.md")
    assert (from_bytes.name, from_bytes.size, from_bytes.extension) == ("raw.md", 9, "md")
    assert from_bytes.mime_type == "text/markdown"

    with path.open("rb") as handle:
        from_handle = client.upload_file(handle)
    assert (from_handle.name, from_handle.size) == ("notes.txt", 11)

    in_memory = client.upload_file(io.BytesIO(b"buffered"), filename="buf.txt", mime_type="text/plain")
    assert (in_memory.name, in_memory.size, in_memory.mime_type) == ("buf.txt", 8, "text/plain")
    assert len({from_path.id, from_bytes.id, from_handle.id, in_memory.id}) == 4


def test_file_preview_of_a_file_sent_in_a_message(make_client: MakeClient) -> None:
    client = make_client(FILES_KEY)
    uploaded = client.upload_file(b"quarterly numbers", filename="report.txt")
    reply = client.send_message("Summarise the file", files=[uploaded])
    files = client.messages(reply.conversation_id).data[0].message_files
    assert [f.id for f in files] and files[0].filename == "report.txt"

    preview = client.file_preview(uploaded.id)
    assert preview.content == b"quarterly numbers"
    assert preview.content_type is not None and preview.content_type.startswith("text/plain")
    attachment = client.file_preview(uploaded.id, as_attachment=True)
    assert attachment.content == b"quarterly numbers" and attachment.filename == "report.txt"

    with pytest.raises(NotFoundError):
        client.file_preview(str(uuid.uuid4()))
    with pytest.raises(PermissionDeniedError):
        client.file_preview(uploaded.id, api_key=PLAIN_KEY)


def test_audio_to_text(make_client: MakeClient, upstream: FakeUpstream, tmp_path: Path) -> None:
    client = make_client(VOICE_KEY)
    assert client.audio_to_text(b"\xff\xfbfake-mp3", filename="question.mp3") == FAKE_TRANSCRIPT
    recording = tmp_path / "memo.wav"
    recording.write_bytes(b"RIFFfake-wav")
    assert client.audio_to_text(recording) == FAKE_TRANSCRIPT
    sent = upstream.aux("transcriptions")
    assert [(r["filename"], r["size"], r["content_type"]) for r in sent] == [
        ("question.mp3", 10, "audio/mp3"),
        ("memo.wav", 12, "audio/wav"),
    ]


def test_text_to_audio_and_its_stream(make_client: MakeClient, upstream: FakeUpstream) -> None:
    client = make_client(VOICE_KEY)
    assert client.text_to_audio(text="Good morning") == fake_speech("Good morning", "nova")
    assert client.text_to_audio(text="Good evening", voice="echo") == fake_speech("Good evening", "echo")

    reply = client.send_message("Say something")
    assert client.text_to_audio(message_id=reply.id) == fake_speech(FAKE_ANSWER, "nova")

    upstream.behaviour.speech_gap = 0.2
    with client.text_to_audio_stream(text="Streamed speech") as audio:
        assert audio.content_type is not None and audio.content_type.startswith("audio/")
        chunks = list(audio)
    assert b"".join(chunks) == fake_speech("Streamed speech", "nova")
    assert len(chunks) >= 2, "the audio arrives in pieces, not buffered"


# --- the app -------------------------------------------------------------------------------------


def _app_call(client: Any, method: str) -> Any:
    try:
        return getattr(client, method)()
    except NotFoundError as exc:
        skip_if_unserved(exc, f"/{method}")
        raise


def test_parameters(make_client: MakeClient) -> None:
    params = _app_call(make_client(FULL_KEY), "parameters")
    assert params.opening_statement == "Welcome to the order desk."
    assert params.suggested_questions == ["Where is my parcel?"]
    assert params.suggested_questions_after_answer.enabled is True
    assert params.speech_to_text.enabled is True and params.text_to_speech.enabled is True
    assert params.annotation_reply.enabled is False
    plain = _app_call(make_client(PLAIN_KEY), "parameters")
    assert plain.opening_statement in ("", None) and plain.speech_to_text.enabled is False


def test_info_meta_and_site(make_client: MakeClient) -> None:
    client = make_client(FULL_KEY)
    info = _app_call(client, "info")
    assert (info.name, info.description, info.tags) == (
        "Full",
        "Answers questions about orders.",
        ["support", "orders"],
    )
    assert info.mode == "chat"
    meta = _app_call(client, "meta")
    assert "calculator" in meta.tool_icons
    site = _app_call(client, "site")
    assert (site.title, site.chat_color_theme, site.copyright) == ("Order Desk", "#4A90D9", "2026 Acme")


def test_annotations_crud_and_reply(make_client: MakeClient) -> None:
    client = make_client(NOTES_KEY)
    tag = uuid.uuid4().hex[:8]
    question = f"What are the opening hours of shop {tag}?"
    note = client.create_annotation(question, "9 to 5.")
    assert (note.question, note.answer, note.hit_count) == (question, "9 to 5.", 0)
    listed = client.annotations(keyword=tag)
    assert [(a.id, a.answer) for a in listed.data] == [(note.id, "9 to 5.")] and listed.total == 1

    changed = client.update_annotation(note.id, question, "10 to 6.")
    assert (changed.id, changed.answer) == (note.id, "10 to 6.")
    assert client.annotations(keyword=tag, page=1, limit=5).data[0].answer == "10 to 6."

    settings = {
        "score_threshold": 0.9,
        "embedding_provider_name": "openai",
        "embedding_model_name": "fake-embedding",
    }
    job = client.enable_annotation_reply(**settings)
    assert job.job_id and job.job_status in ("waiting", "processing", "completed")
    done = wait_for(lambda: client.annotation_reply_status("enable", job.job_id).job_status == "completed")
    assert done, client.annotation_reply_status("enable", job.job_id)
    try:
        reply = client.send_message(question)
        assert reply.answer == "10 to 6."
        assert reply.metadata.annotation_reply is not None and reply.metadata.annotation_reply.id == note.id
        assert client.annotations(keyword=tag).data[0].hit_count == 1
    finally:
        off = client.disable_annotation_reply(**settings)
        assert wait_for(
            lambda: client.annotation_reply_status("disable", off.job_id).job_status == "completed"
        )
    assert client.send_message(question).answer == FAKE_ANSWER

    client.delete_annotation(note.id)
    assert client.annotations(keyword=tag).data == []
    with pytest.raises(NotFoundError):
        client.delete_annotation(note.id)


# --- errors and keys -----------------------------------------------------------------------------


def test_a_bad_key_raises_authentication_error(make_client: MakeClient) -> None:
    client = make_client("app-thiskeydoesnotexist00001")
    with pytest.raises(AuthenticationError) as caught:
        client.send_message("hi")
    error = caught.value
    assert error.status_code == 401 and error.code == "unauthorized" and error.message
    assert isinstance(error.body, dict) and error.body["code"] == "unauthorized"
    assert error.body["message"] == error.message and error.in_stream is False
    with pytest.raises(AuthenticationError):
        client.stream_message("hi")
    with pytest.raises(AuthenticationError):
        client.conversations()


def test_unknown_conversation_raises_not_found(client: Any) -> None:
    unknown = str(uuid.uuid4())
    with pytest.raises(NotFoundError) as caught:
        client.send_message("hi", conversation_id=unknown)
    assert caught.value.status_code == 404 and caught.value.code == "not_found"
    with pytest.raises(NotFoundError):
        client.messages(unknown)
    with pytest.raises(NotFoundError):
        client.rename_conversation(unknown, "x")
    with pytest.raises(NotFoundError) as streamed:
        client.stream_message("hi", conversation_id=unknown)
    assert streamed.value.in_stream is False, "raised before the stream starts"


def test_an_upstream_failure_mid_stream_raises_from_iteration(client: Any, upstream: FakeUpstream) -> None:
    upstream.behaviour.error_event_after = 2
    with client.stream_message("This will break") as stream:
        received: list[str] = []
        with pytest.raises(CompletionRequestError) as caught:
            for text in stream.iter_text():
                received.append(text)
    error = caught.value
    assert error.in_stream is True and error.status_code == 400 and error.code == "completion_request_error"
    assert "".join(received) == "Hello from" == stream.answer
    saved = client.messages(stream.conversation_id).data[0]
    assert (saved.status, saved.answer) == ("error", "Hello from")


def test_an_upstream_failure_before_the_answer_raises_from_iteration(
    client: Any, upstream: FakeUpstream
) -> None:
    upstream.behaviour.status = 500
    # The stream has started (as Dify's would): the model's failure is its first event.
    with (
        client.stream_message("This fails at once") as stream,
        pytest.raises(CompletionRequestError) as caught,
    ):
        stream.collect()
    assert caught.value.in_stream is True and caught.value.status_code == 400
    assert "upstream exploded" in caught.value.message
    saved = client.messages(stream.conversation_id).data[0]
    assert (saved.status, saved.answer) == ("error", "")


def test_a_per_call_api_key_reaches_another_app(client: Any) -> None:
    reply = client.send_message("For the other app", api_key=OTHER_APP_KEY)
    assert reply.answer == FAKE_ANSWER
    with pytest.raises(NotFoundError):
        client.messages(reply.conversation_id)
    assert [m.id for m in client.messages(reply.conversation_id, api_key=OTHER_APP_KEY).data] == [reply.id]
    assert [c.id for c in client.conversations(api_key=OTHER_APP_KEY).data] == [reply.conversation_id]
    assert client.conversations().data == []
    with client.stream_message("Streamed to the other app", api_key=OTHER_APP_KEY) as stream:
        stream.collect()
    listed = client.conversations(api_key=OTHER_APP_KEY).data
    assert {c.id for c in listed} == {reply.conversation_id, stream.conversation_id}
