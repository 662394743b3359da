"""The command-line reference in Markdown (``docs/cli.md``), made from the ``difychat`` parsers.

``python -m difychat.cli.reference > docs/cli.md`` writes it; a test fails when the committed file
differs from what ``build_parser()`` makes now. Every command and subcommand gets a section: what it
does, its usage line and each argument with its default, the environment variable it reads and its
help text. The parsers are built with the ``DIFYCHAT_*`` and ``DIFY_*`` variables of this process
hidden, so the defaults shown are the built-in ones, whatever the shell that runs it has set.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from difychat.cli import build_parser

REGENERATE = "python -m difychat.cli.reference > docs/cli.md"

# "(env DIFYCHAT_HOST, ...)" or "(... default DIFYCHAT_KEY_RPM)": the variable an option reads.
_ENV = re.compile(r"\b(?:env|default) \$?((?:DIFYCHAT|DIFY|OPENAI)_[A-Z0-9_]+)")
_HIDDEN = ("DIFYCHAT_", "DIFY_")

_INTRO = """\
# Command-line reference

Every `difychat` command with its arguments, made from the command's own parsers (`difychat COMMAND
--help` prints the same). This page is written by `{regenerate}`; a test fails
when it is out of date.

An argument's *environment* variable is read when the argument is not given. The server's other
settings are `DIFYCHAT_*` environment variables, listed in the README's
[settings](../README.md#settings-environment); the apps file is described in
[apps-file.md](apps-file.md). Every command also takes `-h` / `--help`.
"""


@dataclass(frozen=True, slots=True)
class _Command:
    path: str
    parser: argparse.ArgumentParser
    help: str
    depth: int


def markdown() -> str:
    """The whole page."""
    with _without_environment():
        root = build_parser()
    commands = list(_walk(root, "difychat", "", 0))
    out = [_INTRO.format(regenerate=REGENERATE), "## Contents\n"]
    for command in commands[1:]:
        indent = "  " * (command.depth - 1)
        out.append(f"{indent}- [`{command.path}`](#{_anchor(command.path)}): {command.help}")
    out.append("")
    for command in commands:
        out.append(_section(command))
    return "\n".join(out).rstrip() + "\n"


@contextlib.contextmanager
def _without_environment() -> Iterator[None]:
    """``os.environ`` without the variables the parsers read their defaults from, for a moment."""
    saved = {name: value for name, value in os.environ.items() if name.startswith(_HIDDEN)}
    for name in saved:
        del os.environ[name]
    try:
        yield
    finally:
        os.environ.update(saved)


def _walk(parser: argparse.ArgumentParser, path: str, help: str, depth: int) -> Iterator[_Command]:
    yield _Command(path, parser, help, depth)
    for group in _subcommands(parser):
        helps = {choice.dest: choice.help or "" for choice in group._choices_actions}
        for name, sub in group.choices.items():
            yield from _walk(sub, f"{path} {name}", helps.get(name, ""), depth + 1)


def _subcommands(
    parser: argparse.ArgumentParser,
) -> list[argparse._SubParsersAction[argparse.ArgumentParser]]:
    return [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]


def _arguments(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [
        a
        for a in parser._actions
        if not isinstance(a, argparse._HelpAction | argparse._SubParsersAction)
        and a.help != argparse.SUPPRESS
    ]


def _section(command: _Command) -> str:
    parser = command.parser
    level = "#" * (max(command.depth, 1) + 1)
    out = [f"{level} {command.path}\n"]
    text = parser.description or command.help
    if text:
        out.append(_sentence(text) + "\n")
    out += ["```", _usage(command.path, parser), "```\n"]
    subcommands = _subcommands(parser)
    if subcommands:
        out += ["| Command | What it does |", "| --- | --- |"]
        for group in subcommands:
            for choice in group._choices_actions:
                path = f"{command.path} {choice.dest}"
                out.append(f"| [`{path}`](#{_anchor(path)}) | {_cell(_sentence(choice.help or ''))} |")
        out.append("")
    arguments = _arguments(parser)
    if arguments:
        out += ["| Argument | Default | Environment | Description |", "| --- | --- | --- | --- |"]
        for action in arguments:
            help = _help(parser, action)
            found = _ENV.search(help)
            env = f"`{found.group(1)}`" if found else ""
            cells = [f"`{_spell(action)}`", _default(action), env, _sentence(help) + _choices(action)]
            out.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        out.append("")
    return "\n".join(out)


def _usage(path: str, parser: argparse.ArgumentParser) -> str:
    """The usage line, spelt here rather than by argparse, whose wrapping follows the terminal."""
    groups = {id(a): g for g in parser._mutually_exclusive_groups for a in g._group_actions}
    parts = [path]
    done: set[int] = set()
    for action in _arguments(parser):
        group = groups.get(id(action))
        if group is not None:
            if id(group) not in done:
                done.add(id(group))
                inner = " | ".join(_spell(a) for a in group._group_actions)
                parts.append(f"({inner})" if group.required else f"[{inner}]")
        elif not action.option_strings or action.required:
            parts.append(_spell(action))
        else:
            parts.append(f"[{_spell(action)}]")
    if _subcommands(parser):
        parts.append("COMMAND ...")
    return " ".join(parts)


def _spell(action: argparse.Action) -> str:
    if not action.option_strings:
        name = action.metavar if isinstance(action.metavar, str) else action.dest.upper()
        return f"{name} [{name} ...]" if action.nargs == "+" else name
    option = max(action.option_strings, key=len)
    if action.nargs == 0:
        return option
    metavar = action.metavar if isinstance(action.metavar, str) else action.dest.upper()
    return f"{option} {metavar}"


def _default(action: argparse.Action) -> str:
    if action.required:
        return "required"
    if not action.option_strings:
        return ""
    value = action.default
    if value is None or value == [] or value is False or value == argparse.SUPPRESS or action.nargs == 0:
        return ""
    return f"`{value}`" if value != "" else '`""`'


def _help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    text = action.help or ""
    if "%" in text:  # argparse's own placeholders, as --help fills them in
        text = text % {**vars(action), "prog": parser.prog}
    return " ".join(text.split())


def _choices(action: argparse.Action) -> str:
    if action.choices is None or isinstance(action, argparse._SubParsersAction):
        return ""
    return " One of " + ", ".join(f"`{choice}`" for choice in action.choices) + "."


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith(".") else text + "."


def _anchor(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def main(argv: Sequence[str] | None = None) -> None:
    argparse.ArgumentParser(
        prog="python -m difychat.cli.reference",
        description="Print the command-line reference (docs/cli.md), made from the difychat parsers.",
    ).parse_args(argv)
    sys.stdout.write(markdown())


if __name__ == "__main__":
    main()
