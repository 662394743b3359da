"""``agent_mode`` and dataset bindings of an imported app (agent contract §1-§3, knowledge §12).

Tools are kept when difychat has them built in (``time``, ``webscraper``, ``wikipedia``,
``tavily``, ``searxng``, ``calculator``), by either form of their provider id, with the form
values Dify fixed; every other entry is reported with what it would take. Dataset ids belong to
the source workspace: they are bound only through ``--dataset OLD=NEW``, else listed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from difychat.server.domain.agent import AGENT_STRATEGIES, DEFAULT_MAX_ITERATION, LEGACY_TOOLS
from difychat.server.domain.config_keys import unknown_keys
from difychat.server.domain.retrieval import DatasetConfigs
from difychat.server.dsl.context import MC, Context, blank
from difychat.server.dsl.providers import env_prefix
from difychat.server.tools import builtin, parameters
from difychat.server.tools.base import ToolConfigError

WHERE = f"{MC}.agent_mode"
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)


@dataclass(slots=True)
class Agent:
    """What ``agent_mode`` gave: the block to write (None for a plain app), tool credentials, and
    the dataset ids its old-style entries bind."""

    block: dict[str, Any] | None = None
    tools: dict[str, Any] = field(default_factory=dict)
    datasets: list[tuple[str, str]] = field(default_factory=list)


def agent_mode(ctx: Context, raw: Any) -> Agent:
    out = Agent()
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        ctx.problem(WHERE, "expected a mapping")
        return out
    enabled = raw.get("enabled", False)
    if not isinstance(enabled, bool):
        ctx.problem(f"{WHERE}.enabled", "must be true or false")
        enabled = False
    strategy = raw.get("strategy")
    entries = raw.get("tools") or []
    if not isinstance(entries, list):
        ctx.problem(f"{WHERE}.tools", "expected a list of tool entries")
        entries = []
    is_agent = ctx.mode == "agent-chat" or (ctx.mode == "chat" and enabled and strategy in AGENT_STRATEGIES)
    if enabled:
        out.datasets = [
            (f"{WHERE}.tools[{i}]", e["dataset"]["id"]) for i, e in enumerate(entries) if _legacy_dataset(e)
        ]
    if not is_agent:
        reason = (
            "a completion app is not an agent"
            if ctx.completion
            else f"not an agent app (strategy {strategy or 'router'}): Dify does not run its tools either"
        )
        for index, entry in enumerate(entries):
            if isinstance(entry, dict) and not _legacy_dataset(entry) and _enabled(entry):
                ctx.report.drop(f"{WHERE}.tools[{index}]", reason)
        return out
    if ctx.mode == "chat":
        ctx.mode = "agent-chat"
        ctx.report.change("app.mode", f"a chat app with agent_mode {strategy}: an agent-chat app here")
    block: dict[str, Any] = {"enabled": True, "strategy": strategy}
    if strategy not in AGENT_STRATEGIES:
        block["strategy"] = "function_call"
        if strategy is not None:
            ctx.report.change(f"{WHERE}.strategy", f"{strategy!r} read as function_call")
    iterations = raw.get("max_iteration", DEFAULT_MAX_ITERATION)
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        ctx.report.change(f"{WHERE}.max_iteration", f"{iterations!r} read as {DEFAULT_MAX_ITERATION}")
    elif iterations != DEFAULT_MAX_ITERATION:
        block["max_iteration"] = iterations
    block["tools"] = _tools(ctx, entries, out.tools)
    prompt = raw.get("prompt")
    if isinstance(prompt, dict):
        kept = {
            k: prompt[k]
            for k in ("first_prompt", "next_iteration")
            if isinstance(prompt.get(k), str) and prompt[k]
        }
        if kept:
            block["prompt"] = kept
    out.block = block
    return out


def _enabled(entry: Mapping[str, Any]) -> bool:
    if len(entry) == 1:
        (body,) = entry.values()
        return isinstance(body, Mapping) and bool(body.get("enabled"))
    return bool(entry.get("enabled"))


def _legacy_dataset(entry: Any) -> bool:
    if not isinstance(entry, dict) or len(entry) != 1 or not isinstance(entry.get("dataset"), dict):
        return False
    body = entry["dataset"]
    return bool(body.get("enabled")) and isinstance(body.get("id"), str) and bool(body["id"])


def _tools(ctx: Context, entries: list[Any], credentials: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], str] = {}
    for index, raw in enumerate(entries):
        where = f"{WHERE}.tools[{index}]"
        if not isinstance(raw, dict):
            ctx.report.drop(where, "not a tool entry")
            continue
        found = _entry(ctx, raw, where)
        if found is None:
            continue
        provider, name, values = found
        if (provider, name) in seen:
            ctx.report.drop(where, f"{provider}/{name} is already listed at {seen[provider, name]}")
            continue
        seen[provider, name] = where
        out.append(
            {
                "enabled": True,
                "provider_type": "builtin",
                "provider_id": provider,
                "tool_name": name,
                "tool_parameters": values,
            }
        )
        definition = builtin.definition(provider)
        assert definition is not None
        if definition.required_credentials and provider not in credentials:
            names = {c: f"${{{env_prefix(provider)}_{c.upper()}}}" for c in definition.required_credentials}
            credentials[provider] = {"credentials": names}
            for variable in names.values():
                ctx.report.needs(variable[2:-1])
    return out


def _entry(ctx: Context, raw: dict[str, Any], where: str) -> tuple[str, str, dict[str, Any]] | None:
    """The built-in tool an entry names, with its form values; None (and a note) otherwise."""
    if len(raw) == 1 and next(iter(raw)) in LEGACY_TOOLS:
        ((key, body),) = raw.items()
        if key == "dataset" or not isinstance(body, dict) or not body.get("enabled"):
            return None
        target = LEGACY_TOOLS[key]
        assert target is not None
        found = _builtin(ctx, "builtin", target[0], target[1], {}, where)
        if found is not None:
            ctx.report.change(where, f"the old-style {key} entry became the built-in {target[0]}/{target[1]}")
        return found
    for key in ("provider_type", "provider_id", "tool_name"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            ctx.report.drop(where, f"{key} is required in agent_mode.tools")
            return None
    kind, provider_id, name = raw["provider_type"], raw["provider_id"], raw["tool_name"]
    shown = raw.get("provider_name") if isinstance(raw.get("provider_name"), str) else provider_id
    label = f"{kind} tool {name} of {shown}"
    if not raw.get("enabled", False):
        ctx.report.drop(where, f"{label}: disabled in the source; left out")
        return None
    values = raw.get("tool_parameters") or {}
    if not isinstance(values, dict):
        ctx.report.drop(where, f"{label}: tool_parameters is not a mapping")
        return None
    if kind in ("builtin", "plugin"):
        return _builtin(ctx, kind, provider_id, name, values, where)
    reasons = {
        "api": "a custom (OpenAPI) tool of the source workspace: declare its document under "
        f"openapi_tools and add an entry with provider_type api, that provider's name and tool_name {name}",
        "mcp": f"a tool of an MCP server: declare it under mcp_servers (server_identifier: {provider_id}) "
        "and add the entry again",
        "workflow": "workflow tools are not supported",
        "app": "app tools are not supported",
        "dataset-retrieval": "made by Dify from a dataset: bind the dataset instead",
    }
    ctx.report.drop(where, f"{label}: {reasons.get(kind, f'unknown provider_type {kind!r}')}")
    return None


def _builtin(
    ctx: Context, kind: str, provider_id: str, name: str, values: dict[str, Any], where: str
) -> tuple[str, str, dict[str, Any]] | None:
    label = f"{kind} tool {name} of {provider_id}"
    definition = builtin.definition(provider_id)
    if definition is None:
        have = ", ".join(builtin.BUILTINS)
        ctx.report.drop(where, f"{label}: difychat has no such tool provider (its built-ins: {have})")
        return None
    spec = definition.spec(name)
    if spec is None:
        have = ", ".join(s.name for s in definition.specs)
        ctx.report.drop(where, f"{label}: the built-in {definition.id} has no tool {name!r} (it has: {have})")
        return None
    form = {p.name for p in spec.parameters if p.form == "form"}
    kept = {k: v for k, v in values.items() if k in form and not blank(v)}
    try:
        parameters.form_values(spec, kept)
    except ToolConfigError as exc:
        ctx.report.drop(where, f"{label}: {exc}")
        return None
    return definition.id, name, kept


# --- datasets -------------------------------------------------------------------------------------


def dataset_configs(
    ctx: Context, raw: Any, legacy: list[tuple[str, str]], remap: Mapping[str, str]
) -> dict[str, Any] | None:
    """The ``dataset_configs`` to write: the settings that differ from the defaults and the
    datasets bound; None when nothing is bound (the ids are listed in the report)."""
    where = f"{MC}.dataset_configs"
    if raw is not None and not isinstance(raw, dict):
        ctx.problem(where, "expected a mapping")
        return None
    ids = [*_listed(raw or {}, where), *legacy]
    if not ids:
        return None
    if ctx.completion:
        for at, dataset_id in ids:
            ctx.report.drop(at, f"dataset {dataset_id}: completion apps do not search datasets yet")
        return None
    bound: list[str] = []
    for _at, dataset_id in ids:
        target = remap.get(dataset_id)
        if target is None and not _UUID.match(dataset_id):
            target = dataset_id  # not a Dify id: a dataset's name (a difychat export writes those)
        if target is None:
            if dataset_id not in ctx.report.datasets:
                ctx.report.datasets.append(dataset_id)
        elif target not in bound:
            bound.append(target)
    if not bound:
        return None
    # A stored config without dataset_configs searches every dataset ("multiple").
    settings = {k: v for k, v in (raw or {"retrieval_model": "multiple"}).items() if k != "datasets"}
    settings.pop("dataset_query_variable", None)
    ctx.unknown(unknown_keys(DatasetConfigs, settings, f"{where}."))
    listing = (raw or {}).get("datasets")
    strategy = listing.get("strategy") if isinstance(listing, dict) else None
    try:
        configs = DatasetConfigs.model_validate(settings)
    except ValidationError as exc:
        ctx.invalid(where, exc)
        return None
    default = DatasetConfigs().model_dump(mode="json", exclude_none=True)
    dumped = configs.model_dump(
        mode="json", exclude_none=True, exclude={"datasets", "dataset_query_variable"}
    )
    out = {k: v for k, v in dumped.items() if v != default.get(k)}
    datasets: dict[str, Any] = {"datasets": [{"dataset": {"id": target}} for target in bound]}
    if isinstance(strategy, str) and strategy != default["datasets"]["strategy"]:
        datasets["strategy"] = strategy
    out["datasets"] = datasets
    return out


def _listed(raw: dict[str, Any], where: str) -> list[tuple[str, str]]:
    listing = raw.get("datasets")
    entries = listing.get("datasets") if isinstance(listing, dict) else None
    out = []
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        if _legacy_dataset(entry):
            out.append((f"{where}.datasets.datasets[{index}]", entry["dataset"]["id"]))
    return out
