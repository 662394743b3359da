"""``difychat serve``, ``difychat db upgrade`` and ``difychat keys ...`` (need the server extra)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import gc
import logging
import logging.config
import os
import shutil
import signal
import socket
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

_MISSING = "The difychat server is not installed. Install it with:\n    pip install 'difychat[server]'"


MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# On shutdown, open streams get this long to finish; then running answers are stopped and saved.
GRACEFUL_SECONDS = 3


def register(sub: Any) -> None:
    serve = sub.add_parser(
        "serve",
        help="run the Dify-compatible API server",
        description="Migrate the database, sync the apps file and serve /v1 (and GET /health). Every "
        "other DIFYCHAT_* setting is read from the environment (see the README).",
    )
    _common(serve)
    # String defaults go through `type` when this command is parsed: a bad DIFYCHAT_PORT is reported
    # as such, and only by `serve`.
    serve.add_argument(
        "--host",
        default=os.environ.get("DIFYCHAT_HOST", "127.0.0.1"),
        help="the address to listen on; 0.0.0.0 for every interface (env DIFYCHAT_HOST, default 127.0.0.1)",
    )
    serve.add_argument(
        "--port",
        type=_port,
        default=os.environ.get("DIFYCHAT_PORT", "5001"),
        help="the TCP port to listen on (env DIFYCHAT_PORT, default 5001)",
    )
    serve.add_argument(
        "--workers",
        type=_positive,
        metavar="N",
        default=os.environ.get("DIFYCHAT_WORKERS", "1"),
        help="worker processes sharing the port; use PostgreSQL for more than one "
        "(env DIFYCHAT_WORKERS, default 1)",
    )
    serve.add_argument(
        "--log-level",
        type=str.lower,
        choices=["critical", "error", "warning", "info", "debug"],
        default=os.environ.get("DIFYCHAT_LOG_LEVEL", "info"),
        help="the lowest level logged (env DIFYCHAT_LOG_LEVEL, default info; DIFYCHAT_LOG_FORMAT=json "
        "for JSON lines)",
    )
    serve.set_defaults(handler=_serve)

    database = sub.add_parser("db", help="database maintenance")
    db_sub = database.add_subparsers(dest="db_command", metavar="COMMAND")
    db_sub.required = True
    upgrade = db_sub.add_parser(
        "upgrade", help="apply the migrations (serve does it too; concurrent runs wait for each other)"
    )
    _common(upgrade)
    upgrade.set_defaults(handler=_db_upgrade)

    keys = sub.add_parser("keys", help="manage app API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", metavar="COMMAND")
    keys_sub.required = True
    create = keys_sub.add_parser("create", help="create a key for an app and print it once")
    _common(create)
    create.add_argument("--app", help="the app's name (as in the apps file; the first run's app is Demo)")
    create.add_argument("--knowledge", action="store_true", help="a dataset- key for the Knowledge API")
    create.add_argument(
        "--dataset", action="append", metavar="NAME", help="with --knowledge: only this dataset (repeatable)"
    )
    create.add_argument("--label", help="what to call the key in `keys list` (default: none)")
    create.add_argument(
        "--expires",
        metavar="WHEN",
        help="refuse the key from then on: 30d, 12h, 2w, or a UTC date (default: never)",
    )
    create.add_argument(
        "--rpm", type=_count, metavar="N", help="requests per minute (0: unlimited; default DIFYCHAT_KEY_RPM)"
    )
    create.add_argument(
        "--concurrency",
        type=_count,
        metavar="N",
        help="chat requests at once (0: unlimited; default DIFYCHAT_KEY_CONCURRENCY)",
    )
    create.set_defaults(handler=_keys_create)
    listing = keys_sub.add_parser("list", help="list keys (hints only: keys are stored hashed)")
    _common(listing)
    listing.add_argument("--app", help="only this app's keys (default: every app's, and knowledge keys)")
    listing.set_defaults(handler=_keys_list)
    revoke = keys_sub.add_parser("revoke", help="revoke a key, by the key itself or by its id")
    _common(revoke)
    revoke.add_argument("key", help="the key (app-... or dataset-...) or the id shown by `keys list`")
    revoke.set_defaults(handler=_keys_revoke)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"expected a port number (1-65535), not {text!r}")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number, 1 or more, not {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number, 0 or more, not {text!r}")
    return value


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, metavar="FILE", help="the apps file (env DIFYCHAT_CONFIG, default none)"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="where SQLite, uploaded files and the secret key live (env DIFYCHAT_DATA_DIR, default "
        "./.difychat); DIFYCHAT_DATABASE_URL puts the database elsewhere",
    )


def _settings(args: argparse.Namespace) -> Any:
    try:
        from difychat.server.settings import Settings
    except ImportError:
        raise SystemExit(_MISSING) from None
    overrides: dict[str, Any] = {}
    if args.config is not None:
        overrides["config"] = args.config
    if args.data_dir is not None:
        overrides["data_dir"] = args.data_dir
    return Settings(**overrides)


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False)


def _serve(args: argparse.Namespace) -> int:
    # Loading the server makes some 200,000 objects that live as long as the process: the cyclic
    # collector would walk them over and over while they are made (about a seventh of the start-up
    # CPU), then at every full collection. It is off until the server's modules are loaded; they are
    # then frozen out of its reach (``_collect_from_here``).
    gc.disable()
    try:
        return _load_and_serve(args)
    finally:
        gc.enable()  # when serve returns early (or is called in a process that goes on)


def _load_and_serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    # Before anything is shown: a first-run panel must not point at another program on the port.
    taken = _port_problem(args.host, args.port)
    if taken is not None:
        print(f"error: {taken}", file=sys.stderr)
        return 1
    # The database migrates in a child while this process loads the server. SQLAlchemy is loaded
    # first, so that the child shares it rather than loading it again.
    from difychat.server.store import db  # noqa: F401

    migration = _migrate_apart(settings.resolved_database_url())
    import uvicorn

    from difychat.server.app import bootstrap, create_app
    from difychat.server.observability.logs import logging_config
    from difychat.server.settings import ConfigFileError

    _collect_from_here()
    try:
        if migration is not None and not _migrated(migration):
            return 1
        result = asyncio.run(
            bootstrap(
                settings,
                show_demo=lambda demo: _print_demo(_console(), demo, args.host, args.port),
                migrated=migration is not None,
            )
        )
    except ConfigFileError as exc:
        _console().print(f"[red]error:[/red] {exc}")
        return 2
    log_config = logging_config(settings.log_format, args.log_level)
    if result.demo is None:
        names = ", ".join(a.name for a in result.apps) or "the apps already in the database"
        if settings.log_format == "json":
            logging.config.dictConfig(log_config)
            url = f"http://{args.host}:{args.port}/v1"
            logging.getLogger("difychat.cli").info("serving %s on %s", names, url)
        else:
            # Plain print: rich (loaded only for the first-run panel and errors) is not kept in memory.
            print(f"difychat: serving {names} on http://{args.host}:{args.port}/v1", flush=True)

    os.environ["DIFYCHAT_BOOTSTRAPPED"] = "true"
    os.environ["DIFYCHAT_FREEZE_STARTUP_OBJECTS"] = "true"
    if args.workers > 1:
        # Workers build the app from the environment; stops then travel through Redis or the database.
        os.environ["DIFYCHAT_MULTI_WORKER"] = "true"
        os.environ["DIFYCHAT_DATA_DIR"] = str(settings.data_dir.resolve())
        if settings.config is not None:
            os.environ["DIFYCHAT_CONFIG"] = str(Path(settings.config).resolve())
        # Each worker records its metrics in files there; a scrape sums them (prometheus-client's
        # multiprocess mode). Set before the workers start: they read it when they import it.
        created = _metrics_dir() if settings.metrics_enabled else None
        from difychat.cli import workers

        try:
            workers.run(
                "difychat.server.app:create_app_from_env",
                factory=True,
                host=args.host,
                port=args.port,
                workers=args.workers,
                log_config=log_config,
                log_level=args.log_level,
                access_log=False,
                ws="none",
                timeout_graceful_shutdown=GRACEFUL_SECONDS,
            )
        finally:
            if created is not None:
                shutil.rmtree(created, ignore_errors=True)
        return 0
    if settings.metrics_enabled and os.environ.get(MULTIPROC_ENV):
        _metrics_dir()  # set by the operator for one process: still start from empty files
    settings.bootstrapped = True
    settings.freeze_startup_objects = True
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        log_config=log_config,
        access_log=False,
        ws="none",
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
    )
    return 0


def _collect_from_here() -> None:
    """Turn the cyclic collector back on for what the server makes from now on; what loading made
    stays (the few cycles it left are not worth a full collection)."""
    gc.freeze()
    gc.enable()


def _migrate_apart(url: str) -> int | None:
    """Start migrating the database at ``url`` in a forked child; its pid, for ``_migrated``.

    Alembic, the migration scripts and what they allocate then never enter the serving process
    (about 12 MB), and the migration runs while this process loads the server. None where the
    platform does not fork (Windows): ``bootstrap`` migrates in this process.
    """
    if not hasattr(os, "fork"):
        return None
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid != 0:
        return pid
    code = 0  # the child: never returns
    try:
        from difychat.server.store import db

        db.upgrade(url)
    except KeyboardInterrupt:
        code = 130
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _migrated(pid: int) -> bool:
    """Wait for the child of ``_migrate_apart``; whether it migrated (else it said why)."""
    try:
        _, status = os.waitpid(pid, 0)
    except KeyboardInterrupt:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)
        os.waitpid(pid, 0)
        raise
    return os.waitstatus_to_exitcode(status) == 0


def _port_problem(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on (in use, or not an address here); None when it can.

    Binds as uvicorn does (``SO_REUSEADDR``) and lets go at once.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        if sys.platform != "win32":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (
                    f"port {port} on {host} is already in use by another program. Stop it, or pick "
                    f"another port with --port N (or DIFYCHAT_PORT=N)."
                )
            return f"cannot listen on {host} port {port}: {exc.strerror or exc}. Check --host and --port."
    return None


def _metrics_dir() -> Path | None:
    """Empty the operator's ``PROMETHEUS_MULTIPROC_DIR`` of a previous run's files, or make a
    temporary one (returned, to be removed at exit)."""
    from difychat.server.observability.metrics import prepare_multiprocess_dir

    given = os.environ.get(MULTIPROC_ENV)
    if given:
        prepare_multiprocess_dir(Path(given))
        return None
    created = Path(tempfile.mkdtemp(prefix="difychat-metrics-"))
    os.environ[MULTIPROC_ENV] = str(created)
    return created


def _print_demo(console: Any, demo: Any, host: str, port: int) -> None:
    from rich.panel import Panel

    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    model = (
        "the built-in echo provider (no model configured: set OPENAI_BASE_URL / OPENAI_API_KEY)"
        if demo.model.provider == "echo"
        else f"{demo.model.name} at {demo.model.base_url}"
    )
    if ":" in shown_host:
        shown_host = f"[{shown_host}]"
    v1 = f"http://{shown_host}:{port}/v1"
    curl = (
        f"curl -s {v1}/chat-messages \\\n"
        f"  -H 'Authorization: Bearer {demo.api_key}' -H 'Content-Type: application/json' \\\n"
        """  -d '{"inputs": {}, "query": "Hello!", "user": "me", "response_mode": "blocking"}'"""
    )
    chat = f"difychat chat --base-url {v1} --api-key {demo.api_key}"
    what = (
        f"Created the app [bold]{demo.name}[/bold], answering with {model}."
        if demo.created
        else f"The app [bold]{demo.name}[/bold] answers with {model}. None of its keys was shown yet: "
        "here is a new one."
    )
    console.print(
        Panel.fit(
            f"{what}\n\nAPI key (shown once, stored hashed): [bold green]{demo.api_key}[/bold green]",
            title="difychat: first run",
        )
    )
    # Plain print: a wrapped or styled line would not paste into a shell.
    print(f"Try it:\n{curl}\n\nOr chat in a terminal:\n{chat}\n", flush=True)


def _db_upgrade(args: argparse.Namespace) -> int:
    settings = _settings(args)
    from difychat.server.store import db

    url = settings.resolved_database_url()
    db.upgrade(url)
    print(f"database at {_redact(url)} is up to date")
    return 0


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


class NothingToRead(Exception):
    """A read-only command found no database to read, or one it cannot read yet."""

    def __init__(self, message: str, *, missing: bool) -> None:
        super().__init__(message)
        self.missing = missing


async def readable_database(settings: Any) -> None:
    """For read-only commands: raise ``NothingToRead`` unless the database is there and migrated.
    Nothing is created, migrated or synced."""
    from sqlalchemy.exc import SQLAlchemyError

    from difychat.server.store import db

    url = settings.resolved_database_url()
    try:
        state = await db.state(url)
    except (OSError, SQLAlchemyError) as exc:
        reason = getattr(exc, "orig", None) or exc  # the driver's own words, without SQLAlchemy's notes
        raise NothingToRead(f"cannot read the database at {_redact(url)}: {reason}", missing=False) from exc
    if state == "missing":
        raise NothingToRead(
            f"there is no database at {_redact(url)} yet: `difychat serve` (or `difychat db upgrade`) "
            "creates it",
            missing=True,
        )
    if state == "behind":
        raise NothingToRead(
            f"the database at {_redact(url)} needs migrating: run `difychat db upgrade` "
            "(or start `difychat serve`)",
            missing=False,
        )


def _with_engine(settings: Any, action: Any, *, read_only: bool = False) -> Any:
    """``action(engine)``; read-only commands need a migrated database and change nothing, the others
    migrate and sync the apps file first (never making the demo app: that is `serve`'s, with its key)."""
    from difychat.server.app import bootstrap
    from difychat.server.store import db

    async def run() -> Any:
        if read_only:
            await readable_database(settings)
        else:
            await bootstrap(settings, demo=False)
        engine = db.create_engine(settings.resolved_database_url(), pool_size=1)
        try:
            return await action(engine)
        finally:
            await engine.dispose()

    return asyncio.run(run())


class _KeyCommandFailed(Exception):
    pass


def _key_command(args: argparse.Namespace, action: Any, *, read_only: bool = False) -> Any:
    """Run ``action(engine)`` on a bootstrapped database; a refused key command exits 1."""
    from difychat.server.services.keys import KeyCommandError

    try:
        return _with_engine(_settings(args), action, read_only=read_only)
    except KeyCommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise _KeyCommandFailed from exc


def _keys_create(args: argparse.Namespace) -> int:
    from difychat.server.services.keys import KeyCommandError, create_key, parse_expiry
    from difychat.server.store.common import utcnow

    try:
        expires_at = None if args.expires is None else parse_expiry(args.expires, utcnow())
    except KeyCommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.knowledge == (args.app is not None) or (args.dataset and not args.knowledge):
        print("error: give --app NAME for an app key, or --knowledge [--dataset NAME ...]", file=sys.stderr)
        return 1
    if args.knowledge:
        from difychat.cli import knowledge_commands

        return knowledge_commands.create_key(args, expires_at)

    def create(engine: Any) -> Any:
        return create_key(
            engine,
            args.app,
            label=args.label,
            expires_at=expires_at,
            rpm=args.rpm,
            concurrency=args.concurrency,
        )

    try:
        key = _key_command(args, create)
    except _KeyCommandFailed:
        return 1
    print(key)
    return 0


def _keys_list(args: argparse.Namespace) -> int:
    from rich.table import Table

    from difychat.server.services.keys import list_keys
    from difychat.server.store.common import utcnow

    try:
        keys = _key_command(args, lambda engine: list_keys(engine, args.app), read_only=True)
    except _KeyCommandFailed:
        return 1
    except NothingToRead as exc:
        print(f"No keys: {exc}." if exc.missing else f"error: {exc}", file=sys.stderr)
        return 0 if exc.missing else 1
    now = utcnow()
    columns = ["id", "app", "label", "key", "source", "created (UTC)", "expires (UTC)", "last used (UTC)"]
    table = Table(*columns, "rpm", "concurrency", "revoked (UTC)")
    for key in keys:
        expires = ""
        if key.expires_at is not None:
            expires = _minute(key.expires_at) + (" (expired)" if key.expires_at <= now else "")
        table.add_row(
            key.id,
            key.app,
            key.label or "",
            key.hint,
            key.source,
            _minute(key.created_at),
            expires,
            _minute(key.last_used_at) if key.last_used_at else "never",
            _limit(key.rpm),
            _limit(key.concurrency),
            _minute(key.revoked_at) if key.revoked_at else "",
        )
    _console().print(table)
    if args.app is None:
        _knowledge_keys(args)
    return 0


def _knowledge_keys(args: argparse.Namespace) -> None:
    from rich.table import Table

    from difychat.cli import knowledge_commands

    rows = _key_command(args, knowledge_commands.key_rows(), read_only=True)
    if not rows:
        return
    columns = ["id", "datasets", "label", "key", "created (UTC)", "expires (UTC)", "last used (UTC)"]
    table = Table(*columns, "revoked (UTC)", title="knowledge keys")
    for row in rows:
        table.add_row(
            row["id"],
            row["scope"],
            row["label"],
            row["key"],
            _minute(row["created_at"]),
            _minute(row["expires_at"]) if row["expires_at"] else "",
            _minute(row["last_used_at"]) if row["last_used_at"] else "never",
            _minute(row["revoked_at"]) if row["revoked_at"] else "",
        )
    _console().print(table)


def _minute(when: Any) -> str:
    return f"{when:%Y-%m-%d %H:%M}"


def _limit(value: int | None) -> str:
    """A key's own limit; the server's default when it has none."""
    if value is None:
        return "default"
    return "unlimited" if value == 0 else str(value)


def _keys_revoke(args: argparse.Namespace) -> int:
    from difychat.cli import knowledge_commands
    from difychat.server.services.keys import revoke_key

    async def revoke(engine: Any) -> int:
        found = await knowledge_commands.revoke_key(engine, args.key)
        return found if found is not None else await revoke_key(engine, args.key)

    try:
        count = _key_command(args, revoke)
    except _KeyCommandFailed:
        return 1
    print("revoked" if count else "already revoked")
    return 0
