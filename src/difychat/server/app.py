"""The composition root: the only place that reads settings and wires the server together."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from difychat.server.api.context import Services
from difychat.server.api.errors import HANDLERS
from difychat.server.api.middleware import NulFreeRequests
from difychat.server.api.routes import build_routes
from difychat.server.documents.bounded import Caps
from difychat.server.domain.apps import App, AppConfig
from difychat.server.domain.features import SystemParameters
from difychat.server.domain.knowledge import NoIndexer, SegmentIndexer
from difychat.server.errors import AppError
from difychat.server.files.remote import RemoteFetcher
from difychat.server.files.signing import UrlSigner
from difychat.server.files.storage import LocalFileStorage
from difychat.server.generation.limits import InProcessLimiter, Limiter
from difychat.server.generation.redis_limits import RedisLimiter
from difychat.server.generation.registry import GenerationRegistry
from difychat.server.generation.relay import DatabaseStopRelay, LocalStopRelay, RedisStopRelay, StopRelay
from difychat.server.net import AllowList, GuardedClient
from difychat.server.observability.endpoint import metrics_route
from difychat.server.observability.metrics import Metrics
from difychat.server.observability.middleware import RequestObserver, route_templates
from difychat.server.observability.turns import QueueSampler, TurnLogContext, TurnObserver
from difychat.server.observability.upstream import counting_upstream_errors
from difychat.server.providers.embeddings import EmbeddingModel, OpenAICompatibleEmbeddings
from difychat.server.providers.factory import DEFAULT_BASE_URLS
from difychat.server.providers.local_embeddings import LocalEmbeddings
from difychat.server.providers.rerank import HttpRerank, RerankModel
from difychat.server.services.agent.files import ToolFiles
from difychat.server.services.agent.service import AgentService
from difychat.server.services.agent.source import AgentRuntime
from difychat.server.services.agent.toolsets import AgentToolsets, AppProviders
from difychat.server.services.annotations import AnnotationService
from difychat.server.services.app_info import AppInfoService
from difychat.server.services.apps import (
    DemoApp,
    demo_config,
    load_catalog,
    prepare_demo_app,
    save_demo_key,
    sync_apps,
)
from difychat.server.services.audio import AudioService
from difychat.server.services.auth import Authenticator, EndUsers
from difychat.server.services.chat import ChatService
from difychat.server.services.completion import CompletionService
from difychat.server.services.conversations import ConversationService
from difychat.server.services.files import AttachmentLimits, FileService, UploadLimits
from difychat.server.services.key_usage import KeyUsage
from difychat.server.services.knowledge.bundle import Knowledge, build_knowledge
from difychat.server.services.knowledge.datasets import NewDataset
from difychat.server.services.knowledge.indexing import IndexingSettings
from difychat.server.services.mcp_server import McpServerService, app_code
from difychat.server.services.messages import MessageService
from difychat.server.services.models import ModelCatalog
from difychat.server.services.recovery import WorkerLease
from difychat.server.services.retrieval.chat import ChatKnowledge
from difychat.server.services.retrieval.models import KnowledgeModels
from difychat.server.services.retrieval.service import KnowledgeSearch
from difychat.server.services.retrieval.vectors import VectorCache
from difychat.server.services.stops import StopService
from difychat.server.services.suggestions import SuggestionService
from difychat.server.services.variables import ConversationVariableService
from difychat.server.services.web_conversations import WebConversationService
from difychat.server.services.web_sites import WebSites
from difychat.server.settings import ConfigFileError, Settings, load_apps_file, load_declared_datasets
from difychat.server.store import db
from difychat.server.store.reader import Reader
from difychat.server.store.writer import GroupWriter
from difychat.server.tools.base import ToolContext, ToolProvider
from difychat.server.tools.openapi import openapi_providers

if TYPE_CHECKING:  # the mcp extra is imported only when an app declares MCP servers
    from difychat.server.tools.mcp import McpServers

logger = logging.getLogger("difychat")


@dataclass(frozen=True, slots=True)
class BootstrapResult:
    demo: DemoApp | None
    apps: list[AppConfig]


def _configured_apps(settings: Settings) -> list[AppConfig]:
    return load_apps_file(settings.config) if settings.config else []


async def _check_agent_tools(settings: Settings, configs: list[AppConfig], toolsets: AgentToolsets) -> None:
    """Refuse to start with an agent app whose tools cannot run as configured."""
    for config in configs:
        problems = await toolsets.check(config)
        if problems:
            raise ConfigFileError(f'{settings.config}: app "{config.name}": ' + "; ".join(problems))


def _toolsets(settings: Settings, http: GuardedClient, mcp: McpServers | None = None) -> AgentToolsets:
    """Agent tools: the built-ins, each app's OpenAPI documents (read beside the apps file) and its
    MCP servers."""
    base_dir = settings.config.parent if settings.config else None

    def openapi(config: AppConfig) -> list[ToolProvider]:
        return list(openapi_providers(config, base_dir=base_dir, http_client=http))

    builders: list[AppProviders] = [openapi]
    if mcp is not None:
        builders.append(mcp.app_providers)
    return AgentToolsets(builders)


def _mcp_servers(settings: Settings, configs: list[AppConfig]) -> McpServers | None:
    """The MCP servers the apps declare (none: the ``mcp`` extra is not even imported)."""
    if not any(c.mcp_servers for c in configs):
        return None
    try:
        from difychat.server.tools.mcp import McpServers
    except ImportError:
        names = ", ".join(c.name for c in configs if c.mcp_servers)
        raise ConfigFileError(
            f"{settings.config}: mcp_servers (in {names}) need the MCP client: pip install 'difychat[mcp]'"
        ) from None
    return McpServers(_outbound_allow(settings), settings.dify_version)


def _demo(settings: Settings) -> AppConfig:
    return demo_config(settings.openai_base_url, settings.openai_api_key, settings.openai_model)


async def bootstrap(
    settings: Settings,
    *,
    demo: bool = True,
    show_demo: Callable[[DemoApp], None] | None = None,
    migrated: bool = False,
) -> BootstrapResult:
    """Migrate the database, sync the apps file, and (with ``demo``, and no apps) create the demo app.

    ``show_demo`` shows the demo key when none was ever shown; the key is stored once it returns.
    Without it, a demo app is still made, but keyless: the next start that can show a key does.
    ``migrated``: the caller has migrated the database already (``difychat serve`` does, apart).
    """
    url = settings.resolved_database_url()
    if not migrated:
        await asyncio.to_thread(db.upgrade, url)
    apps = _configured_apps(settings)
    tool_http = GuardedClient(_outbound_allow(settings), max_redirects=5)
    toolsets = _toolsets(settings, tool_http, _mcp_servers(settings, apps))
    try:
        await _check_agent_tools(settings, apps, toolsets)
    finally:
        await toolsets.close()
        await tool_http.close()
    engine = db.create_engine(url, pool_size=2)
    try:
        await sync_apps(engine, apps, live_demo=_demo(settings))
        shown = None if apps or not demo else await prepare_demo_app(engine, _demo(settings))
        if shown is not None and show_demo is not None:
            show_demo(shown)
            await save_demo_key(engine, shown)
        await _ensure_datasets(settings, engine)
    finally:
        await engine.dispose()
    return BootstrapResult(shown, apps)


async def _ensure_datasets(settings: Settings, engine: AsyncEngine) -> None:
    """Create the datasets the apps file declares and the database lacks."""
    declared = load_declared_datasets(settings.config) if settings.config else []
    knowledge = knowledge_services(settings, engine, NoIndexer())
    for found in declared:
        created = await knowledge.datasets.ensure(
            NewDataset(
                found.name,
                description=found.description,
                indexing_technique=found.indexing_technique,
                permission=found.permission,
                embedding_model=found.embedding_model,
                embedding_model_provider=found.embedding_model_provider,
                retrieval_model=found.retrieval_model,
            )
        )
        if created:
            logger.info("created the dataset %r declared in %s", found.name, settings.config)


def _outbound_allow(settings: Settings) -> AllowList:
    """The operator's exceptions to the SSRF guard, for every fetch of a user-supplied URL."""
    return AllowList.parse(settings.remote_fetch_allow.split(","))


