"""The watch page's viewer count: a room snapshot (``GET /api/lives/{id}/room``) that answers
after a newer ``live.viewers`` event must not put the older count back. Across nodes the event
can overtake the stored count the snapshot reads (seen in tests/browser/test_app_nodes.py);
here the real snapshot is held back until the newer event is on the page."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from playwright.async_api import APIResponse, Browser, Route

from tests.browser.app_client import aiortc_live, api, people
from tests.cluster.relay_support import watch_on
from tests.server import RunningServer, running_server, server_config

SNAPSHOT_APPLIED = """
window.__roomSnapshots = 0;
const originalFetch = window.fetch;
window.fetch = async (...args) => {
  const response = await originalFetch(...args);
  if (!String(args[0]).endsWith("/room")) return response;
  const text = response.text.bind(response);
  // The app applies the snapshot in the microtasks after text(); a task runs after them.
  response.text = async () => {
    const body = await text();
    setTimeout(() => { window.__roomSnapshots += 1; }, 0);
    return body;
  };
  return response;
};
"""
COUNT = "() => document.querySelector('[data-testid=viewer-count]').textContent"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with running_server(server_config(tmp_path, dev=True)) as running:
        yield running


async def test_a_late_snapshot_does_not_undo_a_newer_count(
    browser: Browser, server: RunningServer
) -> None:
    await api(server, "alice", "GET", "/api/me")
    snapshot: asyncio.Future[APIResponse] = asyncio.get_running_loop().create_future()
    release = asyncio.Event()

    async def hold_snapshot(route: Route) -> None:
        response = await route.fetch()  # read now, while carol is the only viewer
        if not snapshot.done():
            snapshot.set_result(response)
        await release.wait()
        await route.fulfill(response=response)

    async with (
        AsyncExitStack() as stack,
        aiortc_live(server, "alice") as live_id,
        people(browser, server, "carol", init_script=SNAPSHOT_APPLIED) as (carol,),
    ):
        await carol.page.route("**/api/lives/*/room", hold_snapshot)
        await carol.goto(f"#/watch/{live_id}")
        stale = await (await asyncio.wait_for(snapshot, 15)).json()
        assert stale["viewer_count"] == 1, stale

        dave = await watch_on(server, "dave", live_id)
        stack.push_async_callback(dave.close)
        await carol.until(f"() => ({COUNT})() === '2 watching'")  # the live.viewers event
        release.set()
        await carol.until("() => window.__roomSnapshots >= 1")
        assert await carol.evaluate(COUNT) == "2 watching"
