"""``RedisStore``: every fact in Redis (layout in ``fanout.redis_keys``), so state survives a
restart of any node and is shared by all of them. Compound writes are MULTI transactions or Lua
scripts; reads of several keys are pipelined into one round trip."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal

import redis.asyncio as aioredis

from directlive.errors import Unavailable
from fanout import cursors
from fanout import redis_keys as k
from fanout.models import (
    INBOX,
    REQUEST,
    BoxEntry,
    ChunkResult,
    FanoutJob,
    FeedEntry,
    LiveInfo,
    MemberState,
    Message,
    Page,
    Relation,
    Settings,
    Thread,
)
from fanout.post_models import Post
from fanout.redis_bus import RedisBus
from fanout.redis_post_store import RedisPostsMixin
from fanout.redis_post_store import cut_page as _cut
from fanout.store import Box, BusHandler, Store, Unsubscribe, UserList

_S = k.text


def _box_key(box: Box) -> str:
    return "inbox" if box == "inbox" else "msgreq"


REDIS_CONNECTIONS = 100
"""Connections one process opens to Redis at most (Pub/Sub subscriptions hold one each)."""
REDIS_POOL_WAIT_S = 10.0
"""How long a command waits for a free connection before it fails."""


class RedisStore(RedisPostsMixin, Store):
    def __init__(self, url: str, max_connections: int = REDIS_CONNECTIONS) -> None:
        # A burst of requests (hundreds of sockets connecting at once) queues for a connection
        # instead of failing: redis-py's default pool raises MaxConnectionsError at its limit.
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=max_connections, timeout=REDIS_POOL_WAIT_S
        )
        self.redis: aioredis.Redis = aioredis.Redis.from_pool(pool)
        # redis-py types replies as unions (bytes | str | list ...) that never narrow; replies
        # are decoded by hand below, so the client is used untyped here.
        self._r: Any = self.redis
        self._bus = RedisBus(self.redis)
        self._chunk = self._r.register_script(k.FANOUT_CHUNK)
        self._presence = self._r.register_script(k.PRESENCE_UPDATE)
        self._add_members = self._r.register_script(k.ADD_MEMBERS)
        self._import = self._r.register_script(k.IMPORT_FOLLOWERS)
        self._create_job = self._r.register_script(k.CREATE_JOB)
        self._claim = self._r.register_script(k.CLAIM_JOB)
        self._user_prefix, self._feed_suffix = k.user("\0", "feed").split("\0")

    # -- users -------------------------------------------------------------------------------
    async def ensure_user(self, user: str) -> None:
        await self._r.hsetnx(k.user(user, "s"), "p", "0")

    async def missing_users(self, users: Sequence[str]) -> list[str]:
        pipe = self._r.pipeline(transaction=False)
        for u in users:
            pipe.exists(k.user(u, "s"))
        found = await pipe.execute()
        return [u for u, n in zip(users, found, strict=True) if not n]

    async def get_settings(self, user: str) -> Settings:
        raw = await self._r.hgetall(k.user(user, "s"))
        return Settings(private=raw.get(b"p") == b"1", allow_sharing=raw.get(b"a") != b"0")

    async def set_settings(self, user: str, settings: Settings) -> None:
        values = {"p": int(settings.private), "a": int(settings.allow_sharing)}
        await self._r.hset(k.user(user, "s"), mapping=values)

    # -- graph -------------------------------------------------------------------------------
    async def relation(self, a: str, b: str) -> Relation:
        pipe = self._r.pipeline(transaction=False)
        pipe.zscore(k.user(b, "followers"), a)
        pipe.zscore(k.user(a, "followers"), b)
        pipe.zscore(k.user(b, "requests"), a)
        pipe.sismember(k.user(a, "blocks"), b)
        pipe.sismember(k.user(b, "blocks"), a)
        pipe.sismember(k.user(a, "allowed"), b)
        r = await pipe.execute()
        return Relation(
            r[0] is not None, r[1] is not None, r[2] is not None, bool(r[3]), bool(r[4]), bool(r[5])
        )

    async def add_follow(self, follower: str, followee: str) -> None:
        pipe = self._r.pipeline(transaction=True)
        pipe.zrem(k.user(followee, "requests"), follower)
        pipe.zadd(k.user(followee, "followers"), {follower: 0})
        pipe.zadd(k.user(follower, "following"), {followee: 0})
        await pipe.execute()

    async def add_follow_request(self, follower: str, followee: str) -> None:
        await self._r.zadd(k.user(followee, "requests"), {follower: 0})

    def _unfollow(self, pipe: Any, follower: str, followee: str) -> None:
        pipe.zrem(k.user(followee, "requests"), follower)
        pipe.zrem(k.user(followee, "followers"), follower)
        pipe.zrem(k.user(follower, "following"), followee)

    async def remove_follow(self, follower: str, followee: str) -> bool:
        pipe = self._r.pipeline(transaction=True)
        self._unfollow(pipe, follower, followee)
        r = await pipe.execute()
        return bool(r[0] or r[1])

    async def remove_follow_request(self, follower: str, followee: str) -> bool:
        return bool(await self._r.zrem(k.user(followee, "requests"), follower))

    async def approve_all_requests(self, user: str) -> list[str]:
        pending = [_S(u) for u in await self._r.zrange(k.user(user, "requests"), 0, -1)]
        for follower in pending:
            await self.add_follow(follower, user)
        return pending

    async def add_block(self, blocker: str, blocked: str) -> None:
        pipe = self._r.pipeline(transaction=True)
        pipe.sadd(k.user(blocker, "blocks"), blocked)
        self._unfollow(pipe, blocker, blocked)
        self._unfollow(pipe, blocked, blocker)
        await pipe.execute()

    async def remove_block(self, blocker: str, blocked: str) -> bool:
        return bool(await self._r.srem(k.user(blocker, "blocks"), blocked))

    async def page_users(self, user: str, which: UserList, cursor: str, limit: int) -> Page[str]:
        start = "(" + cursor if cursor else "-"
        raw = await self._r.zrange(k.user(user, which), start, "+", bylex=True, offset=0, num=limit)
        return _cut([_S(u) for u in raw], limit, str)  # type: ignore[no-any-return]

    async def count_users(self, user: str, which: UserList) -> int:
        return int(await self._r.zcard(k.user(user, which)))

    async def import_followers(self, followee: str, followers: Sequence[str]) -> None:
        for i in range(0, len(followers), 5000):
            batch = followers[i : i + 5000]
            await self._import(keys=[], args=[followee, *k.user("\0", "").split("\0"), *batch])

    async def allow_sender(self, user: str, sender: str) -> None:
        await self._r.sadd(k.user(user, "allowed"), sender)

    # -- threads -----------------------------------------------------------------------------
    async def next_seq(self) -> int:
        return int(await self._r.incr(k.SEQ))

    async def find_dm(self, a: str, b: str) -> str | None:
        found = await self._r.get(k.dm(a, b))
        return None if found is None else _S(found)

    async def create_thread(self, thread: Thread) -> str:
        tid = thread.thread_id
        if thread.kind == "dm":
            a, b = sorted(thread.members)
            if not await self._r.set(k.dm(a, b), tid, nx=True):
                return _S(await self._r.get(k.dm(a, b)))
        meta = {"kind": thread.kind, "creator": thread.creator, "name": thread.name}
        pipe = self._r.pipeline(transaction=True)
        pipe.hset(k.thread(tid, "meta"), mapping={**meta, "cseq": thread.created_seq})
        pipe.hset(k.thread(tid, "members"), mapping=dict(thread.members))
        for member, state in thread.members.items():
            self._place(pipe, tid, member, state, thread.created_seq)
        await pipe.execute()
        return tid

    async def get_thread(self, thread_id: str) -> Thread | None:
        pipe = self._r.pipeline(transaction=False)
        pipe.hgetall(k.thread(thread_id, "meta"))
        pipe.hgetall(k.thread(thread_id, "members"))
        meta, members = await pipe.execute()
        if not meta:
            return None
        states: dict[str, MemberState] = {_S(u): _S(s) for u, s in members.items()}  # type: ignore[misc]
        kind: Literal["dm", "group"] = "dm" if meta[b"kind"] == b"dm" else "group"
        cseq = int(meta.get(b"cseq", 0))
        return Thread(thread_id, kind, _S(meta[b"creator"]), _S(meta.get(b"name")), states, cseq)

    def _place(self, pipe: Any, tid: str, user: str, state: MemberState | None, seq: int) -> None:
        pipe.zrem(k.user(user, "inbox"), tid)
        pipe.zrem(k.user(user, "msgreq"), tid)
        if state == INBOX:
            pipe.zadd(k.user(user, "inbox"), {tid: seq})
        elif state == REQUEST:
            pipe.zadd(k.user(user, "msgreq"), {tid: seq})
        if state != INBOX:
            pipe.hdel(k.user(user, "unread"), tid)

    async def _last_seq(self, thread_id: str) -> int:
        pipe = self._r.pipeline(transaction=False)
        pipe.zrevrange(k.thread(thread_id, "msgs"), 0, 0, withscores=True)
        pipe.hget(k.thread(thread_id, "meta"), "cseq")
        last, cseq = await pipe.execute()
        return int(last[0][1]) if last else int(cseq or 0)

    async def set_member_state(self, thread_id: str, user: str, state: MemberState) -> None:
        seq = await self._last_seq(thread_id)
        pipe = self._r.pipeline(transaction=True)
        pipe.hset(k.thread(thread_id, "members"), user, state)
        self._place(pipe, thread_id, user, state, seq)
        await pipe.execute()

    async def add_members(
        self, thread_id: str, members: Mapping[str, MemberState], limit: int
    ) -> bool:
        args: list[Any] = [limit]
        for user, state in members.items():
            args += [user, state]
        keys = [k.thread(thread_id, "members")]
        if not await self._add_members(keys=keys, args=args):
            return False
        seq = await self._last_seq(thread_id)
        pipe = self._r.pipeline(transaction=True)
        for user, state in members.items():
            self._place(pipe, thread_id, user, state, seq)
        await pipe.execute()
        return True

    async def remove_member(self, thread_id: str, user: str) -> bool:
        pipe = self._r.pipeline(transaction=True)
        pipe.hdel(k.thread(thread_id, "members"), user)
        self._place(pipe, thread_id, user, None, 0)
        return bool((await pipe.execute())[0])

    async def append_message(self, message: Message, post: Post | None = None) -> Message:
        tid = message.thread_id
        pipe = self._r.pipeline(transaction=False)
        pipe.incr(k.SEQ)
        pipe.hgetall(k.thread(tid, "members"))
        seq, members = await pipe.execute()
        m = replace(message, seq=seq)
        blob = k.pack([seq, m.sender, m.kind, m.text, m.live_id, m.sent_at, m.post_id])
        pipe = self._r.pipeline(transaction=True)
        pipe.zadd(k.thread(tid, "msgs"), {blob: seq})
        if post is not None:
            self.queue_post(pipe, replace(post, seq=seq))
        for raw_user, raw_state in members.items():
            user, state = _S(raw_user), _S(raw_state)
            if state == INBOX:
                pipe.zadd(k.user(user, "inbox"), {tid: seq})
                if user != m.sender:
                    pipe.hincrby(k.user(user, "unread"), tid, 1)
            elif state == REQUEST:
                pipe.zadd(k.user(user, "msgreq"), {tid: seq})
        await pipe.execute()
        return m

    async def page_messages(self, thread_id: str, cursor: str, limit: int) -> Page[Message]:
        top = cursors.redis_below(cursor)
        raw = await self._r.zrevrangebyscore(k.thread(thread_id, "msgs"), top, "-inf", 0, limit)
        items = []
        for blob in raw:
            seq, sender, kind, text, live_id, sent_at, *post_id = k.unpack(blob)
            fields = (text, live_id, sent_at, *post_id)
            items.append(Message(seq, thread_id, sender, kind, *fields))
        return _cut(items, limit, lambda m: m.seq)  # type: ignore[no-any-return]

    async def page_box(self, user: str, box: Box, cursor: str, limit: int) -> Page[BoxEntry]:
        top = cursors.redis_below(cursor)
        key = k.user(user, _box_key(box))
        rows = await self._r.zrevrangebyscore(key, top, "-inf", 0, limit, withscores=True)
        unread: list[Any] = [None] * len(rows)
        if rows and box == "inbox":
            unread = await self._r.hmget(k.user(user, "unread"), [t for t, _ in rows])
        items = [
            BoxEntry(_S(t), int(s), int(u or 0)) for (t, s), u in zip(rows, unread, strict=True)
        ]
        return _cut(items, limit, lambda e: e.last_seq)  # type: ignore[no-any-return]

    async def mark_read(self, user: str, thread_id: str) -> None:
        await self._r.hdel(k.user(user, "unread"), thread_id)

    # -- lives -------------------------------------------------------------------------------
    async def put_live(self, live: LiveInfo) -> None:
        pipe = self._r.pipeline(transaction=True)
        pipe.delete(k.live(live.live_id))
        pipe.hset(
            k.live(live.live_id),
            mapping={
                "host": live.host,
                "ended": int(live.ended),
                "vc": live.viewer_count,
                "t0": live.started_at,
                "t1": live.ended_at,
                "guests": k.pack(list(live.guests)),
                "fs": live.followers_share,
            },
        )
        if not live.ended:
            pipe.sadd(k.user(live.host, "lives"), live.live_id)
        await pipe.execute()

    async def get_live(self, live_id: str) -> LiveInfo | None:
        raw = await self._r.hgetall(k.live(live_id))
        if not raw:
            return None
        return LiveInfo(
            live_id,
            _S(raw[b"host"]),
            raw[b"ended"] == b"1",
            int(raw[b"vc"]),
            float(raw[b"t0"]),
            float(raw[b"t1"]),
            tuple(k.unpack(raw[b"guests"])),
            _S(raw.get(b"fs")),
        )

    async def end_live(self, live_id: str, at: float) -> bool:
        live = await self.get_live(live_id)
        if live is None:
            return False
        pipe = self._r.pipeline(transaction=True)
        pipe.hincrby(k.live(live_id), "ends", 1)
        pipe.hset(k.live(live_id), mapping={"ended": 1, "t1": at, "vc": 0})
        pipe.srem(k.user(live.host, "lives"), live_id)
        return bool((await pipe.execute())[0] == 1)

    async def set_viewer_count(self, live_id: str, count: int) -> None:
        if await self._r.exists(k.live(live_id)):
            await self._r.hset(k.live(live_id), "vc", count)

    async def set_guests(self, live_id: str, guests: Sequence[str]) -> None:
        if await self._r.exists(k.live(live_id)):
            await self._r.hset(k.live(live_id), "guests", k.pack(list(guests)))

    async def running_lives(self, host: str) -> list[str]:
        return sorted(_S(x) for x in await self._r.smembers(k.user(host, "lives")))

    async def mark_node_live(self, node: str, live_id: str, running: bool) -> None:
        if running:
            await self._r.sadd(k.node_lives(node), live_id)
        else:
            await self._r.srem(k.node_lives(node), live_id)

    async def node_lives(self, node: str) -> list[str]:
        return sorted(_S(x) for x in await self._r.smembers(k.node_lives(node)))

    async def add_reach(self, live_id: str, users: Sequence[str]) -> None:
        if users:
            await self._r.sadd(k.reach(live_id), *users)

    async def has_reach(self, live_id: str, user: str) -> bool:
        return bool(await self._r.sismember(k.reach(live_id), user))

    async def reach(self, live_id: str) -> list[str]:
        return sorted(_S(x) for x in await self._r.smembers(k.reach(live_id)))

    # -- share to all followers --------------------------------------------------------------
    async def create_job(self, job: FanoutJob) -> FanoutJob:
        keys = [k.live(job.live_id), k.job(job.share_id), k.JOBS]
        args: list[str | int] = [job.share_id, job.live_id, job.sender, job.seq]
        winner = _S(await self._create_job(keys=keys, args=args))
        if winner == job.share_id:
            return job
        found = await self.get_job(winner)
        if found is None:
            raise Unavailable(f"the live's fan-out job {winner} is missing", code="job_missing")
        return found

    async def get_job(self, share_id: str) -> FanoutJob | None:
        raw = await self._r.hgetall(k.job(share_id))
        if not raw:
            return None
        return FanoutJob(
            share_id,
            _S(raw[b"live"]),
            _S(raw[b"sender"]),
            int(raw[b"seq"]),
            _S(raw[b"cursor"]),
            int(raw[b"delivered"]),
            raw[b"done"] == b"1",
        )

    async def pending_jobs(self) -> list[str]:
        return sorted(_S(x) for x in await self._r.smembers(k.JOBS))

    async def claim_job(self, share_id: str, node: str, ttl: float) -> bool:
        return bool(await self._claim(keys=[k.lease(share_id)], args=[node, int(ttl * 1000)]))

    async def fanout_chunk(self, job: FanoutJob, limit: int) -> ChunkResult:
        keys = [k.job(job.share_id), k.user(job.sender, "followers"), k.ONLINE]
        args: list[str | int] = [job.share_id, job.seq, limit, self._user_prefix, self._feed_suffix]
        added, cursor, more, pairs = await self._chunk(keys=keys, args=args)
        online = {_S(u): tuple(k.unpack(n)) for u, n in zip(pairs[::2], pairs[1::2], strict=True)}
        return ChunkResult(int(added), online, _S(cursor), not more)

    async def finish_job(self, share_id: str) -> None:
        pipe = self._r.pipeline(transaction=True)
        pipe.hset(k.job(share_id), "done", 1)
        pipe.srem(k.JOBS, share_id)
        pipe.delete(k.lease(share_id))
        await pipe.execute()

    async def page_feed(self, user: str, cursor: str, limit: int) -> Page[FeedEntry]:
        top = cursors.redis_below(cursor)
        key = k.user(user, "feed")
        rows = await self._r.zrevrangebyscore(key, top, "-inf", 0, limit, withscores=True)
        pipe = self._r.pipeline(transaction=False)
        for share_id, _ in rows:
            pipe.hmget(k.job(_S(share_id)), ["live", "sender"])
        found = await pipe.execute()
        items = [
            FeedEntry(_S(s), _S(info[0]), _S(info[1]), int(seq))
            for (s, seq), info in zip(rows, found, strict=True)
        ]
        return _cut(items, limit, lambda e: e.seq)  # type: ignore[no-any-return]

    # -- presence and event bus --------------------------------------------------------------
    async def presence_add(self, user: str, node: str) -> None:
        await self._presence(keys=[k.ONLINE, k.node_presence(node)], args=[user, node, 1])

    async def presence_remove(self, user: str, node: str) -> None:
        await self._presence(keys=[k.ONLINE, k.node_presence(node)], args=[user, node, 0])

    async def node_presence(self, node: str) -> list[str]:
        return sorted(_S(u) for u in await self._r.smembers(k.node_presence(node)))

    async def presence_nodes(self, users: Sequence[str]) -> dict[str, tuple[str, ...]]:
        if not users:
            return {}
        raw = await self._r.hmget(k.ONLINE, list(users))
        return {u: tuple(k.unpack(n)) for u, n in zip(users, raw, strict=True) if n}

    async def publish(self, node: str | None, payload: Mapping[str, Any]) -> None:
        await self._bus.publish(node, payload)

    async def subscribe(self, node: str, handler: BusHandler) -> Unsubscribe:
        return await self._bus.subscribe(node, handler)

    async def close(self) -> None:
        await self._bus.close()
        await self.redis.aclose()


__all__ = ["RedisStore"]
