"""Direct threads, inbox, unread counts and message requests, on both stores."""

from __future__ import annotations

import pytest

from directlive.errors import BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge
from fanout import Fanout
from fanout.models import DECLINED, INBOX, REQUEST, BoxEntry
from tests.fanout.conftest import Inbox


async def box(fo: Fanout, user: str, which: str = "inbox") -> list[BoxEntry]:
    page = await fo.store.page_box(user, "inbox" if which == "inbox" else "requests", "", 50)
    return list(page.items)


async def test_dm_is_reused_and_inbox_orders_by_last_activity(fo: Fanout) -> None:
    await fo.graph.follow("bob", "alice")
    await fo.graph.follow("carol", "alice")
    to_bob = await fo.direct.create("alice", ["bob"])
    to_carol = await fo.direct.create("alice", ["carol"])
    assert (await fo.direct.create("bob", ["alice"])).thread_id == to_bob.thread_id
    await fo.direct.send_text("alice", to_bob.thread_id, "hi bob")
    await fo.direct.send_text("alice", to_carol.thread_id, "hi carol")
    await fo.direct.send_text("alice", to_bob.thread_id, "again")
    assert [e.thread_id for e in await box(fo, "alice")] == [to_bob.thread_id, to_carol.thread_id]
    assert [(e.thread_id, e.unread) for e in await box(fo, "bob")] == [(to_bob.thread_id, 2)]
    await fo.direct.mark_read("bob", to_bob.thread_id)
    assert [e.unread for e in await box(fo, "bob")] == [0]
    page = await fo.store.page_messages(to_bob.thread_id, "", 1)
    assert [m.text for m in page.items] == ["again"]
    assert page.next_cursor is not None
    rest = await fo.store.page_messages(to_bob.thread_id, page.next_cursor, 10)
    assert [m.text for m in rest.items] == ["hi bob"]
    assert rest.next_cursor is None


async def test_stranger_lands_in_requests_without_unread(fo: Fanout, inbox: Inbox) -> None:
    await fo.user_online("bob")
    thread = await fo.direct.create("alice", ["bob"])
    await fo.direct.send_text("alice", thread.thread_id, "hello stranger")
    assert await box(fo, "bob") == []
    [entry] = await box(fo, "bob", "requests")
    assert (entry.thread_id, entry.unread) == (thread.thread_id, 0)
    assert inbox.events["bob"] == [
        {"type": "request.new", "thread_id": thread.thread_id, "from": "alice"}
    ]
    await fo.direct.accept("bob", thread.thread_id)
    assert await box(fo, "bob", "requests") == []
    assert [e.thread_id for e in await box(fo, "bob")] == [thread.thread_id]
    assert (await fo.store.relation("bob", "alice")).allowed
    await fo.direct.send_text("alice", thread.thread_id, "thanks")
    assert inbox.types("bob")[-1] == "message.new"
    assert [e.unread for e in await box(fo, "bob")] == [1]


async def test_decline_hides_the_request_and_sender_is_not_told(fo: Fanout) -> None:
    thread = await fo.direct.create("alice", ["bob"])
    await fo.direct.send_text("alice", thread.thread_id, "psst")
    await fo.direct.decline("bob", thread.thread_id)
    assert await box(fo, "bob", "requests") == []
    await fo.direct.send_text("alice", thread.thread_id, "still there?")
    assert await box(fo, "bob", "requests") == []
    assert await box(fo, "bob") == []
    stored = await fo.direct.thread(thread.thread_id)
    assert stored.members == {"alice": INBOX, "bob": DECLINED}
    with pytest.raises(Forbidden):
        await fo.direct.readable("bob", thread.thread_id)


async def test_follower_reaches_inbox_directly(fo: Fanout) -> None:
    await fo.graph.follow("bob", "alice")
    thread = await fo.direct.create("alice", ["bob", "carol"], name="crew")
    assert thread.kind == "group"
    assert thread.members == {"alice": INBOX, "bob": INBOX, "carol": REQUEST}


async def test_group_limit_and_membership(fo: Fanout) -> None:
    group = await fo.direct.create("alice", ["bob", "carol"], name="g")
    with pytest.raises(Conflict) as full:
        await fo.direct.add_members("alice", group.thread_id, ["dave", "erin"])
    assert full.value.code == "group_full"
    assert set((await fo.direct.thread(group.thread_id)).members) == {"alice", "bob", "carol"}
    await fo.direct.add_members("alice", group.thread_id, ["dave"])
    with pytest.raises(Conflict) as dup:
        await fo.direct.add_members("alice", group.thread_id, ["dave"])
    assert dup.value.code == "already_member"
    with pytest.raises(Forbidden) as admin:
        await fo.direct.remove_member("dave", group.thread_id, "bob")
    assert admin.value.code == "not_admin"
    await fo.direct.remove_member("alice", group.thread_id, "bob")
    await fo.direct.remove_member("carol", group.thread_id, "carol")
    assert set((await fo.direct.thread(group.thread_id)).members) == {"alice", "dave"}
    with pytest.raises(Conflict) as too_big:
        await fo.direct.create("alice", ["bob", "carol", "dave", "erin"], name="big")
    assert too_big.value.code == "group_full"


async def test_bad_input_writes_nothing(fo: Fanout) -> None:
    thread = await fo.direct.create("alice", ["bob"])
    with pytest.raises(PayloadTooLarge) as long:
        await fo.direct.send_text("alice", thread.thread_id, "x" * 51)
    assert long.value.code == "text_too_long"
    with pytest.raises(BadRequest) as empty:
        await fo.direct.send_text("alice", thread.thread_id, "  ")
    assert empty.value.code == "empty_text"
    with pytest.raises(NotFound) as no_thread:
        await fo.direct.send_text("alice", "t_nope", "hi")
    assert no_thread.value.code == "thread_not_found"
    with pytest.raises(NotFound) as no_user:
        await fo.direct.create("alice", ["bob", "ghost"], name="g")
    assert no_user.value.code == "user_not_found"
    with pytest.raises(Forbidden) as outsider:
        await fo.direct.send_text("carol", thread.thread_id, "let me in")
    assert outsider.value.code == "not_member"
    assert (await fo.store.page_messages(thread.thread_id, "", 10)).items == ()
    assert await box(fo, "bob", "requests") == [BoxEntry(thread.thread_id, thread.created_seq, 0)]
    assert await box(fo, "carol") == []


async def test_blocked_users_cannot_message(fo: Fanout) -> None:
    thread = await fo.direct.create("alice", ["bob"])
    await fo.graph.block("bob", "alice")
    with pytest.raises(Forbidden) as err:
        await fo.direct.send_text("alice", thread.thread_id, "hey")
    assert err.value.code == "blocked"
    with pytest.raises(Forbidden):
        await fo.direct.create("alice", ["bob", "carol"], name="g")
    assert (await fo.store.page_messages(thread.thread_id, "", 10)).items == ()
