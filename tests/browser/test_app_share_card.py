"""A reshared live's card names its host and keeps its viewer count current (within 2 s of
the server's count), then reads as over when the host ends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser

from tests.browser.app_client import PHONE, Person, aiortc_live, api, people
from tests.browser.page_checks import axe_violations
from tests.media.peers import Viewer
from tests.server import RunningServer, running_server, server_config


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with running_server(server_config(tmp_path, dev=True)) as running:
        yield running


async def server_count(server: RunningServer, live_id: str, count: int) -> None:
    async def reached() -> bool:
        status, live = await server.api("bob", "GET", f"/api/lives/{live_id}")
        return status == 200 and live["viewer_count"] == count

    deadline = time.monotonic() + 15
    while not await reached():
        assert time.monotonic() < deadline, f"the server never counted {count} viewers"
        await asyncio.sleep(0.1)


async def card_count(bob: Person, live_id: str, text: str) -> None:
    """The card shows ``text`` within 2 s."""
    await bob.page.locator(
        f".share-card[data-live-id='{live_id}'] [data-testid=share-count]", has_text=text
    ).wait_for(timeout=2_000)


async def test_reshare_card_names_the_host_and_follows_the_count(
    browser: Browser, server: RunningServer
) -> None:
    for user in ("noah", "carol"):
        await api(server, user, "GET", "/api/me")
    await api(server, "alice", "POST", "/api/users/noah/follow")
    await api(server, "bob", "POST", "/api/users/alice/follow")
    async with people(browser, server, "bob", viewport=PHONE) as (bob,):
        async with aiortc_live(server, "noah") as live_id:
            await api(server, "noah", "POST", f"/api/lives/{live_id}/share", {"users": ["alice"]})
            answer = await api(
                server, "alice", "POST", f"/api/lives/{live_id}/share", {"users": ["bob"]}
            )
            # A live sent directly shows in the inbox's "Live now" too.
            await bob.page.locator(
                f"[data-testid=live-shares] li[data-live-id='{live_id}']"
            ).wait_for()
            await bob.goto(f"#/thread/{answer['thread_ids'][0]}")
            card = bob.page.locator(f".share-card[data-live-id='{live_id}']")
            await card.get_by_test_id("share-host").filter(has_text="noah").wait_for()
            assert "alice shared noah's live video" in (await card.text_content() or "")
            await card_count(bob, live_id, "0 watching")
            assert await card.get_by_test_id("watch-share").count() == 1

            carol = Viewer(audio=False)
            try:

                async def carol_watches(sdp: str) -> str:
                    _, answer = await server.whep("carol", live_id, sdp)
                    return answer

                await carol.watch(carol_watches)
                await server_count(server, live_id, 1)
                await card_count(bob, live_id, "1 watching")
                assert await axe_violations(bob) == []
                await bob.screenshot("app-thread-share-card-phone.png")
            finally:
                await carol.close()
            await server_count(server, live_id, 0)
            await card_count(bob, live_id, "0 watching")
        # the live ends as noah leaves
        await card.get_by_test_id("video-over").wait_for()
