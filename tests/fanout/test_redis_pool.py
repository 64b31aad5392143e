"""A burst larger than the Redis connection pool waits for connections instead of failing
(redis-py's default pool raises MaxConnectionsError: 200 sockets connecting at once got 500s)."""

from __future__ import annotations

import asyncio

from fanout.redis_store import RedisStore
from tests.redis_server import RedisServer


async def test_a_burst_beyond_the_pool_queues_for_connections(redis_proc: RedisServer) -> None:
    store = RedisStore(redis_proc.url, max_connections=4)
    try:
        users = [f"burst{i}" for i in range(200)]
        await asyncio.gather(*(store.ensure_user(user) for user in users))
        assert await store.missing_users(users) == []
    finally:
        await store.close()
