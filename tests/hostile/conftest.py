"""Servers for the hostile-input and race suites: the real app on the memory store and on a
real redis-server (flushed per test), with the fuzz figures printed at the end of the run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fanout.redis_launcher import RedisServer
from fanout.redis_store import RedisStore
from tests.hostile.fuzz_tally import TALLY
from tests.redis_server import redis_proc
from tests.server import RunningServer, running_server, server_config

__all__ = ["redis_proc"]


async def flushed_redis_url(request: pytest.FixtureRequest) -> str:
    redis: RedisServer = request.getfixturevalue("redis_proc")
    store = RedisStore(redis.url)
    await store.redis.flushdb()
    await store.close()
    return redis.url


@pytest.fixture(params=["memory", "redis"])
async def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def any_server(
    request: pytest.FixtureRequest, store_kind: str, tmp_path: Path
) -> AsyncIterator[RunningServer]:
    """The server on each store in turn; viewers served in the main process."""
    redis_url = await flushed_redis_url(request) if store_kind == "redis" else None
    config = server_config(tmp_path, redis_url=redis_url)
    async with running_server(config) as running:
        yield running


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in TALLY.summary_lines():
        terminalreporter.write_line(line)
