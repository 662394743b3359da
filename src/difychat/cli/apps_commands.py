"""``difychat apps import`` and ``difychat apps export``: apps to and from Dify's DSL files.

Both need the server extra and run offline: nothing is fetched, the database is not touched.
An import is checked by the apps file's own loader before anything is written.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_MISSING = "The difychat server is not installed. Install it with:\n    pip install 'difychat[server]'"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def register(sub: Any) -> None:
    apps = sub.add_parser("apps", help="bring apps over from Dify (DSL files) and back")
    commands = apps.add_subparsers(dest="apps_command", metavar="COMMAND")
    commands.required = True

    imports = commands.add_parser(
        "import", help="turn a Dify export (chat, agent-chat or completion app) into an apps-file entry"
    )
    imports.add_argument("file", type=Path, help="the DSL file Dify exported (.yml)")
    where = imports.add_mutually_exclusive_group()
    where.add_argument("--into", type=Path, metavar="APPS_FILE", help="add the app to this apps file")
    where.add_argument("--out", type=Path, metavar="NEW_FILE", help="write a new apps file with the app")
    imports.add_argument("--name", help="the app's name (the file's app name otherwise)")
    imports.add_argument(
        "--dataset",
        action="append",
        default=[],
        metavar="OLD=NEW",
        help="bind the source's dataset id OLD to the difychat dataset NEW (a name or id; repeatable)",
    )
    imports.set_defaults(handler=_import)

    exports = commands.add_parser("export", help="write an app of the apps file as a DSL file Dify imports")
    exports.add_argument("name", help="the app's name")
    exports.add_argument("--config", type=Path, help="the apps file (env DIFYCHAT_CONFIG)")
    exports.add_argument("--out", type=Path, metavar="FILE", help="where to write the DSL (stdout otherwise)")
    exports.set_defaults(handler=_export)


def _import(args: argparse.Namespace) -> int:
    try:
        from difychat.server import dsl
        from difychat.server.dsl.apps_text import AppsFileError, add_entry, existing_names, render_file
    except ImportError:
        raise SystemExit(_MISSING) from None
    remap: dict[str, str] = {}
    for pair in args.dataset:
        old, sep, new = pair.partition("=")
        if not sep or not old.strip() or not new.strip():
            print(f"error: --dataset takes OLD=NEW, not {pair!r}", file=sys.stderr)
            return 2
        remap[old.strip()] = new.strip()
    if args.out is not None and args.out.exists():
        print(f"error: {args.out} exists; add the app to it with --into", file=sys.stderr)
        return 2
    try:
        with args.file.open("rb") as fh:
            content = fh.read(dsl.MAX_BYTES + 1)
    except OSError as exc:
        print(f"error: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        imported = dsl.import_app(dsl.read_document(content), dsl.ImportOptions(args.name, remap))
    except dsl.DslRefused as exc:
        _refused(args.file, exc.problems)
        return 1
    entry, report = imported.entry, imported.report

    old = None
    if args.into is not None and args.into.exists():
        try:
            old = args.into.read_text(encoding="utf-8")
            if entry["name"] in existing_names(old):
                print(
                    f'error: {args.into} already has an app "{entry["name"]}"; give another --name',
                    file=sys.stderr,
                )
                return 1
            added = add_entry(old, entry)
        except (OSError, UnicodeDecodeError, AppsFileError) as exc:
            print(f"error: cannot add the app to {args.into}: {exc}", file=sys.stderr)
            return 2
        text, kept = added.text, added.kept_layout
    else:
        text, kept = render_file([entry]), True

    target = args.into or args.out
    problems = _check(text, old, entry["name"], report.env, target)
    if problems:
        _refused(args.file, problems)
        return 1
    if target is None:
        sys.stdout.write(text)
        sys.stderr.write(report.render("(written to standard output)"))
        return 0
    _write(target, text)
    if not kept:
        report.warnings.append(f"{target} was rewritten from its data: its comments and layout are not kept")
    verb = "into" if old is not None else "as"
    print(report.render(f"{verb} {target}"), end="")
    return 0


def _refused(path: Path, problems: list[str]) -> None:
    print(f"error: cannot import {path}:", file=sys.stderr)
    for problem in problems:
        print(f"  - {problem}", file=sys.stderr)


def _check(text: str, old: str | None, name: str, variables: list[str], target: Path | None) -> list[str]:
    """What the apps file's loader (and the agent tool check of start-up) says about the new file.

    Variables the entry reads are given stand-ins when unset. When the file did not load before
    (another app reads a variable that is not set here), the new entry is checked on its own.
    """
    from difychat.server.dsl.apps_text import render_file
    from difychat.server.services.agent.toolsets import AgentToolsets
    from difychat.server.settings import ConfigFileError

    environ = dict(os.environ)
    for variable in variables:
        environ.setdefault(variable, "http://unset.invalid" if variable.endswith("_URL") else "unset")
    directory = target.parent if target is not None and target.parent.is_dir() else None
    whole = old is None or _loads(old, environ, directory) is not None
    candidate = text if whole else render_file([_entry_of(text, name)])
    shown = str(target) if target is not None else "the apps file"
    try:
        configs = _loads(candidate, environ, directory, raise_errors=True)
    except ConfigFileError as exc:
        return [f"{shown} would not load: {exc}"]
    assert configs is not None
    config = next(c for c in configs if c.name == name)
    problems = asyncio.run(_tool_problems(AgentToolsets(), config))
    return [f"{shown} would not start: {p}" for p in problems]


async def _tool_problems(toolsets: Any, config: Any) -> list[str]:
    try:
        return list(await toolsets.check(config))
    finally:
        await toolsets.close()


def _entry_of(text: str, name: str) -> dict[str, Any]:
    import yaml

    data = yaml.safe_load(text)
    return next(a for a in data["apps"] if isinstance(a, dict) and a.get("name") == name)


def _loads(
    text: str, environ: Mapping[str, str], directory: Path | None, *, raise_errors: bool = False
) -> list[Any] | None:
    from difychat.server.settings import ConfigFileError, load_apps_file

    with tempfile.TemporaryDirectory(dir=directory) as folder:
        path = Path(folder) / "apps.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            return load_apps_file(path, environ)
        except ConfigFileError as exc:
            if raise_errors:
                raise ConfigFileError(
                    str(exc).replace(f"{path}: ", "").replace(str(path), "the file")
                ) from None
            return None


def _write(path: Path, text: str) -> None:
    """Replace ``path`` at once (a reader never sees half a file), keeping its permissions."""
    mode = path.stat().st_mode & 0o777 if path.exists() else None
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# --- export ---------------------------------------------------------------------------------------

# Settings that hold credentials or secret URLs and have no place in the DSL: left out before the
# app is read, so that an unset variable in them does not stop an export.
_NOT_READ = ("api_keys", "mcp_server", "mcp_servers", "openapi_tools")


def _export(args: argparse.Namespace) -> int:
    try:
        import yaml

        from difychat.server import dsl
        from difychat.server.settings import ConfigFileError
    except ImportError:
        raise SystemExit(_MISSING) from None
    config_path = args.config or (
        Path(os.environ["DIFYCHAT_CONFIG"]) if os.environ.get("DIFYCHAT_CONFIG") else None
    )
    if config_path is None:
        print("error: no apps file: give --config or set DIFYCHAT_CONFIG", file=sys.stderr)
        return 2
    try:
        raw = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        print(f"error: cannot read {config_path}: {exc}", file=sys.stderr)
        return 2
    apps = raw.get("apps") if isinstance(raw, dict) else None
    entries = [a for a in apps or [] if isinstance(a, dict)]
    entry = next((a for a in entries if a.get("name") == args.name), None)
    if entry is None:
        names = ", ".join(f'"{a.get("name")}"' for a in entries) or "none"
        print(f'error: there is no app "{args.name}" in {config_path} (its apps: {names})', file=sys.stderr)
        return 1
    left_out = [k for k in _NOT_READ if k in entry]
    readable = _keep_unset({k: v for k, v in entry.items() if k not in _NOT_READ}, os.environ)
    try:
        configs = _loads(_render({"apps": [readable]}), os.environ, None, raise_errors=True)
    except ConfigFileError as exc:
        print(f"error: {config_path}: {exc}", file=sys.stderr)
        return 1
    assert configs is not None
    exported = dsl.export_app(configs[0])
    for key in left_out:
        exported.report.drop(key, "holds credentials or server addresses; never exported")
    text = dsl.dump_dsl(exported.document)
    if args.out is None:
        sys.stdout.write(text)
        sys.stderr.write(exported.report.render("(written to standard output)"))
        return 0
    _write(args.out, text)
    print(exported.report.render(f"to {args.out}"), end="")
    return 0


def _render(data: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def _keep_unset(value: Any, environ: Mapping[str, str]) -> Any:
    """``${VAR}`` references to unset variables written so that they read as themselves: an
    export never needs the credentials the app reads."""
    from difychat.server.dsl.importer import LITERAL_DOLLAR

    if isinstance(value, str):
        return _ENV_REF.sub(
            lambda m: m.group(0) if m.group(1) in environ else LITERAL_DOLLAR + m.group(0)[1:], value
        )
    if isinstance(value, list):
        return [_keep_unset(v, environ) for v in value]
    if isinstance(value, dict):
        return {k: _keep_unset(v, environ) for k, v in value.items()}
    return value
