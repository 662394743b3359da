"""``difychat mcp url``: where an app published as an MCP server answers (needs the server extra).

The URL carries the app's code, a credential: it is printed here, on request, and never logged.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

_MISSING = "The difychat server is not installed. Install it with:\n    pip install 'difychat[server]'"


def register(sub: Any) -> None:
    mcp = sub.add_parser("mcp", help="apps published as MCP servers")
    mcp_sub = mcp.add_subparsers(dest="mcp_command", metavar="COMMAND")
    mcp_sub.required = True
    url = mcp_sub.add_parser(
        "url", help="print the MCP server URL of an app (it holds a secret: share it with care)"
    )
    url.add_argument("--app", required=True, help="the app's name")
    url.add_argument(
        "--base-url",
        default=os.environ.get("DIFYCHAT_PUBLIC_URL", "http://127.0.0.1:5001"),
        help="where clients reach the server (env DIFYCHAT_PUBLIC_URL, default http://127.0.0.1:5001)",
    )
    url.add_argument("--config", type=Path, metavar="FILE", help="the apps file (env DIFYCHAT_CONFIG)")
    url.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="where the server keeps its secret key (env DIFYCHAT_DATA_DIR, default ./.difychat)",
    )
    url.set_defaults(handler=_url)


def _url(args: argparse.Namespace) -> int:
    try:
        from difychat.server.services.mcp_server import app_code
        from difychat.server.settings import ConfigFileError, Settings, load_apps_file
    except ImportError:
        raise SystemExit(_MISSING) from None
    overrides: dict[str, Any] = {}
    if args.config is not None:
        overrides["config"] = args.config
    if args.data_dir is not None:
        overrides["data_dir"] = args.data_dir
    settings = Settings(**overrides)
    if settings.config is None:
        print("No apps file: give --config or set DIFYCHAT_CONFIG.", file=sys.stderr)
        return 2
    try:
        configs = load_apps_file(settings.config)
    except ConfigFileError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    config = next((c for c in configs if c.name == args.app), None)
    if config is None:
        print(f'There is no app "{args.app}" in {settings.config}.', file=sys.stderr)
        return 1
    if not config.mcp_server.enabled:
        print(
            f'App "{args.app}" is not published as an MCP server (set mcp_server.enabled).', file=sys.stderr
        )
        return 1
    # The code is derived from the server's secret key unless the app sets one; a read-only command
    # never makes that key (the server does, on its first start).
    secret = settings.stored_secret_key()
    if secret is None and config.mcp_server.code is None:
        print(
            f"The server has no secret key yet in {settings.data_dir}: start `difychat serve` once with "
            "this data directory (it makes one), or set DIFYCHAT_SECRET_KEY.",
            file=sys.stderr,
        )
        return 1
    code = app_code(secret or "", config)
    print(f"{args.base_url.rstrip('/')}/mcp/server/{code}/mcp")
    return 0
