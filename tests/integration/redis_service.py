"""The Redis server at 127.0.0.1:6379 (env DIFYCHAT_TEST_REDIS_URL), or a skip (a failure in CI)."""

from __future__ import annotations

import os

from tests.conftest import missing_service

REDIS_URL = os.environ.get("DIFYCHAT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


async def redis_available() -> bool:
    from redis import asyncio as aioredis
    from redis.exceptions import RedisError

    client = aioredis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        return bool(await client.ping())
    except (OSError, RedisError):
        return False
    finally:
        await client.aclose()


async def require_redis() -> str:
    """The Redis URL; skips the test (fails it under DIFYCHAT_TEST_REQUIRE_SERVICES) without Redis."""
    if not await redis_available():
        missing_service(f"Redis is not reachable at {REDIS_URL}")
    return REDIS_URL