def _remote_fetcher(settings: Settings) -> RemoteFetcher:
    return RemoteFetcher(
        GuardedClient(_outbound_allow(settings), max_redirects=5),
        max_bytes=settings.remote_fetch_max_bytes,
        timeout=settings.remote_fetch_timeout,
    )


def _file_service(settings: Settings, engine: AsyncEngine, fetcher: RemoteFetcher) -> FileService:
    blacklist = frozenset(
        e.strip().lower().lstrip(".")
        for e in settings.upload_file_extension_blacklist.split(",")
        if e.strip()
    )
    limits = UploadLimits(
        image=settings.upload_image_file_size_limit,
        video=settings.upload_video_file_size_limit,
        audio=settings.upload_audio_file_size_limit,
        other=settings.upload_file_size_limit,
        blacklist=blacklist,
    )
    attachment_limits = AttachmentLimits(
        document_chars=settings.document_max_chars,
        image_bytes=settings.upload_image_file_size_limit,
        document_bytes=max(settings.upload_file_size_limit, settings.remote_fetch_max_bytes),
    )
    signer = UrlSigner(settings.resolved_secret_key(), settings.files_url, settings.files_access_timeout)
    storage = LocalFileStorage(settings.data_dir / "files")
    return FileService(engine, storage, signer, fetcher, limits=limits, attachment_limits=attachment_limits)


