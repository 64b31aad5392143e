"""Sharing to all followers: every follower exactly one entry, even across a crash."""

from __future__ import annotations

import asyncio

import pytest

from fanout import Fanout, FanoutConfig, Store
from fanout.redis_keys import user as user_key
from fanout.redis_store import RedisStore
from tests.fanout.conftest import Inbox


class Crash(Exception):
    pass


async def entries(store: Store, users: list[str], share_id: str) -> list[int]:
    """How many feed entries each user has, checking the one they have is this share."""
    if isinstance(store, RedisStore):
        counts: list[int] = []
        for i in range(0, len(users), 10_000):
            pipe = store.redis.pipeline(transaction=False)
            for u in users[i : i + 10_000]:
                pipe.zcard(user_key(u, "feed"))
                pipe.zscore(user_key(u, "feed"), share_id)
            raw = await pipe.execute()
            pairs = zip(raw[::2], raw[1::2], strict=True)
            counts += [n if score is not None else -1 for n, score in pairs]
        return counts
    pages = [await store.page_feed(u, "", 10) for u in users]
    return [len(p.items) if p.items and p.items[0].share_id == share_id else -1 for p in pages]


def followers_for(store: Store) -> list[str]:
    size = 100_000 if isinstance(store, RedisStore) else 20_000
    return [f"f{i:06d}" for i in range(size)]


async def test_share_to_all_followers_pushes_online_ones(fo: Fanout, inbox: Inbox) -> None:
    names = [f"f{i:04d}" for i in range(2500)]
    await fo.store.import_followers("alice", names)
    await fo.user_online("f0007")
    await fo.user_online("f2499")
    await fo.start_live("alice", "L1")
    result = await fo.sharing.share("alice", await fo.get_live("L1"), all_followers=True)
    job = await fo.followers.join(result.followers_share)
    assert job is not None
    assert job.done
    assert job.delivered == 2500
    assert await entries(fo.store, names, job.share_id) == [1] * 2500
    event = {"type": "share.new", "live_id": "L1", "thread_id": None, "from": "alice"}
    assert inbox.events["f0007"] == [{**event, "share_id": job.share_id}]
    assert inbox.events["f2499"] == [{**event, "share_id": job.share_id}]
    again = await fo.sharing.share("alice", await fo.get_live("L1"), all_followers=True)
    assert again.followers_share == job.share_id
    feed = await fo.store.page_feed("f0007", "", 10)
    assert [(e.live_id, e.sender) for e in feed.items] == [("L1", "alice")]
    assert (await fo.authorize_watch("f0007", "L1")).live_id == "L1"
    await fo.authorize_watch("f0008", "L1")
    assert len((await fo.sharing.share("f0008", await fo.get_live("L1"), users=["bob"])).thread_ids)


@pytest.mark.parametrize("how", ["exception", "cancel"])
async def test_crash_halfway_then_resume_gives_one_entry_each(store: Store, how: str) -> None:
    names = followers_for(store)
    chunks_before_crash = len(names) // 1000 // 2

    def hook(done: int) -> None:
        if done == chunks_before_crash:
            if how == "exception":
                raise Crash(f"injected after {done} chunks")
            task = asyncio.current_task()
            assert task is not None
            task.cancel()

    await store.ensure_user("alice")
    await store.import_followers("alice", names)
    first = Fanout(store, node_id="n1", config=FanoutConfig(chunk_size=1000, fault_hook=hook))
    await first.start()
    await first.start_live("alice", "L1")
    result = await first.sharing.share("alice", await first.get_live("L1"), all_followers=True)
    with pytest.raises(Crash if how == "exception" else asyncio.CancelledError):
        await first.followers.join(result.followers_share)
    await first.close()
    half = await store.get_job(result.followers_share)
    assert half is not None
    assert not half.done
    assert half.delivered == chunks_before_crash * 1000
    assert await store.pending_jobs() == [half.share_id]

    second = Fanout(store, node_id="n1", config=FanoutConfig(chunk_size=1000))
    await second.start()
    try:
        job = await second.followers.join(half.share_id)
    finally:
        await second.close()
    assert job is not None
    assert job.done
    assert job.delivered == len(names)
    assert await store.pending_jobs() == []
    assert await entries(store, names, job.share_id) == [1] * len(names)
