"""Server settings (environment prefix ``DIFYCHAT_``) and the apps file.

Only the composition root (``app.py``) and the CLI read these; everything else
receives what it needs as arguments.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from difychat.server.domain.apps import AppConfig
from difychat.server.domain.config_keys import unknown_keys
from difychat.server.domain.datasets_file import DatasetDeclaration

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DIFYCHAT_", extra="ignore")

    data_dir: Path = Path(".difychat")
    database_url: str | None = None
    config: Path | None = None
    redis_url: str | None = None
    secret_key: str | None = None
    # Public base of signed file URLs; relative URLs when empty, as in Dify.
    files_url: str = ""

    ping_interval: float = Field(default=10.0, gt=0)
    # A streaming client that leaves more than this unread is detached (its answer is still
    # saved); one whose connection accepts nothing for this many seconds is disconnected.
    stream_max_unread_bytes: int = Field(default=256 * 1024, gt=0)
    stream_send_timeout: float = Field(default=60.0, gt=0)
    # Each process renews its lease this often; one silent for ``lease_seconds`` is dead, and the
    # answers it was running are ended as interrupted (with the text saved so far).
    heartbeat_seconds: float = Field(default=5.0, gt=0)
    lease_seconds: float = Field(default=30.0, gt=0)
    max_generation_seconds: float = Field(default=1200.0, gt=0)
    max_json_body_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    # A stop request is noticed across worker processes within this many seconds.
    stop_poll_interval: float = Field(default=0.05, gt=0)
    # A worker may reuse a valid API key or an app's annotation-reply setting read from the database
    # for this many seconds: a revoked key or a setting changed elsewhere takes effect within it.
    cache_seconds: float = Field(default=5.0, ge=0)
    # True when several processes share the database: stops are then relayed through it (or Redis).
    multi_worker: bool = False
    # Limits of an API key that sets none of its own (`difychat keys create --rpm/--concurrency`):
    # requests per minute and chat requests at once, 0 = unlimited. Shared by every worker through
    # Redis when `redis_url` is set, else counted per process (as `max_active_requests` is).
    key_rpm: int = Field(default=0, ge=0)
    key_concurrency: int = Field(default=0, ge=0)
    # With Redis, the concurrency slots of a worker that dies are freed within this many seconds.
    limit_slot_ttl: float = Field(default=30.0, ge=1)
    dify_version: str = "1.12.1"
    deploy_env: str = "PRODUCTION"
    # Upload size limits per extension class (bytes), and extensions refused outright (comma list).
    upload_image_file_size_limit: int = Field(default=10 * 1024 * 1024, gt=0)
    upload_video_file_size_limit: int = Field(default=100 * 1024 * 1024, gt=0)
    upload_audio_file_size_limit: int = Field(default=50 * 1024 * 1024, gt=0)
    upload_file_size_limit: int = Field(default=15 * 1024 * 1024, gt=0)
    upload_file_extension_blacklist: str = ""
    # Files per workflow run, reported by /parameters (difychat runs no workflows).
    workflow_file_upload_limit: int = Field(default=10, ge=0)
    # Signed file URLs stay valid this long (seconds).
    files_access_timeout: int = Field(default=300, gt=0)
    # Remote files (chat `remote_url`): private, loopback and other non-public addresses are refused
    # unless listed here (comma list of CIDRs or host names).
    remote_fetch_allow: str = ""
    remote_fetch_max_bytes: int = Field(default=15 * 1024 * 1024, gt=0)
    remote_fetch_timeout: float = Field(default=30.0, gt=0)
    # Text taken from one attached document for the prompt (characters).
    document_max_chars: int = Field(default=100_000, gt=0)
    # An agent's tool call: how long it may run, and how much output (text and files) it may return.
    tool_timeout: float = Field(default=30.0, gt=0)
    tool_max_output_bytes: int = Field(default=1024 * 1024, gt=0)
    # Knowledge indexing: jobs one process runs at once, tries per document, how often to look for jobs
    # other processes queued; a document's parse is cut off past these (time, child memory, text,
    # PDF pages, inflated DOCX/XLSX bytes); segments one request may add (0: no cap).
    knowledge_workers: int = Field(default=2, ge=0)
    knowledge_max_attempts: int = Field(default=3, ge=1)
    knowledge_poll_seconds: float = Field(default=1.0, gt=0)
    knowledge_retry_seconds: float = Field(default=2.0, ge=0)
    knowledge_parse_timeout: float = Field(default=120.0, gt=0)
    knowledge_parse_memory_mb: int = Field(default=1024, ge=0)
    knowledge_max_chars: int = Field(default=2_000_000, gt=0)
    knowledge_max_pages: int = Field(default=2000, gt=0)
    knowledge_max_unzipped_mb: int = Field(default=100, gt=0)
    knowledge_max_segments_per_request: int = Field(default=0, ge=0)
    # Knowledge search: the embedding model of high-quality datasets (an OpenAI-compatible
    # /embeddings endpoint, or `local`: MiniLM on this machine, the local-embeddings extra); none
    # set means datasets are economy (keywords only). The rerank model: a Jina/Cohere-style /rerank.
    embedding_provider: Literal["openai-compatible", "local"] = "openai-compatible"
    embedding_model: str | None = None
    embedding_base_url: str | None = None
    embedding_api_key: SecretStr | None = None
    rerank_model: str | None = None
    rerank_base_url: str | None = None
    rerank_api_key: SecretStr | None = None
    knowledge_model_timeout: float = Field(default=60.0, gt=0)
    # Vector search: what the vectors held in memory may take together (MiB; past it the datasets
    # searched least recently are let go, and read again when next searched; 0: no limit), and how
    # datasets of 20,000 vectors or more are searched: `exact` (every vector read), or
    # `approximate` (one-bit codes first, then an exact re-rank of the best 2,000: about half the
    # CPU, and a match can be missed).
    knowledge_vector_memory_mb: int = Field(default=1024, ge=0)
    knowledge_vector_search: Literal["exact", "approximate"] = "exact"
    # Set by `difychat serve` for its workers once it has migrated and synced the apps itself.
    bootstrapped: bool = False
    # Set by `difychat serve`: once started, what start-up built (which lives as long as the process)
    # is moved out of the garbage collector's way (``gc.freeze``), so collections under load scan
    # only what requests make, and the young generation is collected less often.
    freeze_startup_objects: bool = False
    # Prometheus metrics at GET /metrics (outside /v1); with a token, scrapes must send it as a bearer.
    metrics_enabled: bool = True
    metrics_token: SecretStr | None = None
    # Log lines as text for a terminal, or one JSON object each (with the request id) for a collector.
    log_format: Literal["text", "json"] = "text"

    # The demo app's model, read without the DIFYCHAT_ prefix, as the openai SDK does.
    openai_base_url: str | None = Field(default=None, validation_alias="OPENAI_BASE_URL")
    openai_api_key: str | None = Field(default=None, validation_alias="OPENAI_API_KEY")
    openai_model: str | None = Field(default=None, validation_alias="OPENAI_MODEL")

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'difychat.db').resolve()}"

    def stored_secret_key(self) -> str | None:
        """The signing key when it is configured or was generated already; never makes one."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        return path.read_text().strip() if path.exists() else None

    def resolved_secret_key(self) -> str:
        """The signing key: configured, or generated once and kept in the data directory."""
        found = self.stored_secret_key()
        if found is not None:
            return found
        path = self.data_dir / "secret_key"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(key)
        return key


