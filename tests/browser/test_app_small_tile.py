"""The web app asks for the lowest layer of a picture whose tile is small: a viewer on a
narrow screen (the host's tile under 240 CSS px wide) gets the host's 160x120 layer, which
the server counts on layer 0; widened, the tile asks for any layer and the viewer climbs;
moved off-screen, it asks for the lowest again. The host's view of a guest does the same."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, ViewportSize
from playwright.async_api import TimeoutError as PlaywrightTimeout

from signaling.appkeys import STREAMER
from tests.browser.app_client import PHONE, Person, api, people
from tests.browser.test_app_share_watch import go_live, plays
from tests.media.peers import wait_for
from tests.server import RunningServer, running_server, server_config
from tests.test_layers_http import metric

NARROW: ViewportSize = {"width": 200, "height": 420}
HOST_TILE = """
() => {
  const d = window.directliveApp.debug.watch;
  const t = d && d.tiles.find((tile) => tile.user === "alice");
  return t && t.videoWidth > 0 && t;
}
"""


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with running_server(server_config(tmp_path, dev=True)) as running:
        yield running


async def host_tile_shows(
    person: Person, width: int, timeout: float, *, wider: bool = False
) -> dict[str, object]:
    """The host's tile once its video is ``width`` wide (``wider``: more than that)."""
    test = f"t.videoWidth > {width}" if wider else f"t.videoWidth === {width}"
    tile: dict[str, object] = await person.until(
        f"() => {{ const t = ({HOST_TILE})(); return t && {test} && t; }}", timeout=timeout
    )
    return tile


async def until_layer_viewers(server: RunningServer, layer: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    line = f'directlive_layer_viewers{{layer="{layer}"}}'
    while await metric(server, line) != 1:
        assert time.monotonic() < deadline, f"no viewer on layer {layer} after {timeout}s"
        await asyncio.sleep(0.2)


async def test_a_small_tile_gets_the_lowest_layer_and_the_top_once_it_grows(
    browser: Browser, server: RunningServer
) -> None:
    async with people(browser, server, "alice", "bob") as (alice, bob):
        live_id = await go_live(alice)
        (layers,) = server.app[STREAMER].get(live_id).publishers["alice"].layer_sets
        await wait_for(lambda: all(s.has_keyframe for s in layers.sources), 15, "every layer")

        await bob.page.set_viewport_size(NARROW)
        await bob.goto(f"#/watch/{live_id}")
        assert await bob.evaluate("() => document.hidden") is False  # no page-wide cap
        tile = await host_tile_shows(bob, 160, timeout=20)
        assert tile["small"] is True
        width = tile["width"]
        assert isinstance(width, int | float), tile
        assert width < 240, tile
        await until_layer_viewers(server, 0, timeout=10)
        assert await metric(server, 'directlive_layer_viewers{layer="2"}') == 0

        # 390 px wide: the tile is no longer small. The viewer climbs back by probing, one
        # layer at a time; on a loaded machine a probe can fail and the next wait longer, so
        # the test asks for the first step up, and the top only if it comes.
        await bob.page.set_viewport_size(PHONE)
        tile = await host_tile_shows(bob, 160, timeout=20, wider=True)
        assert tile["small"] is False
        assert await metric(server, 'directlive_layer_viewers{layer="0"}') == 0
        with contextlib.suppress(PlaywrightTimeout):
            tile = await host_tile_shows(bob, 640, timeout=15)
        print(f"grown tile: {tile}")
        await bob.screenshot("app-small-tile-grown.png")

        # Wide but off-screen (as if scrolled away): the lowest layer again.
        await bob.evaluate(
            "() => { document.querySelector('[data-testid=tiles]').style.transform ="
            " 'translateY(300vh)'; }"
        )
        tile = await host_tile_shows(bob, 160, timeout=20)
        assert tile["small"] is True
        await until_layer_viewers(server, 0, timeout=10)


async def test_the_hosts_small_guest_tile_gets_the_guests_lowest_layer(
    browser: Browser, server: RunningServer
) -> None:
    await api(server, "alice", "GET", "/api/me")
    await api(server, "bob", "POST", "/api/users/alice/follow")
    async with people(browser, server, "alice", "bob") as (alice, bob):
        live_id = await go_live(alice)
        await bob.goto(f"#/watch/{live_id}")
        await plays(bob)
        await bob.page.get_by_test_id("request-join").click()
        request = alice.page.locator("[data-testid=join-requests] li[data-user=bob]")
        await request.get_by_test_id("accept-join").click()
        guest_tile = (
            "(w) => window.directliveApp.debug.golive.tiles"
            ".find((t) => t.user === 'bob' && t.videoWidth > 0 && t.videoWidth <= w)"
        )
        await alice.until(guest_tile, 640, timeout=20)
        media = server.app[STREAMER].get(live_id)
        await wait_for(lambda: len(media.publishers["bob"].layer_sets) == 1, 15, "bob's layers")

        await alice.page.set_viewport_size(NARROW)  # the host's view of bob: under 240 px
        tile = await alice.until(guest_tile, 160, timeout=20)
        assert (tile["videoWidth"], tile["small"]) == (160, True), tile
        await alice.page.set_viewport_size(PHONE)
        tile = await alice.until(
            "() => window.directliveApp.debug.golive.tiles"
            ".find((t) => t.user === 'bob' && t.videoWidth > 160)",
            timeout=20,
        )
        assert tile["small"] is False, tile
