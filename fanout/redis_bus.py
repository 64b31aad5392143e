"""The event bus on Redis Pub/Sub: one channel per node plus one for all nodes, msgpack
payloads. At-most-once by nature: it carries pushes and re-check requests, never state."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from fanout import redis_keys as k
from fanout.store import BusHandler, Unsubscribe

log = logging.getLogger(__name__)


class RedisBus:
    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis
        self._readers: set[asyncio.Task[None]] = set()

    async def publish(self, node: str | None, payload: Mapping[str, Any]) -> None:
        channel = k.BUS_ALL if node is None else k.bus(node)
        await self._redis.publish(channel, k.pack(dict(payload)))

    async def subscribe(self, node: str, handler: BusHandler) -> Unsubscribe:
        pubsub: Any = self._redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(k.bus(node), k.BUS_ALL)
        reader = asyncio.get_running_loop().create_task(self._read(pubsub, handler))
        self._readers.add(reader)

        async def unsubscribe() -> None:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            self._readers.discard(reader)
            await pubsub.aclose()

        return unsubscribe

    async def _read(self, pubsub: Any, handler: BusHandler) -> None:
        while True:
            try:
                message = await pubsub.get_message(timeout=1.0)
            except RedisError:
                log.warning("event bus read failed; retrying", exc_info=True)
                await asyncio.sleep(0.5)
                continue
            if message is None or message.get("type") != "message":
                continue
            try:
                handler(k.unpack(message["data"]))
            except Exception:
                log.exception("event bus handler failed")

    async def close(self) -> None:
        for reader in list(self._readers):
            reader.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
        self._readers.clear()