class ConfigFileError(Exception):
    """The apps file cannot be read or does not validate."""


class UnsetVariable(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def expand_env(value: Any, environ: Mapping[str, str] | None = None) -> Any:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in every string of a parsed YAML document.

    A ``${VAR}`` that is unset and has no default raises ``UnsetVariable``: an app must not start
    with an empty key or URL that the operator meant to set.
    """
    env = os.environ if environ is None else environ

    def one(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        found = env.get(name)
        if found is not None:
            return found
        if default is None:
            raise UnsetVariable(name)
        return default

    if isinstance(value, str):
        return _ENV_REF.sub(one, value)
    if isinstance(value, list):
        return [expand_env(v, env) for v in value]
    if isinstance(value, dict):
        return {k: expand_env(v, env) for k, v in value.items()}
    return value


def _describe(exc: ValidationError) -> str:
    """The validation errors without the values that failed: a value may be a credential."""
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in error["loc"])
        lines.append(f"  {where}: {error['msg']}")
    return "\n".join(lines)


def load_apps_file(path: Path, environ: Mapping[str, str] | None = None) -> list[AppConfig]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigFileError(f"cannot read {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigFileError(f"{path} is not valid YAML: {exc}") from exc
    if raw is None:
        return []
    if not isinstance(raw, dict) or not isinstance(raw.get("apps", []), list):
        raise ConfigFileError(f"{path}: expected a mapping with an 'apps' list")
    unknown_top = [k for k in raw if k not in ("apps", "datasets")]
    if unknown_top:
        raise ConfigFileError(f'{path}: unknown key "{unknown_top[0]}" (the file holds "apps", "datasets")')
    apps: list[AppConfig] = []
    for index, entry in enumerate(raw.get("apps") or []):
        name = entry.get("name") if isinstance(entry, dict) else None
        where = f'{path}: app "{name}"' if isinstance(name, str) and name else f"{path}: apps[{index}]"
        try:
            expanded = expand_env(entry, environ)
        except UnsetVariable as exc:
            raise ConfigFileError(
                f"{where}: the environment variable {exc.name} is not set and ${{{exc.name}}} has no default "
                f"(set it, or write ${{{exc.name}:-default}})"
            ) from exc
        problems = list(unknown_keys(AppConfig, expanded))
        if problems:
            raise ConfigFileError(f"{where}: " + "; ".join(problems))
        try:
            apps.append(AppConfig.model_validate(expanded))
        except ValidationError as exc:
            raise ConfigFileError(f"{where} is invalid:\n{_describe(exc)}") from None
    names = [a.name for a in apps]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigFileError(f"{path}: duplicate app names: {', '.join(duplicates)}")
    keys = [k.get_secret_value() for a in apps for k in a.api_keys]
    if len(keys) != len(set(keys)):
        raise ConfigFileError(f"{path}: an API key is listed for more than one app")
    return apps


def load_declared_datasets(path: Path, environ: Mapping[str, str] | None = None) -> list[DatasetDeclaration]:
    """The apps file's top-level ``datasets:`` list (names unique)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigFileError(f"cannot read {path}: {exc}") from exc
    entries = raw.get("datasets") if isinstance(raw, dict) else None
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise ConfigFileError(f"{path}: datasets must be a list")
    declared: list[DatasetDeclaration] = []
    for index, entry in enumerate(entries):
        name = entry.get("name") if isinstance(entry, dict) else None
        named = isinstance(name, str) and name
        where = f'{path}: dataset "{name}"' if named else f"{path}: datasets[{index}]"
        try:
            declared.append(DatasetDeclaration.model_validate(expand_env(entry, environ)))
        except UnsetVariable as exc:
            raise ConfigFileError(f"{where}: the environment variable {exc.name} is not set") from exc
        except ValidationError as exc:
            raise ConfigFileError(f"{where} is invalid:\n{_describe(exc)}") from None
    names = [d.name for d in declared]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigFileError(f"{path}: duplicate dataset names: {', '.join(duplicates)}")
    return declared
