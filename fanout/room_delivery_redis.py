"""Live rooms across nodes on Redis Pub/Sub: one channel per live, one PUBLISH per event.

A node subscribes to the channel of each live it has room sockets for (or whose media it
holds) and hands every message to its own sockets. One Redis server runs commands and
scripts one at a time and delivers a channel's messages in publish order, so every node
sees a room's events in one order; a comment is numbered and published in one script
(``fanout.room_redis``), so its ``seq`` follows that order. Pub/Sub is at-most-once, which
suits room traffic: a socket that (re)joins reads recent comments from the store.

Keys and channels (hash tag ``{live_id}`` as the other room keys)::

    dl:room:{L}:ev        channel  msgpack ["e", event] | ["c", id, seq, user, text, at]
                                   | ["v", count, [viewers], host] | ["x"] (live ended)
    dl:room:{L}:viewers   hash     ``n:<node>`` -> msgpack [reported at (Redis TIME),
                                   [viewers]]; ``_open`` while the live runs, ``_sent`` last
                                   published total, ``_host`` the live's host, ``_pub``
                                   msgpack [participants publishing] (set by the origin).
                                   Deleted when the live ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import msgpack
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from fanout.room_delivery import (
    RoomBroadcast,
    RoomDelivery,
    RoomHandler,
    RoomPresence,
    viewers_event,
)
from fanout.room_models import Comment

log = logging.getLogger(__name__)

STALE_AFTER = 3.0
"""Seconds after which a node's viewer report no longer counts (it reports every second;
a node that died stops reporting, and its share goes)."""
SUBSCRIBE_DEADLINE = 5.0

_TALLY = """
if redis.call('HEXISTS', KEYS[1], '_open') == 0 then return -1 end
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
local stale = tonumber(ARGV[2])
if #ARGV > 3 then
  local mine = {}
  for i = 4, #ARGV do mine[#mine + 1] = ARGV[i] end
  redis.call('HSET', KEYS[1], 'n:' .. ARGV[1], cmsgpack.pack({t, mine}))
else
  redis.call('HDEL', KEYS[1], 'n:' .. ARGV[1])
