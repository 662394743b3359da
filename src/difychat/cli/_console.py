"""Terminal output for ``difychat chat``: rich when it is installed, plain text otherwise.

An agent's tool steps and files are lines of their own inside the streamed answer: one starts
on a fresh line, and the answer text goes on below it. Plain output::

    bot> Let me check.
      [tool] current_time {"timezone": "UTC"}
      [tool] current_time -> 2025-01-01 12:00:00
    It is noon.
      [image] http://localhost:5001/files/tools/5f0e.png?timestamp=...
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from rich.style import Style


class Output(Protocol):
    """What the chat session needs from a terminal."""

    def info(self, text: str) -> None: ...

    def error(self, text: str) -> None: ...

    def heading(self, text: str) -> None: ...

    def answer_start(self) -> None: ...

    def delta(self, text: str) -> None: ...

    def answer_end(self, note: str | None = None) -> None: ...

    def tool_call(self, name: str, arguments: str) -> None: ...

    def tool_result(self, name: str, result: str) -> None: ...

    def file_link(self, url: str, kind: str | None) -> None: ...

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None: ...

    def numbered(self, title: str, items: Sequence[str]) -> None: ...


class PlainOutput:
    """Plain ``print`` output; also what tests read."""

    def __init__(self, file: IO[str] | None = None) -> None:
        self.file = file if file is not None else sys.stdout
        self._midline = False  # inside a streamed answer line

    def _line(self, text: str) -> None:
        """A line of its own inside an answer."""
        if self._midline:
            self._print()
            self._midline = False
        self._print(text.rstrip())

    def _print(self, text: str = "", end: str = "\n") -> None:
        print(text, end=end, file=self.file, flush=True)

    def info(self, text: str) -> None:
        self._print(text)

    def error(self, text: str) -> None:
        self._print(f"error: {text}")

    def heading(self, text: str) -> None:
        self._print(f"== {text} ==")

    def answer_start(self) -> None:
        self._print("bot> ", end="")
        self._midline = True

    def delta(self, text: str) -> None:
        if text:
            self._print(text, end="")
            self._midline = not text.endswith("\n")

    def answer_end(self, note: str | None = None) -> None:
        if note:
            self._print(f" [{note}]" if self._midline else f"[{note}]")
        elif self._midline:
            self._print()
        self._midline = False

    def tool_call(self, name: str, arguments: str) -> None:
        self._line(f"  [tool] {name} {arguments}")

    def tool_result(self, name: str, result: str) -> None:
        self._line(f"  [tool] {name} -> {result}")

    def file_link(self, url: str, kind: str | None) -> None:
        self._line(f"  [{kind or 'file'}] {url}")

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
        for row in (headers, *rows):
            self._print(
                "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=False)).rstrip()
            )

    def numbered(self, title: str, items: Sequence[str]) -> None:
        self._print(title)
        for index, item in enumerate(items, 1):
            self._print(f"  /{index}  {item}")


class RichOutput:
    """Colours, tables and panels through ``rich``; the answer itself is streamed as plain text."""

    def __init__(self, file: IO[str] | None = None) -> None:
        from rich.console import Console

        self.console = Console(file=file, highlight=False, soft_wrap=True)
        self._midline = False  # inside a streamed answer line

    def _line(self, *parts: tuple[str, str | Style]) -> None:
        """A line of its own inside an answer, from ``(text, style)`` parts."""
        from rich.text import Text

        if self._midline:
            self.console.print()
            self._midline = False
        self.console.print(Text.assemble(*parts), markup=False)

    def info(self, text: str) -> None:
        self.console.print(text, style="dim", markup=False)

    def error(self, text: str) -> None:
        self.console.print(f"error: {text}", style="bold red", markup=False)

    def heading(self, text: str) -> None:
        from rich.rule import Rule

        self.console.print(Rule(text, style="cyan"))

    def answer_start(self) -> None:
        self.console.print("bot> ", style="bold green", end="")
        self._midline = True

    def delta(self, text: str) -> None:
        if text:
            self.console.print(text, end="", markup=False)
            self.console.file.flush()
            self._midline = not text.endswith("\n")

    def answer_end(self, note: str | None = None) -> None:
        if note:
            self.console.print(f" [{note}]" if self._midline else f"[{note}]", style="yellow", markup=False)
        elif self._midline:
            self.console.print()
        self._midline = False

    def tool_call(self, name: str, arguments: str) -> None:
        self._line(
            ("  tool ", "bold magenta"), (name, "magenta"), (f" {arguments}" if arguments else "", "dim")
        )

    def tool_result(self, name: str, result: str) -> None:
        self._line(("  tool ", "bold magenta"), (name, "magenta"), (f" -> {result}", "dim"))

    def file_link(self, url: str, kind: str | None) -> None:
        from rich.style import Style

        self._line(
            (f"  {kind or 'file'} ", "bold cyan"), (url, Style(color="cyan", underline=True, link=url))
        )

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        from rich.table import Table

        table = Table(*headers, box=None, header_style="bold")
        for row in rows:
            table.add_row(*(str(cell) for cell in row))
        self.console.print(table)

    def numbered(self, title: str, items: Sequence[str]) -> None:
        self.console.print(title, style="cyan", markup=False)
        for index, item in enumerate(items, 1):
            self.console.print(f"  /{index}  ", style="bold cyan", end="")
            self.console.print(item, markup=False)


def make_output(*, plain: bool = False, file: IO[str] | None = None) -> Output:
    """Rich output when available and wanted, plain output otherwise."""
    if not plain:
        try:
            import rich  # noqa: F401
        except ImportError:
            pass
        else:
            return RichOutput(file)
    return PlainOutput(file)
