"""The ``difychat chat`` session, driven by scripted input against a fake app."""

from __future__ import annotations

import io
import json
import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from difychat import DifyChat
from difychat.cli import main
from difychat.cli._console import PlainOutput
from difychat.cli._session import ChatSession
from tests.unit.client.client_fakes import event, sse_response

PARAMS = {
    "opening_statement": "Hi, I am the test bot.",
    "suggested_questions": ["What can you do?", "Who made you?"],
    "suggested_questions_after_answer": {"enabled": True},
    "user_input_form": [
        {"text-input": {"label": "Your name", "variable": "name", "required": True}},
        {"select": {"label": "Tone", "variable": "tone", "required": False}},
    ],
}
CONVERSATIONS = [
    {
        "id": "conv-1",
        "name": "Older chat",
        "inputs": {},
        "status": "normal",
        "created_at": 1,
        "updated_at": 2,
    },
    {"id": "conv-2", "name": "Newest", "inputs": {}, "status": "normal", "created_at": 3, "updated_at": 4},
]


class App:
    """A fake app: routes by method and path, records the requests."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.answers: list[list[bytes | BaseException]] = []
        self.streams: list[Any] = []
        self.history: list[dict[str, Any]] = [
            {"id": "m0", "query": "earlier question", "answer": "earlier answer"}
        ]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        route = (request.method, request.url.path.removeprefix("/v1"))
        if route == ("GET", "/parameters"):
            return httpx.Response(200, json=PARAMS)
        if route == ("GET", "/info"):
            return httpx.Response(200, json={"name": "Test Bot"})
        if route == ("POST", "/chat-messages"):
            response, body = sse_response(*self.answers.pop(0))
            self.streams.append(body)
            return response
        if route[1].endswith("/stop"):
            return httpx.Response(200, json={"result": "success"})
        if route[1].endswith("/suggested"):
            return httpx.Response(200, json={"result": "success", "data": ["Tell me more?"]})
        if route == ("GET", "/conversations"):
            return httpx.Response(200, json={"limit": 20, "has_more": False, "data": CONVERSATIONS})
        if route == ("GET", "/messages"):
            return httpx.Response(200, json={"limit": 6, "has_more": False, "data": self.history})
        if route == ("POST", "/files/upload"):
            return httpx.Response(
                201, json={"id": "up-1", "name": "notes.txt", "size": 5, "extension": "txt"}
            )
        if route == ("POST", "/conversations/conv-9/name"):
            return httpx.Response(200, json={"id": "conv-9", "name": "Auto title"})
        raise AssertionError(f"unexpected {route}")

    def chat_bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests if r.url.path.endswith("/chat-messages")]


def answer(
    *texts: str, conversation_id: str = "conv-9", task_id: str = "task-1"
) -> list[bytes | BaseException]:
    ids = {"conversation_id": conversation_id, "message_id": "msg-1", "created_at": 1, "task_id": task_id}
    frames: list[bytes | BaseException] = [event({"event": "message", **ids, "answer": t}) for t in texts]
    return [*frames, event({"event": "message_end", **ids, "metadata": {}})]


def lines(*items: str) -> Callable[[str], str]:
    queue: Iterator[str] = iter(items)

    def read(prompt: str) -> str:
        try:
            return next(queue)
        except StopIteration:
            raise EOFError from None

    return read


@pytest.fixture
def app() -> App:
    return App()


def run(app: App, *inputs: str, **kwargs: Any) -> str:
    out = io.StringIO()
    http = httpx.Client(transport=httpx.MockTransport(app))
    client = DifyChat("app-cli", base_url="http://app.test/v1", http_client=http)
    session = ChatSession(client, PlainOutput(out), user="carol", read_line=lines(*inputs), **kwargs)
    session.start()
    assert session.run() == 0
    return out.getvalue()


def test_greeting_suggestions_and_required_inputs(app: App) -> None:
    app.answers.append(answer("Hello ", "Ann!"))
    output = run(app, "Ann", "hi")
    assert "Test Bot" in output
    assert "Hi, I am the test bot." in output
    assert "/1  What can you do?" in output
    assert "bot> Hello Ann!" in output
    assert app.chat_bodies()[0]["inputs"] == {"name": "Ann"}
    assert app.chat_bodies()[0]["user"] == "carol"


def test_conversation_continues_and_suggestions_can_be_asked(app: App) -> None:
    app.answers += [answer("one"), answer("two")]
    output = run(app, "Ann", "first", "/1")
    first, second = app.chat_bodies()
    assert "conversation_id" not in first
    assert second["conversation_id"] == "conv-9"
    assert second["query"] == "Tell me more?"  # the suggestion fetched after the first answer
    assert "bot> two" in output


def test_ctrl_c_during_an_answer_stops_it_on_the_server(app: App) -> None:
    frames = answer("partial", "never shown")
    app.answers += [[frames[0], KeyboardInterrupt()], answer("after")]
    output = run(app, "Ann", "long story", "next")
    stops = [r for r in app.requests if r.url.path.endswith("/stop")]
    assert len(stops) == 1
    assert stops[0].url.path == "/v1/chat-messages/task-1/stop"
    assert json.loads(stops[0].content) == {"user": "carol"}
    assert "partial [stopped]" in output
    assert "never shown" not in output
    assert app.streams[0].closed
    assert "bot> after" in output  # the session goes on


class CtrlCOn(PlainOutput):
    """Plain output where the user presses Ctrl-C (a real SIGINT) just as ``text`` is shown."""

    def __init__(self, out: io.StringIO, text: str) -> None:
        super().__init__(out)
        self._text = text

    def delta(self, text: str) -> None:
        if text == self._text:
            os.kill(os.getpid(), signal.SIGINT)
        super().delta(text)


class HeldAnswer(httpx.SyncByteStream):
    """An answer streamed up to ``held``, then, once a stop was asked for, the rest."""

    def __init__(
        self, held: list[bytes | BaseException], rest: list[bytes | BaseException], stop: threading.Event
    ):
        self._held, self._rest, self._stop = held, rest, stop

    def __iter__(self) -> Iterator[bytes]:
        for frame in self._held:
            assert isinstance(frame, bytes)
            yield frame
        assert self._stop.wait(10), "no stop request came"
        for frame in self._rest:
            assert isinstance(frame, bytes)
            yield frame


class StoppableApp(App):
    """The fake app, whose chat answer waits after its first words until it is stopped."""

    def __init__(self, frames: list[bytes | BaseException], held: int) -> None:
        super().__init__()
        self._frames, self._held = frames, held
        self.stop = threading.Event()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/stop"):
            self.stop.set()
        if (request.method, request.url.path) == ("POST", "/v1/chat-messages"):
            request.read()
            self.requests.append(request)
            body = HeldAnswer(self._frames[: self._held], self._frames[self._held :], self.stop)
            return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=body)
        return super().__call__(request)


def test_ctrl_c_pressed_while_a_word_is_shown_loses_no_word() -> None:
    # The key arrives between taking an event from the reader and printing it: that event is
    # still printed, then the stop is sent, then what the server sends until the end is shown.
    app = StoppableApp(answer("one", " two", " three"), held=2)
    out = io.StringIO()
    http = httpx.Client(transport=httpx.MockTransport(app))
    client = DifyChat("app-cli", base_url="http://app.test/v1", http_client=http)
    session = ChatSession(client, CtrlCOn(out, " two"), user="carol", read_line=lines("Ann", "long story"))
    session.start()
    assert session.run() == 0
    assert "bot> one two three [stopped]" in out.getvalue()
    assert [r.url.path for r in app.requests if r.url.path.endswith("/stop")] == [
        "/v1/chat-messages/task-1/stop"
    ]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # given back after the answer


def test_list_and_resume_a_conversation(app: App) -> None:
    app.answers.append(answer("resumed", conversation_id="conv-2"))
    output = run(app, "Ann", "/list", "/resume 2", "go on")
    assert "Older chat" in output and "conv-2" in output
    assert "earlier answer" in output
    assert app.chat_bodies()[0]["conversation_id"] == "conv-2"


def test_upload_attaches_to_the_next_message_only(app: App, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    app.answers += [answer("read it"), answer("plain")]
    output = run(app, "Ann", f"/upload {notes}", "summarise", "again")
    first, second = app.chat_bodies()
    assert first["files"] == [{"type": "document", "transfer_method": "local_file", "upload_file_id": "up-1"}]
    assert "files" not in second
    assert "Attached notes.txt" in output


def test_rename_without_a_name_auto_generates(app: App) -> None:
    app.answers.append(answer("x"))
    output = run(app, "Ann", "hi", "/rename")
    rename = [r for r in app.requests if r.url.path.endswith("/name")][0]
    assert json.loads(rename.content) == {"auto_generate": True, "user": "carol"}
    assert "Auto title" in output


def test_server_error_is_shown_and_the_session_continues(app: App) -> None:
    failure = {
        "event": "error",
        "conversation_id": "c",
        "message_id": "m",
        "created_at": 1,
        "code": "completion_request_error",
        "status": 400,
        "message": "model timed out",
    }
    app.answers += [[event(failure)], answer("fine")]
    output = run(app, "Ann", "hi", "again")
    assert "model timed out" in output
    assert "bot> fine" in output


def test_rich_output_renders_the_same_session(app: App) -> None:
    from difychat.cli._console import RichOutput

    app.answers.append(answer("rich ", "answer"))
    out = io.StringIO()
    client = DifyChat(
        "app-cli", base_url="http://app.test/v1", http_client=httpx.Client(transport=httpx.MockTransport(app))
    )
    session = ChatSession(client, RichOutput(out), user="carol", read_line=lines("Ann", "hi", "/list"))
    session.start()
    assert session.run() == 0
    text = out.getvalue()
    assert "rich answer" in text
    assert "Older chat" in text
    assert "What can you do?" in text


def test_unknown_command_and_help(app: App) -> None:
    output = run(app, "Ann", "/nope", "/help", "/quit", "never sent")
    assert "unknown command /nope" in output
    assert "/resume" in output
    assert app.chat_bodies() == []


def test_cli_without_api_key_exits_with_a_clear_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chat", "--plain", "--base-url", "http://127.0.0.1:9/v1"]) == 2
    assert "DIFY_API_KEY" in capsys.readouterr().out


def test_cli_reports_an_unreachable_server(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "chat",
        "--plain",
        "--api-key",
        "app-x",
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--max-retries",
        "0",
    ]
    code = main(argv)
    assert code == 1
    assert "cannot reach the app" in capsys.readouterr().out
