"""Sharing to all followers: every follower exactly one entry, even across a crash."""

from __future__ import annotations

import asyncio
import time

import pytest

from fanout import Fanout, FanoutConfig, Store
from fanout.follower_fanout import CHUNKS_IN_FLIGHT
from fanout.models import FanoutJob
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
    # The chunks asked for before the crash ran whole or not at all (one may have been in flight
    # beside the one that crashed), and the cursor moved with the count.
    written = half.delivered // 1000
    assert half.delivered % 1000 == 0
    assert chunks_before_crash <= written <= chunks_before_crash + CHUNKS_IN_FLIGHT - 1
    assert half.cursor == names[half.delivered - 1]
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


async def make_job(store: Store, host: str, followers: list[str]) -> FanoutJob:
    """A host with ``followers`` and a persisted all-followers job of its live, not run."""
    await store.ensure_user(host)
    await store.import_followers(host, followers)
    node = Fanout(store, node_id="n1")
    await node.start_live(host, "L1")
    return await store.create_job(FanoutJob("s_job", "L1", host, await store.next_seq()))


async def test_chunks_in_flight_together_never_overlap(store: Store) -> None:
    names = [f"f{i:04d}" for i in range(2500)]
    job = await make_job(store, "alice", names)
    results = await asyncio.gather(*(store.fanout_chunk(job, 300) for _ in range(12)))
    assert sum(r.added for r in results) == 2500
    assert sorted(r.cursor for r in results)[-1] == names[-1]
    assert sum(not r.done for r in results) == 8  # 2500 = 8 full chunks and one of 100
    assert await entries(store, names, job.share_id) == [1] * 2500
    after = await store.get_job(job.share_id)
    assert after is not None
    assert (after.cursor, after.delivered) == (names[-1], 2500)
    again = await store.fanout_chunk(job, 300)
    assert (again.added, again.cursor, again.done) == (0, names[-1], True)


async def test_a_chunk_knows_when_nothing_is_left(store: Store) -> None:
    names = [f"f{i:04d}" for i in range(2000)]
    job = await make_job(store, "alice", names)
    first, second = [await store.fanout_chunk(job, 1000) for _ in range(2)]
    assert (first.added, first.cursor, first.done) == (1000, names[999], False)
    assert (second.added, second.cursor, second.done) == (1000, names[-1], True)


@pytest.mark.parametrize("online", [3, 1500])
async def test_a_chunk_reports_where_added_followers_are_online(store: Store, online: int) -> None:
    # 3 online users: fewer than a chunk adds; 1500: more (the Redis script reads presence
    # differently in the two cases).
    names = [f"f{i:04d}" for i in range(2500)]
    job = await make_job(store, "alice", names)
    here = names[1 : 1 + online]
    for user in here:
        await store.presence_add(user, "n1")
    await store.presence_add(names[1], "n2")
    await store.presence_add("f9999", "n1")  # online, not a follower
    await store.presence_add(names[2], "n2")
    await store.presence_remove(names[2], "n2")
    located: dict[str, tuple[str, ...]] = {}
    done = False
    while not done:
        chunk = await store.fanout_chunk(job, 1000)
        located.update({u: tuple(sorted(n)) for u, n in chunk.online.items()})
        done = chunk.done
    assert located == {u: ("n1", "n2") if u == names[1] else ("n1",) for u in here}


async def test_blocked_and_unfollowed_users_get_no_entry(fo: Fanout) -> None:
    names = [f"f{i:04d}" for i in range(1500)]
    await fo.store.import_followers("alice", names)
    await fo.graph.block("alice", "f0003")
    await fo.graph.unfollow("f0004", "alice")
    await fo.start_live("alice", "L1")
    result = await fo.sharing.share("alice", await fo.get_live("L1"), all_followers=True)
    job = await fo.followers.join(result.followers_share)
    assert job is not None
    assert job.delivered == 1498
    counts = await entries(fo.store, names, job.share_id)
    assert [names[i] for i, n in enumerate(counts) if n != 1] == ["f0003", "f0004"]
    assert counts[3] == counts[4] == -1


async def test_a_lease_is_held_by_one_node_until_it_expires(store: Store) -> None:
    assert await store.claim_job("s_x", "n1", 30)
    assert await store.claim_job("s_x", "n1", 30)  # renewed by its holder
    assert not await store.claim_job("s_x", "n2", 30)
    assert await store.claim_job("s_y", "n2", 0.05)
    deadline = time.monotonic() + 5
    while not await store.claim_job("s_y", "n1", 30):  # expired: another node takes it
        assert time.monotonic() < deadline, "the lease never expired"
        await asyncio.sleep(0.01)
    assert not await store.claim_job("s_y", "n2", 30)
