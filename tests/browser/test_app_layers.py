"""A Chromium viewer that caps its layer (WHEP ``?max_layer=0``) receives the lowest layer of
an aiortc publisher's three; one without a cap receives the top."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser

from benchmarks.layered_media import encode_layers, layer_tracks
from signaling.appkeys import STREAMER
from tests.browser.app_client import Person, people
from tests.media.layered import publish_layers
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


async def test_a_capped_chromium_viewer_gets_the_lowest_layer(
    browser: Browser, server: RunningServer
) -> None:
    live_ids: list[str] = []

    async def go_live(sdp: str) -> str:
        live_id, answer = await server.whip("alice", sdp)
        live_ids.append(live_id)
        return answer

    publisher = await publish_layers(layer_tracks(encode_layers(seconds=2.0)), go_live)
    try:
        async with people(browser, server, "bob") as (bob,):
            media = server.app[STREAMER].get(live_ids[0])
            layers = media.publishers["alice"].layer_sets[0]
            await wait_for(lambda: all(s.has_keyframe for s in layers.sources), 10, "keyframes")
            token = server.tokens.mint("bob")
            await bob.evaluate(WATCH, [live_ids[0], token, "?max_layer=0"], timeout=30)
            assert await video_width(bob, "?max_layer=0") == 160
            await bob.evaluate(WATCH, [live_ids[0], token, ""], timeout=30)
            assert await video_width(bob, "") == 640
    finally:
        await publisher.close()
