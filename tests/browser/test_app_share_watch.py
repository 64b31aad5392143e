"""The web app in real Chromium: go live, share to a friend, watch from the inbox, the end."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser

from tests.browser.app_client import Person, api, people
from tests.server import RunningServer, running_server, server_config


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with running_server(server_config(tmp_path, dev=True)) as running:
        yield running


async def go_live(host: Person) -> str:
    await host.goto("#/live")
    await host.until(
        "() => { const d = window.directliveApp.debug.golive;"
        " return d && d.tiles.length && d.tiles[0].videoWidth > 0; }"
    )
    await host.page.get_by_test_id("go-live").click()
    live_id: str = await host.until(
        "() => { const d = window.directliveApp.debug.golive;"
        " return d && d.status === 'live' && d.liveId; }"
    )
    await host.until(
        "() => { const p = window.directliveApp.debug.golive.publisher;"
        " return p && p.framesEncoded > 0; }"
    )
    return live_id


async def share_to(host: Person, user: str) -> None:
    await host.page.get_by_test_id("share").click()
    picker = host.page.get_by_test_id("share-picker")
    await picker.locator(f"input[name=user][value={user}]").check()
    await picker.get_by_role("button", name="Send").click()
    await picker.wait_for(state="detached")


async def comment(person: Person, text: str) -> None:
    await person.page.locator(".comments-panel input[name=comment]").fill(text)
    await person.page.locator(".comments-panel button[type=submit]").click()
    await person.page.locator("[data-testid=comments] li", has_text=text).wait_for()


async def plays(viewer: Person, tiles: int = 1) -> None:
    """Every tile has video and frames keep being decoded (getStats)."""
    expression = (
        "(n) => { const d = window.directliveApp.debug.watch; return d && d.stats"
        " && d.tiles.filter((t) => !t.local && t.videoWidth > 0).length >= n"
        " && d.stats.framesDecoded > 0 && d.stats.framesDecoded; }"
    )
    first = await viewer.until(expression, tiles, timeout=15)
    await viewer.until(
        "([n, f]) => { const d = window.directliveApp.debug.watch;"
        " return d.stats && d.stats.framesDecoded >= f + 10; }",
        [tiles, first],
    )


async def test_go_live_share_watch_and_end(browser: Browser, server: RunningServer) -> None:
    await api(server, "alice", "GET", "/api/me")
    await api(server, "bob", "POST", "/api/users/alice/follow")
    async with people(browser, server, "alice", "bob") as (alice, bob):
        live_id = await go_live(alice)
        await share_to(alice, "bob")

        # Bob's inbox updates by itself: the thread with Alice, then its share.
        row = bob.page.locator("[data-testid=threads] .thread-row", has_text="alice")
        await row.wait_for()
        await row.locator("a").click()
        watch = bob.page.locator(f".share-card[data-live-id='{live_id}'] [data-testid=watch-share]")
        await watch.click()
        await plays(bob)
        watching = await bob.debug("watch")
        tile = watching["tiles"][0]
        assert tile["user"] == "alice"
        assert not tile["muted"], "the live plays with sound"
        assert watching["stats"]["audioPackets"] > 0, watching

        await alice.until(
            "() => document.querySelector('[data-testid=viewer-count]').textContent"
            " === '1 watching'"
        )
        await comment(bob, "Hi Alice! <b>not bold</b>")
        await alice.page.locator(
            "[data-testid=comments] li", has_text="Hi Alice! <b>not bold</b>"
        ).wait_for()
        await bob.screenshot("app-watch.png")
        await alice.screenshot("app-go-live.png")

        # Back in the thread, Bob sees the live end within a second of Alice's End.
        await bob.page.get_by_test_id("leave").click()
        card = bob.page.locator(f".share-card[data-live-id='{live_id}']")
        await card.get_by_test_id("watch-share").wait_for()
        ended_at = time.monotonic()
        await alice.page.get_by_test_id("end-live").click()
        await card.get_by_test_id("video-over").wait_for(timeout=1_000)
        print(f"the thread showed the end {1000 * (time.monotonic() - ended_at):.0f} ms after End")
        await alice.until("() => window.directliveApp.debug.golive.status === 'ended'")
