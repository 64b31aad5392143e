"""Chromium offering real simulcast (three rids on one m-line) over WHIP is not broken by it:
the server answers without simulcast, Chromium sends one encoding, and viewers get its best
picture (docs/protocol.md, "Layered publishing")."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from dataclasses import dataclass, field
from typing import Any, cast

import av
from aiortc import RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from playwright.async_api import Page

from signaling.appkeys import STREAMER
from tests.browser.test_chromium_whip_whep import Exchanged, end_live, evaluate, video_source
from tests.media.peers import client_pc, wait_for
from tests.server import RunningServer

SIMULCAST = [
    {"rid": "h"},
    {"rid": "m", "scaleResolutionDownBy": 2},
    {"rid": "l", "scaleResolutionDownBy": 4},
]


class Published(Exchanged):
    offer: str
    answer: str


@dataclass
class PictureLog:
    """Every decoded video frame's (pts, width, height), in order."""

    frames: list[tuple[int, int, int]] = field(default_factory=list)

    async def consume(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                if isinstance(frame, av.VideoFrame) and frame.pts is not None:
                    self.frames.append((frame.pts, frame.width, frame.height))


async def test_chromium_simulcast_offer_is_forwarded_as_its_best_layer(
    page: Page, server: RunningServer
) -> None:
    token = server.tokens.mint("alice")
    published = cast(
        Published,
        await evaluate(
            page,
            "([token, encodings]) => directlive.publish(token, null, encodings)",
            [token, SIMULCAST],
        ),
    )
    offer_lines = published["offer"].splitlines()
    assert "a=simulcast:send h;m;l" in offer_lines, "Chromium offered no simulcast"
    assert {"a=rid:h send", "a=rid:m send", "a=rid:l send"} <= set(offer_lines)
    answer_lines = published["answer"].splitlines()
    assert not [line for line in answer_lines if line.startswith(("a=simulcast", "a=rid"))]
    live_id = published["location"].rsplit("/", 1)[1]
    pc = client_pc()
    log = PictureLog()
    tasks: list[asyncio.Task[None]] = []
    try:
        await wait_for(
            lambda: (source := video_source(server, live_id)) is not None and source.has_keyframe,
            15,
            "a keyframe from Chromium",
        )
        publisher = server.app[STREAMER].get(live_id).publishers["alice"]
        assert publisher.layer_sets == [], "one m-line is one picture, not layers"
        encodings = cast(
            list[dict[str, Any]], await evaluate(page, "() => directlive.publisherEncodings()")
        )
        preference = await evaluate(page, "() => directlive.keepResolution()")

        pc.addTransceiver("video", direction="recvonly")
        pc.on("track", lambda track: tasks.append(asyncio.ensure_future(log.consume(track))))
        await pc.setLocalDescription(await pc.createOffer())
        assert pc.localDescription is not None
        _location, answer = await server.whep("bob", live_id, pc.localDescription.sdp)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))

        await wait_for(
            lambda: len([f for f in log.frames if f[1:] == (640, 480)]) >= 30,
            30,
            "30 decoded frames of the top size (640x480)",
        )
        timestamps = [pts for pts, _, _ in log.frames]
        assert all(b > a for a, b in itertools.pairwise(timestamps)), timestamps
        sent = await evaluate(page, "() => directlive.publisherStats()")
        print(
            f"simulcast offer answered without simulcast; Chromium's encodings now {encodings} "
            f"(degradation preference {preference}); "
            f"outbound video {sent['encodings']}; the aiortc viewer decoded {len(log.frames)} "
            f"frames sized {sorted({f[1:] for f in log.frames})}"
        )
        assert len(encodings) == 1, encodings
    finally:
        await pc.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await end_live(server, "alice", live_id)
