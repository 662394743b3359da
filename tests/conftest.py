"""Fixtures shared by every level: the fake model upstream and service requirements."""

from __future__ import annotations

import functools
import os
import ssl
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:  # the fake needs aiohttp, a server dependency; client-only runs never load it
    from tests.fakes.upstream import FakeUpstream

# The test PostgreSQL is local, without TLS: no SSL request before each connection. (With asyncpg's
# default, "prefer", a connection closed during that request, as dropping a test's database closes
# any left to it, leaves an exception in a future nobody awaits, which fails whichever test is
# running when it is collected.) Test processes and the servers they start inherit it.
os.environ.setdefault("PGSSLMODE", "disable")

# CI sets this so that a missing PostgreSQL (or Redis, Node) fails the run instead of skipping tests.
REQUIRE_SERVICES = os.environ.get("DIFYCHAT_TEST_REQUIRE_SERVICES", "").lower() in ("1", "true", "yes")


# How many workers "-n auto" (pyproject's addopts) starts. The suite mostly waits (servers starting,
# PostgreSQL's disk writes, the fake model's pauses), so on two cores four workers finish sooner than
# two; more would mainly add PostgreSQL connections. PYTEST_XDIST_AUTO_NUM_WORKERS overrides it.
AUTO_WORKERS = 4


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # xdist reads it
    return AUTO_WORKERS


def missing_service(reason: str) -> None:
    """Skip the test, or fail it when services are required (CI)."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (DIFYCHAT_TEST_REQUIRE_SERVICES is set)")
    pytest.skip(reason)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """httpx's default TLS context, built once and shared by the test clients.

    Building it (loading the CA bundle) costs tens of milliseconds per client, and the test clients
    only speak plain HTTP on loopback; pass it as ``verify=`` to keep httpx's defaults.
    """
    return httpx.create_ssl_context()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def upstream_server() -> Iterator[FakeUpstream]:
    from tests.fakes.upstream import FakeUpstream

    server = FakeUpstream().start()
    yield server
    server.stop()


@pytest.fixture
def upstream(upstream_server: FakeUpstream) -> FakeUpstream:
    upstream_server.reset()
    return upstream_server
