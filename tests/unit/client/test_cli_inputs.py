"""``difychat chat``: the app's form values checked before anything is sent, and where it connects."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from difychat import DifyChat
from difychat.cli._console import PlainOutput
from difychat.cli._inputs import FormInput, InvalidValue, form_inputs
from difychat.cli._session import ChatSession
from difychat.cli.chat import choose_base_url
from tests.unit.client.client_fakes import event, sse_response

FORM = [
    {"text-input": {"label": "Name", "variable": "name", "required": False, "max_length": 5}},
    {"select": {"label": "Company", "variable": "company", "required": True, "options": ["Acme", "Globex"]}},
    {"number": {"label": "Age", "variable": "age", "required": True}},
    {"checkbox": {"label": "VIP", "variable": "vip", "required": False}},
    {"file": {"label": "Photo", "variable": "photo", "required": True}},
    {"external_data_tool": {"variable": "weather", "type": "api"}},
]
COMPANY = FormInput("select", "company", "Company", True, ("Acme", "Globex", "acme corp"))


def test_the_typed_fields_of_the_form_in_order() -> None:
    fields = form_inputs(FORM)
    assert [(f.kind, f.variable, f.required) for f in fields] == [
        ("text-input", "name", False),
        ("select", "company", True),
        ("number", "age", True),
        ("checkbox", "vip", False),
    ]
    assert fields[0].max_length == 5 and fields[1].options == ("Acme", "Globex")
    assert form_inputs([{"select": {"label": "no variable"}}, "junk", {"number": None}]) == []


def test_a_select_takes_a_number_or_an_option() -> None:
    assert COMPANY.parse("2") == "Globex"
    assert COMPANY.parse(" Acme ") == "Acme"
    assert COMPANY.parse("GLOBEX") == "Globex"  # one option matches without case
    assert COMPANY.parse("ACME CORP") == "acme corp"
    for wrong in ("0", "4", "Initech", ""):
        with pytest.raises(InvalidValue):
            COMPANY.parse(wrong)
    with pytest.raises(InvalidValue, match="choose 1-3, or one of: Acme, Globex, acme corp"):
        COMPANY.parse("Initech")
    assert COMPANY.choices() == ["  1) Acme", "  2) Globex", "  3) acme corp"]
    assert COMPANY.prompt() == "Company [1-3]: "


def test_numbers_checkboxes_text_and_empty_values() -> None:
    age = FormInput("number", "age", "Age", required=True)
    assert age.parse("42") == 42 and age.parse("1.5") == 1.5 and age.parse("1e3") == 1000.0
    for wrong in ("forty", "nan", "inf", ""):
        with pytest.raises(InvalidValue):
            age.parse(wrong)
    vip = FormInput("checkbox", "vip", "VIP")
    assert vip.parse("Yes") is True and vip.parse("n") is False and vip.parse("") is None
    with pytest.raises(InvalidValue, match="y or n"):
        vip.parse("maybe")
    name = FormInput("text-input", "name", "Name", max_length=5)
    assert name.parse(" Ann") == " Ann" and name.parse("") is None
    with pytest.raises(InvalidValue, match="at most 5 characters, not 6"):
        name.parse("Annabel"[:6])


class App:
    """/parameters with ``FORM``; chat answers recorded."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/v1")
        if path == "/parameters":
            return httpx.Response(200, json={"user_input_form": FORM})
        if path == "/info":
            return httpx.Response(200, json={"name": "Form Bot"})
        if path == "/chat-messages":
            self.bodies.append(json.loads(request.read()))
            ids = {"conversation_id": "conv-1", "message_id": "m", "created_at": 1, "task_id": "t"}
            response, _ = sse_response(
                event({"event": "message", **ids, "answer": "ok"}),
                event({"event": "message_end", **ids, "metadata": {}}),
            )
            return response
        raise AssertionError(f"unexpected {path}")


