"""Live rooms on Redis. Every key of a live shares the hash tag ``{live_id}``, so each
command and script touches one slot (Redis Cluster safe)::

    dl:room:{L}:settings   hash   comments, joins ("1"/"0")
    dl:room:{L}:requests   set    pending join requests
    dl:room:{L}:invites    set    users the host invited
    dl:room:{L}:bans       set    users the host removed from this live
    dl:room:{L}:seq        string last comment sequence number
    dl:room:{L}:comments   list   msgpack comments, oldest first, trimmed to the latest N
    dl:rate:{K}:W          string hits of rate key K in fixed window W (expires)
    dl:room:{L}:viewers    hash   viewers per node, while the live runs (``room_delivery_redis``)
    dl:room:{L}:ev         channel the room's events, across nodes (``room_delivery_redis``)

A new comment is numbered, kept and (given a channel) published to the live's room in one
script, so the room's order and the ``seq`` order agree (``fanout.room_delivery_redis``).
"""

from __future__ import annotations

import time
from typing import Any, cast

import msgpack
import redis.asyncio as aioredis

from fanout.room_models import Comment, RoomSettings
from fanout.room_store import RoomStore

_ADD_COMMENT = """
local seq = redis.call('INCR', KEYS[1])
local body = cmsgpack.pack({ARGV[1] .. '.' .. seq, seq, ARGV[2], ARGV[3], tonumber(ARGV[4])})
redis.call('RPUSH', KEYS[2], body)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[5]), -1)
if ARGV[6] ~= '' then
  redis.call('PUBLISH', ARGV[6], cmsgpack.pack({'c', ARGV[1] .. '.' .. seq, seq, ARGV[2], ARGV[3],
    tonumber(ARGV[4])}))
end
return seq
"""

_REMOVE_COMMENT = """
local items = redis.call('LRANGE', KEYS[1], 0, -1)
for _, item in ipairs(items) do
  if cmsgpack.unpack(item)[1] == ARGV[1] then
    redis.call('LREM', KEYS[1], 1, item)
    return 1
  end
end
return 0
"""


def _key(live_id: str, part: str) -> str:
    return f"dl:room:{{{live_id}}}:{part}"


class RedisRoomStore(RoomStore):
    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client
        self._add_comment = client.register_script(_ADD_COMMENT)
        self._remove_comment = client.register_script(_REMOVE_COMMENT)

    async def settings(self, live_id: str) -> RoomSettings:
        raw = cast(dict[bytes, bytes], await self._redis.hgetall(_key(live_id, "settings")))
        return RoomSettings(
            comments=raw.get(b"comments", b"1") == b"1", joins=raw.get(b"joins", b"1") == b"1"
        )

    async def set_settings(self, live_id: str, settings: RoomSettings) -> None:
        await self._redis.hset(
            _key(live_id, "settings"),
            mapping={"comments": int(settings.comments), "joins": int(settings.joins)},
        )

    async def add_member(self, live_id: str, role: str, user: str) -> bool:
        return bool(await self._redis.sadd(_key(live_id, role), user))

    async def take_member(self, live_id: str, role: str, user: str) -> bool:
        return bool(await self._redis.srem(_key(live_id, role), user))

    async def has_member(self, live_id: str, role: str, user: str) -> bool:
        return bool(await self._redis.sismember(_key(live_id, role), user))

    async def members(self, live_id: str, role: str) -> list[str]:
        raw = cast(set[bytes], await self._redis.smembers(_key(live_id, role)))
        return sorted(item.decode() for item in raw)

    async def add_comment(
        self, live_id: str, user: str, text: str, at: float, keep: int, channel: str | None = None
    ) -> Comment:
        keys = [_key(live_id, "seq"), _key(live_id, "comments")]
        args: list[str | float] = [live_id, user, text, at, keep, channel or ""]
        seq = int(await self._add_comment(keys=keys, args=args))
        return Comment(f"{live_id}.{seq}", live_id, seq, user, text, at)

    async def remove_comment(self, live_id: str, comment_id: str) -> bool:
        return bool(await self._remove_comment(keys=[_key(live_id, "comments")], args=[comment_id]))

    async def recent_comments(self, live_id: str, limit: int) -> list[Comment]:
        if limit <= 0:
            return []
        raw = cast(list[bytes], await self._redis.lrange(_key(live_id, "comments"), -limit, -1))
        return [self._comment(live_id, item) for item in raw]

    async def count_hit(self, key: str, window: float) -> int:
        slot = f"dl:rate:{{{key}}}:{int(time.time() // window)}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(slot)
            pipe.expire(slot, int(window) + 1)
            count, _ = await pipe.execute()
        return int(count)

    @staticmethod
    def _comment(live_id: str, raw: bytes) -> Comment:
        fields: list[Any] = msgpack.unpackb(raw)
        comment_id, seq, user, text, at = fields
        return Comment(_text(comment_id), live_id, int(seq), _text(user), _text(text), float(at))


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
