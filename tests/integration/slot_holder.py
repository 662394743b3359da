"""A process that takes one Redis concurrency slot and holds it (heartbeating) until it is killed.

python -m tests.integration.slot_holder REDIS_URL PREFIX APP_ID SLOT_TTL
"""

from __future__ import annotations

import asyncio
import sys

from difychat.server.generation.limits import KeyLimits
from difychat.server.generation.redis_limits import RedisLimiter


async def hold(url: str, prefix: str, app_id: str, ttl: float) -> None:
    limiter = RedisLimiter(url, slot_ttl=ttl, prefix=prefix)
    await limiter.start()
    await limiter.acquire(KeyLimits("holder"), app_id, 1)
    print("held", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(hold(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])))
