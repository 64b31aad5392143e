"""Follows, requests, blocks, lists: the social graph on both stores."""

from __future__ import annotations

import pytest

from directlive.errors import BadRequest, Forbidden, NotFound
from fanout import Fanout
from tests.fanout.conftest import Inbox


async def followers(fo: Fanout, owner: str, viewer: str | None = None) -> list[str]:
    page = await fo.graph.page(viewer or owner, owner, "followers", "", 200)
    return list(page.items)


async def test_public_follow_is_immediate_and_unfollow_removes(fo: Fanout, inbox: Inbox) -> None:
    await fo.user_online("alice")
    assert await fo.graph.follow("bob", "alice") == "following"
    assert await followers(fo, "alice") == ["bob"]
    assert inbox.types("alice") == ["follow.new"]
    following = await fo.graph.page("bob", "bob", "following", "", 10)
    assert following.items == ("alice",)
    await fo.graph.unfollow("bob", "alice")
    assert await followers(fo, "alice") == []


async def test_private_follow_is_a_request_until_approved(fo: Fanout, inbox: Inbox) -> None:
    await fo.graph.update_settings("alice", private=True)
    await fo.user_online("alice")
    assert await fo.graph.follow("bob", "alice") == "requested"
    assert await fo.graph.follow("carol", "alice") == "requested"
    assert inbox.events["alice"] == [
        {"type": "follow.request", "from": "bob"},
        {"type": "follow.request", "from": "carol"},
    ]
    requests = await fo.graph.page("alice", "alice", "requests", "", 10)
    assert requests.items == ("bob", "carol")
    assert await followers(fo, "alice") == []
    await fo.graph.approve("alice", "bob")
    await fo.graph.decline("alice", "carol")
    assert await followers(fo, "alice") == ["bob"]
    assert (await fo.graph.page("alice", "alice", "requests", "", 10)).items == ()
    with pytest.raises(NotFound) as err:
        await fo.graph.approve("alice", "carol")
    assert err.value.code == "request_not_found"


async def test_going_public_approves_pending_requests(fo: Fanout) -> None:
    await fo.graph.update_settings("alice", private=True)
    await fo.graph.follow("bob", "alice")
    await fo.graph.update_settings("alice", private=False)
    assert await followers(fo, "alice") == ["bob"]


async def test_private_lists_visible_to_followers_only(fo: Fanout) -> None:
    await fo.graph.update_settings("alice", private=True)
    with pytest.raises(Forbidden) as err:
        await fo.graph.page("bob", "alice", "followers", "", 10)
    assert err.value.code == "private_account"


async def test_remove_follower(fo: Fanout) -> None:
    await fo.graph.follow("bob", "alice")
    await fo.graph.remove_follower("alice", "bob")
    assert await followers(fo, "alice") == []
    with pytest.raises(NotFound) as err:
        await fo.graph.remove_follower("alice", "bob")
    assert err.value.code == "follower_not_found"


async def test_block_cuts_follows_both_ways_and_hides(fo: Fanout) -> None:
    await fo.graph.follow("bob", "alice")
    await fo.graph.follow("alice", "bob")
    await fo.graph.follow("carol", "alice")
    await fo.graph.block("alice", "bob")
    assert await followers(fo, "alice") == ["carol"]
    assert await followers(fo, "bob") == []
    for viewer, target in (("bob", "alice"), ("alice", "bob")):
        with pytest.raises(NotFound) as err:
            await fo.graph.follow(viewer, target)
        assert err.value.code == "user_not_found"
    await fo.graph.follow("bob", "carol")
    assert await followers(fo, "carol", viewer="alice") == []
    await fo.graph.unblock("alice", "bob")
    assert await fo.graph.follow("bob", "alice") == "following"


async def test_pagination_walks_every_follower_once(fo: Fanout) -> None:
    names = [f"u{i:03d}" for i in range(25)]
    await fo.store.import_followers("alice", names)
    seen: list[str] = []
    cursor = ""
    while True:
        page = await fo.graph.page("alice", "alice", "followers", cursor, 7)
        seen.extend(page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == names


async def test_bad_graph_input(fo: Fanout) -> None:
    with pytest.raises(NotFound) as err:
        await fo.graph.follow("alice", "nobody")
    assert err.value.code == "user_not_found"
    with pytest.raises(BadRequest) as bad:
        await fo.graph.follow("alice", "alice")
    assert bad.value.code == "self_follow"
    assert await followers(fo, "alice") == []
