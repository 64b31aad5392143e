"""Issue 17 items 5-7 on both stores: what is pushed, listed and documented agrees with itself."""

from __future__ import annotations

import asyncio
import functools
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from signaling.appkeys import FANOUT
from tests.media.peers import Viewer
from tests.server import RunningServer, go_live
from tests.test_whip_whep import whep_exchange


async def ok(server: RunningServer, user: str, method: str, path: str, body: object = None) -> Any:
    status, reply = await server.api(user, method, path, body)
    assert status in (200, 201), (method, path, status, reply)
    return reply


async def refused(
    server: RunningServer, user: str, method: str, path: str, body: object = None
) -> tuple[int, str]:
    status, reply = await server.api(user, method, path, body)
    return status, reply["error"]["code"]


async def eventually(probe: Callable[[], Awaitable[bool]], what: str, timeout: float = 10) -> None:
    """Poll an async condition until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    for _ in itertools.count():
        if await probe():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


async def has_shares(server: RunningServer, user: str) -> bool:
    return bool((await ok(server, user, "GET", "/api/shares"))["shares"])


async def users(server: RunningServer, *names: str) -> None:
    for name in names:
        await ok(server, name, "GET", "/api/me")


async def test_item5_the_pushed_share_message_is_the_api_message(
    any_server: RunningServer,
) -> None:
    server = any_server
    await users(server, "alice", "bob")
    await ok(server, "bob", "POST", "/api/users/alice/follow")
    await server.app[FANOUT].start_live("alice", "L1")
    bob = await server.socket("bob")
    try:
        shared = await ok(server, "alice", "POST", "/api/lives/L1/share", {"users": ["bob"]})
        [thread_id] = shared["thread_ids"]
        pushed = (await bob.next_of("message.new", thread_id=thread_id))["message"]
        listed = await ok(server, "bob", "GET", f"/api/threads/{thread_id}/messages")
        assert pushed == listed["messages"][0]
        assert isinstance(pushed, dict)
        assert pushed["live"] == {"state": "live", "viewer_count": 0}
    finally:
        await bob.close()


async def test_item6_a_block_after_a_followers_share_hides_it_from_the_feed(
    any_server: RunningServer,
) -> None:
    server = any_server
    await users(server, "alice", "bob", "carol")
    for follower in ("bob", "carol"):
        await ok(server, follower, "POST", "/api/users/alice/follow")
    await server.app[FANOUT].start_live("alice", "L1")
    await ok(server, "alice", "POST", "/api/lives/L1/share", {"all_followers": True})
    for follower in ("bob", "carol"):
        await eventually(functools.partial(has_shares, server, follower), "the share in a feed")
    await ok(server, "alice", "POST", "/api/users/bob/block")
    assert (await ok(server, "bob", "GET", "/api/shares"))["shares"] == []
    assert await refused(server, "bob", "GET", "/api/lives/L1") == (404, "live_not_found")
    await ok(server, "carol", "POST", "/api/users/alice/block")  # the other side blocking
    assert (await ok(server, "carol", "GET", "/api/shares"))["shares"] == []


async def test_item7_a_thread_with_only_myself_is_self_message(
    any_server: RunningServer,
) -> None:
    await users(any_server, "alice")
    assert await refused(any_server, "alice", "POST", "/api/threads", {"members": ["alice"]}) == (
        400,
        "self_message",
    )
    assert await refused(any_server, "alice", "POST", "/api/threads", {"members": []}) == (
        400,
        "no_members",
    )


async def test_item7_profiles(any_server: RunningServer) -> None:
    server = any_server
    await users(server, "alice", "bob", "carol", "dave")
    await ok(server, "alice", "PATCH", "/api/me/settings", {"private": True})
    await ok(server, "bob", "POST", "/api/users/alice/follow")
    await ok(server, "alice", "POST", "/api/follow-requests/bob/approve")
    await ok(server, "alice", "POST", "/api/users/bob/follow")
    await ok(server, "carol", "POST", "/api/users/alice/follow")  # a pending request
    await server.app[FANOUT].start_live("alice", "L1")

    seen_by_bob = (await ok(server, "bob", "GET", "/api/users/alice"))["user"]
    assert seen_by_bob == {
        "id": "alice",
        "private": True,
        "followers": 1,
        "following": 1,
        "i_follow": True,
        "follow_requested": False,
        "follows_me": True,
        "i_blocked": False,
        "live": {"live_id": "L1", "viewer_count": 0},
    }
    seen_by_carol = (await ok(server, "carol", "GET", "/api/users/alice"))["user"]
    assert (seen_by_carol["follow_requested"], seen_by_carol["live"]) == (True, None)

    await ok(server, "alice", "POST", "/api/users/dave/block")
    assert await refused(server, "dave", "GET", "/api/users/alice") == (404, "user_not_found")
    seen_by_blocker = (await ok(server, "alice", "GET", "/api/users/dave"))["user"]
    assert (seen_by_blocker["i_blocked"], seen_by_blocker["live"]) == (True, None)
    assert await refused(server, "bob", "GET", "/api/users/nobody") == (404, "user_not_found")
    async with server.http.get(server.url + "/api/users/alice") as response:
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "missing_token"


async def test_item7_a_private_host_share_to_a_non_follower_is_refused_at_share_time(
    any_server: RunningServer,
) -> None:
    server = any_server
    await users(server, "alice", "bob", "carol")
    await ok(server, "alice", "PATCH", "/api/me/settings", {"private": True})
    await ok(server, "carol", "POST", "/api/users/alice/follow")  # requested, not approved
    await server.app[FANOUT].start_live("alice", "L1")
    for stranger in ("bob", "carol"):
        assert await refused(
            server, "alice", "POST", "/api/lives/L1/share", {"users": [stranger]}
        ) == (403, "private_account")
        assert (await ok(server, stranger, "GET", "/api/requests"))["threads"] == []


@pytest.mark.parametrize("store_kind", ["memory"], indirect=True)
async def test_item7_viewer_count_reads_the_same_everywhere_at_once(
    any_server: RunningServer,
) -> None:
    server = any_server
    live_id, publisher = await go_live(server, "alice")
    viewers = [Viewer(audio=False), Viewer(audio=False)]
    try:
        for count, (viewer, user) in enumerate(zip(viewers, ("bob", "carol"), strict=True), 1):
            exchange, _ = whep_exchange(server, user, live_id)
            await viewer.watch(exchange)
            card = await ok(server, "bob", "GET", f"/api/lives/{live_id}")
            room = await ok(server, "bob", "GET", f"/api/lives/{live_id}/room")
            assert (card["viewer_count"], room["viewer_count"]) == (count, count)
        profile = await ok(server, "bob", "GET", "/api/users/alice")
        assert profile["user"]["live"] == {"live_id": live_id, "viewer_count": 2}
    finally:
        for viewer in viewers:
            await viewer.close()
        await publisher.close()
