"""Shared by the DSL tests: the fixtures (exports shaped like Dify's, written for these tests),
importing them, and loading an entry with the apps file's real loader."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import yaml

from difychat.server import dsl
from difychat.server.domain.apps import AppConfig
from difychat.server.dsl.apps_text import render_file
from difychat.server.services.agent.toolsets import AgentToolsets
from difychat.server.settings import load_apps_file

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "dsl"
MAPPABLE = ["chat_with_form", "agent_time_webscraper", "completion_app", "old_chat_no_version"]


def fixture_text(name: str) -> str:
    return (FIXTURES / f"{name}.yml").read_text(encoding="utf-8")


def fixture_data(name: str) -> dict[str, Any]:
    data = yaml.safe_load(fixture_text(name))
    assert isinstance(data, dict)
    return data


def import_text(text: str | bytes, **options: Any) -> dsl.Imported:
    return dsl.import_app(dsl.read_document(text), dsl.ImportOptions(**options))


def import_fixture(name: str, **options: Any) -> dsl.Imported:
    return import_text(fixture_text(name), **options)


def import_data(data: dict[str, Any], **options: Any) -> dsl.Imported:
    return import_text(yaml.safe_dump(data, allow_unicode=True), **options)


def refusal(text: str | bytes | dict[str, Any]) -> list[str]:
    if isinstance(text, dict):
        text = yaml.safe_dump(text, allow_unicode=True)
    try:
        import_text(text)
    except dsl.DslRefused as exc:
        return exc.problems
    raise AssertionError("the import was not refused")


def environment(imported: dsl.Imported) -> dict[str, str]:
    """A value for every variable the entry reads."""
    return {v: ("http://127.0.0.1:9/v1" if v.endswith("_URL") else "sk-test") for v in imported.report.env}


def load_entry(entry: dict[str, Any], tmp_path: Path, environ: dict[str, str]) -> AppConfig:
    """The entry read by the apps file's loader, after passing start-up's agent tool check."""
    path = tmp_path / "apps.yaml"
    path.write_text(render_file([entry]), encoding="utf-8")
    (config,) = load_apps_file(path, environ)

    async def check() -> list[str]:
        toolsets = AgentToolsets()
        try:
            return await toolsets.check(config)
        finally:
            await toolsets.close()

    assert asyncio.run(check()) == []
    return config


def unmapped(imported: dsl.Imported) -> set[str]:
    return {note.where for note in imported.report.unmapped}
