"""The camera and microphone go off whenever the page that needs them is left or the live
ends: every MediaStreamTrack the page opened (getUserMedia is watched from an init script)
ends after End, after leaving Go live without going live, and after navigating away while
live (which ends the live: its viewers see it is over)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser

from tests.browser.app_client import PHONE, Person, api, people
from tests.browser.test_app_share_watch import go_live, plays, share_to
from tests.server import RunningServer, running_server, server_config

WATCH_TRACKS = """
window.__openedTracks = [];
if (navigator.mediaDevices) {
  const open = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (constraints) => {
    const stream = await open(constraints);
    window.__openedTracks.push(...stream.getTracks());
    return stream;
  };
}
"""


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with running_server(server_config(tmp_path, dev=True)) as running:
        yield running


async def all_tracks_ended(person: Person, at_least: int) -> None:
    await person.until(
        "(n) => window.__openedTracks.length >= n"
        " && window.__openedTracks.every((t) => t.readyState === 'ended')",
        at_least,
    )


async def live_tracks(person: Person) -> int:
    count: int = await person.evaluate(
        "() => window.__openedTracks.filter((t) => t.readyState === 'live').length"
    )
    return count


async def test_camera_goes_off(browser: Browser, server: RunningServer) -> None:
    await api(server, "alice", "GET", "/api/me")
    await api(server, "bob", "POST", "/api/users/alice/follow")
    async with people(
        browser, server, "alice", "bob", viewport=PHONE, init_script=WATCH_TRACKS
    ) as (alice, bob):
        # Leaving Go live without going live.
        await alice.goto("#/live")
        await alice.until(
            "() => { const d = window.directliveApp.debug.golive;"
            " return d && d.tiles.length && d.tiles[0].videoWidth > 0; }"
        )
        assert await live_tracks(alice) == 2  # camera and microphone
        await alice.goto("#/inbox")
        await all_tracks_ended(alice, 2)

        # Ending a recorded live (the microphone muted on the way: its track is silenced, not
        # ended); the end screen plays the recording back.
        await alice.goto("#/live")
        await alice.page.get_by_test_id("record").check()
        await go_live(alice)
        assert await live_tracks(alice) == 2
        await alice.page.get_by_test_id("mic").click()
        assert await alice.page.get_by_test_id("mic").get_attribute("aria-pressed") == "true"
        assert await alice.evaluate(
            "() => window.__openedTracks.filter((t) => t.kind === 'audio'"
            " && t.readyState === 'live').map((t) => t.enabled)"
        ) == [False]
        await alice.page.get_by_test_id("end-live").click()
        await alice.page.get_by_test_id("end-summary").wait_for()
        await all_tracks_ended(alice, 4)
        duration = await alice.until(
            "() => { const v = document.querySelector('[data-testid=recording] video');"
            " return v && v.readyState >= 1 && v.duration; }",
            timeout=20,
        )
        assert duration > 0
        await alice.screenshot("app-host-recording-phone.png")

        # Navigating away while live ends the live, and its viewer is told.
        await alice.goto("#/inbox")
        live_id = await go_live(alice)
        await share_to(alice, "bob")
        await bob.goto(f"#/watch/{live_id}")
        await plays(bob)
        assert await live_tracks(alice) == 2
        await alice.goto("#/inbox")
        await all_tracks_ended(alice, 6)
        banner = bob.page.get_by_test_id("watch-banner")
        await banner.wait_for()
        assert await banner.text_content() == "The video is over."
        status, live = await server.api("alice", "GET", f"/api/lives/{live_id}")
        assert status == 200
        assert live["state"] == "ended"
        assert await bob.evaluate("() => window.__openedTracks.length") == 0


REFUSE_CAMERA = """
navigator.mediaDevices.getUserMedia = async () => {
  throw new DOMException('Permission denied', 'NotAllowedError');
};
"""
DENIED = "Camera and microphone access was refused. Allow it in the browser to go live."


async def test_camera_refused_is_said_once(browser: Browser, server: RunningServer) -> None:
    async with people(browser, server, "alice", viewport=PHONE, init_script=REFUSE_CAMERA) as (
        alice,
    ):
        await alice.goto("#/live")
        await alice.page.locator(".live-note", has_text=DENIED).wait_for()
        assert await alice.page.get_by_test_id("go-live").is_disabled()
        page_text = await alice.page.locator("body").inner_text()
        assert page_text.count(DENIED) == 1, page_text
