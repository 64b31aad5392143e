"""Trickle ICE over HTTP (RFC 9725 4.3): offers without candidates, PATCHed candidates, and
every refusal of a PATCH, against the real server with real aiortc peers on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiortc import RTCSessionDescription

from signaling.appkeys import STREAMER
from streamer import MediaConfig
from tests.media.peers import Viewer, client_pc, wait_for
from tests.media.tracks import CounterVideoTrack, ToneAudioTrack
from tests.server import RunningServer, go_live, running_server, server_config

FRAGMENT = "application/trickle-ice-sdpfrag"


def without_candidates(sdp: str) -> str:
    """The offer a trickling client (or OBS) sends: no candidate, no end-of-candidates."""
    kept = [
        line
        for line in sdp.splitlines()
        if not line.startswith(("a=candidate:", "a=end-of-candidates"))
    ]
    return "\r\n".join(kept) + "\r\n"


def fragment_of(sdp: str) -> str:
    """The first media section's ICE credentials and candidates, as a PATCH body."""
    lines = sdp.splitlines()
    ufrag = next(line for line in lines if line.startswith("a=ice-ufrag:"))
    pwd = next(line for line in lines if line.startswith("a=ice-pwd:"))
    first_m = next(i for i, line in enumerate(lines) if line.startswith("m="))
    section: list[str] = []
    for line in lines[first_m + 1 :]:
        if line.startswith("m="):
            break
        section.append(line)
    mid = next(line for line in section if line.startswith("a=mid:"))
    candidates = [line for line in section if line.startswith("a=candidate:")]
    assert candidates, "the client gathered no candidate"
    return "\r\n".join([ufrag, pwd, lines[first_m], mid, *candidates, "a=end-of-candidates", ""])


async def post_sdp(server: RunningServer, user: str, path: str, sdp: str) -> tuple[str, str, str]:
    """POST an offer; returns (Location, ETag, answer)."""
    headers = {**server.auth(user), "Content-Type": "application/sdp"}
    async with server.http.post(server.url + path, data=sdp, headers=headers) as response:
        body = await response.text()
        assert response.status == 201, body
        assert response.headers["Accept-Patch"] == FRAGMENT
        return response.headers["Location"], response.headers["ETag"], body


async def patch(
    server: RunningServer,
    user: str,
    location: str,
    body: str,
    etag: str | None,
    content_type: str = FRAGMENT,
) -> tuple[int, str]:
    headers = {**server.auth(user), "Content-Type": content_type}
    if etag is not None:
        headers["If-Match"] = etag
    async with server.http.patch(server.url + location, data=body, headers=headers) as response:
        if response.status == 204:
            return 204, ""
        return response.status, (await response.json())["error"]["code"]


@pytest.fixture
async def inprocess(tmp_path: Path) -> AsyncIterator[RunningServer]:
    """Viewers served in the server's process, so the test can see their ICE transport."""
    config = server_config(tmp_path, media=MediaConfig(publisher_grace_seconds=0.5, workers=0))
    async with running_server(config) as running:
        yield running


async def test_whep_offer_without_candidates_connects_with_patched_ones(
    inprocess: RunningServer,
) -> None:
    server = inprocess
    live_id, publisher = await go_live(server, "alice")
    viewer = Viewer()
    try:
        await viewer.pc.setLocalDescription(await viewer.pc.createOffer())
        assert viewer.pc.localDescription is not None
        full = viewer.pc.localDescription.sdp
        bare = without_candidates(full)
        assert "a=candidate:" not in bare
        location, etag, answer = await post_sdp(server, "bob", f"/whep/{live_id}", bare)
        assert await patch(server, "bob", location, fragment_of(full), etag) == (204, "")
        session_id = location.rsplit("/", 1)[1]
        session = server.app[STREAMER].local_session(live_id, session_id)
        ice = session.pc.getTransceivers()[0].receiver.transport.transport
        client_ports = {
            c.port
            for c in viewer.pc.getTransceivers()[
                0
            ].sender.transport.transport.iceGatherer.getLocalCandidates()
        }
        await wait_for(
            lambda: any(
                c.port in client_ports and c.type == "host" for c in ice.getRemoteCandidates()
            ),
            5,
            "the trickled host candidate on the server",
        )
        await viewer.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        await wait_for(lambda: len(viewer.received.counters) >= 10, 15, "10 decoded frames")
        assert viewer.received.counters == sorted(viewer.received.counters)
    finally:
        await viewer.close()
        await publisher.close()


