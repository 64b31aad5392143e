"""Real aiortc peers that publish to and watch from the server, on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import cast

import av
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from streamer import LOOPBACK, Streamer, new_peer_connection
from streamer.aiortc.tap import tap_receiver
from streamer.live import MediaLive
from streamer.source import TrackSource
from tests.media.counter import CounterUnreadable, RgbImage, read_counter

Exchange = Callable[[str], Awaitable[str]]


def watching(
    streamer: Streamer,
    live_id: str,
    user: str,
    sessions: list[str] | None = None,
    max_layer: int | None = None,
) -> Exchange:
    """An exchange that watches ``live_id`` on ``streamer`` directly (no HTTP), noting each
    session id in ``sessions``."""

    async def exchange(sdp: str) -> str:
        session_id, answer = await streamer.watch(live_id, user, sdp, max_layer=max_layer)
        if sessions is not None:
            sessions.append(session_id)
        return answer

    return exchange


"""Sends an SDP offer to the server, returns its answer."""


def client_pc() -> RTCPeerConnection:
    return new_peer_connection(LOOPBACK)


async def negotiate(pc: RTCPeerConnection, exchange: Exchange) -> None:
    """Offer from ``pc``, take the answer ``exchange`` returns for it."""
    await pc.setLocalDescription(await pc.createOffer())
    assert pc.localDescription is not None
    answer = await exchange(pc.localDescription.sdp)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))


async def publish(tracks: list[MediaStreamTrack], exchange: Exchange) -> RTCPeerConnection:
    pc = client_pc()
    for track in tracks:
        pc.addTransceiver(track, direction="sendonly")
    try:
        await negotiate(pc, exchange)
    except BaseException:
        await pc.close()  # a refused publish must not leak its ICE sockets into later tests
        raise
    return pc


@dataclass
class ReceivedVideo:
    counters: list[int] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    sizes: set[tuple[int, int]] = field(default_factory=set)
    encoded: list[bytes] = field(default_factory=list)
    audio_frames: int = 0
    unreadable: int = 0
    ended: bool = False

    def fps(self, window: float = 2.0) -> float:
        """Frame rate over the last ``window`` seconds received."""
        if not self.times:
            return 0.0
        recent = [t for t in self.times if t >= self.times[-1] - window]
        return (len(recent) - 1) / window if len(recent) > 1 else 0.0


class Viewer:
    """Watches a live. ``decode=False`` taps encoded frames instead of decoding them."""

    def __init__(self, *, decode: bool = True, audio: bool = True, video_lines: int = 1) -> None:
        self.pc = client_pc()
        self.received = ReceivedVideo()
        self.frames_by_track: dict[str, int] = {}
        """Decoded video frames per track id (``<participant>-video-<mid>``)."""
        self.started_at = 0.0
        self.first_frame_at: float | None = None
        self._decode = decode
        self._tasks: list[asyncio.Task[None]] = []
        for _ in range(video_lines):
            self.pc.addTransceiver("video", direction="recvonly")
        if audio:
            self.pc.addTransceiver("audio", direction="recvonly")
        self.pc.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        receiver = next(t.receiver for t in self.pc.getTransceivers() if t.receiver.track is track)
        if not self._decode and track.kind == "video":
            tap_receiver(receiver, lambda codec, data, ts: self._on_encoded(data))
            return
        self._tasks.append(asyncio.ensure_future(self._consume(track)))

    def frames_from(self, participant: str) -> int:
        """Decoded video frames from ``participant``'s tracks."""
        prefix = f"{participant}-video"
        return sum(n for track_id, n in self.frames_by_track.items() if track_id.startswith(prefix))

    async def answer_offer(self, sdp: str) -> str:
        """Apply a server-initiated offer (renegotiation) and return our answer."""
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        assert self.pc.localDescription is not None
        return str(self.pc.localDescription.sdp)

    def _on_encoded(self, data: bytes) -> None:
        self.received.encoded.append(data)
        self.received.times.append(time.monotonic())
        if self.first_frame_at is None:
            self.first_frame_at = time.monotonic()

    async def _consume(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                if isinstance(frame, av.VideoFrame):
                    self.frames_by_track[track.id] = self.frames_by_track.get(track.id, 0) + 1
                    now = time.monotonic()
                    if self.first_frame_at is None:
                        self.first_frame_at = now
                    try:
                        image = cast(RgbImage, frame.to_ndarray(format="rgb24"))
                        self.received.counters.append(read_counter(image))
                    except CounterUnreadable:
                        self.received.unreadable += 1
                    self.received.times.append(now)
                    self.received.sizes.add((frame.width, frame.height))
                else:
                    self.received.audio_frames += 1
        except MediaStreamError:
            self.received.ended = True

    async def watch(self, exchange: Exchange) -> None:
        self.started_at = time.monotonic()
        await negotiate(self.pc, exchange)

    async def close(self) -> None:
        await self.pc.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def video_source(live: MediaLive) -> TrackSource:
    """The live's first video track source (publishers may list audio first)."""
    return next(source for source, _ in live.sources() if source.kind == "video")


async def wait_for(
    predicate: Callable[[], bool], timeout: float, message: str = "condition"
) -> None:
    """Poll ``predicate`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        await asyncio.sleep(0.02)
