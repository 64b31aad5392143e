"""Who may not watch, in words: a private host's live reshared to a stranger, and a live that
came as a message request (locked until accepted, then it plays)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser

from signaling.appkeys import STREAMER
from tests.browser.app_client import aiortc_live, api, people
from tests.browser.test_app_share_watch import plays
from tests.server import RunningServer, running_server, server_config

PRIVATE = "This account is private: only people it approved as followers can watch its lives."
PENDING = "This came as a message request. Accept the request to watch the live."


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with running_server(server_config(tmp_path, dev=True)) as running:
        yield running


async def test_private_live_reshared_to_a_stranger_is_refused(
    browser: Browser, server: RunningServer
) -> None:
    for user in ("dora", "bob", "carol"):
        await api(server, user, "GET", "/api/me")
    await api(server, "dora", "PATCH", "/api/me/settings", {"private": True})
    assert (await api(server, "bob", "POST", "/api/users/dora/follow"))["status"] == "requested"
    await api(server, "dora", "POST", "/api/follow-requests/bob/approve")
    await api(server, "carol", "POST", "/api/users/bob/follow")
    async with aiortc_live(server, "dora") as live_id, people(browser, server, "carol") as (carol,):
        await api(server, "dora", "POST", f"/api/lives/{live_id}/share", {"users": ["bob"]})
        await api(server, "bob", "POST", f"/api/lives/{live_id}/share", {"users": ["carol"]})

        row = carol.page.locator("[data-testid=threads] .thread-row", has_text="bob")
        thread_id = await row.get_attribute("data-thread-id")
        await row.locator("a").click()
        # The card names the host and offers no Watch that would be refused...
        card = carol.page.locator(f".share-card[data-live-id='{live_id}']")
        await card.get_by_test_id("share-private").wait_for()
        assert await card.get_by_test_id("share-private").text_content() == PRIVATE
        assert await card.get_by_test_id("share-host").text_content() == "dora"
        assert "bob shared dora's live video" in (await card.text_content() or "")
        assert await card.get_by_test_id("watch-share").count() == 0
        # ...and by address, the watch is refused in words.
        await carol.goto(f"#/watch/{live_id}?thread={thread_id}")
        banner = carol.page.get_by_test_id("watch-banner")
        await banner.wait_for()
        assert await banner.text_content() == PRIVATE
        watch = await carol.debug("watch")
        assert watch["state"] == "refused"
        assert watch["refusal"] == "private_account"
        assert watch["tiles"] == []
        assert "carol" not in server.app[STREAMER].get(live_id).viewer_users()
        stats = await carol.until("() => window.directliveApp.debug.watch.stats")
        assert stats["bytesReceived"] == 0, stats
        await carol.screenshot("app-watch-refused.png")


async def test_message_request_locks_the_live_until_accepted(
    browser: Browser, server: RunningServer
) -> None:
    await api(server, "eve", "GET", "/api/me")
    async with aiortc_live(server, "eve") as live_id, people(browser, server, "bob") as (bob,):
        # The share comes while Bob's socket is down: once it reconnects, the app refetches.
        await bob.until("() => document.getElementById('dl-requests').dataset.count === '0'")
        await bob.evaluate("() => window.directliveApp.socket.ws.close()")
        await bob.until("() => window.directliveApp.socket.status === 'reconnecting'")
        await api(server, "eve", "POST", f"/api/lives/{live_id}/share", {"users": ["bob"]})
        await bob.until("() => document.getElementById('dl-requests').textContent === '1'")
        assert await bob.evaluate("() => window.directliveApp.socket.status") == "open"

        await bob.goto("#/requests")
        row = bob.page.locator("[data-testid=requests] .thread-row", has_text="eve")
        thread_id = await row.get_attribute("data-thread-id")
        await row.locator("a.thread-link").click()
        card = bob.page.locator(f".share-card[data-live-id='{live_id}']")
        assert await card.get_by_test_id("share-locked").text_content() == PENDING
        assert await card.get_by_test_id("watch-share").count() == 0

        # Even by address, the request's live is refused until accepted.
        await bob.goto(f"#/watch/{live_id}?thread={thread_id}")
        banner = bob.page.get_by_test_id("watch-banner")
        await banner.wait_for()
        assert await banner.text_content() == PENDING
        assert "bob" not in server.app[STREAMER].get(live_id).viewer_users()

        await bob.goto(f"#/thread/{thread_id}")
        await bob.page.get_by_test_id("request-bar").get_by_role("button", name="Accept").click()
        await card.get_by_test_id("watch-share").click()
        await plays(bob)

        ended_at = time.monotonic()
        async with server.http.delete(
            f"{server.url}/whip/{live_id}", headers=server.auth("eve")
        ) as response:
            assert response.status == 200
        await banner.wait_for(timeout=1_000)
        assert await banner.text_content() == "The video is over."
        print(f"the watch page showed the end {1000 * (time.monotonic() - ended_at):.0f} ms after")
