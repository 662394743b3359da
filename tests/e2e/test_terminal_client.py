"""``difychat chat`` in a pseudo-terminal, talking to a real ``difychat serve``.

The terminal client runs in ``--plain`` mode, so what it prints is plain text; what it did is
checked on the server through the HTTP API.
"""

from __future__ import annotations

import re
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest

from tests.e2e.conftest import ServerProcess, difychat_command
from tests.e2e.helpers import FAKE_ANSWER, conversations, messages, wait_for
from tests.fakes.upstream import FakeUpstream
from tests.integration.conftest import FILES_KEY, SUPPORT_KEY

if sys.platform == "win32":  # pragma: no cover
    pytest.skip("pexpect needs a POSIX pseudo-terminal", allow_module_level=True)

PROMPT = "you> "
TIMEOUT = 15


class Terminal:
    """One ``difychat chat`` process in a pseudo-terminal."""

    def __init__(self, server: ServerProcess, user: str, key: str = FILES_KEY) -> None:
        command, *args = difychat_command()
        args += ["chat", "--plain", "--base-url", server.v1, "--api-key", key, "--user", user]
        self.child = pexpect.spawn(
            command, args, env=server.env(), encoding="utf-8", timeout=TIMEOUT, dimensions=(40, 200)
        )

    def expect(self, pattern: str | re.Pattern[str]) -> str:
        """Wait for ``pattern``; returns everything printed before it (and the match)."""
        self.child.expect(pattern)
        return str(self.child.before) + str(self.child.after)

    def prompt(self) -> str:
        return self.expect(re.escape(PROMPT))

    def say(self, line: str, *, through: str | None = None) -> str:
        """Type a line and return what was printed until the next prompt.

        Output that itself contains the prompt (history) names its last text in ``through``.
        """
        self.child.sendline(line)
        printed = self.expect(re.escape(through)) if through is not None else ""
        return printed + self.prompt()

    def close(self) -> None:
        if self.child.isalive():
            self.child.sendeof()
            self.child.expect(pexpect.EOF)
            self.child.close()
        if self.child.isalive():
            self.child.close(force=True)


@pytest.fixture
def terminal(served_sqlite: ServerProcess) -> Iterator[Any]:
    opened: list[Terminal] = []

    def open_terminal(user: str) -> Terminal:
        terminal = Terminal(served_sqlite, user)
        opened.append(terminal)
        terminal.expect(r"== Files ==")
        terminal.prompt()
        return terminal

    yield open_terminal
    for terminal in opened:
        terminal.close()


def new_user() -> str:
    return f"tty-{uuid.uuid4().hex[:10]}"


def test_streamed_answers_follow_up_and_ctrl_c_stops_the_answer(
    served_sqlite: ServerProcess, terminal: Any, upstream: FakeUpstream
) -> None:
    user = new_user()
    tty = terminal(user)
    printed = tty.say("Hello there")
    assert f"bot> {FAKE_ANSWER}" in printed

    upstream.behaviour.chunks = ["Sure, ", "here ", "is ", "a ", "follow-up."]
    assert "bot> Sure, here is a follow-up." in tty.say("Tell me more")
    with served_sqlite.client(FILES_KEY) as http:
        [conversation] = conversations(http, user)
        assert [(m["query"], m["answer"]) for m in messages(http, conversation["id"], user)] == [
            ("Hello there", FAKE_ANSWER),
            ("Tell me more", "Sure, here is a follow-up."),
        ]

    upstream.behaviour.chunks = [f"word{i} " for i in range(60)]
    upstream.behaviour.gap = 0.1
    tty.child.sendline("Write a long essay")
    printed = tty.expect("word2 ")
    tty.child.sendintr()
    printed += tty.prompt()
    shown = re.search(r"bot> (.*) \[stopped\]", printed.replace("^C", ""), re.S)
    assert shown is not None, printed
    assert tty.child.isalive()

    with served_sqlite.client(FILES_KEY) as http:

        def stopped_answer() -> str | None:
            history = messages(http, conversation["id"], user)
            last = history[-1] if len(history) == 3 else None
            return last["answer"] if last and last["answer"].startswith("word0 ") else None

        saved = wait_for(stopped_answer)
        assert saved is not None, messages(http, conversation["id"], user)
        assert saved == shown.group(1), "the terminal showed what the server kept"
        assert saved != "".join(upstream.behaviour.chunks), "the answer was cut short"
        record = upstream.chat_requests(stream=True)[-1]
        assert wait_for(lambda: record.disconnected or record.finished)
        assert record.disconnected, "stopping released the model call"

    upstream.reset()
    assert f"bot> {FAKE_ANSWER}" in tty.say("Are you still there?")
    with served_sqlite.client(FILES_KEY) as http:
        history = messages(http, conversation["id"], user)
        assert len(conversations(http, user)) == 1, "the session stays in one conversation"
    assert [m["query"] for m in history][-2:] == ["Write a long essay", "Are you still there?"]


