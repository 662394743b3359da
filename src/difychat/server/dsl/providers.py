"""Provider ids between Dify and difychat (contract A5, agent contract §3.3).

Dify names a model provider ``openai`` or ``langgenius/openai/openai`` (organisation, plugin,
provider); difychat has its own few providers. Credentials never travel: an imported model reads
its key (and endpoint) from environment variables named after the provider.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_PART = r"[a-z0-9_-]+"
_SHORT = re.compile(rf"^{_PART}$")
_LONG = re.compile(rf"^{_PART}/{_PART}/{_PART}$")

# Dify's provider (short form) -> difychat's.
MODEL_PROVIDERS: Mapping[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "openai_api_compatible": "openai-compatible",
    "openai-compatible": "openai-compatible",
    "echo": "echo",
}
# difychat's provider -> the Dify provider id an export writes, and the plugin it lives in.
DIFY_MODEL_PROVIDERS: Mapping[str, tuple[str, str | None]] = {
    "openai": ("langgenius/openai/openai", "langgenius/openai"),
    "anthropic": ("langgenius/anthropic/anthropic", "langgenius/anthropic"),
    "openai-compatible": (
        "langgenius/openai_api_compatible/openai_api_compatible",
        "langgenius/openai_api_compatible",
    ),
    # difychat's demo model: Dify has no such provider.
    "echo": ("echo", None),
}
# Where each difychat provider's endpoint and key come from on import.
_DEFAULT_BASE_URLS: Mapping[str, str] = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
}
# Built-in tool providers that live in a Dify plugin (the others, time and webscraper, are Dify's
# own built-ins; calculator is difychat's).
TOOL_PLUGINS: Mapping[str, str] = {
    "wikipedia": "langgenius/wikipedia",
    "tavily": "langgenius/tavily",
    "searxng": "langgenius/searxng",
}
DIFY_BUILTIN_TOOLS = frozenset({"time", "webscraper", "code", "audio"})
# Built-in providers that Dify moved into plugins named ``<name>_tool``.
_TOOL_SUFFIXED = frozenset({"jina", "siliconflow", "stepfun", "gitee_ai"})


@dataclass(frozen=True, slots=True)
class ModelProvider:
    """An imported model's provider: difychat's name, whether Dify's was known, and its settings."""

    provider: str
    known: bool
    base_url: str | None
    api_key: str | None
    # The environment variables those read (without a default).
    variables: tuple[str, ...]


def split_provider(provider_id: str) -> tuple[str, str] | None:
    """``(plugin, provider)`` of a Dify provider id in either form; None when it is not one."""
    if _SHORT.match(provider_id):
        return provider_id, provider_id
    if _LONG.match(provider_id):
        organisation, plugin, provider = provider_id.split("/")
        return f"{organisation}/{plugin}", provider
    return None


def short_name(provider_id: str) -> str:
    """``langgenius/openai/openai`` and ``openai`` are ``openai``; other orgs keep their whole id."""
    parts = provider_id.split("/")
    if len(parts) == 3 and parts[0] == "langgenius" and parts[1] in (parts[2], f"{parts[2]}_tool"):
        return parts[2]
    return provider_id


def env_prefix(name: str) -> str:
    last = name.split("/")[-1]
    return re.sub(r"[^A-Z0-9]+", "_", last.upper()).strip("_") or "MODEL"


def model_provider(provider_id: str) -> ModelProvider:
    """What an imported model of ``provider_id`` becomes (``provider_id`` already checked)."""
    name = short_name(provider_id)
    provider = MODEL_PROVIDERS.get(name)
    if provider == "echo":
        return ModelProvider("echo", True, None, None, ())
    if provider in ("openai", "anthropic"):
        prefix = provider.upper()
        base = f"${{{prefix}_BASE_URL:-{_DEFAULT_BASE_URLS[provider]}}}"
        return ModelProvider(provider, True, base, f"${{{prefix}_API_KEY}}", (f"{prefix}_API_KEY",))
    # An OpenAI-compatible endpoint: known (openai_api_compatible), or the fallback for a provider
    # difychat does not have (many serve the same protocol), read from variables named after it.
    prefix = "OPENAI_COMPATIBLE" if provider is not None else env_prefix(name)
    variables = (f"{prefix}_BASE_URL", f"{prefix}_API_KEY")
    return ModelProvider(
        "openai-compatible", provider is not None, f"${{{variables[0]}}}", f"${{{variables[1]}}}", variables
    )


def tool_plugin(provider_id: str) -> str:
    """The Dify plugin a tool provider id (either form) belongs to."""
    parts = provider_id.split("/")
    if len(parts) == 3:
        return f"{parts[0]}/{parts[1]}"
    plugin = f"{provider_id}_tool" if provider_id in _TOOL_SUFFIXED else provider_id
    return f"langgenius/{plugin}"