def knowledge_search(settings: Settings, engine: AsyncEngine, http: aiohttp.ClientSession) -> KnowledgeSearch:
    """Dataset search (the index, its writer, the models): one per process, shared by /retrieve,
    chat and the indexing worker, so that the vectors it holds stay current."""
    embeddings: EmbeddingModel | None = None
    timeout = settings.knowledge_model_timeout
    if settings.embedding_provider == "local":
        embeddings = LocalEmbeddings()
    elif settings.embedding_model:
        embeddings = OpenAICompatibleEmbeddings(
            http,
            model=settings.embedding_model,
            base_url=settings.embedding_base_url or DEFAULT_BASE_URLS["openai"],
            api_key=_secret(settings.embedding_api_key),
            timeout=timeout,
        )
    rerank: RerankModel | None = None
    if settings.rerank_model and settings.rerank_base_url:
        rerank = HttpRerank(
            http,
            model=settings.rerank_model,
            base_url=settings.rerank_base_url,
            api_key=_secret(settings.rerank_api_key),
            timeout=timeout,
        )
    vectors = VectorCache(
        budget_bytes=settings.knowledge_vector_memory_mb * 2**20,
        approximate=settings.knowledge_vector_search == "approximate",
    )
    return KnowledgeSearch(engine, KnowledgeModels(embeddings, rerank), vectors)


def _secret(value: SecretStr | None) -> str | None:
    return None if value is None else value.get_secret_value()


def segment_indexer(settings: Settings, engine: AsyncEngine, http: aiohttp.ClientSession) -> SegmentIndexer:
    """What makes dataset segments searchable; the server and ``difychat datasets`` use the same."""
    return knowledge_search(settings, engine, http).indexer


def knowledge_services(settings: Settings, engine: AsyncEngine, indexer: SegmentIndexer) -> Knowledge:
    """The Knowledge API's services (the server's and ``difychat datasets``'), worker not started."""
    mb = 1024 * 1024
    indexing = IndexingSettings(
        concurrency=settings.knowledge_workers,
        heartbeat_seconds=settings.heartbeat_seconds,
        lease_seconds=settings.lease_seconds,
        poll_seconds=settings.knowledge_poll_seconds,
        max_attempts=settings.knowledge_max_attempts,
        retry_base_seconds=settings.knowledge_retry_seconds,
        parse_timeout=settings.knowledge_parse_timeout,
        parse_memory_bytes=settings.knowledge_parse_memory_mb * mb,
        max_file_bytes=settings.upload_file_size_limit,
        caps=Caps(
            max_chars=settings.knowledge_max_chars,
            max_pages=settings.knowledge_max_pages,
            max_unzipped_bytes=settings.knowledge_max_unzipped_mb * mb,
        ),
    )
    return build_knowledge(
        engine,
        LocalFileStorage(settings.data_dir / "files"),
        indexer,
        indexing,
        cache_seconds=settings.cache_seconds,
        max_segments_per_request=settings.knowledge_max_segments_per_request,
    )


