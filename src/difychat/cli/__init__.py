"""The ``difychat`` command.

Sub-commands import their dependencies lazily, so that the client-only install
(``pip install difychat``) can run ``difychat chat`` without the server extra.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from difychat._version import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="difychat",
        description="A Dify-compatible chat API server and client.",
    )
    parser.add_argument("--version", action="version", version=f"difychat {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    from difychat.cli import (
        apps_commands,
        chat,
        knowledge_commands,
        mcp_commands,
        server_commands,
        web_commands,
    )

    server_commands.register(sub)
    apps_commands.register(sub)
    mcp_commands.register(sub)
    web_commands.register(sub)
    knowledge_commands.register(sub)
    chat.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = args.handler
    code: int = handler(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
