"""The node directory on Redis. A live's keys share its hash tag (one Cluster slot)::

dl:node:{N}:alive      string  URL node N is reached on (PX expiry: its heartbeat)
dl:relay:{L}:origin    string  node the live's host publishes to
dl:relay:{L}:edges     set     nodes relaying the live now
dl:node-call:{NONCE}   string  a signed node call accepted (PX expiry: its signature's life)
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from fanout.node_directory import NodeDirectory


def _alive(node: str) -> str:
    return f"dl:node:{{{node}}}:alive"


def _origin(live_id: str) -> str:
    return f"dl:relay:{{{live_id}}}:origin"


def _edges(live_id: str) -> str:
    return f"dl:relay:{{{live_id}}}:edges"


def _nonce(nonce: str) -> str:
    return f"dl:node-call:{{{nonce}}}"


def _text(value: Any) -> str | None:
    return value.decode() if isinstance(value, bytes) else None


class RedisNodeDirectory(NodeDirectory):
    def __init__(self, redis: aioredis.Redis) -> None:
        self._r: Any = redis

    async def heartbeat(self, node: str, url: str, ttl: float) -> None:
        await self._r.set(_alive(node), url, px=max(1, int(ttl * 1000)))

    async def node_url(self, node: str) -> str | None:
        return _text(await self._r.get(_alive(node)))

    async def node_gone(self, node: str) -> None:
        await self._r.delete(_alive(node))

    async def set_origin(self, live_id: str, node: str) -> None:
        await self._r.set(_origin(live_id), node)

    async def origin(self, live_id: str) -> str | None:
        return _text(await self._r.get(_origin(live_id)))

    async def add_relay(self, live_id: str, node: str) -> None:
        await self._r.sadd(_edges(live_id), node)

    async def remove_relay(self, live_id: str, node: str) -> None:
        await self._r.srem(_edges(live_id), node)

    async def relays(self, live_id: str) -> list[str]:
        return sorted(m.decode() for m in await self._r.smembers(_edges(live_id)))

    async def forget_live(self, live_id: str) -> None:
        await self._r.delete(_origin(live_id), _edges(live_id))

    async def live_keys(self, live_id: str) -> list[str]:
        keys = [key.decode() for key in await self._r.keys(f"dl:relay:{{{live_id}}}:*")]
        return sorted(keys)

    async def claim_nonce(self, nonce: str, ttl: float) -> bool:
        return bool(await self._r.set(_nonce(nonce), b"1", nx=True, px=max(1, int(ttl * 1000))))
