"""Terminal output for ``difychat chat``: rich when it is installed, plain text otherwise."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import IO, Protocol


class Output(Protocol):
    """What the chat session needs from a terminal."""

    def info(self, text: str) -> None: ...

    def error(self, text: str) -> None: ...

    def heading(self, text: str) -> None: ...

    def answer_start(self) -> None: ...

    def delta(self, text: str) -> None: ...

    def answer_end(self, note: str | None = None) -> None: ...

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None: ...

    def numbered(self, title: str, items: Sequence[str]) -> None: ...


class PlainOutput:
    """Plain ``print`` output; also what tests read."""

    def __init__(self, file: IO[str] | None = None) -> None:
        self.file = file if file is not None else sys.stdout

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

    def delta(self, text: str) -> None:
        self._print(text, end="")

    def answer_end(self, note: str | None = None) -> None:
        self._print(f" [{note}]" if note else "")

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

    def info(self, text: str) -> None:
        self.console.print(text, style="dim", markup=False)

    def error(self, text: str) -> None:
        self.console.print(f"error: {text}", style="bold red", markup=False)

    def heading(self, text: str) -> None:
        from rich.rule import Rule

        self.console.print(Rule(text, style="cyan"))

    def answer_start(self) -> None:
        self.console.print("bot> ", style="bold green", end="")

    def delta(self, text: str) -> None:
        self.console.print(text, end="", markup=False)
        self.console.file.flush()

    def answer_end(self, note: str | None = None) -> None:
        if note:
            self.console.print(f" [{note}]", style="yellow", markup=False)
        else:
            self.console.print()

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
