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
