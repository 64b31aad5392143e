"""A real redis-server for tests, started on a free port. Missing binary: the fixture FAILS."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fanout.redis_launcher import RedisServer, redis_server


@pytest.fixture(scope="session")
def redis_proc() -> Iterator[RedisServer]:
    """One server for the session; tests flush it through ``fresh_redis_url``."""
    with redis_server() as server:
        yield server


__all__ = ["RedisServer", "redis_proc", "redis_server"]
