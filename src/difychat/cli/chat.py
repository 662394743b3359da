"""``difychat chat``: an interactive terminal client (built on DifyChat).

Example::

    difychat chat --base-url http://localhost:5001/v1 --api-key app-... --user alice

Only the client library is needed (``pip install 'difychat[cli]'`` adds rich output).
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
from typing import Any


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "chat",
        help="chat with an app from the terminal",
        description="Chat with a Dify (or difychat) app, streaming answers as they arrive.",
    )
    parser.add_argument("--base-url", help="API root including /v1 (default: $DIFY_BASE_URL or Dify cloud)")
    parser.add_argument("--api-key", help="the app's API key (default: $DIFY_API_KEY)")
    parser.add_argument("--user", help="end-user id (default: $DIFY_USER or your login name)")
    parser.add_argument("--conversation", metavar="ID", help="continue an existing conversation")
    parser.add_argument(
        "--input",
        dest="inputs",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a value for the app's input form (repeatable)",
    )
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds to wait for the server (default 300)"
    )
    parser.add_argument("--max-retries", type=int, default=2, help="retries of reads after network errors")
    parser.add_argument("--plain", action="store_true", help="plain text output, even when rich is installed")
    parser.set_defaults(handler=_run)


def _default_user() -> str:
    env = os.environ.get("DIFY_USER")
    if env:
        return env
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "difychat-cli"


def _parse_inputs(pairs: list[str]) -> dict[str, str]:
    inputs: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"--input expects NAME=VALUE, got {pair!r}")
        inputs[name] = value
    return inputs


def _run(args: argparse.Namespace) -> int:
    from difychat import DifyChat, DifyError
    from difychat.cli._console import make_output
    from difychat.cli._session import ChatSession

    out = make_output(plain=args.plain)
    inputs = _parse_inputs(args.inputs)
    client = DifyChat(
        args.api_key, base_url=args.base_url, timeout=args.timeout, max_retries=args.max_retries
    )
    if not client.api_key:
        out.error("no API key: pass --api-key or set DIFY_API_KEY")
        return 2
    with contextlib.suppress(ImportError):  # not on every platform
        import readline  # noqa: F401  (line editing and history for input())
    with client:
        session = ChatSession(
            client, out, user=args.user or _default_user(), inputs=inputs, conversation_id=args.conversation
        )
        try:
            session.start()
        except DifyError as exc:
            out.error(f"cannot reach the app at {client.base_url}: {exc}")
            return 1
        except (KeyboardInterrupt, EOFError):
            return 130
        return session.run()
