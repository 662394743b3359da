"""A Dify export of a chat, agent-chat or completion app, as one entry of the apps file (contract A7).

The entry is written with only what differs from difychat's defaults, in a fixed order, so the
same app always gives the same entry (an export imported again gives it back). It is checked
the way the apps file's loader checks it (unknown keys, the schema) before anyone writes it;
model and tool credentials are ``${VAR}`` references, never values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from difychat.server.domain.apps import AppConfig
from difychat.server.domain.config_keys import unknown_keys
from difychat.server.dsl import agent, blocks
from difychat.server.dsl.context import MC, Context
from difychat.server.dsl.document import Document, DslRefused
from difychat.server.dsl.providers import model_provider, split_provider
from difychat.server.dsl.report import ImportReport

# model_config keys in Dify's order (contract A3), for the report's "brought over" line.
MODEL_CONFIG_KEYS = (
    "opening_statement",
    "suggested_questions",
    "suggested_questions_after_answer",
    "speech_to_text",
    "text_to_speech",
    "retriever_resource",
    "annotation_reply",
    "more_like_this",
    "sensitive_word_avoidance",
    "external_data_tools",
    "model",
    "user_input_form",
    "dataset_query_variable",
    "pre_prompt",
    "agent_mode",
    "prompt_type",
    "chat_prompt_config",
    "completion_prompt_config",
    "dataset_configs",
    "file_upload",
)
# The apps file expands ${VAR} in every string: text that holds one literally is written so
# that it expands to itself (``${DIFYCHAT_LITERAL_DOLLAR:-$}`` is a ``$``).
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
LITERAL_DOLLAR = "${DIFYCHAT_LITERAL_DOLLAR:-$}"
_CONTEXT_MARKS = re.compile(r"\{\{#(context|histories|query)#\}\}")


@dataclass(frozen=True, slots=True)
class ImportOptions:
    # The app's name in the apps file (the file's app.name otherwise).
    name: str | None = None
    # Dataset ids of the source workspace -> a difychat dataset's name or id.
    datasets: Mapping[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Imported:
    entry: dict[str, Any]
    report: ImportReport


def import_app(document: Document, options: ImportOptions | None = None) -> Imported:
    """The apps-file entry for ``document``, or ``DslRefused`` with every problem found."""
    options = options or ImportOptions()
    ctx = Context(document.mode)
    ctx.report.version = document.version
    ctx.report.warnings.extend(document.warnings)
    ctx.report.plugins.extend(_plugins(document.dependencies))
    config = document.model_config

    name = options.name if options.name is not None else document.app.get("name")
    if not isinstance(name, str) or not name.strip():
        ctx.problem("app.name", "missing: give the app a name (--name)")
        name = ""
    description = document.app.get("description")

    model = _model(ctx, config.get("model"))
    pre_prompt = _prompt(ctx, config, model)
    opening, questions = _conversation_start(ctx, config)
    form = blocks.user_input_form(ctx, config.get("user_input_form"))
    features = blocks.features(ctx, config)
    _unsupported(ctx, config)
    found = agent.agent_mode(ctx, config.get("agent_mode"))
    datasets = agent.dataset_configs(ctx, config.get("dataset_configs"), found.datasets, options.datasets)
    site = _site(ctx, document.app)

    entry: dict[str, Any] = {"name": name.strip(), "mode": ctx.mode}
    if isinstance(description, str) and description:
        entry["description"] = description
    entry["model"] = model
    if pre_prompt or ctx.completion:
        entry["pre_prompt"] = pre_prompt
    if opening:
        entry["opening_statement"] = opening
    if questions:
        entry["suggested_questions"] = questions
    if form or (ctx.completion and form is not None):
        entry["user_input_form"] = form
    elif ctx.completion:
        entry["user_input_form"] = []  # Dify reads a missing form as none
    entry.update(features)
    if found.block is not None:
        entry["agent_mode"] = found.block
    if found.tools:
        entry["tools"] = found.tools
    if datasets is not None:
        entry["dataset_configs"] = datasets
    if site:
        entry["site"] = site

    if not ctx.problems:
        entry = _escaped(entry)
        ctx.problems.extend(validate_entry(entry))
    if ctx.problems:
        raise DslRefused(ctx.problems)
    ctx.report.name = entry["name"]
    ctx.report.mode = ctx.mode
    ctx.report.mapped = _mapped(entry, ctx.report)
    return Imported(entry, ctx.report)


def _model(ctx: Context, raw: Any) -> dict[str, Any]:
    where = f"{MC}.model"
    if not isinstance(raw, dict):
        ctx.problem(where, "required: the model's provider and name")
        return {}
    provider_id, name = raw.get("provider"), raw.get("name")
    if not isinstance(name, str) or not name:
        ctx.problem(f"{where}.name", "required")
    if not isinstance(provider_id, str) or not provider_id:
        ctx.problem(f"{where}.provider", "required")
        return {}
    if split_provider(provider_id) is None:
        ctx.problem(
            f"{where}.provider",
            f"{provider_id!r} is not a provider id (openai, or organisation/plugin/provider)",
        )
        return {}
    params = raw.get("completion_params")
    if params is not None and not isinstance(params, dict):
        ctx.problem(f"{where}.completion_params", "expected a mapping")
        params = None
    if raw.get("mode") == "completion":
        ctx.report.change(
            f"{where}.mode", "a completion-mode model: difychat calls every model through its chat API"
        )
    found = model_provider(provider_id)
    if not found.known:
        ctx.report.drop(
            f"{where}.provider",
            f"unknown provider {provider_id}: written as openai-compatible at "
            f"${{{found.variables[0]}}}; point "
            f"it at an OpenAI-compatible endpoint serving {name}, or choose another provider",
        )
    for variable in found.variables:
        ctx.report.needs(variable)
    model: dict[str, Any] = {"provider": found.provider, "name": name}
    if found.base_url is not None:
        model["base_url"] = found.base_url
    if found.api_key is not None:
        model["api_key"] = found.api_key
    if params:
        model["completion_params"] = params
    return model


def _prompt(ctx: Context, config: dict[str, Any], model: dict[str, Any]) -> str:
    kind = config.get("prompt_type") or "simple"
    if kind != "advanced":
        if kind != "simple":
            ctx.report.change(f"{MC}.prompt_type", f"{kind!r} read as simple")
        text = config.get("pre_prompt")
        if text is not None and not isinstance(text, str):
            ctx.problem(f"{MC}.pre_prompt", "expected text")
            return ""
        return text or ""  # Dify's importer fails on a missing pre_prompt; it means none
    chat = config.get("chat_prompt_config") or {}
    completion = config.get("completion_prompt_config") or {}
    if isinstance(chat, dict) and isinstance(chat.get("prompt"), list) and chat["prompt"]:
        return _chat_template(ctx, chat["prompt"])
    if isinstance(completion, dict) and isinstance(completion.get("prompt"), dict):
        text = completion["prompt"].get("text")
        if isinstance(text, str):
            ctx.report.change(
                f"{MC}.completion_prompt_config",
                "the advanced prompt became pre_prompt; difychat places the knowledge context, the history "
                "and the query itself",
            )
            return _CONTEXT_MARKS.sub("", text).strip()
    ctx.problem(
        f"{MC}.prompt_type",
        "advanced, but neither chat_prompt_config nor completion_prompt_config has a prompt",
    )
    return ""


def _chat_template(ctx: Context, messages: list[Any]) -> str:
    where = f"{MC}.chat_prompt_config.prompt"
    system: list[str] = []
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        text = message.get("text") if isinstance(message, dict) else None
        if not isinstance(text, str):
            ctx.problem(f"{where}[{index}]", "each message has a role and a text")
            continue
        if role == "system":
            system.append(_CONTEXT_MARKS.sub("", text).strip())
        elif not (role == "user" and text.strip() == "{{#query#}}"):
            ctx.report.drop(
                f"{where}[{index}]",
                f"a {role} message in the template: difychat sends pre_prompt, the conversation "
                "and the query",
            )
    ctx.report.change(
        where,
        "the system message became pre_prompt; difychat places the knowledge context and the history itself",
    )
    return "\n\n".join(t for t in system if t)


def _conversation_start(ctx: Context, config: dict[str, Any]) -> tuple[str | None, list[str]]:
    opening = config.get("opening_statement")
    questions = config.get("suggested_questions") or []
    if opening is not None and not isinstance(opening, str):
        ctx.problem(f"{MC}.opening_statement", "expected text")
        opening = None
    if not isinstance(questions, list) or not all(isinstance(q, str) for q in questions):
        ctx.problem(f"{MC}.suggested_questions", "expected a list of texts")
        questions = []
    if ctx.completion:
        for key, value in (("opening_statement", opening), ("suggested_questions", questions)):
            if value:
                ctx.report.drop(f"{MC}.{key}", "a completion app has no conversation")
        return None, []
    return opening or None, questions


def _unsupported(ctx: Context, config: dict[str, Any]) -> None:
    reply = config.get("annotation_reply")
    if isinstance(reply, dict) and reply.get("enabled"):
        ctx.report.drop(
            f"{MC}.annotation_reply",
            "annotation replies are not imported (nor by Dify); switch them on through the annotation API",
        )
    tools = config.get("external_data_tools")
    for index, tool in enumerate(tools if isinstance(tools, list) else []):
        if isinstance(tool, dict) and tool.get("enabled", True):
            ctx.report.drop(f"{MC}.external_data_tools[{index}]", "Dify API extensions are not supported")
    variable = config.get("dataset_query_variable")
    if isinstance(variable, str) and variable and ctx.completion:
        ctx.report.drop(f"{MC}.dataset_query_variable", "completion apps do not search datasets yet")
    for key in config:
        if key not in MODEL_CONFIG_KEYS:
            ctx.report.drop(f"{MC}.{key}", "not a setting of chat apps difychat knows")


def _site(ctx: Context, app: dict[str, Any]) -> dict[str, Any]:
    site: dict[str, Any] = {}
    kind = app.get("icon_type") or "emoji"
    icon, background = app.get("icon"), app.get("icon_background")
    if kind == "image":
        ctx.report.drop("app.icon", "an image uploaded to the source workspace; set site.icon yourself")
    elif kind == "link" and isinstance(icon, str) and icon:
        site.update(icon_type="image", icon_url=icon)
        ctx.report.change("app.icon", "an icon link: site.icon_url")
    elif isinstance(icon, str) and icon:
        site["icon"] = icon
    if kind != "image" and isinstance(background, str) and background:
        site["icon_background"] = background
    if app.get("use_icon_as_answer_icon") is True:
        site["use_icon_as_answer_icon"] = True
    return site


def _plugins(dependencies: list[Any]) -> list[str]:
    out = []
    for dependency in dependencies:
        value = dependency.get("value") if isinstance(dependency, dict) else None
        if not isinstance(value, dict):
            continue
        for key in (
            "marketplace_plugin_unique_identifier",
            "plugin_unique_identifier",
            "github_plugin_unique_identifier",
        ):
            if isinstance(value.get(key), str):
                out.append(value[key].split("@")[0])
                break
    return out


def _mapped(entry: dict[str, Any], report: ImportReport) -> list[str]:
    """The ``model_config`` keys the entry holds that came over without a note."""
    noted = {n.where for n in [*report.changed, *report.unmapped]}

    def clean(key: str) -> bool:
        prefix = f"{MC}.{key}"
        return not any(w == prefix or w.startswith((f"{prefix}.", f"{prefix}[")) for w in noted)

    return [k for k in MODEL_CONFIG_KEYS if k in entry and clean(k)]


# --- checking and writing -------------------------------------------------------------------------


def validate_entry(entry: dict[str, Any]) -> list[str]:
    """What the apps file's loader would say about ``entry`` (unknown keys, the schema), with a
    stand-in for every environment variable it reads."""
    expanded = _expand(entry)
    problems = list(unknown_keys(AppConfig, expanded))
    try:
        AppConfig.model_validate(expanded)
    except ValidationError as exc:
        for error in exc.errors(include_input=False, include_url=False):
            where = ".".join(str(p) for p in error["loc"])
            problems.append(f"the entry's {where}: {error['msg']}")
    return [f"the entry would not load: {p}" for p in problems]


def _expand(value: Any) -> Any:
    def one(match: re.Match[str]) -> str:
        if match.group(2) is not None:
            return match.group(2)
        return "http://unset.invalid" if match.group(1).endswith("_URL") else "unset"

    if isinstance(value, str):
        return _ENV_REF.sub(one, value)
    if isinstance(value, list):
        return [_expand(v) for v in value]
    if isinstance(value, dict):
        return {k: _expand(v) for k, v in value.items()}
    return value


def escape_text(text: str) -> str:
    """``text`` written so that the apps file reads it back as it is."""
    return _ENV_REF.sub(lambda m: LITERAL_DOLLAR + m.group(0)[1:], text)


def _escaped(entry: dict[str, Any]) -> dict[str, Any]:
    """Every text of the source escaped; the entry's own references (model, tools) kept."""

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return escape_text(value)
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        return value

    out = {k: (v if k == "tools" else walk(v)) for k, v in entry.items()}
    model = dict(entry["model"])
    out["model"] = {k: (v if k in ("api_key", "base_url") else walk(v)) for k, v in model.items()}
    return out
