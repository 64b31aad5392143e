"""A photo sent as a direct post shows in the thread, fetched with the viewer's token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser

from tests.browser.app_client import people
from tests.recorder.media_files import png_bytes
from tests.server import RunningServer, running_server, server_config


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with running_server(server_config(tmp_path, dev=True)) as running:
        yield running


async def test_a_photo_post_shows_in_the_thread(browser: Browser, server: RunningServer) -> None:
    for user in ("alice", "bob"):
        assert (await server.api(user, "GET", "/api/me"))[0] == 200
    assert (await server.api("bob", "POST", "/api/users/alice/follow"))[0] == 200
    status, thread = await server.api("alice", "POST", "/api/threads", {"members": ["bob"]})
    assert status == 201
    headers = {**server.auth("alice"), "Content-Type": "image/png"}
    url = f"{server.url}/api/threads/{thread['thread_id']}/posts?caption=sunset"
    async with server.http.post(url, data=png_bytes(64, 48), headers=headers) as r:
        assert r.status == 201, await r.text()

    async with people(browser, server, "bob") as [bob]:
        await bob.goto(f"#/thread/{thread['thread_id']}")
        card = bob.page.locator(".post-card")
        await card.wait_for()
        text = await card.inner_text()
        assert "alice sent a photo" in text
        assert "sunset" in text
        await bob.page.get_by_test_id("show-post").click()
        width = await bob.until(
            "() => { const i = document.querySelector('.post-media img');"
            " return i && i.complete && i.naturalWidth; }"
        )
        assert width == 64
