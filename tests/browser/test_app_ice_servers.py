"""The web app builds its peer connections with the ICE servers of ``GET /api/ice-servers``
(TURN credentials minted for the signed-in user)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser

from signaling.ice_servers import IceServerConfig
from tests.server import RunningServer, go_live, running_server, server_config

# Nothing listens there: Chromium's attempts stay on loopback and fail quietly.
ICE = IceServerConfig(
    stun_urls=("stun:127.0.0.1:3479",),
    turn_urls=("turn:127.0.0.1:3479?transport=tcp",),
    turn_secret="app-test-secret",
)

WATCH_WITH_THE_APP = """async ([token, liveId]) => {
  const configs = [];
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = function (config) {
    configs.push(JSON.parse(JSON.stringify(config)));
    return new Native(config);
  };
  window.RTCPeerConnection.prototype = Native.prototype;
  const api = await import("/static/js/api.js");
  const media = await import("/static/js/media.js");
  api.setToken(token);
  const viewer = new media.WhepViewer(liveId, "alice", () => {});
  window.appViewer = viewer;
  await viewer.start();
  return configs;
}"""

DECODED = """async () => {
  let frames = 0;
  (await window.appViewer.pc.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "video") frames = s.framesDecoded || 0;
  });
  return frames;
}"""


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with running_server(server_config(tmp_path, ice_servers=ICE)) as running:
        yield running


async def test_the_app_hands_its_ice_servers_to_rtcpeerconnection(
    browser: Browser, server: RunningServer
) -> None:
    live_id, publisher = await go_live(server, "alice")
    context = await browser.new_context()
    try:
        page = await context.new_page()
        response = await page.goto(f"{server.url}/")
        assert response is not None
        assert response.ok
        async with asyncio.timeout(20):
            configs: list[dict[str, Any]] = await page.evaluate(
                WATCH_WITH_THE_APP, [server.tokens.mint("bob"), live_id]
            )
        assert len(configs) == 1, configs
        servers = configs[0]["iceServers"]
        assert [s["urls"] for s in servers] == [*ICE.stun_urls, *ICE.turn_urls]
        assert servers[1]["username"].endswith(":bob")
        assert servers[1]["credential"]
        frames = 0
        async with asyncio.timeout(20):
            while frames < 10:
                await asyncio.sleep(0.1)
                frames = await page.evaluate(DECODED)
        assert frames >= 10
    finally:
        await context.close()
        await publisher.close()
