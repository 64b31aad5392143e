"""Real headless Chromium publishes over WHIP and watches over WHEP, against the real server."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any, TypedDict, cast

from playwright.async_api import Page

from signaling.appkeys import STREAMER
from streamer.source import TrackSource
from tests.browser.conftest import ARTIFACTS
from tests.media.peers import Exchange, Viewer, wait_for
from tests.server import RunningServer, go_live


class Exchanged(TypedDict):
    location: str
    postedAt: float
    offerCandidates: list[str]
    answerCandidates: list[str]


class Watching(Exchanged):
    startedAt: float


class ViewerStats(TypedDict):
    videoWidth: int
    videoHeight: int
    framesDecoded: int
    audioPackets: int
    codec: str | None
    connectionState: str
    firstDecodedAt: float | None


async def evaluate(page: Page, expression: str, arg: Any = None, timeout: float = 20) -> Any:
    """``page.evaluate`` has no deadline of its own; a stuck promise must not hang the run."""
    async with asyncio.timeout(timeout):
        return await page.evaluate(expression, arg)


def _address(candidate: str) -> str:
    return candidate.split()[4]


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def check_candidates(exchanged: Exchanged) -> None:
    """The server offers loopback only; Chromium offers loopback among others (e.g. eth0)."""
    offered = [_address(c) for c in exchanged["offerCandidates"]]
    answered = [_address(c) for c in exchanged["answerCandidates"]]
    print(f"chromium offered candidates on {sorted(set(offered))}; server answered {answered}")
    assert any(_is_loopback(a) for a in offered), "Chromium gathered no loopback candidate"
    assert answered, "the server's answer carries no candidate"
    assert all(_is_loopback(a) for a in answered), answered


def video_source(server: RunningServer, live_id: str) -> TrackSource | None:
    for source, _codec in server.app[STREAMER].get(live_id).sources():
        if source.mime_type.lower().startswith("video/"):
            return source
    return None


async def end_live(server: RunningServer, host: str, live_id: str) -> None:
    if not any(live.live_id == live_id for live in server.app[STREAMER].lives()):
        return
    url = f"{server.url}/whip/{live_id}"
    async with server.http.delete(url, headers=server.auth(host)) as response:
        assert response.status == 200, await response.text()
    assert all(live.live_id != live_id for live in server.app[STREAMER].lives())


def whep_exchange(server: RunningServer, user: str, live_id: str) -> Exchange:
    async def exchange(sdp: str) -> str:
        _location, answer = await server.whep(user, live_id, sdp)
        return answer

    return exchange


async def chromium_publishes(page: Page, server: RunningServer, video_mime: str | None) -> None:
    """Chromium goes live with its fake camera and microphone; an aiortc viewer decodes it."""
    token = server.tokens.mint("alice")
    exchanged = cast(
        Exchanged,
        await evaluate(
            page, "([token, mime]) => directlive.publish(token, mime)", [token, video_mime]
        ),
    )
    live_id = exchanged["location"].rsplit("/", 1)[1]
    viewer = Viewer()
    try:
        assert exchanged["location"] == f"/whip/{live_id}"
        check_candidates(exchanged)
        await wait_for(
            lambda: (source := video_source(server, live_id)) is not None and source.has_keyframe,
            15,
            "a keyframe from Chromium",
        )
        source = video_source(server, live_id)
        assert source is not None
        assert source.mime_type == (video_mime or "video/VP8")
        sources = server.app[STREAMER].get(live_id).sources()
        assert sorted(s.mime_type for s, _ in sources) == ["audio/opus", source.mime_type]
        codec = next(c for s, c in sources if s is source)
        if source.mime_type == "video/H264":
            profile = str(codec.parameters.get("profile-level-id", ""))
            assert profile.lower() in {"42e01f", "42001f"}, codec

        await viewer.watch(whep_exchange(server, "bob", live_id))
        received = viewer.received
        await wait_for(lambda: len(received.times) >= 10, 15, "10 decoded frames from Chromium")
        assert all(w > 0 and h > 0 for w, h in received.sizes), received.sizes
        first = len(received.times)
        await wait_for(lambda: len(received.times) >= first + 10, 10, "10 more frames")
        await wait_for(lambda: received.audio_frames > 0, 5, "decoded audio")
        assert viewer.first_frame_at is not None
        sent = await evaluate(page, "() => directlive.publisherStats()")
        print(
            f"{codec.mimeType} {codec.parameters}: viewer decoded {len(received.times)} frames "
            f"sized {sorted(received.sizes)}, {received.audio_frames} audio frames, "
            f"first after {1000 * (viewer.first_frame_at - viewer.started_at):.0f} ms; "
            f"chromium sent {sent}"
        )
    finally:
        await viewer.close()
        await end_live(server, "alice", live_id)


async def test_chromium_publishes_vp8_over_whip(page: Page, server: RunningServer) -> None:
    await chromium_publishes(page, server, None)


async def test_chromium_publishes_h264_over_whip(page: Page, server: RunningServer) -> None:
    await chromium_publishes(page, server, "video/H264")


async def viewer_stats(page: Page) -> ViewerStats:
    """The last sample (taken every 50 ms) of the page's WHEP viewer."""
    return cast(ViewerStats, await evaluate(page, "() => directlive.viewerStats()"))


async def viewer_reaches(page: Page, field: str, at_least: int) -> None:
    await page.wait_for_function(
        "([field, n]) => directlive.viewerStats()[field] >= n",
        arg=[field, at_least],
        polling=50,
        timeout=10_000,
    )


async def test_chromium_watches_over_whep(page: Page, server: RunningServer) -> None:
    live_id, publisher = await go_live(server, "alice")
    try:
        token = server.tokens.mint("bob")
        watching = cast(
            Watching,
            await evaluate(
                page, "([token, liveId]) => directlive.watch(token, liveId)", [token, live_id]
            ),
        )
        assert watching["location"].startswith(f"/whep/{live_id}/")
        check_candidates(watching)
        presented_at = cast(float, await evaluate(page, "() => directlive.firstFrame(10000)"))
        await viewer_reaches(page, "framesDecoded", 5)
        before = await viewer_stats(page)
        await viewer_reaches(page, "framesDecoded", before["framesDecoded"] + 10)
        await viewer_reaches(page, "audioPackets", 1)
        after = await viewer_stats(page)
        assert after["framesDecoded"] >= before["framesDecoded"] + 10, (before, after)
        assert (after["videoWidth"], after["videoHeight"]) == (640, 480), after
        assert after["codec"] == "video/VP8", after
        assert after["connectionState"] == "connected", after
        decoded_at = after["firstDecodedAt"]
        assert decoded_at is not None
        posted_at, started_at = watching["postedAt"], watching["startedAt"]
        print(
            f"chromium WHEP viewer TTFF: first frame presented {presented_at - posted_at:.0f} ms "
            f"after the POST started ({presented_at - started_at:.0f} ms after createOffer, "
            f"ICE gathering included); getStats saw it decoded at {decoded_at - posted_at:.0f} "
            f"ms (50 ms polling); stats {before} -> {after}"
        )
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=ARTIFACTS / "chromium-whep-viewer.png")
    finally:
        try:
            await end_live(server, "alice", live_id)
        finally:
            await publisher.close()