async def test_whip_offer_without_candidates_publishes(server: RunningServer) -> None:
    pc = client_pc()
    for track in (CounterVideoTrack(), ToneAudioTrack()):
        pc.addTransceiver(track, direction="sendonly")
    try:
        await pc.setLocalDescription(await pc.createOffer())
        assert pc.localDescription is not None
        full = pc.localDescription.sdp
        location, etag, answer = await post_sdp(server, "alice", "/whip", without_candidates(full))
        assert await patch(server, "alice", location, fragment_of(full), etag) == (204, "")
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        live_id = location.rsplit("/", 1)[1]
        media = server.app[STREAMER].get(live_id)
        await wait_for(
            lambda: any(s.has_keyframe for s, _ in media.sources()), 15, "a keyframe from the host"
        )
        assert pc.connectionState == "connected"
    finally:
        await pc.close()


async def test_patch_refusals(server: RunningServer) -> None:
    live_id, publisher = await go_live(server, "alice")
    viewer = Viewer()
    try:
        await viewer.pc.setLocalDescription(await viewer.pc.createOffer())
        assert viewer.pc.localDescription is not None
        full = viewer.pc.localDescription.sdp
        location, etag, _ = await post_sdp(server, "bob", f"/whep/{live_id}", full)
        body = fragment_of(full)
        whip = f"/whip/{live_id}"
        cases: list[tuple[str, str, str, str | None, str, tuple[int, str]]] = [
            ("bob", location, body, None, FRAGMENT, (428, "if_match_required")),
            ("bob", location, body, '"not-the-etag"', FRAGMENT, (412, "etag_mismatch")),
            ("bob", location, body, "*", FRAGMENT, (501, "ice_restart_unsupported")),
            ("bob", location, body, etag, "application/sdp", (415, "unsupported_media_type")),
            ("bob", location, "v=0\r\nnot a fragment\r\n", etag, FRAGMENT, (400, "bad_sdpfrag")),
            ("bob", location, "a=candidate:1 1 udp x\r\n", etag, FRAGMENT, (400, "bad_sdpfrag")),
            ("carol", location, body, etag, FRAGMENT, (403, "not_your_session")),
            ("bob", whip, body, etag, FRAGMENT, (403, "not_your_session")),
            ("bob", f"/whep/{live_id}/nope", body, etag, FRAGMENT, (404, "session_not_found")),
            ("bob", "/whep/nope/nope", body, etag, FRAGMENT, (404, "live_not_found")),
            ("alice", whip, body, etag, FRAGMENT, (412, "etag_mismatch")),
            ("bob", f"{whip}/alice", body, etag, FRAGMENT, (403, "not_your_session")),
            ("alice", f"{whip}/alice", body, etag, FRAGMENT, (404, "session_not_found")),
            ("bob", f"{whip}/bob", body, etag, FRAGMENT, (404, "session_not_found")),
        ]
        for user, url, fragment, tag, content_type, expected in cases:
            got = await patch(server, user, url, fragment, tag, content_type)
            assert got == expected, (user, url, tag, content_type, fragment[:20])
        assert await patch(server, "bob", location, body, etag) == (204, "")
        async with server.http.patch(server.url + location, data=body) as response:
            assert response.status == 401
    finally:
        await viewer.close()
        await publisher.close()


async def test_patch_after_connecting_changes_nothing(server: RunningServer) -> None:
    """A late PATCH (candidates already known) is accepted and harms no frame."""
    live_id, publisher = await go_live(server, "alice")
    viewer = Viewer()
    try:
        await viewer.pc.setLocalDescription(await viewer.pc.createOffer())
        assert viewer.pc.localDescription is not None
        full = viewer.pc.localDescription.sdp
        location, etag, answer = await post_sdp(server, "bob", f"/whep/{live_id}", full)
        await viewer.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        await wait_for(lambda: len(viewer.received.counters) >= 5, 15, "5 decoded frames")
        assert await patch(server, "bob", location, fragment_of(full), etag) == (204, "")
        seen = len(viewer.received.counters)
        await wait_for(lambda: len(viewer.received.counters) >= seen + 5, 15, "5 more frames")
    finally:
        await viewer.close()
        await publisher.close()