end
local all = {}
local flat = redis.call('HGETALL', KEYS[1])
for i = 1, #flat, 2 do
  local field = flat[i]
  if string.sub(field, 1, 2) == 'n:' then
    local entry = cmsgpack.unpack(flat[i + 1])
    if t - entry[1] > stale then
      redis.call('HDEL', KEYS[1], field)
    else
      for _, user in ipairs(entry[2]) do all[#all + 1] = user end
    end
  end
end
if redis.call('HGET', KEYS[1], '_sent') == tostring(#all) then return -1 end
redis.call('HSET', KEYS[1], '_sent', #all)
local host = redis.call('HGET', KEYS[1], '_host')
redis.call('PUBLISH', ARGV[3], cmsgpack.pack({'v', #all, all, host}))
return #all
"""


_RECORD_PUBLISHING = """
if redis.call('HEXISTS', KEYS[1], '_open') == 0 then return 0 end
redis.call('HSET', KEYS[1], '_pub', ARGV[1])
return 1
"""

_PRESENCE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
local stale = tonumber(ARGV[2])
local mine = 'n:' .. ARGV[1]
local viewers = {}
local flat = redis.call('HGETALL', KEYS[1])
for i = 1, #flat, 2 do
  local field = flat[i]
  if field ~= mine and string.sub(field, 1, 2) == 'n:' then
    local entry = cmsgpack.unpack(flat[i + 1])
    if t - entry[1] <= stale then
      for _, user in ipairs(entry[2]) do viewers[#viewers + 1] = user end
    end
  end
end
return {redis.call('HGET', KEYS[1], '_pub'), viewers}
"""


def room_channel(live_id: str) -> str:
    return f"dl:room:{{{live_id}}}:ev"


def tally_key(live_id: str) -> str:
    return f"dl:room:{{{live_id}}}:viewers"


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def decode(live_id: str, data: bytes) -> RoomBroadcast:
    """A channel message as the handler gets it (``ValueError`` for anything else)."""
    fields: list[Any] = msgpack.unpackb(data)
    kind = _text(fields[0])
    if kind == "e":
        return RoomBroadcast(live_id, {_text(k): v for k, v in fields[1].items()})
    if kind == "c":
        _, comment_id, seq, user, text, at = fields
        comment = Comment(_text(comment_id), live_id, int(seq), _text(user), _text(text), at)
        return RoomBroadcast(live_id, {"type": "comment.new", **comment.to_json()})
    if kind == "v":
        _, count, viewers, host = fields
        event = viewers_event(live_id, int(count))
        named = tuple(sorted(map(_text, viewers)))
        return RoomBroadcast(live_id, event, named, _text(host) if host else None)
    if kind == "x":
        return RoomBroadcast(live_id, None)
    raise ValueError(f"unknown room message {kind!r}")


class RedisRoomDelivery(RoomDelivery):
    shared = True

    def __init__(
        self, client: aioredis.Redis, node_id: str, stale_after: float = STALE_AFTER
    ) -> None:
        self._redis: Any = client
        self._node = node_id
        self._stale_after = stale_after
        self._tally = self._redis.register_script(_TALLY)
        self._record_publishing = self._redis.register_script(_RECORD_PUBLISHING)
        self._presence = self._redis.register_script(_PRESENCE)
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._handler: RoomHandler | None = None
        self._confirmed: dict[str, asyncio.Future[None]] = {}

    async def start(self, handler: RoomHandler) -> None:
        self._handler = handler
        self._pubsub = self._redis.pubsub()
        # A channel nobody publishes to keeps the connection subscribed between lives.
        await self._pubsub.subscribe(f"dl:rooms:{self._node}")
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
            self._reader = None
        if self._pubsub is not None:
            await self._pubsub.aclose()
            self._pubsub = None
        for waiting in self._confirmed.values():
            waiting.cancel()
        self._confirmed.clear()

    def channel(self, live_id: str) -> str | None:
        return room_channel(live_id)

    async def subscribe(self, live_id: str) -> None:
        channel = room_channel(live_id)
        confirmed = asyncio.get_running_loop().create_future()
        self._confirmed[channel] = confirmed
        try:
            await self._pubsub.subscribe(channel)
            await asyncio.wait_for(confirmed, SUBSCRIBE_DEADLINE)
        finally:
            self._confirmed.pop(channel, None)

    async def unsubscribe(self, live_id: str) -> None:
        if self._pubsub is not None:
            await self._pubsub.unsubscribe(room_channel(live_id))

    async def publish(self, live_id: str, event: Mapping[str, object]) -> None:
        await self._redis.publish(room_channel(live_id), msgpack.packb(["e", dict(event)]))

    async def open_live(self, live_id: str, host: str) -> None:
        await self._redis.hset(tally_key(live_id), mapping={"_open": 1, "_sent": 0, "_host": host})

    async def close_live(self, live_id: str) -> None:
        await self._redis.delete(tally_key(live_id))
        await self._redis.publish(room_channel(live_id), msgpack.packb(["x"]))

    async def report_viewers(self, live_id: str, node: str, viewers: Sequence[str]) -> int | None:
        args: list[str | float] = [node, self._stale_after, room_channel(live_id), *viewers]
        total = int(await self._tally(keys=[tally_key(live_id)], args=args))
        return None if total < 0 else total

    async def record_publishing(self, live_id: str, participants: Sequence[str]) -> None:
        packed = msgpack.packb(list(participants))
        await self._record_publishing(keys=[tally_key(live_id)], args=[packed])

    async def presence(self, live_id: str) -> RoomPresence:
        args: list[str | float] = [self._node, self._stale_after]
        packed, viewers = await self._presence(keys=[tally_key(live_id)], args=args)
        publishing = None if not packed else tuple(map(_text, msgpack.unpackb(packed)))
        return RoomPresence(publishing, tuple(map(_text, viewers)))

    async def _read(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except RedisError:
                log.warning("room channel read failed; retrying", exc_info=True)
                await asyncio.sleep(0.5)
                continue
            if message is not None:
                self._on_message(message)

    def _on_message(self, message: Mapping[str, Any]) -> None:
        channel = _text(message.get("channel", b""))
        if message.get("type") == "subscribe":
            waiting = self._confirmed.get(channel)
            if waiting is not None and not waiting.done():
                waiting.set_result(None)
            return
        if message.get("type") != "message" or self._handler is None:
            return
        live_id = channel.removeprefix("dl:room:{").removesuffix("}:ev")
        try:
            broadcast = decode(live_id, message["data"])
        except (ValueError, TypeError, KeyError, msgpack.UnpackException):
            log.warning("unreadable room message on %s", channel)
            return
        try:
            self._handler(broadcast)
        except Exception:
            log.exception("room delivery failed live=%s", live_id)
