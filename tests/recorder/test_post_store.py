"""The store contract of recordings and direct posts, on both stores."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from fanout import MemoryStore, Store
from fanout.post_models import Comment, Post, Recording, RecordingFile
from fanout.redis_store import RedisStore
from tests.redis_server import RedisServer, redis_proc

__all__ = ["redis_proc"]


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    if request.param == "memory":
        made: Store = MemoryStore()
    else:
        server: RedisServer = request.getfixturevalue("redis_proc")
        redis = RedisStore(server.url)
        await redis.redis.flushdb()
        made = redis
    yield made
    await made.close()


async def test_recordings_are_archived_newest_first_and_granted(store: Store) -> None:
    file = RecordingFile("alice-1.webm", "alice", "video/webm", ("vp8", "opus"), 1234, 5.5)
    for seq, live_id in enumerate(["l1", "l2", "l3"], start=1):
        await store.put_recording(Recording(live_id, "alice", seq, "node-1"))
    await store.put_recording(Recording("l2", "alice", 2, "node-1", "finished", files=(file,)))
    await store.put_recording(Recording("x", "bob", 9, "node-1"))
    first = await store.page_recordings("alice", "", 2)
    assert [r.live_id for r in first.items] == ["l3", "l2"]
    assert first.items[1].files == (file,)
    assert first.items[1].state == "finished"
    rest = await store.page_recordings("alice", first.next_cursor or "", 2)
    assert ([r.live_id for r in rest.items], rest.next_cursor) == (["l1"], None)
    assert await store.get_recording("nope") is None
    await store.grant_recording("l2", ["bob"])
    assert await store.has_recording_grant("l2", "bob")
    assert not await store.has_recording_grant("l2", "carol")


async def test_posts_likes_and_comments(store: Store) -> None:
    posts = [Post(f"p{i}", "t1", "alice", "photo", i, 1.0, mime_type="image/png") for i in (1, 2)]
    for post in posts:
        await store.put_post(post)
    await store.put_post(Post("other", "t2", "bob", "video", 3, 1.0))
    page = await store.page_posts("t1", "", 10)
    assert [p.post_id for p in page.items] == ["p2", "p1"]
    assert await store.get_post("p1") == posts[0]
    assert await store.set_like("p1", "bob", True) == 1
    assert await store.set_like("p1", "bob", True) == 1
    assert await store.set_like("p1", "alice", True) == 2
    assert await store.set_like("p1", "bob", False) == 1
    assert await store.post_likes("p1") == ["alice"]
    for seq in (10, 11, 12):
        await store.add_comment(Comment(seq, "p1", "bob", f"c{seq}", 2.0))
    comments = await store.page_comments("p1", "", 2)
    assert [c.text for c in comments.items] == ["c12", "c11"]
    older = await store.page_comments("p1", comments.next_cursor or "", 2)
    assert [c.text for c in older.items] == ["c10"]
    assert await store.post_counts("p1") == (1, 3)
    assert await store.post_counts("p2") == (0, 0)


async def test_unfinished_recordings_are_indexed_per_node_until_finalized(store: Store) -> None:
    await store.put_recording(Recording("l1", "alice", 1, "node-1", started_at=1.0))
    await store.put_recording(Recording("l2", "bob", 2, "node-1", "failed", 1.0, 0.0, "disk_full"))
    await store.put_recording(Recording("l3", "alice", 3, "node-2", started_at=1.0))
    await store.put_recording(Recording("l4", "alice", 4, "node-1", "finished", 1.0, 2.0))
    assert await store.unfinished_recordings("node-1") == ["l1", "l2"]
    assert await store.unfinished_recordings("node-2") == ["l3"]
    await store.put_recording(Recording("l1", "alice", 1, "node-1", "interrupted", 1.0, 3.0))
    assert await store.unfinished_recordings("node-1") == ["l2"]
    assert await store.unfinished_recordings("node-3") == []
