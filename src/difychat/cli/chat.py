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
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from difychat._urls import DEFAULT_BASE_URL

if TYPE_CHECKING:
    from difychat.cli._console import Output

# Where `difychat serve` listens unless told otherwise.
LOCAL_PORT = 5001


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "chat",
        help="chat with an app from the terminal",
        description="Chat with a Dify (or difychat) app, streaming answers as they arrive.",
    )
    parser.add_argument(
        "--base-url",
        help="API root including /v1 (env DIFY_BASE_URL; default: a difychat server on this machine, "
        f"http://127.0.0.1:$DIFYCHAT_PORT or :{LOCAL_PORT}, when one answers, else Dify cloud, "
        f"{DEFAULT_BASE_URL})",
    )
    parser.add_argument("--api-key", help="the app's API key (env DIFY_API_KEY)")
    parser.add_argument("--user", help="end-user id (env DIFY_USER, default: your login name)")
    parser.add_argument(
        "--conversation", metavar="ID", help="continue an existing conversation (default: a new one)"
    )
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
    parser.add_argument(
        "--max-retries", type=int, default=2, help="retries of reads after network errors (default 2)"
    )
    parser.add_argument("--plain", action="store_true", help="plain text output, even when rich is installed")
    parser.set_defaults(handler=_run)


def _answers_health(root: str) -> bool:
    """Whether a server at ``root`` answers ``GET /health`` as difychat (and Dify's API) do."""
    import httpx

    try:
        response = httpx.get(f"{root}/health", timeout=1.0, trust_env=False)
        return response.status_code == 200 and response.json().get("status") == "ok"
    except (httpx.HTTPError, httpx.InvalidURL, ValueError, AttributeError):
        return False


def choose_base_url(given: str | None, out: Output, *, probe: Callable[[str], bool] = _answers_health) -> str:
    """``--base-url``, else ``$DIFY_BASE_URL``, else a difychat server on this machine (``probe``d),
    else Dify cloud; the last two say which they chose."""
    chosen = given or os.environ.get("DIFY_BASE_URL")
    if chosen:
        return chosen
    local = f"http://127.0.0.1:{os.environ.get('DIFYCHAT_PORT') or LOCAL_PORT}"
    if probe(local):
        out.info(f"Using the server at {local}/v1 (found on this machine; --base-url chooses another).")
        return f"{local}/v1"
    out.info(
        f"Using Dify cloud, {DEFAULT_BASE_URL}: no --base-url, no DIFY_BASE_URL, and no server "
        f"answering at {local}. For a difychat server, pass --base-url http://HOST:PORT/v1."
    )
    return DEFAULT_BASE_URL


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
    base_url = choose_base_url(args.base_url, out)
    client = DifyChat(args.api_key, base_url=base_url, timeout=args.timeout, max_retries=args.max_retries)
    if not client.api_key:
        out.error(
            "no API key: pass --api-key or set DIFY_API_KEY (a first `difychat serve` prints one; "
            "`difychat keys create --app NAME` makes another)"
        )
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