def _system_parameters(settings: Settings) -> SystemParameters:
    """The upload limits ``/parameters`` reports, in whole MB."""
    mb = 1024 * 1024
    return SystemParameters(
        image_file_size_limit=settings.upload_image_file_size_limit // mb,
        video_file_size_limit=settings.upload_video_file_size_limit // mb,
        audio_file_size_limit=settings.upload_audio_file_size_limit // mb,
        file_size_limit=settings.upload_file_size_limit // mb,
        workflow_file_upload_limit=settings.workflow_file_upload_limit,
    )


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if settings.bootstrapped:
            configs = _configured_apps(settings)
        else:
            result = await bootstrap(settings)
            configs = result.apps
            if result.demo is not None:
                # Keys are never logged: `difychat serve` shows the demo key once, on the terminal.
                logger.warning(
                    "the demo app %r has no key yet: `difychat serve` shows one, "
                    "or make one with `difychat keys create --app %s`",
                    result.demo.name,
                    result.demo.name,
                )
        # Tools fetch user-steerable URLs too: through the same outbound guard as remote files.
        tool_http = GuardedClient(_outbound_allow(settings), max_redirects=5)
        mcp = _mcp_servers(settings, configs)
        toolsets = _toolsets(settings, tool_http, mcp)
        try:
            await _check_agent_tools(settings, configs, toolsets)
        except BaseException:
            await toolsets.close()
            await tool_http.close()
            raise
        # The agents' MCP servers connect and list their tools while the server starts serving.
        mcp_start = asyncio.create_task(mcp.start()) if mcp is not None else None
        live = {c.name: c for c in configs}
        live.setdefault(_demo(settings).name, _demo(settings))

        engine = db.create_engine(settings.resolved_database_url())
        http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=30),
            auto_decompress=True,
        )
        writes = GroupWriter(engine)
        reads = Reader(engine)
        registry = GenerationRegistry()
        registry.observe(TurnLogContext())
        relay: StopRelay
        if settings.redis_url:
            relay = RedisStopRelay(settings.redis_url, registry)
        elif settings.multi_worker:
            relay = DatabaseStopRelay(engine, registry, settings.stop_poll_interval)
        else:
            relay = LocalStopRelay()
        await relay.start()
        # Limits count across workers and hosts through Redis, else in this process only.
        limiter: Limiter = (
            RedisLimiter(settings.redis_url, slot_ttl=settings.limit_slot_ttl)
            if settings.redis_url
            else InProcessLimiter()
        )
        await limiter.start()
        key_usage = KeyUsage(engine)
        key_usage.start()
        lease = WorkerLease(
            engine, heartbeat_seconds=settings.heartbeat_seconds, lease_seconds=settings.lease_seconds
        )
        await lease.start()
        catalog = await load_catalog(engine, live)
        sampler = _observe_turns(metrics, registry, writes, catalog) if metrics is not None else None
        models = ModelCatalog(engine, http)
        annotations = AnnotationService(engine, registry, models, cache_seconds=settings.cache_seconds)
        audio = AudioService(engine, models)
        fetcher = _remote_fetcher(settings)
        files = _file_service(settings, engine, fetcher)
        tool_context = ToolContext(
            tool_http, timeout=settings.tool_timeout, max_output_bytes=settings.tool_max_output_bytes
        )
        tool_files = ToolFiles(engine, LocalFileStorage(settings.data_dir / "files"), files.signer, writes)
        agents = AgentService(engine, toolsets, AgentRuntime(writes, tool_files, tool_context))
        search = knowledge_search(settings, engine, http)
        knowledge = knowledge_services(settings, engine, search.indexer)
        if settings.knowledge_workers > 0:
            knowledge.worker.start()
        end_users = EndUsers(reads, writes)
        app.state.services = Services(
            authenticator=Authenticator(
                engine,
                catalog,
                cache_seconds=settings.cache_seconds,
                limiter=limiter,
                usage=key_usage,
                default_rpm=settings.key_rpm,
                default_concurrency=settings.key_concurrency,
            ),
            end_users=end_users,
            chat=ChatService(
                engine,
                writes,
                registry,
                models,
                files,
                annotations,
                audio,
                max_generation_seconds=settings.max_generation_seconds,
                stream_max_unread_bytes=settings.stream_max_unread_bytes,
                worker_id=lease.worker_id,
                agents=agents,
                knowledge=ChatKnowledge(engine, search),
                reads=reads,
            ),
            completion=CompletionService(
                writes,
                registry,
                models,
                files,
                audio,
                max_generation_seconds=settings.max_generation_seconds,
                stream_max_unread_bytes=settings.stream_max_unread_bytes,
                worker_id=lease.worker_id,
            ),
            stops=StopService(engine, registry, relay),
            conversations=ConversationService(engine, models),
            messages=MessageService(engine),
            files=files,
            annotations=annotations,
            audio=audio,
            app_info=AppInfoService(engine, _system_parameters(settings)),
            suggestions=SuggestionService(engine, models),
            variables=ConversationVariableService(engine, models),
            ping_interval=settings.ping_interval,
            stream_send_timeout=settings.stream_send_timeout,
            max_json_body_bytes=settings.max_json_body_bytes,
            dify_version=settings.dify_version,
            agents=agents,
            knowledge=knowledge,
            retrieval=search,
            web_sites=WebSites(engine, catalog, settings.resolved_secret_key(), limiter, end_users=end_users),
            web_conversations=WebConversationService(engine),
        )
        app.state.mcp_server = _mcp_server(settings, configs, catalog, app.state.services, limiter)
        if settings.freeze_startup_objects:
            gc.freeze()
            # Requests make many short-lived objects, most gone before a collection would see
            # them: collecting the young generation every 10,000 rather than every 700 allocations
            # leaves that garbage to reference counting (a sixth of a chat turn's CPU, measured).
            gc.set_threshold(10_000, 10, 10)
        try:
            yield
        finally:
            await knowledge.worker.stop()
            await search.close()
            app.state.services.chat.close()
            await registry.drain(timeout=10)
            if sampler is not None:
                await sampler.close()
            await lease.stop()
            await writes.close()
            reads.close()
            await key_usage.close()
            await limiter.close()
            await relay.close()
            await fetcher.close()
            await agents.close()
            if mcp_start is not None:
                mcp_start.cancel()
                await asyncio.gather(mcp_start, return_exceptions=True)
            if mcp is not None:
                await mcp.close()
            await tool_http.close()
            await http.close()
            await engine.dispose()
            if metrics is not None:
                metrics.close()

    metrics = Metrics(_multiprocess_dir()) if settings.metrics_enabled else None
    routes = build_routes()
    handlers: dict[Any, Callable[..., Any]] = dict(HANDLERS)
    if metrics is not None:
        token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
        routes.append(metrics_route(metrics, token))
        handlers[AppError] = counting_upstream_errors(HANDLERS[AppError], metrics)
    # Every response says which Dify API version it speaks, and where (``X-Version``, ``X-Env``).
    version_headers = [
        (b"x-version", settings.dify_version.encode()),
        (b"x-env", settings.deploy_env.encode()),
    ]
    middleware = [
        Middleware(
            CORSMiddleware,
            allow_origins=["*"],
            allow_methods=["GET", "PUT", "POST", "DELETE", "OPTIONS", "PATCH"],
            allow_headers=[
                "Content-Type",
                "X-App-Code",
                "X-App-Passport",
                "Authorization",
                "X-Request-Id",
                "Mcp-Session-Id",
                "Mcp-Protocol-Version",
            ],
            expose_headers=["X-Version", "X-Env", "X-Trace-Id", "X-Request-Id", "Mcp-Session-Id"],
        ),
        Middleware(NulFreeRequests),
    ]
    return _Server(
        routes=routes,
        middleware=middleware,
        exception_handlers=handlers,
        lifespan=lifespan,
        observer=lambda inner, table: RequestObserver(
            inner, routes=route_templates(table), metrics=metrics, headers=version_headers
        ),
    )