def test_ctrl_c_before_the_first_word_still_stops_the_answer(
    served_sqlite: ServerProcess, terminal: Any, upstream: FakeUpstream
) -> None:
    user = new_user()
    tty = terminal(user)
    upstream.behaviour.ttft = 1.0
    upstream.behaviour.chunks = [f"slow{i} " for i in range(40)]
    upstream.behaviour.gap = 0.1
    tty.child.sendline("Think hard first")
    wait_for(lambda: upstream.chat_requests(stream=True), timeout=5)
    tty.child.sendintr()
    printed = tty.prompt().replace("^C", "")
    shown = re.search(r"bot> (.*) \[stopped\]", printed, re.S)
    assert shown is not None, printed

    with served_sqlite.client(FILES_KEY) as http:
        [conversation] = conversations(http, user)
        saved = wait_for(
            lambda: [m["answer"] for m in messages(http, conversation["id"], user) if m["answer"]]
        )
    assert saved == [shown.group(1)] and saved[0].startswith("slow0 ")
    assert len(saved[0]) < len("".join(upstream.behaviour.chunks)), "the generation was stopped"

    upstream.reset()
    tty.say("Done thinking?")
    with served_sqlite.client(FILES_KEY) as http:
        assert [c["id"] for c in conversations(http, user)] == [conversation["id"]], "same conversation"


def test_list_and_resume(served_sqlite: ServerProcess, terminal: Any, upstream: FakeUpstream) -> None:
    user = new_user()
    tty = terminal(user)
    upstream.behaviour.chunks = ["About apples."]
    tty.say("Tell me about apples")
    assert "New conversation." in tty.say("/new")
    upstream.behaviour.chunks = ["About pears."]
    tty.say("Tell me about pears")

    listed = tty.say("/list")
    with served_sqlite.client(FILES_KEY) as http:
        newest, oldest = conversations(http, user)
    rows = [line.split() for line in listed.splitlines() if re.match(r"\s*[12]\s", line)]
    assert [(row[0], row[-1]) for row in rows] == [("1", newest["id"]), ("2", oldest["id"])]

    resumed = tty.say("/resume 2", through="bot> About apples.")
    assert "you> Tell me about apples" in resumed and "bot> About apples." in resumed
    assert "pears" not in resumed
    upstream.behaviour.chunks = ["Apples again."]
    tty.say("And green ones?")
    with served_sqlite.client(FILES_KEY) as http:
        apples = messages(http, oldest["id"], user)
        pears = messages(http, newest["id"], user)
    assert [m["query"] for m in apples] == ["Tell me about apples", "And green ones?"]
    assert [m["query"] for m in pears] == ["Tell me about pears"]

    resumed = tty.say(f"/resume {newest['id']}", through="bot> About pears.")
    assert "bot> About pears." in resumed
    assert "usage: /resume" in tty.say("/resume")


def test_upload_attaches_the_file_to_the_next_message(
    served_sqlite: ServerProcess, terminal: Any, tmp_path: Path
) -> None:
    user = new_user()
    path = tmp_path / "shopping list.txt"
    path.write_text("milk, eggs, bread")
    tty = terminal(user)
    printed = tty.say(f'/upload "{path}"')
    assert "Attached shopping list.txt (17 bytes)" in printed
    assert FAKE_ANSWER in tty.say("What is on my list?")
    assert "error" in tty.say(f"/upload {tmp_path / 'missing.txt'}")
    tty.say("Anything else?")

    with served_sqlite.client(FILES_KEY) as http:
        [conversation] = conversations(http, user)
        first, second = messages(http, conversation["id"], user)
        preview = http.get(f"/files/{first['message_files'][0]['upload_file_id']}/preview")
    assert [f["filename"] for f in first["message_files"]] == ["shopping list.txt"]
    assert second["message_files"] == [], "a file goes with one message only"
    assert preview.status_code == 200 and preview.content == b"milk, eggs, bread"


def test_the_terminal_chat_finds_the_local_server_and_checks_the_form(served_sqlite: ServerProcess) -> None:
    user = new_user()
    command, *args = difychat_command()
    # No --base-url and no DIFY_BASE_URL: the server on this machine's DIFYCHAT_PORT is found.
    env = served_sqlite.env(DIFYCHAT_PORT=str(served_sqlite.port))
    args += ["chat", "--plain", "--api-key", SUPPORT_KEY, "--user", user]
    chat = pexpect.spawn(command, args, env=env, encoding="utf-8", timeout=TIMEOUT, dimensions=(40, 200))
    try:
        chat.expect(re.escape(f"Using the server at {served_sqlite.v1} (found on this machine"))
        chat.expect("== Support Bot ==")
        chat.expect(r"Company: pick one by number or by name\r\n  1\) Acme\r\n  2\) Globex")
        chat.expect(re.escape("Company [1-2]: "))
        chat.sendline("Initech")
        chat.expect(re.escape("error: Company: choose 1-2, or one of: Acme, Globex"))
        chat.expect(re.escape("Company [1-2]: "))
        chat.sendline("2")
        chat.expect("you> ")
        chat.sendline("Hello")
        chat.expect("bot> ")
        chat.expect("you> ")
        chat.sendeof()
        chat.expect(pexpect.EOF)
    finally:
        chat.close(force=True)
    with served_sqlite.client(SUPPORT_KEY) as http:
        [conversation] = conversations(http, user)
    assert conversation["inputs"]["company"] == "Globex"
