"""``serve --dev --demo``: pick a seeded person, see their world, watch the synthetic broadcast."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser

from tests.browser.app_client import Person
from tests.browser.test_app_share_watch import plays
from tests.server import RunningServer, running_server, server_config


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with running_server(server_config(tmp_path, dev=True, demo=True)) as running:
        yield running


async def test_dev_routes_exist_only_in_dev_mode(tmp_path: Path) -> None:
    async with running_server(server_config(tmp_path)) as plain:
        response = await plain.http.post(f"{plain.url}/dev/token", json={"user": "mallory"})
        response.release()
        assert response.status == 401  # no such route: the token check answers first


async def test_demo_world_and_synthetic_broadcast(browser: Browser, server: RunningServer) -> None:
    async with server.http.post(f"{server.url}/dev/token", json={"user": "Not Valid!"}) as response:
        assert response.status == 400
        assert (await response.json())["error"]["code"] == "bad_user_id"
    context = await browser.new_context(viewport={"width": 1100, "height": 760})
    context.set_default_timeout(10_000)
    page = await context.new_page()
    alice = Person("alice", context, page)
    page.on("console", lambda m: alice.log.append(f"{m.type}: {m.text}"))
    try:
        await page.goto(f"{server.url}/")
        picker = page.get_by_test_id("user-picker")
        assert "private account" in (await picker.text_content() or "")
        await picker.locator("button[data-user=alice]").click()
        await page.locator("[data-testid=threads] .thread-row", has_text="Weekend plans").wait_for()

        async with server.http.post(f"{server.url}/dev/broadcast", json={}) as response:
            assert response.status == 201, await response.text()
            live = await response.json()
        assert live["host"] == "maya"
        card = page.locator(f"[data-testid=live-shares] li[data-live-id='{live['live_id']}']")
        await card.get_by_role("link", name="Watch").click()
        await plays(alice)
        await alice.screenshot("app-demo-watch.png")

        url = f"{server.url}/dev/broadcast/{live['live_id']}"
        async with server.http.delete(url) as response:
            assert response.status == 200
        banner = page.get_by_test_id("watch-banner")
        await banner.wait_for()
        assert await banner.text_content() == "The video is over."
    finally:
        await context.close()
        for line in alice.log:
            if not line.startswith(("debug", "log")):
                print(f"[alice] {line}")
