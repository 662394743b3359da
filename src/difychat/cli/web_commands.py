"""``difychat web url``: where each app's web chat page is, and its embed snippet (needs the server
extra). A site code is not a secret: anyone with the link may chat with the app."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

_MISSING = "The difychat server is not installed. Install it with:\n    pip install 'difychat[server]'"

SNIPPET = """<script>
  window.difyChatbotConfig = {{ token: {token}, baseUrl: {base_url} }};
</script>
<script src={script} id={token} defer></script>"""


def register(sub: Any) -> None:
    web = sub.add_parser("web", help="the apps' web chat pages")
    web_sub = web.add_subparsers(dest="web_command", metavar="COMMAND")
    web_sub.required = True
    url = web_sub.add_parser("url", help="print the chat page URL of each app (or of one)")
    url.add_argument("--app", help="only this app (the bare URL is printed)")
    url.add_argument(
        "--embed",
        action="store_true",
        help="with --app: print the chat bubble snippet instead",
    )
    url.add_argument(
        "--base-url",
        default=os.environ.get("DIFYCHAT_PUBLIC_URL", "http://127.0.0.1:5001"),
        help="where browsers reach the server (env DIFYCHAT_PUBLIC_URL, default http://127.0.0.1:5001)",
    )
    url.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="the apps file (env DIFYCHAT_CONFIG)",
    )
    url.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="where the server keeps its secret key (env DIFYCHAT_DATA_DIR, default ./.difychat)",
    )
    url.set_defaults(handler=_url)


def snippet(base_url: str, code: str) -> str:
    """Dify's bubble snippet, pointed at this server."""
    return SNIPPET.format(
        token=json.dumps(code),
        base_url=json.dumps(base_url),
        script=json.dumps(f"{base_url}/embed.min.js"),
    )


def _url(args: argparse.Namespace) -> int:
    try:
        from difychat.server.services.apps import DEMO_APP_NAME
        from difychat.server.services.web_sites import site_code
        from difychat.server.settings import ConfigFileError, Settings, load_apps_file
    except ImportError:
        raise SystemExit(_MISSING) from None
    from difychat.server.domain.apps import AppConfig

    overrides: dict[str, Any] = {}
    if args.config is not None:
        overrides["config"] = args.config
    if args.data_dir is not None:
        overrides["data_dir"] = args.data_dir
    settings = Settings(**overrides)
    try:
        configs = load_apps_file(settings.config) if settings.config else [AppConfig(name=DEMO_APP_NAME)]
    except ConfigFileError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if args.app is not None:
        configs = [c for c in configs if c.name == args.app]
        if not configs:
            where = settings.config or "the demo setup (no apps file)"
            print(f'There is no app "{args.app}" in {where}.', file=sys.stderr)
            return 1
    elif args.embed:
        print("--embed needs --app NAME.", file=sys.stderr)
        return 2
    base_url = args.base_url.rstrip("/")
    secret = settings.resolved_secret_key()
    for config in configs:
        code = site_code(secret, config)
        page = f"{base_url}/chat/{code}"
        if not config.site.enabled:
            print(f"{config.name}: the site is switched off (site.enabled: false)")
        elif args.embed:
            print(snippet(base_url, code))
        elif args.app is not None:
            print(page)
        else:
            print(f"{config.name}: {page}")
    return 0
