"""``difychat COMMAND --help`` explains every option: what it does, its environment variable and its
default."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from difychat.cli import build_parser, main


def _commands(
    parser: argparse.ArgumentParser, path: str = "difychat"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every command that runs something (``difychat keys create``, ...), with its parser."""
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not groups:
        yield path, parser
    for group in groups:
        for name, sub in group.choices.items():
            yield from _commands(sub, f"{path} {name}")


def _arguments(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [
        a
        for a in parser._actions
        if not isinstance(a, argparse._HelpAction | argparse._VersionAction | argparse._SubParsersAction)
    ]


def test_every_option_of_every_command_has_help() -> None:
    for _, parser in _commands(build_parser()):
        parser.format_help()  # a stray "%" in a help text fails here, not in a user's terminal
    missing = [
        f"{path} {'/'.join(action.option_strings) or action.dest}"
        for path, parser in _commands(build_parser())
        for action in _arguments(parser)
        if not action.help or action.help == argparse.SUPPRESS
    ]
    assert missing == []


def test_serve_options_name_their_environment_variable_and_default() -> None:
    [serve] = [parser for path, parser in _commands(build_parser()) if path == "difychat serve"]
    helps = {action.option_strings[-1]: action.help or "" for action in _arguments(serve)}
    assert set(helps) == {"--config", "--data-dir", "--host", "--port", "--workers", "--log-level"}
    for option, variable, default in [
        ("--host", "DIFYCHAT_HOST", "127.0.0.1"),
        ("--port", "DIFYCHAT_PORT", "5001"),
        ("--workers", "DIFYCHAT_WORKERS", "1"),
        ("--log-level", "DIFYCHAT_LOG_LEVEL", "info"),
        ("--config", "DIFYCHAT_CONFIG", "none"),
        ("--data-dir", "DIFYCHAT_DATA_DIR", "./.difychat"),
    ]:
        assert f"env {variable}" in helps[option] and f"default {default}" in helps[option].replace(
            "default: ", "default "
        ), (option, helps[option])


def test_serve_help_prints_them(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["serve", "--help"])
    assert exit.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for variable in ("DIFYCHAT_HOST", "DIFYCHAT_PORT", "DIFYCHAT_WORKERS", "DIFYCHAT_LOG_LEVEL"):
        assert variable in text


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DIFYCHAT_PORT", "http", "argument --port: expected a port number (1-65535), not 'http'"),
        ("DIFYCHAT_PORT", "70000", "argument --port: expected a port number (1-65535), not '70000'"),
        ("DIFYCHAT_WORKERS", "0", "argument --workers: expected a whole number, 1 or more, not '0'"),
    ],
)
def test_a_bad_setting_is_named_by_serve_only(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setenv(variable, value)
    parser = build_parser()  # other commands still parse
    assert parser.parse_args(["db", "upgrade"]).handler is not None
    with pytest.raises(SystemExit) as exit:
        parser.parse_args(["serve"])
    assert exit.value.code == 2
    assert message in capsys.readouterr().err