def session(
    app: App, answers: list[str], inputs: dict[str, Any] | None = None
) -> tuple[ChatSession, list[str], io.StringIO]:
    """A chat session reading ``answers``; with the prompts it asked and what it printed."""
    out = io.StringIO()
    typed: Iterator[str] = iter(answers)
    prompts: list[str] = []

    def read(prompt: str) -> str:
        prompts.append(prompt)
        try:
            return next(typed)
        except StopIteration:
            raise EOFError from None

    http = httpx.Client(transport=httpx.MockTransport(app))
    client = DifyChat("app-x", base_url="http://app.test/v1", http_client=http)
    chat = ChatSession(client, PlainOutput(out), user="u", inputs=inputs, read_line=read)
    chat.start()
    assert chat.run() == 0
    return chat, prompts, out


def test_required_values_are_asked_and_wrong_ones_asked_again_before_sending() -> None:
    app = App()
    _, prompts, out = session(app, ["Initech", "2", "forty", "40", "hello"])
    printed = out.getvalue()
    assert "Company: pick one by number or by name\n  1) Acme\n  2) Globex\n" in printed
    assert "error: Company: choose 1-2, or one of: Acme, Globex" in printed
    assert "error: Age must be a number, not 'forty'" in printed
    assert prompts[:4] == ["Company [1-2]: ", "Company [1-2]: ", "Age (a number): ", "Age (a number): "]
    assert [(b["query"], b["inputs"]) for b in app.bodies] == [("hello", {"company": "Globex", "age": 40})]


def test_given_values_are_checked_and_unknown_ones_dropped() -> None:
    app = App()
    given = {"company": "globex", "age": "x", "name": "far too long", "color": "red", "vip": "yes"}
    _, prompts, out = session(app, ["", "7", "hi"], inputs=given)
    printed = out.getvalue()
    assert (
        "error: the app has no input 'color' (its inputs: age, company, name, photo, vip, weather); "
        "it is not sent" in printed
    )
    assert "error: Name takes at most 5 characters, not 12" in printed
    # The bad age is asked again; the too-long optional name is asked again and may be left empty.
    assert prompts[:2] == ["Name: ", "Age (a number): "]
    assert app.bodies[0]["inputs"] == {"company": "Globex", "age": 7, "vip": True}


def test_inputs_command_changes_values_and_starts_a_new_conversation() -> None:
    app = App()
    chat, prompts, _ = session(app, ["1", "30", "first", "/inputs", "", "2", "", "", "second"])
    first, second = app.bodies
    assert first["inputs"] == {"company": "Acme", "age": 30}
    assert second["inputs"] == {"company": "Globex", "age": 30}
    assert "conversation_id" not in second, "a conversation keeps its inputs: a new one starts"
    assert "Age (a number) (Enter keeps 30): " in prompts
    assert chat.inputs == {"company": "Globex", "age": 30}


def test_the_chat_finds_a_local_server_or_says_it_uses_dify_cloud(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DIFY_BASE_URL", raising=False)
    monkeypatch.delenv("DIFYCHAT_PORT", raising=False)
    out = io.StringIO()
    asked: list[str] = []

    def probe(up: bool) -> Any:
        def answer(root: str) -> bool:
            asked.append(root)
            return up

        return answer

    assert choose_base_url(None, PlainOutput(out), probe=probe(True)) == "http://127.0.0.1:5001/v1"
    assert "Using the server at http://127.0.0.1:5001/v1" in out.getvalue()
    monkeypatch.setenv("DIFYCHAT_PORT", "6123")
    assert choose_base_url(None, PlainOutput(out), probe=probe(False)) == "https://api.dify.ai/v1"
    assert asked == ["http://127.0.0.1:5001", "http://127.0.0.1:6123"]
    assert "Using Dify cloud, https://api.dify.ai/v1: no --base-url, no DIFY_BASE_URL" in out.getvalue()
    # Given or set, the URL is used as it is, and nothing is probed.
    assert choose_base_url("http://h/v1", PlainOutput(out), probe=probe(True)) == "http://h/v1"
    monkeypatch.setenv("DIFY_BASE_URL", "http://env/v1")
    assert choose_base_url(None, PlainOutput(out), probe=probe(True)) == "http://env/v1"
    assert len(asked) == 2
