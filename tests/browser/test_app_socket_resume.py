"""The web app's socket drops and comes back (a network blip, or a balancer that sends the new
socket to another node): the page is in its live's room again, both ways."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser

from tests.browser.app_client import Person, api, people
from tests.browser.test_app_share_watch import comment, go_live, plays
from tests.server import RunningServer, running_server, server_config


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with running_server(server_config(tmp_path, dev=True)) as running:
        yield running


async def drop_socket(person: Person) -> None:
    """Close the app's socket as a network would; it reconnects by itself."""
    await person.page.evaluate("() => window.directliveApp.socket.ws.close()")
    await person.until("() => window.directliveApp.socket.status === 'reconnecting'")
    await person.until("() => window.directliveApp.socket.status === 'open'", timeout=15)


async def sees(person: Person, text: str) -> None:
    await person.page.locator("[data-testid=comments] li", has_text=text).wait_for()


async def test_a_reconnected_socket_is_in_the_room_again(
    browser: Browser, server: RunningServer
) -> None:
    await api(server, "alice", "GET", "/api/me")
    async with people(browser, server, "alice", "bob") as (alice, bob):
        live_id = await go_live(alice)
        await bob.goto(f"#/watch/{live_id}")
        await plays(bob)

        for dropped, other in ((bob, alice), (alice, bob)):
            await drop_socket(dropped)
            # The first may come back through the page's re-read of recent comments; once it
            # showed, that re-read is over, so the second can only come as a room event.
            await comment(other, f"one after {dropped.user}'s reconnection")
            await sees(dropped, f"one after {dropped.user}'s reconnection")
            await comment(other, f"two after {dropped.user}'s reconnection")
            await sees(dropped, f"two after {dropped.user}'s reconnection")
