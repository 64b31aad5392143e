"""A direct post is a thread message: it orders the inbox, counts as unread (not in requests),
is pushed as ``message.new`` and reads with its current counts; on both stores."""

from __future__ import annotations

from fanout import Fanout
from fanout import redis_keys as k
from fanout.models import Message
from fanout.post_models import Post
from fanout.posts import Posts, new_post_id
from fanout.recordings import Recordings
from fanout.redis_store import RedisStore
from tests.fanout.conftest import Inbox
from tests.redis_server import RedisServer


def posts_of(fo: Fanout) -> Posts:
    recordings = Recordings(fo.store, fo.node_id)
    return Posts(fo.store, fo.hub, fo.direct, recordings, fo.config)


def photo(sender: str, thread_id: str, caption: str = "look") -> Post:
    return Post(new_post_id(), thread_id, sender, "photo", 0, 0.0, caption, "image/png", 99)


async def test_a_post_is_a_message_that_orders_the_inbox_and_counts_unread(
    fo: Fanout, inbox: Inbox
) -> None:
    posts = posts_of(fo)
    await fo.graph.follow("bob", "alice")
    await fo.graph.follow("carol", "alice")
    to_bob = await fo.direct.create("alice", ["bob"])
    to_carol = await fo.direct.create("alice", ["carol"])
    await fo.direct.send_text("alice", to_bob.thread_id, "hi bob")
    await fo.direct.send_text("alice", to_carol.thread_id, "hi carol")
    await fo.user_online("bob")
    inbox.events.clear()

    post = await posts.publish(photo("alice", to_bob.thread_id))

    [message, text] = (await fo.store.page_messages(to_bob.thread_id, "", 10)).items
    assert message == Message(
        post.seq, to_bob.thread_id, "alice", "post", sent_at=post.sent_at, post_id=post.post_id
    )
    assert text.text == "hi bob"
    assert await fo.store.get_post(post.post_id) == post
    assert [p.post_id for p in (await fo.store.page_posts(to_bob.thread_id, "", 10)).items] == [
        post.post_id
    ]
    alice_box = (await fo.store.page_box("alice", "inbox", "", 10)).items
    assert [(e.thread_id, e.last_seq) for e in alice_box] == [
        (to_bob.thread_id, post.seq),
        (to_carol.thread_id, alice_box[1].last_seq),
    ]
    assert [
        (e.thread_id, e.unread) for e in (await fo.store.page_box("bob", "inbox", "", 10)).items
    ] == [(to_bob.thread_id, 2)]
    new, announced = inbox.events["bob"]
    assert new["type"] == "message.new"
    assert new["message"] == {
        "id": str(post.seq),
        "thread_id": to_bob.thread_id,
        "from": "alice",
        "kind": "post",
        "sent_at": post.sent_at,
        "post_id": post.post_id,
        "post": {
            "post_id": post.post_id,
            "thread_id": to_bob.thread_id,
            "from": "alice",
            "kind": "photo",
            "sent_at": post.sent_at,
            "caption": "look",
            "likes": 0,
            "comments": 0,
            "media": {
                "url": f"/api/posts/{post.post_id}/media",
                "mime_type": "image/png",
                "size": 99,
                "width": 0,
                "height": 0,
                "duration": 0.0,
            },
        },
    }
    assert (announced["type"], announced["post"]) == ("post.new", new["message"]["post"])


async def test_a_post_to_a_stranger_waits_in_requests_without_unread(
    fo: Fanout, inbox: Inbox
) -> None:
    posts = posts_of(fo)
    thread = await fo.direct.create("alice", ["bob"])
    await fo.user_online("bob")
    post = await posts.publish(photo("alice", thread.thread_id))
    assert (await fo.store.page_box("bob", "inbox", "", 10)).items == ()
    [entry] = (await fo.store.page_box("bob", "requests", "", 10)).items
    assert (entry.thread_id, entry.last_seq, entry.unread) == (thread.thread_id, post.seq, 0)
    assert inbox.events["bob"] == [
        {"type": "request.new", "thread_id": thread.thread_id, "from": "alice"}
    ]
    [message] = (await fo.store.page_messages(thread.thread_id, "", 10)).items
    assert (message.kind, message.post_id) == ("post", post.post_id)
    await fo.direct.accept("bob", thread.thread_id)
    assert [e.unread for e in (await fo.store.page_box("bob", "inbox", "", 10)).items] == [0]


async def test_messages_written_before_posts_existed_still_read(redis_proc: RedisServer) -> None:
    """A message record of the old six-field layout reads as before."""
    store = RedisStore(redis_proc.url)
    try:
        await store.redis.flushdb()
        await store.redis.zadd(
            k.thread("t1", "msgs"), {k.pack([7, "al", "text", "old", "", 1.5]): 7}
        )
        [old] = (await store.page_messages("t1", "", 10)).items
        assert old == Message(7, "t1", "al", "text", "old", "", 1.5)
    finally:
        await store.close()
