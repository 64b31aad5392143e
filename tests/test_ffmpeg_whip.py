"""FFmpeg's WHIP muxer (inside PyAV), a client we did not write, publishes H.264 + Opus."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from pathlib import Path

from signaling.appkeys import STREAMER
from tests.clients.ffmpeg_whip import publish_subprocess
from tests.media.peers import Viewer, video_source, wait_for
from tests.server import RunningServer
from tests.test_whip_whep import whep_exchange

ROOT = Path(__file__).resolve().parent.parent
SECONDS = 36.0  # past the ~30 s after which aioice drops a peer that ignores consent checks


async def test_ffmpeg_publishes_h264_and_opus_past_consent_expiry(
    server: RunningServer, tmp_path: Path
) -> None:
    streamer = server.app[STREAMER]
    publishing = asyncio.ensure_future(
        publish_subprocess(
            f"{server.url}/whip",
            server.tokens.mint("ffmpeg"),
            SECONDS,
            cert_dir=tmp_path / "cert",
            cwd=ROOT,
        )
    )
    viewer = Viewer()
    try:
        await wait_for(
            lambda: bool(streamer.lives()) and video_source(streamer.lives()[0]).has_keyframe,
            20,
            "FFmpeg's first keyframe",
        )
        live = streamer.lives()[0]
        mimes = sorted(codec.mimeType.lower() for _, codec in live.sources())
        assert mimes == ["audio/opus", "video/h264"]

        exchange, _ = whep_exchange(server, "bob", live.live_id)
        await viewer.watch(exchange)
        await wait_for(lambda: len(viewer.received.counters) >= 60, 15, "60 decoded frames")
        await wait_for(lambda: viewer.received.audio_frames > 0, 10, "decoded audio")
        assert viewer.received.sizes == {(640, 480)}

        # Counted in the publisher's own frames, so the session is surely past aioice's ~30 s
        # consent expiry however slowly FFmpeg started.
        late_frame = int((SECONDS - 2) * 30)
        await wait_for(
            lambda: viewer.received.counters[-1] >= late_frame, SECONDS + 20, "frames after 34 s"
        )
        counters = viewer.received.counters
        assert all(b > a for a, b in itertools.pairwise(counters))

        result = await publishing
        assert result.error is None, result.log_tail
        assert result.deleted, "FFmpeg did not DELETE its WHIP session"
        assert result.frames_sent >= SECONDS * 30 * 0.9
        await wait_for(lambda: streamer.lives() == [], 10, "the live to end on DELETE")
    finally:
        await viewer.close()
        if not publishing.done():
            publishing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await publishing  # the publisher process is killed, not left behind