class _Server(Starlette):
    """Starlette with one middleware outside its error middleware: the request id and the request
    metrics then cover the 500 that an unhandled exception becomes."""

    def __init__(self, *, observer: Callable[[ASGIApp, list[BaseRoute]], ASGIApp], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._observer = observer

    def build_middleware_stack(self) -> ASGIApp:
        # Built on the first request, from the routes the app has then.
        return self._observer(super().build_middleware_stack(), self.routes)


def _mcp_server(
    settings: Settings,
    configs: list[AppConfig],
    catalog: dict[str, App],
    services: Services,
    limiter: Limiter,
) -> McpServerService:
    """Apps of the apps file published as MCP servers, by their URL code (configured or derived)."""
    secret = settings.resolved_secret_key()
    listed = {c.name for c in configs}
    codes = {a.id: app_code(secret, a.config) for a in catalog.values() if a.name in listed}
    return McpServerService(
        catalog,
        codes,
        services.chat,
        services.end_users,
        services.authenticator,
        limiter,
        version=settings.dify_version,
        completion=services.completion,
    )


def _multiprocess_dir() -> Path | None:
    """Set by ``difychat serve --workers N``: the workers' metrics are summed through files there."""
    found = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(found) if found else None


def _observe_turns(
    metrics: Metrics, registry: GenerationRegistry, writes: GroupWriter, catalog: dict[str, App]
) -> QueueSampler:
    """Record each chat turn when it ends, and sample the background queues."""

    def app_name(app_id: str) -> str:
        app = catalog.get(app_id)
        return app.name if app is not None else app_id

    registry.observe(TurnObserver(metrics, app_name))
    sampler = QueueSampler(
        metrics, pending_writes=lambda: writes.queued, background_jobs=registry.background_jobs
    )
    metrics.before_scrape(sampler.sample)
    sampler.start()
    return sampler


def create_app_from_env() -> Starlette:
    """The factory uvicorn workers call (``difychat serve --workers N``)."""
    return create_app(Settings())
