"""Headless Chromium in the namespace whose outgoing UDP is dropped watches through coturn
over TCP, with the ICE servers the web app gets from ``GET /api/ice-servers``."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from playwright.async_api import async_playwright

from tests.browser.conftest import CHROMIUM, CHROMIUM_FLAGS
from tests.net.conftest import CloudServer, token
from tests.net.netlab import PUBLIC

WATCH_RELAYED = r"""async ([token, liveId]) => {
  // ICE servers from the API, relay only, and trickle ICE: the offer goes out before any
  // candidate is gathered and each candidate follows in a PATCH (RFC 9725 4.3).
  const auth = { Authorization: `Bearer ${token}` };
  const listed = await fetch("/api/ice-servers", { headers: auth });
  const iceServers = (await listed.json()).ice_servers;
  const pc = new RTCPeerConnection({ iceServers, iceTransportPolicy: "relay" });
  window.relayed = { pc, candidates: [], patches: [] };
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  const pending = [];
  let session = null;
  const patch = async (body) => {
    const sent = await fetch(session.location, {
      method: "PATCH",
      headers: {
        ...auth, "Content-Type": "application/trickle-ice-sdpfrag", "If-Match": session.etag,
      },
      body,
    });
    window.relayed.patches.push(sent.status);
  };
  const flush = () => {
    if (session) for (const body of pending.splice(0)) patch(body);
  };
  pc.onicecandidate = ({ candidate }) => {
    if (!candidate) {
      pending.push("a=end-of-candidates\r\n");
    } else if (candidate.candidate) {
      window.relayed.candidates.push(candidate.candidate);
      pending.push(`a=mid:${candidate.sdpMid}\r\na=${candidate.candidate}\r\n`);
    }
    flush();
  };
  await pc.setLocalDescription(await pc.createOffer());
  const offer = pc.localDescription.sdp;
  const response = await fetch(`/whep/${encodeURIComponent(liveId)}`, {
    method: "POST",
    headers: { ...auth, "Content-Type": "application/sdp" },
    body: offer,
  });
  const answer = await response.text();
  if (response.status !== 201) throw new Error(`WHEP ${response.status}: ${answer}`);
  session = { location: response.headers.get("Location"), etag: response.headers.get("ETag") };
  flush();
  await pc.setRemoteDescription({ type: "answer", sdp: answer });
  const offered = offer.split("\r\n").filter((line) => line.startsWith("a=candidate:"));
  return { iceServers, offered };
}"""

STATS = """async () => {
  const { pc, candidates, patches } = window.relayed;
  let framesDecoded = 0;
  (await pc.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "video") framesDecoded = s.framesDecoded || 0;
  });
  return { framesDecoded, state: pc.connectionState, candidates, patches };
}"""


async def test_chromium_watches_through_turn_tcp(cloud: CloudServer) -> None:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: run scripts/system-deps.sh"
    wrapper = cloud.lab.workdir / "chromium-in-blocked"
    argv = " ".join(cloud.lab.net.exec_argv("blocked", [str(CHROMIUM)]))
    wrapper.write_text(f'#!/bin/sh\nexec {argv} "$@"\n')
    wrapper.chmod(0o755)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=wrapper, args=CHROMIUM_FLAGS, headless=True, timeout=30_000
        )
        try:
            page = await browser.new_page()
            page.set_default_timeout(20_000)
            messages: list[str] = []
            page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
            response = await page.goto(f"{cloud.base}/")
            assert response is not None
            assert response.ok
            async with asyncio.timeout(30):
                watching: dict[str, Any] = await page.evaluate(
                    WATCH_RELAYED, [token("gina"), cloud.live_id]
                )
            urls = [server["urls"] for server in watching["iceServers"]]
            assert f"turn:{PUBLIC}:3478?transport=tcp" in urls, watching
            assert watching["offered"] == [], "the offer went out before any candidate"
            stats: dict[str, Any] = await page.evaluate(STATS)
            deadline = time.monotonic() + 30
            while stats["framesDecoded"] < 30 and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                stats = await page.evaluate(STATS)
            assert stats["framesDecoded"] >= 30, stats
            assert stats["state"] == "connected", stats
            assert stats["candidates"], stats
            assert all(" typ relay " in c for c in stats["candidates"]), stats
            assert all(" udp " in c for c in stats["candidates"]), "coturn relays to us on UDP"
            assert set(stats["patches"]) == {204}, stats
            print(f"chromium relayed viewer: {stats}")
        finally:
            print("\n".join(messages))
            await browser.close()
