"""Co-broadcast in the web app: a viewer asks to join, the host accepts, and a third person
watching sees both videos side by side; comments and reactions reach everyone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser

from tests.browser.app_client import PHONE, aiortc_live, api, people
from tests.browser.test_app_camera import WATCH_TRACKS, all_tracks_ended
from tests.browser.test_app_share_watch import comment, go_live, plays
from tests.server import RunningServer, running_server, server_config


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with running_server(server_config(tmp_path, dev=True)) as running:
        yield running


async def test_viewer_joins_and_everyone_sees_both(browser: Browser, server: RunningServer) -> None:
    await api(server, "alice", "GET", "/api/me")
    for user in ("bob", "carol"):
        await api(server, user, "POST", "/api/users/alice/follow")
    async with people(browser, server, "alice", "bob", "carol", init_script=WATCH_TRACKS) as (
        alice,
        bob,
        carol,
    ):
        live_id = await go_live(alice)
        await api(
            server, "alice", "POST", f"/api/lives/{live_id}/share", {"users": ["bob", "carol"]}
        )
        for viewer in (bob, carol):
            await viewer.goto(f"#/watch/{live_id}")
            await plays(viewer)

        await comment(carol, "hello from carol")
        await bob.page.locator("[data-testid=comments] li", has_text="hello from carol").wait_for()
        await bob.page.locator(".comments-panel button.like").click()
        await alice.page.locator(".float-heart").first.wait_for()

        await bob.page.get_by_test_id("request-join").click()
        request = alice.page.locator("[data-testid=join-requests] li[data-user=bob]")
        await request.get_by_test_id("accept-join").click()
        await bob.until("() => window.directliveApp.debug.watch.tiles.some((t) => t.local)")
        # One way out for a guest: "Leave the broadcast", not also the viewer's Leave.
        await bob.page.get_by_role("button", name="Leave the broadcast").wait_for()
        assert await bob.page.get_by_test_id("leave").is_hidden()

        # Carol's connection is renegotiated: Alice's tile and Bob's, both playing.
        await plays(carol, tiles=2)
        tiles = (await carol.debug("watch"))["tiles"]
        assert sorted(t["user"] for t in tiles) == ["alice", "bob"], tiles
        await carol.screenshot("app-watch-cobroadcast.png")
        # Alice sees her guest beside herself.
        await alice.until(
            "() => window.directliveApp.debug.golive.tiles"
            ".some((t) => t.user === 'bob' && t.videoWidth > 0)"
        )
        # Bob joined from the audience: he still counts (Carol watching, Bob in the broadcast).
        for person in (alice, carol):
            await person.until(
                "() => document.querySelector('[data-testid=viewer-count]').textContent"
                " === '2 watching'"
            )
        await alice.screenshot("app-go-live-cobroadcast.png")
        # The guest leaving the page turns their camera and microphone off.
        await bob.goto("#/inbox")
        await all_tracks_ended(bob, 2)
        await alice.until(
            "() => !window.directliveApp.debug.golive.tiles.some((t) => t.user === 'bob')"
        )


async def test_invited_viewer_is_offered_join(browser: Browser, server: RunningServer) -> None:
    await api(server, "alice", "GET", "/api/me")
    await api(server, "bob", "POST", "/api/users/alice/follow")
    async with (
        aiortc_live(server, "alice") as live_id,
        people(browser, server, "bob", viewport=PHONE) as (bob,),
    ):
        await bob.goto(f"#/watch/{live_id}")
        await plays(bob)
        assert await bob.page.get_by_test_id("request-join").is_visible()
        host = await server.socket("alice")
        try:
            invite = {"type": "join.invite", "live_id": live_id, "user": "bob"}
            assert (await host.request(invite))["type"] != "error"
        finally:
            await host.close()
        state = bob.page.get_by_test_id("join-state")
        await state.get_by_role("button", name="Join").wait_for()
        assert "alice invites you to join" in (await state.text_content() or "")
        assert await bob.page.get_by_test_id("request-join").is_hidden()
