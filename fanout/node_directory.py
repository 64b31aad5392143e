"""Which node serves what, for lives that span nodes: node heartbeats (each with the URL other
nodes reach it on), the origin of each running live (the node its host publishes to), and the
nodes relaying it; and the nonces of signed node-to-node calls already accepted (each is
accepted once). ``MemoryNodeDirectory`` for one process; ``RedisNodeDirectory``
(``fanout.node_directory_redis``) when nodes share a Redis.
"""

from __future__ import annotations

import time
import weakref
from abc import ABC, abstractmethod
from collections import OrderedDict

from directlive.errors import Unavailable
from fanout.store import Store


class NodeDirectory(ABC):
    @abstractmethod
    async def heartbeat(self, node: str, url: str, ttl: float) -> None:
        """``node`` is alive at ``url`` for the next ``ttl`` seconds."""

    @abstractmethod
    async def node_url(self, node: str) -> str | None:
        """Where ``node`` is reached, or None when its heartbeat expired."""

    @abstractmethod
    async def node_gone(self, node: str) -> None:
        """``node`` stops (its heartbeat ends now rather than at expiry)."""

    @abstractmethod
    async def set_origin(self, live_id: str, node: str) -> None: ...

    @abstractmethod
    async def origin(self, live_id: str) -> str | None:
        """The node the live's host publishes to, or None when unknown (ended)."""

    @abstractmethod
    async def add_relay(self, live_id: str, node: str) -> None: ...

    @abstractmethod
    async def remove_relay(self, live_id: str, node: str) -> None: ...

    @abstractmethod
    async def relays(self, live_id: str) -> list[str]:
        """Nodes relaying the live now, by id."""

    @abstractmethod
    async def forget_live(self, live_id: str) -> None:
        """Remove everything of the live (it ended)."""

    @abstractmethod
    async def live_keys(self, live_id: str) -> list[str]:
        """What the directory still holds about the live (empty once forgotten)."""

    @abstractmethod
    async def claim_nonce(self, nonce: str, ttl: float) -> bool:
        """True the first time ``nonce`` is claimed within ``ttl`` seconds, False after."""


MAX_MEMORY_NONCES = 100_000
"""Nonces one process remembers at most; past that, calls are refused until some expire."""


class MemoryNodeDirectory(NodeDirectory):
    def __init__(self, max_nonces: int = MAX_MEMORY_NONCES) -> None:
        self._max_nonces = max_nonces
        self._nodes: dict[str, tuple[str, float]] = {}
        self._origins: dict[str, str] = {}
        self._relays: dict[str, set[str]] = {}
        self._nonces: OrderedDict[str, float] = OrderedDict()

    async def heartbeat(self, node: str, url: str, ttl: float) -> None:
        self._nodes[node] = (url, time.monotonic() + ttl)

    async def node_url(self, node: str) -> str | None:
        url, until = self._nodes.get(node, ("", 0.0))
        return url if until > time.monotonic() else None

    async def node_gone(self, node: str) -> None:
        self._nodes.pop(node, None)

    async def set_origin(self, live_id: str, node: str) -> None:
        self._origins[live_id] = node

    async def origin(self, live_id: str) -> str | None:
        return self._origins.get(live_id)

    async def add_relay(self, live_id: str, node: str) -> None:
        self._relays.setdefault(live_id, set()).add(node)

    async def remove_relay(self, live_id: str, node: str) -> None:
        relays = self._relays.get(live_id)
        if relays is not None:
            relays.discard(node)
            if not relays:
                del self._relays[live_id]

    async def relays(self, live_id: str) -> list[str]:
        return sorted(self._relays.get(live_id, ()))

    async def forget_live(self, live_id: str) -> None:
        self._origins.pop(live_id, None)
        self._relays.pop(live_id, None)

    async def live_keys(self, live_id: str) -> list[str]:
        keys = ["origin"] if live_id in self._origins else []
        return keys + (["relays"] if live_id in self._relays else [])

    async def claim_nonce(self, nonce: str, ttl: float) -> bool:
        now = time.monotonic()
        while self._nonces:  # without copying the map on every call
            old, until = next(iter(self._nonces.items()))
            if until > now:
                break
            del self._nonces[old]
        held = self._nonces.get(nonce)
        if held is not None and held > now:
            return False
        # Expired entries go oldest-first, up to the first live one (TTLs differ a little),
        # so an expired nonce can still be here: claiming it again takes no new room.
        if held is None and len(self._nonces) >= self._max_nonces:
            raise Unavailable("too many node calls at once", code="node_calls_overloaded")
        self._nonces[nonce] = now + ttl
        self._nonces.move_to_end(nonce)
        return True


_MEMORY: weakref.WeakKeyDictionary[Store, MemoryNodeDirectory] = weakref.WeakKeyDictionary()


def directory_for(store: Store) -> NodeDirectory:
    """Beside the store: in Redis when it is Redis, else in memory shared by every node on
    the same ``MemoryStore`` (several in-process nodes in tests)."""
    from fanout.redis_store import RedisStore

    if isinstance(store, RedisStore):
        from fanout.node_directory_redis import RedisNodeDirectory

        return RedisNodeDirectory(store.redis)
    directory = _MEMORY.get(store)
    if directory is None:
        directory = _MEMORY[store] = MemoryNodeDirectory()
    return directory
