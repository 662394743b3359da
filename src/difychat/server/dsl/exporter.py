"""An app of the apps file as a DSL file Dify 1.10 to 1.12 imports as ``completed`` (contract A8).

``version: 0.5.0``, ``kind: app``, the six ``app`` keys, ``model_config`` with all twenty keys
of A3 (defaults filled in), ``dependencies: []``; keys sorted as Dify writes them. No credential
is ever written: not the model's key or endpoint, not a tool's, not an API key. The report says
which Dify plugins the target needs and which difychat settings have no place in the DSL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from difychat.server.domain.agent import AGENT_STRATEGIES, LEGACY_TOOLS
from difychat.server.domain.apps import AppConfig
from difychat.server.dsl.document import CURRENT_VERSION
from difychat.server.dsl.providers import DIFY_BUILTIN_TOOLS, DIFY_MODEL_PROVIDERS, TOOL_PLUGINS
from difychat.server.dsl.report import ExportReport
from difychat.server.tools import builtin

DEFAULT_ICON = "🤖"
DEFAULT_ICON_BACKGROUND = "#FFEAD5"

# difychat's own settings, and why they are not exported.
_OWN = "difychat's own setting; Dify has no place for it"
_OWN_SETTINGS = {
    "api_keys": "API keys stay with difychat",
    "enable_api": _OWN,
    "memory": _OWN,
    "max_active_requests": _OWN,
    "tags": _OWN,
    "author_name": _OWN,
    "embedding_model": _OWN,
    "conversation_variables": "chat apps have no conversation variables in Dify",
    "mcp_server": _OWN,
    "tools": "tool credentials are never exported; set them up in the target's tool providers",
    "openapi_tools": "OpenAPI tool providers are created in the target's workspace",
    "mcp_servers": "MCP servers are added in the target's workspace",
}
_MODEL_OWN = {
    "base_url": "endpoints and keys are set in the target's model provider",
    "api_key": "endpoints and keys are set in the target's model provider",
    "pricing": _OWN,
    "timeout": _OWN,
    "capabilities": _OWN,
}
_SITE_OWN = (
    "title",
    "chat_color_theme",
    "chat_color_theme_inverted",
    "description",
    "copyright",
    "privacy_policy",
    "custom_disclaimer",
    "default_language",
    "show_workflow_steps",
)
_AUXILIARY = ("model", "provider", "base_url", "api_key", "timeout")


@dataclass(slots=True)
class Exported:
    document: dict[str, Any]
    report: ExportReport


def export_app(config: AppConfig) -> Exported:
    report = ExportReport(config.name, config.mode, CURRENT_VERSION)
    document = {
        "app": _app(config, report),
        "dependencies": [],
        "kind": "app",
        "model_config": _model_config(config, report),
        "version": CURRENT_VERSION,
    }
    _unexported(config, report)
    return Exported(document, report)


def dump_dsl(document: dict[str, Any]) -> str:
    """YAML as Dify writes it: block style, keys sorted, Unicode kept."""
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=True, default_flow_style=False)


def _app(config: AppConfig, report: ExportReport) -> dict[str, Any]:
    site = config.site
    icon, background = DEFAULT_ICON, DEFAULT_ICON_BACKGROUND
    if site.icon_type == "emoji":
        icon = site.icon or DEFAULT_ICON
        background = site.icon_background or DEFAULT_ICON_BACKGROUND
    else:
        report.change("site.icon", f"an image icon is written as {DEFAULT_ICON} on {DEFAULT_ICON_BACKGROUND}")
    return {
        "description": config.description,
        "icon": icon,
        "icon_background": background,
        "mode": config.mode,
        "name": config.name,
        "use_icon_as_answer_icon": site.use_icon_as_answer_icon,
    }


def _model_config(config: AppConfig, report: ExportReport) -> dict[str, Any]:
    moderation = config.sensitive_word_avoidance.wire()
    moderation.pop("configs", None)
    datasets, query_variable = _datasets(config, report)
    return {
        "opening_statement": config.opening_statement or "",
        "suggested_questions": list(config.suggested_questions),
        "suggested_questions_after_answer": config.suggested_questions_after_answer.wire(),
        "speech_to_text": config.speech_to_text.wire(),
        "text_to_speech": config.text_to_speech.wire(),
        "retriever_resource": config.retriever_resource.wire(),
        "annotation_reply": {"enabled": False},
        "more_like_this": config.more_like_this.wire(),
        "sensitive_word_avoidance": moderation,
        "external_data_tools": [],
        "model": _model(config, report),
        "user_input_form": [dict(entry) for entry in config.user_input_form],
        "dataset_query_variable": query_variable,
        "pre_prompt": config.pre_prompt,
        "agent_mode": _agent_mode(config, report),
        "prompt_type": "simple",
        "chat_prompt_config": {},
        "completion_prompt_config": {},
        "dataset_configs": datasets,
        "file_upload": config.file_upload.model_dump(mode="json"),
    }


def _model(config: AppConfig, report: ExportReport) -> dict[str, Any]:
    provider, plugin = DIFY_MODEL_PROVIDERS[config.model.provider]
    if plugin is None:
        report.change("model.provider", f"{provider} is difychat's demo model: choose a model in the target")
    else:
        _plugin(report, plugin)
    if config.model.provider == "openai-compatible":
        report.change(
            "model.provider",
            f"the target's OpenAI-API-compatible provider needs the model {config.model.name} "
            "with its endpoint",
        )
    return {
        "completion_params": dict(config.model.completion_params),
        "mode": "chat",
        "name": config.model.name,
        "provider": provider,
    }


def _agent_mode(config: AppConfig, report: ExportReport) -> dict[str, Any]:
    agent = config.agent_mode
    tools = [_tool(raw, f"agent_mode.tools[{i}]", report) for i, raw in enumerate(agent.tools)]
    strategy = agent.strategy
    if config.is_agent and strategy not in AGENT_STRATEGIES:
        strategy = "function_call"
    return {
        "enabled": agent.enabled or config.is_agent,
        "max_iteration": agent.max_iteration,
        "prompt": None if agent.prompt is None else agent.prompt.model_dump(exclude_none=True),
        "strategy": strategy,
        "tools": tools,
    }


def _tool(raw: dict[str, Any], where: str, report: ExportReport) -> dict[str, Any]:
    entry = {k: v for k, v in raw.items() if k != "credential_id"}
    if len(raw) == 1 and next(iter(raw)) in LEGACY_TOOLS and "dataset" not in raw:
        ((key, body),) = raw.items()
        target = LEGACY_TOOLS[key]
        assert target is not None
        enabled = bool(body.get("enabled")) if isinstance(body, dict) else False
        entry = {
            "enabled": enabled,
            "provider_type": "builtin",
            "provider_id": target[0],
            "tool_name": target[1],
        }
        entry["tool_parameters"] = {}
        report.change(where, f"the old-style {key} entry is written as {target[0]}/{target[1]}")
    kind, provider_id = entry.get("provider_type"), entry.get("provider_id")
    if kind in ("builtin", "plugin") and isinstance(provider_id, str):
        definition = builtin.definition(provider_id)
        if definition is not None:
            short = definition.id
            written = f"langgenius/{short}/{short}" if short in TOOL_PLUGINS else short
            entry.update(provider_type="builtin", provider_id=written, provider_name=written)
            spec = definition.spec(str(entry.get("tool_name")))
            if spec is not None:
                entry["tool_label"] = spec.labels.get("en_US", spec.name)
            if short in TOOL_PLUGINS:
                _plugin(report, TOOL_PLUGINS[short])
            elif short not in DIFY_BUILTIN_TOOLS:
                report.change(
                    where, f"{short} is difychat's own tool: Dify has none and leaves the entry out"
                )
    elif kind == "api":
        report.change(where, f"the target needs a custom tool provider for {provider_id} (its id there)")
    elif kind == "mcp":
        report.change(where, f"the target needs the MCP server {provider_id} (its server identifier there)")
    entry.setdefault("tool_parameters", {})
    return entry


def _datasets(config: AppConfig, report: ExportReport) -> tuple[dict[str, Any], str]:
    configs = config.dataset_configs
    if configs is None:
        return {"datasets": {"datasets": []}, "retrieval_model": "multiple", "top_k": 4}, ""
    out = configs.model_dump(mode="json", exclude_none=True, exclude={"datasets", "dataset_query_variable"})
    entries = []
    for entry in configs.datasets.datasets:
        ref = entry.dataset
        written = ref.id or ref.name
        if not written:
            continue
        entries.append({"dataset": {"enabled": ref.enabled, "id": written}})
        if written not in report.datasets:
            report.datasets.append(written)
    out["datasets"] = {"datasets": entries, "strategy": configs.datasets.strategy}
    return out, configs.dataset_query_variable or ""


def _unexported(config: AppConfig, report: ExportReport) -> None:
    default = AppConfig(name=config.name)
    for key, reason in _OWN_SETTINGS.items():
        if getattr(config, key) != getattr(default, key):
            report.drop(key, reason)
    for key, reason in _MODEL_OWN.items():
        if getattr(config.model, key) != getattr(default.model, key):
            report.drop(f"model.{key}", reason)
    for key in _SITE_OWN:
        if getattr(config.site, key) != getattr(default.site, key):
            report.drop(f"site.{key}", _OWN)
    for block in ("speech_to_text", "text_to_speech"):
        own = [
            k for k in _AUXILIARY if getattr(getattr(config, block), k) != getattr(getattr(default, block), k)
        ]
        if own:
            report.drop(f"{block}.{'/'.join(own)}", "the target's default speech model is used")
    if config.annotation_reply.enabled:
        report.drop("annotation_reply", "Dify does not import annotation replies; they stay off")


def _plugin(report: ExportReport, plugin: str) -> None:
    if plugin not in report.plugins:
        report.plugins.append(plugin)
