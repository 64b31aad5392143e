"""Fixtures: every contract test runs on both stores; Redis is a real server, flushed per test."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Collection, Mapping

import pytest

from fanout import Fanout, FanoutConfig, MemoryStore, Store
from fanout.redis_store import RedisStore
from tests.redis_server import RedisServer, redis_proc

__all__ = ["redis_proc"]


class Inbox:
    """Local delivery that records every event per user and per connection count."""

    def __init__(self) -> None:
        self.events: dict[str, list[Mapping[str, object]]] = defaultdict(list)

    def __call__(self, user: str, event: Mapping[str, object]) -> None:
        self.events[user].append(event)

    def types(self, user: str) -> list[object]:
        return [e["type"] for e in self.events[user]]


class Audience:
    """A working stand-in for the media plane's viewer table."""

    def __init__(self) -> None:
        self.viewers: dict[str, set[str]] = defaultdict(set)
        self.evicted: list[tuple[str, str, str]] = []

    def viewers_of(self, live_id: str) -> Collection[str]:
        return set(self.viewers[live_id])

    def viewer_count(self, live_id: str) -> int | None:
        """Media on another node: the store's count stands."""
        return None

    async def evict(self, live_id: str, user: str, code: str) -> None:
        self.viewers[live_id].discard(user)
        self.evicted.append((live_id, user, code))


async def make_store(kind: str, server: RedisServer | None) -> Store:
    if kind == "memory":
        return MemoryStore()
    assert server is not None
    store = RedisStore(server.url)
    await store.redis.flushdb()
    return store


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    server = request.getfixturevalue("redis_proc") if request.param == "redis" else None
    made = await make_store(request.param, server)
    yield made
    await made.close()


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def audience() -> Audience:
    return Audience()


@pytest.fixture
async def fo(store: Store, inbox: Inbox, audience: Audience) -> AsyncIterator[Fanout]:
    node = Fanout(store, node_id="n1", config=FanoutConfig(group_limit=4, text_limit=50))
    node.set_local_delivery(inbox)
    node.set_audience(audience)
    await node.start()
    for user in ("alice", "bob", "carol", "dave", "erin"):
        await node.ensure_user(user)
    yield node
    await node.close()
