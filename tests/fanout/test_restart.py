"""On Redis every fact lives in Redis: a fresh process (new store, new Fanout) sees it all."""

from __future__ import annotations

from fanout import Fanout
from fanout.redis_store import RedisStore
from tests.redis_server import RedisServer


async def test_state_survives_a_restart_of_the_node(redis_proc: RedisServer) -> None:
    store = RedisStore(redis_proc.url)
    await store.redis.flushdb()
    before = Fanout(store, node_id="n1")
    await before.start()
    for user in ("alice", "bob", "carol"):
        await before.ensure_user(user)
    await before.graph.update_settings("alice", private=True, allow_sharing=False)
    await before.graph.follow("bob", "alice")
    await before.graph.approve("alice", "bob")
    await before.graph.follow("carol", "alice")
    await before.graph.block("alice", "carol")
    thread = await before.direct.create("alice", ["bob"])
    await before.direct.send_text("alice", thread.thread_id, "persist me")
    await before.start_live("alice", "L1")
    await before.sharing.share("alice", await before.get_live("L1"), users=["bob"])
    await before.close()
    await store.close()

    store = RedisStore(redis_proc.url)
    after = Fanout(store, node_id="n2")
    await after.start()
    try:
        settings = await store.get_settings("alice")
        assert (settings.private, settings.allow_sharing) == (True, False)
        assert (await after.graph.page("alice", "alice", "followers", "", 10)).items == ("bob",)
        assert (await store.relation("alice", "carol")).blocking
        assert await store.find_dm("bob", "alice") == thread.thread_id
        texts = [m.text for m in (await store.page_messages(thread.thread_id, "", 10)).items]
        assert texts == ["", "persist me"]
        [entry] = (await store.page_box("bob", "inbox", "", 10)).items
        assert (entry.thread_id, entry.unread) == (thread.thread_id, 2)
        assert (
            await after.authorize_watch("bob", "L1", via_thread=thread.thread_id)
        ).host == "alice"
    finally:
        await after.close()
        await store.close()
