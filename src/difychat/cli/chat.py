"""``difychat chat``: an interactive terminal client (built on DifyChat)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("chat", help="chat with an app from the terminal")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    raise SystemExit("difychat chat is not available yet")
