"""The interactive loop of ``difychat chat``, built only on the public client API."""

from __future__ import annotations

import contextlib
import queue
import shlex
import signal
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from difychat import (
    APIStatusError,
    AuthenticationError,
    ChatStream,
    DifyChat,
    DifyError,
    IncompleteStreamError,
    PermissionDeniedError,
)
from difychat.cli._console import Output
from difychat.cli._inputs import FormInput, InvalidValue, form_inputs, form_variables
from difychat.cli._steps import AgentSteps
from difychat.types import (
    AgentThoughtEvent,
    AppParameters,
    Conversation,
    MessageFileEvent,
    MessageReplaceEvent,
    TextDeltaEvent,
    UploadedFile,
)

HELP = """Commands:
  /new               start a new conversation
  /list              list your conversations
  /resume N|ID       continue conversation N of /list (or by id)
  /history           show the current conversation's messages
  /upload PATH       attach a file to your next message
  /rename [NAME]     rename the conversation (no name: let the app title it)
  /inputs            type the app's form values again (then a new conversation starts)
  /1, /2, ...        ask a suggested question
  /help              this help
  /quit              leave (Ctrl-D works too)
Ctrl-C while an answer streams stops it."""


def _when(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M") if value is not None else ""


# What Ctrl-C puts in an answer's queue while the answer is read.
CTRL_C = "ctrl-c"


@contextlib.contextmanager
def _on_ctrl_c(handler: Callable[[int, Any], Any]) -> Iterator[None]:
    """While the block runs, Ctrl-C (SIGINT) calls ``handler``. Outside the main thread (a session
    run by another program) no signal arrives, and nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _ctrl_c_queued(feed: queue.SimpleQueue[tuple[str, Any]]) -> contextlib.AbstractContextManager[None]:
    """Ctrl-C queues ``CTRL_C`` in ``feed`` instead of raising KeyboardInterrupt wherever the main
    thread is (perhaps between taking an event from ``feed`` and showing it, which would lose that
    event). ``SimpleQueue.put`` may be called from a signal handler."""
    return _on_ctrl_c(lambda _signum, _frame: feed.put((CTRL_C, None)))


def _ctrl_c_raises() -> contextlib.AbstractContextManager[None]:
    """Inside ``_ctrl_c_queued``: Ctrl-C raises KeyboardInterrupt again."""
    return _on_ctrl_c(signal.default_int_handler)


class _Turn:
    """The state of one question being answered."""

    def __init__(self, steps: AgentSteps) -> None:
        self.steps = steps
        self.stream: ChatStream | None = None
        self.task_id: str | None = None
        self.note: str | None = None
        self.stop_wanted = False
        self.stop_sent = False
        self.finished = False

    def abandon(self) -> None:
        """Stop waiting: drop the connection (the reading thread then ends by itself)."""
        self.finished = True
        if self.stream is not None:
            with contextlib.suppress(Exception):
                self.stream.response.close()


class ChatSession:
    """One user's chat with one app: the conversation, pending files and suggestions."""

    def __init__(
        self,
        client: DifyChat,
        out: Output,
        *,
        user: str,
        inputs: dict[str, Any] | None = None,
        conversation_id: str | None = None,
        read_line: Callable[[str], str] = input,
    ) -> None:
        self.client = client
        self.out = out
        self.user = user
        self.inputs = dict(inputs or {})
        self.conversation_id = conversation_id
        self.read_line = read_line
        self.parameters: AppParameters | None = None
        self.suggestions: list[str] = []
        self.pending_files: list[UploadedFile] = []
        self.listed: list[Conversation] = []

    # --- start-up ------------------------------------------------------------------------------

    def start(self) -> None:
        """Show the app's greeting and suggestions, and ask for required form inputs.

        Connection and authentication failures end the session; a server without
        ``/parameters`` only loses the greeting.
        """
        try:
            self.parameters = self.client.parameters()
        except (AuthenticationError, PermissionDeniedError):
            raise
        except APIStatusError as exc:
            self.out.error(f"could not read the app's parameters ({exc}); continuing without them")
            self.parameters = AppParameters()
        try:
            self.out.heading(self.client.info().name or "difychat")
        except DifyError:
            self.out.heading("difychat")
        if self.conversation_id:
            self.out.info(f"Continuing conversation {self.conversation_id}")
            self.show_history(limit=6)
        elif self.parameters.opening_statement:
            self.out.info(self.parameters.opening_statement)
        self.check_inputs()
        self.offer(self.parameters.suggested_questions)
        self.out.info("Type /help for commands.")

    def form(self) -> list[FormInput]:
        return form_inputs(self.parameters.user_input_form if self.parameters else [])

    def check_inputs(self) -> None:
        """Check the ``--input`` values against the app's form, and ask for each required value that
        is missing and each value the form refuses (again, until it takes it)."""
        fields = self.form()
        known = form_variables(self.parameters.user_input_form if self.parameters else [])
        for name in [n for n in self.inputs if n not in known]:
            names = ", ".join(sorted(known)) or "none"
            self.out.error(f"the app has no input {name!r} (its inputs: {names}); it is not sent")
            del self.inputs[name]
        for field in fields:
            given = self.inputs.get(field.variable)
            if given is not None:
                try:
                    self._set(field, field.parse(str(given)))
                    continue
                except InvalidValue as exc:
                    self.out.error(str(exc))
            elif not field.required:
                continue
            self._set(field, self.ask_input(field))

    def ask_input(self, field: FormInput, current: Any = None) -> Any:
        """Read one form value until the form takes it; with ``current``, an empty line keeps it."""
        if field.kind == "select" and field.options:
            self.out.info(f"{field.label}: pick one by number or by name")
            for line in field.choices():
                self.out.info(line)
        prompt = field.prompt()
        if current is not None:
            prompt = f"{prompt[:-2]} (Enter keeps {current!r}): "
        while True:
            text = self.read_line(prompt)
            if current is not None and not text.strip():
                return current
            try:
                return field.parse(text)
            except InvalidValue as exc:
                self.out.error(str(exc))

    def _set(self, field: FormInput, value: Any) -> None:
        if value is None:
            self.inputs.pop(field.variable, None)
        else:
            self.inputs[field.variable] = value

    def edit_inputs(self) -> None:
        """``/inputs``: every form value again. A conversation keeps the inputs it started with, so a
        new one starts."""
        fields = self.form()
        if not fields:
            self.out.info("This app has no inputs.")
            return
        before = dict(self.inputs)
        try:
            for field in fields:
                self._set(field, self.ask_input(field, self.inputs.get(field.variable)))
        except (EOFError, KeyboardInterrupt):
            self.inputs = before
            self.out.info("")
            self.out.info("Inputs unchanged.")
            return
        if self.conversation_id:
            self.conversation_id = None
            self.out.info("New conversation, with these inputs.")

    def offer(self, questions: list[str]) -> None:
        self.suggestions = list(questions)
        if questions:
            self.out.numbered("Suggested:", questions)

    # --- the loop ------------------------------------------------------------------------------

    def run(self) -> int:
        """Read lines until /quit or end of input; returns the exit code."""
        while True:
            try:
                line = self.read_line("you> ").strip()
            except EOFError:
                self.out.info("")
                return 0
            except KeyboardInterrupt:
                self.out.info("")
                return 130
            if not line:
                continue
            if line.startswith("/"):
                if not self.command(line):
                    return 0
            else:
                try:
                    self.ask(line)
                except KeyboardInterrupt:  # a Ctrl-C between the answer's steps ends it, not the chat
                    self.out.info("[stopped]")

    def command(self, line: str) -> bool:
        """Run a slash command; returns False to leave."""
        try:
            name, *args = shlex.split(line[1:]) or [""]
        except ValueError as exc:
            self.out.error(str(exc))
            return True
        try:
            if name in ("quit", "exit", "q"):
                return False
            if name.isdigit():
                self.ask_suggestion(int(name))
            elif name == "help":
                self.out.info(HELP)
            elif name == "new":
                self.conversation_id = None
                self.out.info("New conversation.")
            elif name == "list":
                self.list_conversations()
            elif name == "resume":
                self.resume(args[0] if args else "")
            elif name == "history":
                self.show_history()
            elif name == "upload":
                self.upload(" ".join(args))
            elif name == "rename":
                self.rename(" ".join(args))
            elif name == "inputs":
                self.edit_inputs()
            else:
                self.out.error(f"unknown command /{name} (try /help)")
        except DifyError as exc:
            self.out.error(str(exc))
        except OSError as exc:
            self.out.error(str(exc))
        return True

    # --- chatting ------------------------------------------------------------------------------

    def ask(self, query: str) -> None:
        """Send ``query`` and stream the answer; Ctrl-C stops the generation on the server.

        The request is sent and read in a helper thread, so Ctrl-C reaches this loop at any
        moment, even before the first word: the stop is then sent as soon as the answer's
        task id is known, and what the server still sends up to the end of the stopped answer
        is shown (it is what the server keeps). A second Ctrl-C stops waiting for it.

        Ctrl-C is queued behind what the reader already handed over (``_ctrl_c_queued``), so an
        event taken from the queue is always shown whole, whenever the key is pressed.
        """
        files = self.pending_files or None
        feed: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        turn = _Turn(self.agent_steps())

        def read() -> None:
            try:
                stream = self.client.stream_message(
                    query,
                    user=self.user,
                    inputs=self.inputs,
                    conversation_id=self.conversation_id,
                    files=files,
                )
                feed.put(("open", stream))
                with stream:
                    if turn.finished:  # abandoned before the answer started
                        return
                    for event in stream:
                        feed.put(("event", event))
                feed.put(("end", None))
            except BaseException as exc:  # noqa: BLE001 - handed over to the reading loop
                feed.put(("error", exc))

        with _ctrl_c_queued(feed):
            threading.Thread(target=read, name="difychat-answer", daemon=True).start()
            while True:
                try:
                    # Before waiting for more: a stop wanted is sent as soon as the task id is
                    # known, not when the next event comes (a silent model may send none), and
                    # also when the stream broke off (the answer may still run on the server).
                    if turn.stop_wanted and not turn.stop_sent and turn.task_id:
                        turn.stop_sent = True
                        with _ctrl_c_raises():  # a second Ctrl-C gives up on a slow stop request
                            self.client.stop_stream(turn.task_id, user=self.user)
                    if turn.finished:
                        break
                    kind, value = feed.get()
                    if kind == CTRL_C:
                        self._interrupted(turn)
                    else:
                        self._handle(turn, kind, value)
                except KeyboardInterrupt:
                    self._interrupted(turn)
                except DifyError as exc:  # the stop request failed
                    turn.note = f"stopped locally; stop request failed: {exc}"
                    turn.abandon()
        stream = turn.stream
        if stream is None:
            if turn.note:
                self.out.info(f"[{turn.note}]")
            return
        if turn.note != "failed":
            self.out.answer_end(turn.note)
        self.conversation_id = stream.conversation_id or self.conversation_id
        if turn.note is None and stream.message_id:
            self.after_answer(stream.message_id)

    def _interrupted(self, turn: _Turn) -> None:
        """Ctrl-C during an answer: the first stops it on the server, a second stops waiting."""
        if turn.stop_wanted:
            turn.note = "stopped; not waiting for the rest"
            turn.abandon()
        else:
            turn.stop_wanted = True
            turn.note = "stopped"
            if turn.stream is None:
                self.out.info("[stopping as soon as the answer starts]")

    def _handle(self, turn: _Turn, kind: str, value: Any) -> None:
        """One item from the reading thread."""
        if kind == "open":
            turn.stream = value
            self.pending_files = []
            self.out.answer_start()
        elif kind == "event":
            turn.task_id = turn.task_id or value.task_id
            self.show_event(value, turn.steps)
        elif kind == "end":
            turn.finished = True
        elif isinstance(value, KeyboardInterrupt):  # raised while reading: the stream is gone
            turn.finished = True
            turn.stop_wanted = True
            turn.note = "stopped"
        elif isinstance(value, IncompleteStreamError) and turn.stop_sent:
            turn.finished = True  # a server may end a stopped answer without message_end
        elif isinstance(value, DifyError):
            turn.finished = True
            if turn.stream is not None:
                self.out.answer_end()
                turn.note = "failed"
            self.out.error(str(value))
        else:
            raise value

    def agent_steps(self) -> AgentSteps:
        """A fresh record of what an answer has shown of its tool steps and files."""
        return AgentSteps(self.out, base_url=self.client.base_url)

    def show_event(self, event: Any, steps: AgentSteps) -> None:
        if isinstance(event, TextDeltaEvent):
            self.out.delta(event.answer)
        elif isinstance(event, MessageReplaceEvent):
            self.out.answer_end("replaced by moderation")
            self.out.answer_start()
            self.out.delta(event.answer)
        elif isinstance(event, MessageFileEvent):
            steps.file(event)
        elif isinstance(event, AgentThoughtEvent):
            steps.thought(event)

    def after_answer(self, message_id: str) -> None:
        params = self.parameters
        if params is None or not params.suggested_questions_after_answer.enabled:
            self.suggestions = []
            return
        try:
            self.offer(self.client.suggested_questions(message_id, user=self.user))
        except DifyError:
            self.suggestions = []  # suggestions are a nicety; never fail the chat over them

    def ask_suggestion(self, number: int) -> None:
        if not 1 <= number <= len(self.suggestions):
            self.out.error(f"no suggestion /{number}")
            return
        question = self.suggestions[number - 1]
        self.out.info(f"you> {question}")
        self.ask(question)

    # --- conversations and files ---------------------------------------------------------------

    def list_conversations(self) -> None:
        page = self.client.conversations(user=self.user, limit=20)
        self.listed = page.data
        if not page.data:
            self.out.info("No conversations yet.")
            return
        rows = [
            (str(index), conversation.name or "", _when(conversation.updated_at), conversation.id)
            for index, conversation in enumerate(page.data, 1)
        ]
        self.out.table(("#", "name", "updated", "id"), rows)

    def resume(self, target: str) -> None:
        if not target:
            self.out.error("usage: /resume N|ID")
            return
        if target.isdigit() and 1 <= int(target) <= len(self.listed):
            conversation_id = self.listed[int(target) - 1].id
        else:
            conversation_id = target
        self.conversation_id = conversation_id
        self.show_history(limit=6)

    def show_history(self, limit: int = 20) -> None:
        if not self.conversation_id:
            self.out.info("No conversation yet.")
            return
        page = self.client.messages(self.conversation_id, user=self.user, limit=limit)
        if page.has_more:
            self.out.info("...")
        for message in page.data:
            self.out.info(f"you> {message.query}")
            self.out.answer_start()
            steps = self.agent_steps()
            for thought in message.agent_thoughts:
                steps.thought(thought)
            self.out.delta(message.answer)
            for file in message.assistant_files:
                steps.file(file)
            self.out.answer_end()

    def upload(self, path: str) -> None:
        if not path:
            self.out.error("usage: /upload PATH")
            return
        uploaded = self.client.upload_file(path, user=self.user)
        self.pending_files.append(uploaded)
        self.out.info(f"Attached {uploaded.name} ({uploaded.size} bytes); it goes with your next message.")

    def rename(self, name: str) -> None:
        if not self.conversation_id:
            self.out.error("no conversation to rename yet")
            return
        conversation = self.client.rename_conversation(
            self.conversation_id, name or None, auto_generate=not name, user=self.user
        )
        self.out.info(f"Renamed to {conversation.name!r}.")
