"""``difychat datasets ...`` and the knowledge side of ``difychat keys`` (need the server extra).

They run on the same services as the Knowledge API, straight on the database: ``datasets add``
queues documents and, unless told not to, indexes them in this process while it shows progress
(a running server's workers take a share of the jobs just the same).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

CHUNK = 64 * 1024


def register(sub: Any) -> None:
    from difychat.cli.server_commands import _common

    datasets = sub.add_parser("datasets", help="manage knowledge datasets and their documents")
    commands = datasets.add_subparsers(dest="datasets_command", metavar="COMMAND")
    commands.required = True

    create = commands.add_parser("create", help="create a dataset")
    _common(create)
    create.add_argument("name", help="the new dataset's name")
    create.add_argument("--description", default="", help="what the dataset holds (default: none)")
    create.add_argument(
        "--technique",
        choices=["economy", "high_quality"],
        help="indexing technique (default: none yet; `datasets add --technique` sets it)",
    )
    create.set_defaults(handler=_create)

    listing = commands.add_parser("list", help="list datasets with their document counts")
    _common(listing)
    listing.set_defaults(handler=_list)

    add = commands.add_parser("add", help="add files, or the documents of folders, to a dataset")
    _common(add)
    add.add_argument("name", help="the dataset's name")
    add.add_argument("paths", nargs="+", type=Path, help="files or folders (read recursively)")
    add.add_argument(
        "--technique", choices=["economy", "high_quality"], help="for a dataset that has none yet"
    )
    add.add_argument("--max-tokens", type=int, help="custom segment length (50..4000 characters)")
    add.add_argument("--overlap", type=int, default=0, help="custom segment overlap")
    add.add_argument("--separator", default="\\n", help="custom first separator (default: a newline)")
    add.add_argument("--no-wait", action="store_true", help="queue the documents and return")
    add.set_defaults(handler=_add)

    status = commands.add_parser("status", help="the documents of a dataset and how their indexing went")
    _common(status)
    status.add_argument("name", help="the dataset's name")
    status.set_defaults(handler=_status)

    retry = commands.add_parser("retry", help="index the dataset's failed documents again")
    _common(retry)
    retry.add_argument("name", help="the dataset's name")
    retry.set_defaults(handler=_retry)

    remove = commands.add_parser("remove", help="delete a dataset, or one of its documents")
    _common(remove)
    remove.add_argument("name", help="the dataset's name")
    remove.add_argument("--document", help="only this document (by name)")
    remove.set_defaults(handler=_remove)


class _Refused(Exception):
    pass


def _run(
    args: argparse.Namespace, action: Callable[[Any, Any], Awaitable[int]], *, read_only: bool = False
) -> int:
    """``action(knowledge, settings)`` on a migrated database; a refusal prints and exits 1.
    ``read_only``: nothing is created or migrated; without a database there is nothing to show."""
    from difychat.cli.server_commands import NothingToRead, _settings, readable_database
    from difychat.server.errors import AppError
    from difychat.server.services.keys import KeyCommandError

    settings = _settings(args)

    async def run() -> int:
        import aiohttp

        from difychat.server.app import bootstrap, knowledge_services, segment_indexer
        from difychat.server.store import db

        if read_only:
            await readable_database(settings)
        else:
            await bootstrap(settings, demo=False)
        engine = db.create_engine(settings.resolved_database_url(), pool_size=2)
        http = aiohttp.ClientSession()
        try:
            knowledge = knowledge_services(settings, engine, segment_indexer(settings, engine, http))
            return await action(knowledge, settings)
        finally:
            await http.close()
            await engine.dispose()

    try:
        return asyncio.run(run())
    except NothingToRead as exc:
        print(f"No datasets: {exc}." if exc.missing else f"error: {exc}", file=sys.stderr)
        return 0 if exc.missing and getattr(args, "datasets_command", None) == "list" else 1
    except (AppError, KeyCommandError, _Refused) as exc:
        print(f"error: {getattr(exc, 'message', None) or exc}", file=sys.stderr)
        return 1


async def _dataset(knowledge: Any, name: str) -> Any:
    view = await knowledge.datasets.by_name(name)
    if view is None:
        raise _Refused(f"no dataset named {name!r}")
    return view


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False)


def _create(args: argparse.Namespace) -> int:
    from difychat.server.services.knowledge.datasets import NewDataset

    async def action(knowledge: Any, settings: Any) -> int:
        view = await knowledge.datasets.create(
            NewDataset(args.name, description=args.description, indexing_technique=args.technique)
        )
        print(view.dataset.id)
        return 0

    return _run(args, action)


def _list(args: argparse.Namespace) -> int:
    from rich.table import Table

    async def action(knowledge: Any, settings: Any) -> int:
        table = Table("name", "id", "technique", "documents", "available", "characters", "created (UTC)")
        for view in await knowledge.datasets.all():
            d = view.dataset
            table.add_row(
                d.name,
                d.id,
                d.indexing_technique or "",
                str(view.document_count),
                str(view.available_documents),
                str(view.word_count),
                f"{d.created_at:%Y-%m-%d %H:%M}",
            )
        _console().print(table)
        return 0

    return _run(args, action, read_only=True)


def _files(paths: list[Path]) -> list[Path]:
    from difychat.server.documents.bounded import KNOWLEDGE_EXTENSIONS

    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.is_file() and p.suffix.lower().lstrip(".") in KNOWLEDGE_EXTENSIONS
            )
        elif path.is_file():
            found.append(path)
        else:
            raise _Refused(f"{path} does not exist")
    return found


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as handle:
        while chunk := await asyncio.to_thread(handle.read, CHUNK):
            yield chunk


def _options(args: argparse.Namespace) -> Any:
    from difychat.server.services.knowledge.documents import DocumentOptions
    from difychat.server.services.knowledge.rules import parse_process_rule

    rule: dict[str, Any] = {"mode": "automatic"}
    if args.max_tokens is not None:
        rule = {
            "mode": "custom",
            "rules": {
                "pre_processing_rules": [{"id": "remove_extra_spaces", "enabled": True}],
                "segmentation": {
                    "separator": args.separator,
                    "max_tokens": args.max_tokens,
                    "chunk_overlap": args.overlap,
                },
            },
        }
    return DocumentOptions(indexing_technique=args.technique, process_rule=parse_process_rule(rule))


def _add(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from difychat.server.errors import AppError
    from difychat.server.services.knowledge.uploads import mime_of, upload_name

    async def action(knowledge: Any, settings: Any) -> int:
        view = await _dataset(knowledge, args.name)
        files = _files(args.paths)
        if not files:
            raise _Refused("no documents found (txt, md, pdf, docx, xlsx, html, csv, ...)")
        options = _options(args)
        dataset = view.dataset
        queued: list[tuple[str, str]] = []
        failed = 0
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, console=_console()) as progress:
            uploading = progress.add_task("uploading", total=len(files))
            for path in files:
                try:
                    name, extension = upload_name(path.name)
                    upload = await knowledge.documents.files.store(
                        dataset.id, name, extension, mime_of(extension, None), _chunks(path)
                    )
                    done = await knowledge.documents.create_by_file(dataset, upload, options)
                    dataset = (await knowledge.datasets.view(dataset.id)).dataset
                    queued.append((done.document.document.id, done.batch))
                except AppError as exc:
                    failed += 1
                    progress.console.print(f"[red]{path}[/red]: {exc.message}")
                progress.advance(uploading)
            if queued and not args.no_wait:
                failed += await _index(knowledge, dataset.id, queued, progress)
        return 1 if failed else 0

    return _run(args, action)


async def _index(knowledge: Any, dataset_id: str, queued: list[tuple[str, str]], progress: Any) -> int:
    """Index in this process until every queued document finished; the number that failed."""
    from difychat.server.domain.knowledge import COMPLETED, ERROR

    indexing = progress.add_task("indexing", total=len(queued))
    knowledge.worker.start()
    try:
        while True:
            finished = failed = 0
            for document_id, _ in queued:
                view = await knowledge.documents.get(dataset_id, document_id)
                state = view.document.indexing_status
                if state in (COMPLETED, ERROR):
                    finished += 1
                    failed += state == ERROR
            progress.update(indexing, completed=finished)
            if finished == len(queued):
                break
            await asyncio.sleep(0.2)
    finally:
        await knowledge.worker.stop()
    for document_id, _ in queued:
        view = await knowledge.documents.get(dataset_id, document_id)
        if view.document.error:
            progress.console.print(f"[red]{view.document.name}[/red]: {view.document.error}")
    return failed


def _status(args: argparse.Namespace) -> int:
    from rich.table import Table

    async def action(knowledge: Any, settings: Any) -> int:
        view = await _dataset(knowledge, args.name)
        table = Table("document", "status", "segments", "characters", "error")
        page = 1
        while True:
            found = await knowledge.documents.listing(
                view.dataset.id, page=page, limit=100, keyword=None, status=None
            )
            for doc in found.data:
                d = doc.document
                table.add_row(
                    d.name,
                    d.display_status,
                    f"{doc.completed_segments}/{doc.segment_count}",
                    str(d.word_count or 0),
                    d.error or "",
                )
            if page * 100 >= found.total:
                break
            page += 1
        _console().print(table)
        return 0

    return _run(args, action, read_only=True)


def _retry(args: argparse.Namespace) -> int:
    async def action(knowledge: Any, settings: Any) -> int:
        view = await _dataset(knowledge, args.name)
        count = await knowledge.documents.retry_failed(view.dataset.id)
        print(f"{count} document{'s' if count != 1 else ''} queued again")
        return 0

    return _run(args, action)


def _remove(args: argparse.Namespace) -> int:
    async def action(knowledge: Any, settings: Any) -> int:
        view = await _dataset(knowledge, args.name)
        if args.document is None:
            await knowledge.datasets.remove(view.dataset.id)
            print(f"removed dataset {args.name!r}")
            return 0
        found = await knowledge.documents.listing(
            view.dataset.id, page=1, limit=100, keyword=args.document, status=None
        )
        matches = [d.document for d in found.data if d.document.name == args.document]
        if not matches:
            raise _Refused(f"no document named {args.document!r} in {args.name!r}")
        for document in matches:
            await knowledge.documents.remove(document)
        print(f"removed {args.document!r} from {args.name!r}")
        return 0

    return _run(args, action)


# -- `difychat keys` for knowledge keys ------------------------------------------------------------


def create_key(args: argparse.Namespace, expires_at: Any) -> int:
    """``keys create --knowledge [--dataset NAME ...]``."""
    if args.rpm is not None or args.concurrency is not None:
        print("error: --rpm and --concurrency are limits of app keys", file=sys.stderr)
        return 1
    from difychat.server.services.knowledge.keys import create_dataset_key

    async def action(knowledge: Any, settings: Any) -> int:
        engine = knowledge.engine
        key = await create_dataset_key(engine, args.dataset or None, label=args.label, expires_at=expires_at)
        print(key)
        return 0

    return _run(args, action)


def key_rows() -> Callable[[Any], Awaitable[list[dict[str, Any]]]]:
    """The knowledge keys as rows for ``keys list``."""
    from difychat.server.services.knowledge.keys import list_dataset_keys

    async def rows(engine: Any) -> list[dict[str, Any]]:
        found = await list_dataset_keys(engine)
        return [
            {
                "id": k.id,
                "scope": "all datasets" if k.scope is None else ", ".join(k.scope_names) or "(none left)",
                "label": k.label or "",
                "key": k.hint,
                "created_at": k.created_at,
                "expires_at": k.expires_at,
                "last_used_at": k.last_used_at,
                "revoked_at": k.revoked_at,
            }
            for k in found
        ]

    return rows


async def revoke_key(engine: Any, key_or_id: str) -> int | None:
    """Revoke a knowledge key; None when it is no knowledge key."""
    from difychat.server.services.keys import KeyCommandError
    from difychat.server.services.knowledge.keys import revoke_dataset_key

    with contextlib.suppress(KeyCommandError):
        return await revoke_dataset_key(engine, key_or_id)
    return None
