"""The web app publishes the camera as three layers (headless Chromium, fake 640x480 camera):
Chromium encodes every layer at its own size, the server takes them as one layered picture,
a Chromium viewer that caps its layer (WHEP ``?max_layer=0``) receives the lowest and one
without a cap the top."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser

from signaling.appkeys import STREAMER
from tests.browser.app_client import Person, people
from tests.browser.test_app_share_watch import go_live
from tests.media.peers import wait_for
from tests.server import RunningServer, running_server, server_config

WATCH = """
async ([liveId, token, query]) => {
  const pc = new RTCPeerConnection({ iceServers: [] });
  pc.addTransceiver("video", { direction: "recvonly" });
  const video = document.createElement("video");
  video.muted = true;
  video.autoplay = true;
  video.playsInline = true;
  video.id = "capped-" + query;
  document.body.appendChild(video);
  const remote = new MediaStream();
  video.srcObject = remote;
  pc.ontrack = (event) => remote.addTrack(event.track);
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && resolve();
  });
  const response = await fetch(`/whep/${liveId}${query}`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/sdp" },
    body: pc.localDescription.sdp,
  });
  if (response.status !== 201) throw new Error(`WHEP ${response.status} ${await response.text()}`);
  await pc.setRemoteDescription({ type: "answer", sdp: await response.text() });
  video.play().catch(() => {});
  (window.__viewers = window.__viewers || []).push(pc);
}
"""


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with running_server(server_config(tmp_path, dev=True)) as running:
        yield running


async def video_width(person: Person, query: str) -> int:
    width: int = await person.until(
        "(id) => { const v = document.getElementById(id); return v && v.videoWidth; }",
        f"capped-{query}",
        timeout=20,
    )
    return width


async def layer_widths(host: Person) -> list[int]:
    """The widths the host's three layers encode at, once each has one."""
    widths: list[int] = await host.until(
        "() => { const p = window.directliveApp.debug.golive.publisher;"
        " return p && p.layerWidths.length === 3 && p.layerWidths.every((w) => w > 0)"
        " && p.layerWidths; }",
        timeout=20,
    )
    return widths


async def test_the_app_publishes_layers_and_a_capped_viewer_gets_the_lowest(
    browser: Browser, server: RunningServer
) -> None:
    async with people(browser, server, "alice", "bob") as (alice, bob):
        live_id = await go_live(alice)
        widths = await layer_widths(alice)
        assert widths == [640, 320, 160]
        media = server.app[STREAMER].get(live_id)
        (layers,) = media.publishers["alice"].layer_sets
        assert len(layers.sources) == 3
        await wait_for(lambda: all(s.bytes_received for s in layers.sources), 15, "every layer")
        token = server.tokens.mint("bob")
        await bob.evaluate(WATCH, [live_id, token, "?max_layer=0"], timeout=30)
        assert await video_width(bob, "?max_layer=0") == 160
        await bob.evaluate(WATCH, [live_id, token, ""], timeout=30)
        assert await video_width(bob, "") == 640
