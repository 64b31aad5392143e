"""Recordings and direct posts on Redis (keys in ``fanout.post_keys``), mixed into
``RedisStore``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fanout import cursors
from fanout import post_keys as pk
from fanout import redis_keys as k
from fanout.models import Page
from fanout.post_models import Comment, Post, Recording

_S = k.text


def cut_page(items: list[Any], limit: int, cursor_of: Callable[[Any], object]) -> Any:
    """A page of ``items``, with a cursor when it may not be the last."""
    if len(items) < limit or not items:
        return Page(tuple(items))
    return Page(tuple(items), str(cursor_of(items[-1])))


class RedisPostsMixin:
    _r: Any
    """The untyped Redis client of ``RedisStore``."""

    async def put_recording(self, recording: Recording) -> None:
        pipe = self._r.pipeline(transaction=True)
        pipe.set(pk.recording(recording.live_id), pk.pack_recording(recording))
        pipe.zadd(pk.archive(recording.host), {recording.live_id: recording.seq})
        unfinished = pk.unfinished(recording.node)
        if recording.unfinished:
            pipe.sadd(unfinished, recording.live_id)
        else:
            pipe.srem(unfinished, recording.live_id)
        await pipe.execute()

    async def unfinished_recordings(self, node: str) -> list[str]:
        return sorted(_S(i) for i in await self._r.smembers(pk.unfinished(node)))

    async def get_recording(self, live_id: str) -> Recording | None:
        blob = await self._r.get(pk.recording(live_id))
        return None if blob is None else pk.unpack_recording(blob)

    async def page_recordings(self, host: str, cursor: str, limit: int) -> Page[Recording]:
        top = cursors.redis_below(cursor)
        ids = await self._r.zrevrangebyscore(pk.archive(host), top, "-inf", 0, limit)
        blobs = await self._r.mget([pk.recording(_S(i)) for i in ids]) if ids else []
        items = [pk.unpack_recording(b) for b in blobs if b is not None]
        return cut_page(items, limit, lambda r: r.seq)  # type: ignore[no-any-return]

    async def grant_recording(self, live_id: str, users: Sequence[str]) -> None:
        if users:
            await self._r.sadd(pk.recording(live_id, "grants"), *users)

    async def has_recording_grant(self, live_id: str, user: str) -> bool:
        return bool(await self._r.sismember(pk.recording(live_id, "grants"), user))

    def queue_post(self, pipe: Any, post: Post) -> None:
        """Add the writes of ``put_post`` to ``pipe`` (a transaction)."""
        pipe.set(pk.post(post.post_id), pk.pack_post(post))
        pipe.zadd(pk.thread_posts(post.thread_id), {post.post_id: post.seq})

    async def put_post(self, post: Post) -> None:
        pipe = self._r.pipeline(transaction=True)
        self.queue_post(pipe, post)
        await pipe.execute()

    async def get_post(self, post_id: str) -> Post | None:
        blob = await self._r.get(pk.post(post_id))
        return None if blob is None else pk.unpack_post(blob)

    async def page_posts(self, thread_id: str, cursor: str, limit: int) -> Page[Post]:
        top = cursors.redis_below(cursor)
        ids = await self._r.zrevrangebyscore(pk.thread_posts(thread_id), top, "-inf", 0, limit)
        blobs = await self._r.mget([pk.post(_S(i)) for i in ids]) if ids else []
        items = [pk.unpack_post(b) for b in blobs if b is not None]
        return cut_page(items, limit, lambda p: p.seq)  # type: ignore[no-any-return]

    async def set_like(self, post_id: str, user: str, liked: bool) -> int:
        key = pk.post(post_id, "likes")
        pipe = self._r.pipeline(transaction=True)
        pipe.sadd(key, user) if liked else pipe.srem(key, user)
        pipe.scard(key)
        return int((await pipe.execute())[1])

    async def post_likes(self, post_id: str) -> list[str]:
        return sorted(_S(u) for u in await self._r.smembers(pk.post(post_id, "likes")))

    async def add_comment(self, comment: Comment) -> None:
        key = pk.post(comment.post_id, "comments")
        await self._r.zadd(key, {pk.pack_comment(comment): comment.seq})

    async def page_comments(self, post_id: str, cursor: str, limit: int) -> Page[Comment]:
        top = cursors.redis_below(cursor)
        raw = await self._r.zrevrangebyscore(pk.post(post_id, "comments"), top, "-inf", 0, limit)
        items = [pk.unpack_comment(blob) for blob in raw]
        return cut_page(items, limit, lambda c: c.seq)  # type: ignore[no-any-return]

    async def post_counts(self, post_id: str) -> tuple[int, int]:
        pipe = self._r.pipeline(transaction=False)
        pipe.scard(pk.post(post_id, "likes"))
        pipe.zcard(pk.post(post_id, "comments"))
        likes, comments = await pipe.execute()
        return int(likes), int(comments)
