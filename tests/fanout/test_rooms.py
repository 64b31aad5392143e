"""Live-room rules on both stores: joins, guests, comments, reactions, removed viewers."""

from __future__ import annotations

import pytest

from directlive.errors import DirectliveError
from fanout import Fanout


async def code_of(awaitable: object) -> str:
    with pytest.raises(DirectliveError) as raised:
        await awaitable  # type: ignore[misc]
    return raised.value.code


async def test_join_request_accept_decline_and_invite(fo: Fanout) -> None:
    rooms = fo.rooms
    await fo.start_live("alice", "L1")
    assert await rooms.request_join("bob", "L1") == "requested"
    assert await code_of(rooms.request_join("bob", "L1")) == "already_requested"
    assert await rooms.pending_requests("alice", "L1") == ["bob"]
    assert await code_of(rooms.accept("carol", "L1", "bob")) == "not_host"
    await rooms.accept("alice", "L1", "bob")
    assert (await fo.get_live("L1")).guests == ("bob",)
    assert await rooms.pending_requests("alice", "L1") == []
    await rooms.ensure_guest("bob", "L1")
    assert await code_of(rooms.ensure_guest("carol", "L1")) == "not_guest"
    assert await code_of(rooms.request_join("bob", "L1")) == "already_guest"

    assert await rooms.request_join("carol", "L1") == "requested"
    await rooms.decline("alice", "L1", "carol")
    assert await code_of(rooms.decline("alice", "L1", "carol")) == "request_not_found"

    await rooms.invite("alice", "L1", "dave")
    assert await rooms.request_join("dave", "L1") == "accepted"
    assert (await fo.get_live("L1")).guests == ("bob", "dave")
    await rooms.remove_guest("alice", "L1", "bob")
    await rooms.remove_guest("dave", "L1", "dave")
    assert (await fo.get_live("L1")).guests == ()
    assert await code_of(rooms.remove_guest("carol", "L1", "bob")) == "not_host"


async def test_guest_limit_joins_off_blocks_and_ended_lives(fo: Fanout) -> None:
    rooms = fo.rooms
    await fo.start_live("alice", "L1")
    for guest in ("bob", "carol", "dave"):
        await rooms.invite("alice", "L1", guest)
        assert await rooms.request_join(guest, "L1") == "accepted"
    assert await code_of(rooms.request_join("erin", "L1")) == "guests_full"
    await rooms.remove_guest("alice", "L1", "dave")
    await rooms.update_settings("alice", "L1", comments=None, joins=False)
    assert await code_of(rooms.request_join("erin", "L1")) == "joins_off"
    assert (await rooms.settings("L1")).comments is True
    await fo.graph.block("alice", "erin")
    assert await code_of(rooms.request_join("erin", "L1")) == "blocked"
    assert await code_of(rooms.request_join("alice", "L1")) == "already_host"
    await fo.end_live("L1")
    assert await code_of(rooms.request_join("dave", "L1")) == "live_ended"


async def test_comments_are_numbered_trimmed_removed_and_limited(fo: Fanout) -> None:
    rooms = fo.rooms
    await fo.start_live("alice", "L1")
    posted = [await rooms.comment("bob", "L1", f"hi {n}") for n in range(5)]
    assert [c.seq for c in posted] == [1, 2, 3, 4, 5]
    assert await code_of(rooms.comment("bob", "L1", "sixth")) == "rate_limited"
    assert await code_of(rooms.comment("carol", "L1", "   ")) == "empty_text"
    assert await code_of(rooms.comment("carol", "L1", "x" * 301)) == "text_too_long"
    await rooms.remove_comment("alice", "L1", posted[1].comment_id)
    assert await code_of(rooms.remove_comment("alice", "L1", posted[1].comment_id)) == (
        "comment_not_found"
    )
    recent = await rooms.recent_comments("carol", "L1", 3)
    assert [(c.seq, c.user, c.text) for c in recent] == [
        (3, "bob", "hi 2"),
        (4, "bob", "hi 3"),
        (5, "bob", "hi 4"),
    ]
    await rooms.update_settings("alice", "L1", comments=False, joins=None)
    assert await code_of(rooms.comment("carol", "L1", "hello")) == "comments_off"
    assert (await rooms.comment("alice", "L1", "host speaks")).seq == 6
    await rooms.react("carol", "L1", "like")
    assert await code_of(rooms.react("carol", "L1", "meh")) == "bad_reaction"


async def test_a_removed_viewer_cannot_come_back(fo: Fanout) -> None:
    rooms = fo.rooms
    await fo.start_live("alice", "L1")
    await fo.authorize_watch("bob", "L1")
    assert await code_of(rooms.remove_viewer("bob", "L1", "carol")) == "not_host"
    await rooms.remove_viewer("alice", "L1", "bob")
    assert await code_of(fo.authorize_watch("bob", "L1")) == "removed_by_host"
    assert await code_of(rooms.comment("bob", "L1", "let me in")) == "removed_by_host"
    assert await code_of(rooms.request_join("bob", "L1")) == "removed_by_host"
    await fo.authorize_watch("carol", "L1")  # the ban is for bob, on this live only
    await fo.start_live("alice", "L2")
    await fo.authorize_watch("bob", "L2")


async def test_comments_of_an_ended_live_keep_its_privacy_and_blocks(fo: Fanout) -> None:
    rooms = fo.rooms
    await fo.graph.update_settings("alice", private=True)
    await fo.graph.follow("bob", "alice")
    await fo.graph.approve("alice", "bob")
    await fo.start_live("alice", "L1")
    await rooms.comment("bob", "L1", "hi")
    await fo.end_live("L1")
    assert [c.text for c in await rooms.recent_comments("bob", "L1", 10)] == ["hi"]
    assert await code_of(rooms.recent_comments("carol", "L1", 10)) == "private_account"
    await fo.graph.block("alice", "bob")
    assert await code_of(rooms.recent_comments("bob", "L1", 10)) == "blocked"
    assert await code_of(rooms.comment("alice", "L1", "late")) == "live_ended"


async def test_only_the_host_shares_to_all_followers(fo: Fanout) -> None:
    await fo.start_live("alice", "L1")
    await fo.rooms.invite("alice", "L1", "bob")
    assert await fo.rooms.request_join("bob", "L1") == "accepted"
    live = await fo.get_live("L1")
    assert await code_of(fo.sharing.share("bob", live, all_followers=True)) == "not_host"
    assert (await fo.sharing.share("alice", live, all_followers=True)).followers_share


async def test_a_group_share_does_not_reach_members_across_a_block(fo: Fanout) -> None:
    group = await fo.direct.create("alice", ["bob", "carol", "dave"], name="crew")
    for member in ("bob", "carol", "dave"):
        await fo.direct.accept(member, group.thread_id)
    await fo.graph.block("carol", "alice")  # carol blocked the sharer
    await fo.start_live("erin", "L1")
    await fo.graph.block("dave", "erin")  # dave blocked the host
    await fo.authorize_watch("alice", "L1")  # alice watches, so she may reshare
    await fo.sharing.share("alice", await fo.get_live("L1"), threads=[group.thread_id])
    assert await fo.store.has_reach("L1", "bob")
    assert not await fo.store.has_reach("L1", "carol")
    assert not await fo.store.has_reach("L1", "dave")
