"""FFmpeg's WHIP muxer, a client we did not write, publishes H.264 + Opus to node ``a``; aiortc
viewers on the edges ``b`` and ``c`` decode it, and a late joiner on ``c`` starts from ``c``'s
copy of the GOP (FFmpeg ignores PLI, and this run sends one keyframe only)."""

from __future__ import annotations

import asyncio
import itertools
import time
from contextlib import AsyncExitStack, suppress
from pathlib import Path

from tests.clients.ffmpeg_whip import publish_subprocess
from tests.cluster.nodes import Cluster, ClusterNode
from tests.cluster.relay_support import metrics, wait_for_metric, watch_on
from tests.media.peers import Viewer, wait_for

ROOT = Path(__file__).resolve().parents[2]
SECONDS = 12.0
HEIGHT = 96  # the counter's minimum: cheap to encode and decode, still 640 wide
LINKS = "directlive_relay_links_open"


async def live_of(node: ClusterNode, host: str, timeout: float = 20.0) -> str:
    """Poll ``host``'s profile on ``node`` until it shows a live; its id."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = await node.api("bob", "GET", f"/api/users/{host}")
        assert status in (200, 404), body  # 404 until the publisher's WHIP POST made the user
        live = body["user"]["live"] if status == 200 else None
        if live is not None:
            return str(live["live_id"])
        assert time.monotonic() < deadline, f"{host} never went live"
        await asyncio.sleep(0.1)


def strictly_increasing(counters: list[int]) -> bool:
    return len(counters) > 1 and all(b > a for a, b in itertools.pairwise(counters))


async def test_ffmpeg_on_a_is_decoded_on_b_and_c_and_a_late_joiner_starts_from_c(
    cluster: Cluster, tmp_path: Path
) -> None:
    a, b, c = cluster["a"], cluster["b"], cluster["c"]
    publishing = asyncio.ensure_future(
        publish_subprocess(
            f"{a.url}/whip",
            cluster.tokens.mint("ffmpeg"),
            SECONDS,
            cert_dir=tmp_path / "cert",
            extra=("--height", str(HEIGHT), "--gop-seconds", "60"),
            cwd=ROOT,
        )
    )
    async with AsyncExitStack() as stack:
        try:
            live_id = await live_of(b, "ffmpeg")
            viewers: list[Viewer] = []
            for node, user in ((b, "bob"), (c, "carol")):
                viewer = await watch_on(node, user, live_id, audio=True)
                stack.push_async_callback(viewer.close)
                viewers.append(viewer)
            await wait_for(
                lambda: all(len(v.received.counters) >= 30 for v in viewers), 20, "b and c decode"
            )
            await wait_for(
                lambda: all(v.received.audio_frames > 0 for v in viewers), 10, "audio on b and c"
            )
            for viewer in viewers:
                assert strictly_increasing(viewer.received.counters)
                assert viewer.received.sizes == {(640, HEIGHT)}
            assert (await metrics(a))[LINKS] == 2

            late = await watch_on(c, "dave", live_id)
            stack.push_async_callback(late.close)
            joined_at = viewers[1].received.counters[-1]
            await wait_for(
                lambda: bool(late.received.counters) and late.received.counters[-1] > joined_at,
                10,
                "the late joiner on c to reach the live frames",
            )
            assert strictly_increasing(late.received.counters)
            assert late.first_frame_at is not None
            print(
                f"decoded: b {len(viewers[0].received.counters)}, c"
                f" {len(viewers[1].received.counters)}, audio b {viewers[0].received.audio_frames};"
                f" late joiner's first picture {late.first_frame_at - late.started_at:.2f} s"
                f" after its offer, first counter {late.received.counters[0]}"
            )
            assert (await metrics(c))[LINKS] == 1  # the late joiner reused c's link

            result = await publishing
            assert result.error is None, result.log_tail
            assert result.keyframes_sent == 1, "a second keyframe would let anyone start"
            assert result.deleted, "FFmpeg did not DELETE its WHIP session"
            for node in (a, b, c):
                await wait_for_metric(node, "directlive_lives", 0)
                await wait_for_metric(node, LINKS, 0)
        finally:
            if not publishing.done():
                publishing.cancel()
                with suppress(asyncio.CancelledError):
                    await publishing  # the publisher process is killed, not left behind
